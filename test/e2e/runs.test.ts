import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Run } from '../../shared/protocol.js';
import { jsonApi, startTestApp, waitFor, type TestApp } from '../helpers.js';
import { ensureClientBuilt, launchBrowser, openPage, screenshot, seriousA11yViolations, type PageProblems } from './browser.js';

/**
 * The UI against a real app with authentication off and the offline model slowed
 * down a little, so a run lasts long enough to watch it stream, cancel it or reload.
 */
describe('UI runs (authentication off, offline model)', () => {
  let t: TestApp & { dropDatabase?: () => Promise<void> };
  let browser: Browser;

  beforeAll(async () => {
    ensureClientBuilt();
    t = await startTestApp({ env: { OFFLINE_MODEL_DELAY_MS: '45', WEBHOOK_RETRY_BASE_MS: '200', WEBHOOK_POLL_MS: '100' } });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await t?.dropDatabase?.();
  });

  const api = jsonApi(() => t.url);
  const getRun = async (id: string) => (await api<{ run: Run }>('GET', `/api/runs/${id}`)).run;
  const createRun = async (body: Record<string, unknown>) => (await api<{ run: Run }>('POST', '/api/runs', body)).run;

  /** Records, per step, each distinct text the page showed while the step was running. */
  async function recordStreaming(page: Page): Promise<void> {
    await page.evaluate(() => {
      const w = window as unknown as { __samples: Record<string, string[]> };
      w.__samples = {};
      const sample = () => {
        for (const li of document.querySelectorAll<HTMLElement>('[data-testid="step"][data-step-status="running"]')) {
          // A step already speaking when the page opened shows "… " before the part it streams.
          const partial = li.querySelector('[data-partial]') !== null;
          const text = (li.querySelector('.text-out')?.textContent ?? '').replace(/^… /, '');
          const list = (w.__samples[`${partial ? 'partial:' : ''}${li.dataset.stepIndex ?? '?'}`] ??= []);
          if (text && list[list.length - 1] !== text) list.push(text);
        }
      };
      new MutationObserver(sample).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
    });
  }

  /** The text each step shows, by index, as the page renders it. */
  async function shownSteps(page: Page): Promise<{ index: number; status: string; agent: string; text: string }[]> {
    return page.$$eval('[data-testid="step"]', (els) =>
      els.map((el) => ({
        index: Number((el as HTMLElement).dataset.stepIndex),
        status: (el as HTMLElement).dataset.stepStatus ?? '',
        agent: el.querySelector('.tl-who > span')?.textContent ?? '',
        text: el.querySelector('[data-testid="step-output"] .text-out')?.textContent ?? '',
      })),
    );
  }

  async function waitForStatus(page: Page, status: string, timeout = 30_000): Promise<void> {
    try {
      await page.locator(`[data-testid="run-status"] [data-status="${status}"]`).waitFor({ timeout });
    } catch (error) {
      // Say whether the run or only the page is behind, so a failure here can be told apart.
      const shown = await page.locator('[data-testid="run-status"]').textContent().catch(() => null);
      const id = /\/runs\/([0-9a-f-]{36})/.exec(page.url())?.[1];
      const stored = id ? await getRun(id).then((r) => `${r.status} (attempts ${r.attempts})`, (e: unknown) => String(e)) : 'no run id';
      throw new Error(`waiting for "${status}": the page shows ${JSON.stringify(shown)}, the API says ${stored}`, { cause: error });
    }
  }

  function expectClean(problems: PageProblems): void {
    expect(problems.errors).toEqual([]);
  }

  it('shows the auth-off and offline banners and the catalog', async () => {
    const { page, context, problems } = await openPage(browser);
    await page.goto(`${t.url}/`);
    await page.getByTestId('banner-auth-off').waitFor();
    await page.getByTestId('banner-offline').waitFor();
    await page.getByTestId('pattern-debate').waitFor();
    expect(await page.locator('[data-testid^="agent-"]').count()).toBeGreaterThan(3);
    await screenshot(page, 'agents');
    expect(await seriousA11yViolations(page)).toEqual([]);
    expectClean(problems);
    await context.close();
  });

  it('starts a debate from the form (server validation beside the field), streams tokens and finishes', async () => {
    const { page, context, problems } = await openPage(browser);
    await page.goto(`${t.url}/agents`);
    await page.getByRole('button', { name: 'Use pattern debate' }).click();
    await page.waitForURL(/\/agents\?pattern=debate$/);
    const form = page.getByTestId('new-run-form');
    await form.getByLabel(/^Rounds/).fill('9');
    await form.getByLabel('Input').fill('Should a five-person team split its monolith into microservices?');
    await form.getByRole('button', { name: 'Start run' }).click();
    // The server's 400 names options.rounds; the form puts its message under that field.
    const roundsError = form.locator('[data-field-error="rounds"]');
    await roundsError.waitFor();
    expect(await roundsError.textContent()).toMatch(/5/);
    expect(await form.getByLabel(/^Rounds/).getAttribute('aria-invalid')).toBe('true');
    await screenshot(page, 'agents-validation');
    // The form with a pattern picked and a server error beside a field.
    expect(await seriousA11yViolations(page)).toEqual([]);

    await form.getByLabel(/^Rounds/).fill('2');
    await form.getByRole('button', { name: 'Start run' }).click();
    await page.waitForURL(/\/runs\/[0-9a-f-]{36}$/);
    const id = page.url().split('/').pop() as string;
    await recordStreaming(page);
    await page.locator('[data-testid="step"][data-step-status="running"] .text-out').first().waitFor();
    await screenshot(page, 'run-streaming');
    await waitForStatus(page, 'succeeded');
    await page.getByTestId('run-output').waitFor();
    await screenshot(page, 'run-succeeded');
    // A finished run: breadcrumb, stats, timeline with a verdict, output, details.
    expect(await seriousA11yViolations(page)).toEqual([]);

    const run = await getRun(id);
    expect(run.status).toBe('succeeded');
    const samples = await page.evaluate(() => (window as unknown as { __samples: Record<string, string[]> }).__samples);
    // Streaming means a running step's text grew in several pieces before the step finished,
    // each piece extending the last, and what streamed is the step's stored output.
    const streamed = Object.entries(samples).filter(([, texts]) => texts.length >= 3);
    const fromStart = streamed.filter(([key]) => !key.startsWith('partial:'));
    expect(fromStart.length).toBeGreaterThan(0);
    for (const [key, texts] of streamed) {
      for (let i = 1; i < texts.length; i++) expect(texts[i]!.startsWith(texts[i - 1]!)).toBe(true);
      const final = run.steps.find((s) => s.index === Number(key.replace('partial:', '')))?.output;
      if (typeof final !== 'string') continue;
      if (key.startsWith('partial:')) expect(final).toContain(texts[texts.length - 1]);
      else expect(final.startsWith(texts[texts.length - 1]!)).toBe(true);
    }
    // Everything the run stored is on the page: one card per step, each with its output.
    const shown = await shownSteps(page);
    expect(shown.map((s) => s.index).sort((a, b) => a - b)).toEqual(run.steps.map((s) => s.index).sort((a, b) => a - b));
    for (const step of run.steps) if (typeof step.output === 'string') expect(shown.find((s) => s.index === step.index)?.text).toBe(step.output);
    expect(await page.getByTestId('verdict').count()).toBe(1);
    expect(await page.getByTestId('run-tokens').textContent()).not.toMatch(/^0\b/);
    expect(await page.getByTestId('cancel-run').count()).toBe(0);
    expectClean(problems);
    await context.close();
  });

  it('cancels a running run', async () => {
    const run = await createRun({ pattern: 'debate', agents: ['analyst', 'critic'], input: 'Tabs or spaces?', options: { rounds: 5 } });
    const { page, context, problems } = await openPage(browser);
    await page.goto(`${t.url}/runs/${run.id}`);
    await page.locator('[data-testid="step"][data-step-status="running"]').first().waitFor();
    await page.getByTestId('cancel-run').click();
    await waitForStatus(page, 'cancelled');
    await page.getByTestId('note-cancel').first().waitFor();
    expect((await getRun(run.id)).status).toBe('cancelled');
    expect(await page.getByTestId('cancel-run').count()).toBe(0);
    await screenshot(page, 'run-cancelled');
    expectClean(problems);
    await context.close();
  });

  it('answers a router escalation and the run resumes', async () => {
    // A threshold of 1 is above any confidence the classifier gives, so a person must choose.
    const run = await createRun({ pattern: 'router', agents: ['researcher', 'writer', 'analyst'], input: 'Draft a short launch announcement for our new API.', options: { threshold: 1 } });
    const { page, context, problems } = await openPage(browser);
    await page.goto(`${t.url}/runs/${run.id}`);
    const question = page.getByTestId('question');
    await question.waitFor({ timeout: 30_000 });
    await waitForStatus(page, 'awaiting_input');
    expect(await question.textContent()).toMatch(/Who should handle this request/);
    await page.getByTestId('router-choice').first().waitFor();
    await screenshot(page, 'run-awaiting-input');
    expect(await seriousA11yViolations(page)).toEqual([]);

    await question.getByRole('radio', { name: /writer/ }).check();
    await question.getByRole('button', { name: 'Send answer' }).click();
    await waitForStatus(page, 'succeeded');
    await page.getByTestId('note-answer').waitFor();
    const shown = await shownSteps(page);
    expect(shown.some((s) => s.agent === 'writer' && s.status === 'succeeded' && s.text.length > 0)).toBe(true);
    const done = await getRun(run.id);
    expect(done.status).toBe('succeeded');
    expect((done.output as { agent?: string }).agent).toBe('writer');
    expect(await page.getByTestId('question').count()).toBe(0);
    await screenshot(page, 'run-router-resumed');
    expectClean(problems);
    await context.close();
  });

  it('reloading mid-run shows everything so far and continues live with no gap', async () => {
    const run = await createRun({ pattern: 'debate', agents: ['analyst', 'critic'], input: 'Is remote work better for junior engineers?', options: { rounds: 3 } });
    const { page, context, problems } = await openPage(browser);
    await page.goto(`${t.url}/runs/${run.id}`);
    await page.locator('[data-testid="step"][data-step-status="succeeded"]').nth(1).waitFor({ timeout: 30_000 });
    await page.reload();
    await page.locator('[data-testid="step"]').first().waitFor();
    // Right after the reload, every step the server stored is already on the page.
    const stored = await getRun(run.id);
    expect(stored.status).toBe('running');
    await waitFor(async () => (await shownSteps(page)).filter((s) => s.status === 'succeeded').length >= stored.steps.filter((s) => s.status === 'succeeded').length, { what: 'steps after reload' });
    await screenshot(page, 'run-after-reload');
    await waitForStatus(page, 'succeeded', 60_000);

    const done = await getRun(run.id);
    const shown = await shownSteps(page);
    const indexes = shown.map((s) => s.index).sort((a, b) => a - b);
    expect(indexes).toEqual(done.steps.map((s) => s.index).sort((a, b) => a - b));
    expect(new Set(indexes).size).toBe(indexes.length);
    for (const step of done.steps) {
      const onPage = shown.find((s) => s.index === step.index);
      expect(onPage?.status).toBe('succeeded');
      if (typeof step.output === 'string') expect(onPage?.text).toBe(step.output);
    }
    expectClean(problems);
    await context.close();
  });

  it('a dropped connection reconnects and resumes the run with no gap', async () => {
    // Cut the page's WebSocket at the TCP level, as a flaky network or a proxy would.
    const sockets = new Set<Duplex>();
    const onUpgrade = (_req: IncomingMessage, socket: Duplex) => sockets.add(socket);
    t.app.server.on('upgrade', onUpgrade);
    try {
      const run = await createRun({ pattern: 'debate', agents: ['planner', 'critic'], input: 'Should we rewrite the billing service?', options: { rounds: 3 } });
      const { page, context, problems } = await openPage(browser);
      await page.goto(`${t.url}/runs/${run.id}`);
      await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
      await page.locator('[data-testid="step"][data-step-status="succeeded"]').first().waitFor({ timeout: 30_000 });
      expect(sockets.size).toBeGreaterThan(0);
      const reconnected = page.waitForFunction(() => {
        const w = window as unknown as { __states?: string[] };
        return w.__states?.includes('Reconnecting') || w.__states?.includes('Connecting');
      });
      await page.evaluate(() => {
        const w = window as unknown as { __states: string[] };
        w.__states = [];
        const el = document.querySelector('[data-testid="connection"]');
        if (el) new MutationObserver(() => w.__states.push(el.textContent ?? '')).observe(el, { subtree: true, childList: true, characterData: true });
      });
      for (const socket of sockets) socket.destroy();
      await reconnected;
      await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
      await waitForStatus(page, 'succeeded', 60_000);

      const done = await getRun(run.id);
      const shown = await shownSteps(page);
      expect(shown.map((s) => s.index).sort((a, b) => a - b)).toEqual(done.steps.map((s) => s.index).sort((a, b) => a - b));
      for (const step of done.steps) if (typeof step.output === 'string') expect(shown.find((s) => s.index === step.index)?.text).toBe(step.output);
      expectClean(problems);
      await context.close();
    } finally {
      t.app.server.off('upgrade', onUpgrade);
    }
  });

  it('lists runs live: a new run appears and moves to its final status without a reload', async () => {
    const { page, context, problems } = await openPage(browser);
    await page.goto(`${t.url}/runs`);
    await page.getByTestId('runs-table').waitFor();
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
    const run = await createRun({ agent: 'summarizer', input: 'Summarize: the queue keeps every run durable across restarts.' });
    const row = page.locator(`tr[data-run-id="${run.id}"]`);
    await row.waitFor();
    await row.locator('[data-status="succeeded"]').waitFor({ timeout: 30_000 });
    await screenshot(page, 'runs');
    expect(await seriousA11yViolations(page)).toEqual([]);

    await page.getByRole('button', { name: 'Cancelled', exact: true }).click();
    await page.waitForURL(/status=cancelled/);
    await page.locator('tr[data-run-id]').first().waitFor();
    const statuses = await page.$$eval('tr[data-run-id] [data-status]', (els) => els.map((e) => (e as HTMLElement).dataset.status));
    expect(statuses.length).toBeGreaterThan(0);
    expect(new Set(statuses)).toEqual(new Set(['cancelled']));

    await row.waitFor({ state: 'detached' });
    await page.getByRole('button', { name: 'Needs input', exact: true }).click();
    await page.getByText('No needs input runs').waitFor();
    await screenshot(page, 'runs-empty-filter');
    expect(await seriousA11yViolations(page)).toEqual([]);
    expectClean(problems);
    await context.close();
  });

  it('pages through the list with infinite scroll on the cursor API', async () => {
    for (let i = 0; i < 30; i++) await createRun({ agent: 'translator', input: `hello ${i}`, priority: -1 });
    const { page, context, problems } = await openPage(browser, { height: 700 });
    await page.goto(`${t.url}/runs`);
    await page.locator('tr[data-run-id]').nth(24).waitFor();
    const total = (await api<{ runs: Run[]; nextCursor: string | null }>('GET', '/api/runs?limit=100')).runs.length;
    expect(total).toBeGreaterThan(25);
    await page.locator('.list-foot').scrollIntoViewIfNeeded();
    await waitFor(async () => (await page.locator('tr[data-run-id]').count()) >= total, { what: 'the second page', timeoutMs: 15_000 });
    await page.getByText('that is all').waitFor();
    expectClean(problems);
    await context.close();
  });

  it('shows health and live queue charts on /ops', async () => {
    const { page, context, problems } = await openPage(browser);
    await page.goto(`${t.url}/ops`);
    await page.getByTestId('health').getByText('Healthy', { exact: true }).waitFor();
    await page.getByTestId('chart-queued').locator('svg').waitFor({ timeout: 15_000 });
    await page.getByTestId('chart-wsClients').locator('svg').waitFor({ timeout: 15_000 });
    await createRun({ pattern: 'parallel', agents: ['researcher', 'writer', 'critic'], input: 'What makes a good incident review?' });
    await page.waitForTimeout(3000);
    await screenshot(page, 'ops');
    expect(await seriousA11yViolations(page)).toEqual([]);
    expectClean(problems);
    await context.close();
  });

  it('works at phone width', async () => {
    const run = (await api<{ runs: Run[] }>('GET', '/api/runs?status=succeeded&limit=100')).runs.find((r) => r.pattern === 'debate');
    const { page, context, problems } = await openPage(browser, { width: 390, height: 844 });
    await page.goto(`${t.url}/runs/${run?.id}`);
    await waitForStatus(page, 'succeeded');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await screenshot(page, 'phone-run');
    await page.goto(`${t.url}/agents?pattern=router`);
    await page.getByTestId('new-run-form').waitFor();
    await screenshot(page, 'phone-agents');
    await page.goto(`${t.url}/runs`);
    await page.getByTestId('runs-table').waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)).toBeLessThanOrEqual(0);
    await screenshot(page, 'phone-runs');
    expectClean(problems);
    await context.close();
  });

  it('says what to do for a run that does not exist and an unknown page', async () => {
    const { page, context } = await openPage(browser);
    await page.goto(`${t.url}/runs/00000000-0000-4000-8000-000000000000`);
    await page.getByRole('heading', { name: 'Run not found' }).waitFor();
    await page.getByRole('link', { name: 'Back to runs' }).waitFor();
    expect(await seriousA11yViolations(page)).toEqual([]);
    await page.goto(`${t.url}/no/such/page`);
    await page.getByRole('heading', { name: 'There is no page here' }).waitFor();
    expect(await seriousA11yViolations(page)).toEqual([]);
    await context.close();
  });

  it('shows the pinned agent versions and each callback attempt on the run page', async () => {
    // A receiver that refuses once, then accepts: the page lists both attempts.
    const { createServer } = await import('node:http');
    let calls = 0;
    const receiver = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        calls++;
        res.writeHead(calls === 1 ? 503 : 200).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const port = (receiver.address() as { port: number }).port;
    try {
      const { run } = await api<{ run: Run }>('POST', '/api/runs', { agent: 'writer', input: 'A haiku about queues', callbackUrl: `http://127.0.0.1:${port}/done` });
      const { page, context, problems } = await openPage(browser);
      await page.goto(`${t.url}/runs/${run.id}`);
      await waitForStatus(page, 'succeeded');
      expect(await page.getByTestId('run-versions').textContent()).toContain('writer@1');
      const callback = page.getByTestId('run-callback');
      await callback.getByText('HTTP 200').waitFor({ timeout: 60_000 });
      expect(await callback.textContent()).toContain('HTTP 503');
      expect(await seriousA11yViolations(page)).toEqual([]);
      expectClean(problems);
      await context.close();
    } finally {
      await new Promise((resolve) => receiver.close(resolve));
    }
  });
});
