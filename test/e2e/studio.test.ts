import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentDetail } from '../../shared/catalog.js';
import type { Run } from '../../shared/protocol.js';
import { jsonApi, startTestApp, waitFor, type TestApp } from '../helpers.js';
import { ensureClientBuilt, launchBrowser, openPage, screenshot, seriousA11yViolations, type PageProblems } from './browser.js';

/**
 * The Agent Studio in Chromium against a real app (authentication off, the offline
 * model slowed a little so runs stream visibly): create an agent, see a field error,
 * save, a stale save refused, publish, diff, roll back, the playground’s two streaming runs,
 * evaluations (a dataset, two experiments, the table, the compare), and the list’s
 * keyboard navigation; axe on every page.
 */
describe('UI Agent Studio (authentication off, offline model)', () => {
  let t: TestApp & { dropDatabase?: () => Promise<void> };
  let browser: Browser;
  const NAME = 'haiku-writer';

  beforeAll(async () => {
    ensureClientBuilt();
    t = await startTestApp({ env: { OFFLINE_MODEL_DELAY_MS: '30' } });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await t?.dropDatabase?.();
  });

  const api = jsonApi(() => t.url);
  const getAgent = async (name: string) => (await api<{ agent: AgentDetail }>('GET', `/api/agents/${name}`)).agent;

  function expectClean(problems: PageProblems): void {
    expect(problems.errors).toEqual([]);
  }

  async function expectAccessible(page: Page, name: string): Promise<void> {
    await screenshot(page, name);
    expect(await seriousA11yViolations(page)).toEqual([]);
  }

  it('creates, edits, publishes, diffs, rolls back and plays an agent', async () => {
    const { page, context, problems } = await openPage(browser);
    await page.goto(`${t.url}/studio`);
    await page.getByTestId('studio-list').waitFor();
    await expectAccessible(page, 'studio-list');

    // Create, with a field error on the way.
    await page.getByRole('link', { name: 'New agent' }).click();
    await page.waitForURL(/\/studio\/new$/);
    const editor = page.getByTestId('agent-editor');
    await editor.getByLabel('Name').fill(NAME);
    await editor.getByLabel('Description').fill('Writes a haiku about the input.');
    await editor.getByLabel('System prompt').fill('You write one haiku about the topic you are given.');
    expect(await page.getByTestId('prompt-count').textContent()).toMatch(/^50 \/ 20,000 characters · about 1[0-9] tokens$/);
    await editor.getByLabel('Temperature').fill('5');
    const tempError = editor.locator('[data-field-error="temperature"]');
    await tempError.waitFor();
    expect(await tempError.textContent()).toMatch(/2/);
    expect(await editor.getByLabel('Temperature').getAttribute('aria-invalid')).toBe('true');
    await editor.getByLabel('Output JSON Schema').fill('{"type": "object", "properties": {"poem": {"type": "text"}}}');
    await editor.locator('[data-field-error="outputSchema"]').waitFor();
    await expectAccessible(page, 'studio-new-errors');
    // The create is refused in the browser: nothing reaches the server.
    await editor.getByRole('button', { name: 'Create agent' }).click();
    await editor.getByRole('alert').first().waitFor();
    await expect(api('GET', `/api/agents/${NAME}`)).rejects.toThrow(/404/);

    await editor.getByLabel('Temperature').fill('0.3');
    await editor.getByLabel('Output JSON Schema').fill('');
    await editor.getByRole('checkbox', { name: 'calculator' }).check();
    await editor.getByLabel('Tags').fill('poetry, demo');
    await editor.getByRole('button', { name: 'Create agent' }).click();
    await page.waitForURL(new RegExp(`/studio/${NAME}$`));
    await page.getByTestId('agent-state').waitFor();
    const created = await getAgent(NAME);
    expect(created.version).toBe(1);
    expect(created.temperature).toBe(0.3);
    expect(created.tools).toEqual(['calculator']);
    expect(created.tags).toEqual(['poetry', 'demo']);
    await expectAccessible(page, 'studio-editor');

    // Edit and save the draft.
    const edit = page.getByTestId('agent-editor');
    await edit.getByLabel('System prompt').fill('You write one haiku about the topic you are given, in lower case.');
    await edit.getByRole('button', { name: 'Save draft' }).click();
    await page.getByText('Draft saved (revision 2).').waitFor();
    expect((await getAgent(NAME)).draft.systemPrompt).toContain('in lower case');

    // Someone else saves first: this editor's next save is refused, and it can reload.
    const mine = await getAgent(NAME);
    await api('PUT', `/api/agents/${NAME}/draft`, { spec: { ...mine.draft, description: 'Edited elsewhere.' }, revision: mine.draftRevision });
    await edit.getByLabel('Max tokens').fill('300');
    await edit.getByRole('button', { name: 'Save draft' }).click();
    await page.getByTestId('conflict').waitFor();
    expect((await getAgent(NAME)).draft.maxTokens).toBe(2000);
    await page.getByRole('button', { name: 'Reload the latest draft' }).click();
    await waitFor(async () => (await edit.getByLabel('Description').inputValue()) === 'Edited elsewhere.', { timeoutMs: 20_000 });

    // Publish with a note.
    await page.getByLabel('Change note').fill('lower case, new description');
    await page.getByRole('button', { name: 'Publish as version 2' }).click();
    await page.getByTestId('published').waitFor();
    const published = await getAgent(NAME);
    expect(published.version).toBe(2);
    expect(published.description).toBe('Edited elsewhere.');

    // History: version 1 against 2, side by side.
    await page.getByRole('link', { name: 'History' }).click();
    await page.waitForURL(new RegExp(`/studio/${NAME}/history$`));
    await page.getByTestId('diff').waitFor();
    const promptRow = page.getByTestId('diff-systemPrompt');
    expect(await promptRow.locator('ins').allTextContents()).toEqual(expect.arrayContaining([expect.stringContaining('lower')]));
    expect(await page.getByTestId('diff-description').locator('td').nth(1).textContent()).toContain('Edited elsewhere.');
    expect(await page.getByTestId('version-2').textContent()).toContain('lower case, new description');
    await expectAccessible(page, 'studio-history');

    // Roll back to version 1: a NEW version 3 with version 1's spec; history only grows.
    await page.getByRole('button', { name: 'Roll back to version 1' }).click();
    await page.getByTestId('version-3').waitFor();
    expect(await page.getByTestId('version-3').textContent()).toContain('published');
    const rolled = await getAgent(NAME);
    expect(rolled.version).toBe(3);
    expect(rolled.systemPrompt).toBe(created.systemPrompt);

    // A new draft, then the playground runs it beside version 3.
    const v3 = await getAgent(NAME);
    await api('PUT', `/api/agents/${NAME}/draft`, { spec: { ...v3.draft, systemPrompt: 'You answer in one short sentence.' }, revision: v3.draftRevision });
    await page.getByRole('link', { name: 'Playground' }).click();
    await page.waitForURL(new RegExp(`/studio/${NAME}/playground$`));
    await page.getByRole('textbox', { name: 'Input' }).fill('autumn rain on a tin roof');
    await page.evaluate(() => {
      // Records each distinct text a pane showed while its run was running: streaming is several.
      const w = window as unknown as { __panes: Record<string, string[]> };
      w.__panes = {};
      const sample = () => {
        for (const pane of document.querySelectorAll<HTMLElement>('[data-testid="pane-draft"], [data-testid="pane-published"]')) {
          if (!pane.querySelector('[data-status="running"]')) continue;
          const text = pane.querySelector('[data-testid="pane-output"]')?.textContent ?? '';
          const list = (w.__panes[pane.dataset.testid ?? '?'] ??= []);
          if (text && list[list.length - 1] !== text) list.push(text);
        }
      };
      new MutationObserver(sample).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
    });
    await page.getByRole('button', { name: 'Run both' }).click();
    for (const pane of ['pane-draft', 'pane-published']) await page.locator(`[data-testid="${pane}"] [data-status="succeeded"]`).waitFor({ timeout: 60_000 });
    await expectAccessible(page, 'studio-playground');
    const panes = await page.evaluate(() => (window as unknown as { __panes: Record<string, string[]> }).__panes);
    expect(panes['pane-draft']?.length ?? 0).toBeGreaterThanOrEqual(3);
    expect(panes['pane-published']?.length ?? 0).toBeGreaterThanOrEqual(3);

    const runIds = await page.locator('[data-testid^="pane-"] a[href^="/runs/"]').evaluateAll((as) => as.map((a) => (a.getAttribute('href') ?? '').split('/').pop() ?? ''));
    const runs = await Promise.all(runIds.map(async (id) => (await api<{ run: Run }>('GET', `/api/runs/${id}`)).run));
    expect(runs.map((r) => r.agentVersions?.[NAME])).toEqual(['draft', 3]);
    expect(runs.every((r) => r.status === 'succeeded')).toBe(true);
    expectClean(problems);
    await context.close();
  });

  it('creates a dataset, runs experiments on the draft and a version, reads the table and compares', async () => {
    const { page, context, problems } = await openPage(browser);
    await page.goto(`${t.url}/evals?agent=${NAME}`);
    const form = page.getByTestId('dataset-form');
    await form.waitFor();
    await expectAccessible(page, 'evals-list');
    await form.getByLabel('Name').fill('haiku-checks');
    await form.getByLabel('Agent').selectOption(NAME);
    // A regex that does not compile is caught beside its case.
    const first = page.getByTestId('case-0');
    await first.getByLabel('Input').fill('autumn rain');
    await first.getByLabel('Expectation').selectOption('regex');
    await first.getByLabel('Regular expression').fill('(unclosed');
    await form.getByRole('button', { name: 'Create dataset' }).click();
    await form.locator('[data-field-error="cases.0"]').waitFor();
    await first.getByLabel('Regular expression').fill('.+');
    await form.getByRole('button', { name: 'Add a case' }).click();
    const second = page.getByTestId('case-1');
    await second.getByLabel('Input').fill('winter sun');
    await second.getByLabel('Text it must contain').fill('no model writes this: 7f3a9c');
    await form.getByRole('button', { name: 'Create dataset' }).click();
    await page.waitForURL(/\/evals\/haiku-checks$/);
    await page.getByTestId('cases').waitFor();
    expect(await page.getByTestId('cases').locator('tbody tr').count()).toBe(2);

    // Two experiments: the draft, then version 2; each finishes and shows its pass rate.
    const expForm = page.getByTestId('experiment-form');
    await expForm.getByLabel(`Version of ${NAME}`).selectOption('draft');
    await expForm.getByRole('button', { name: 'Run experiment' }).click();
    await page.locator('[data-testid^="experiment-"][data-status="succeeded"]').first().waitFor({ timeout: 90_000 });
    await expForm.getByLabel(`Version of ${NAME}`).selectOption('2');
    await expForm.getByRole('button', { name: 'Run experiment' }).click();
    await waitFor(async () => (await page.locator('[data-testid^="experiment-"][data-status="succeeded"]').count()) === 2, { timeoutMs: 90_000 });
    const rows = await page.getByTestId('experiments').locator('tbody tr').evaluateAll((trs) => trs.map((tr) => Array.from(tr.querySelectorAll('td')).map((td) => td.textContent ?? '')));
    const { experiments } = await api<{ experiments: { id: string; version: string; passRate: number; done: number; caseCount: number }[] }>('GET', '/api/experiments?dataset=haiku-checks');
    expect(experiments.map((e) => e.version)).toEqual(['2', 'draft']);
    // The table says what the API says: version, progress, pass rate (one case passes, one cannot).
    expect(rows.map((r) => [r[0], r[2]?.trim(), r[3]])).toEqual([
      ['v2', '2/2', '50%'],
      ['draft', '2/2', '50%'],
    ]);
    expect(experiments.every((e) => e.passRate === 0.5)).toBe(true);
    await page.getByTestId('trend').waitFor();
    expect(await page.getByTestId('trend').locator('tbody tr').count()).toBe(2);
    await page.getByTestId('compare').waitFor();
    expect(await page.getByTestId('compare-summary').textContent()).toBe('0 fixed · 0 regressed · 50% → 50%');
    expect(await page.getByTestId('compare').locator('tbody tr').count()).toBe(2);
    await expectAccessible(page, 'evals-dataset');
    expectClean(problems);
    await context.close();
  });

  it('lists 120 agents virtualized, searches, filters by tag and opens with the keyboard', async () => {
    const base = { description: 'Bulk agent for the list.', systemPrompt: 'You help.' };
    for (let i = 0; i < 120; i++) {
      const name = `bulk-${String(i).padStart(3, '0')}`;
      await api('POST', '/api/agents', { spec: { ...base, name, tags: i % 10 === 0 ? ['tenth', 'bulk'] : ['bulk'] } });
    }
    const { page, context, problems } = await openPage(browser);
    await page.goto(`${t.url}/studio?q=bulk`);
    const list = page.getByTestId('studio-list');
    await list.waitFor();
    await waitFor(async () => /120 agents|of 120 agents/.test((await page.getByTestId('studio-count').textContent()) ?? ''), { timeoutMs: 20_000 });
    // Virtualized: far fewer rows in the DOM than agents.
    expect(await page.locator('[role="option"]').count()).toBeLessThan(40);

    // Keyboard: down twice, Enter opens the third.
    await list.focus();
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    expect(await page.locator('[role="option"][aria-selected="true"]').textContent()).toContain('bulk-002');
    await page.keyboard.press('End');
    await waitFor(async () => ((await page.locator('[role="option"][aria-selected="true"]').textContent()) ?? '').includes('bulk-'), { timeoutMs: 20_000 });
    await page.keyboard.press('Home');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/studio\/bulk-001$/);

    // Tag filter.
    await page.goto(`${t.url}/studio`);
    await page.getByLabel('Filter by tag').fill('tenth');
    await page.getByLabel('Filter by tag').press('Enter');
    await waitFor(async () => ((await page.getByTestId('studio-count').textContent()) ?? '').startsWith('12 agents'), { timeoutMs: 20_000 });
    expect(await page.locator('[role="option"]').count()).toBe(12);
    await expectAccessible(page, 'studio-list-filtered');
    expectClean(problems);
    await context.close();
  });
});
