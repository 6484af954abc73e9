import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PendingApproval, Run } from '../../shared/protocol.js';
import { startTestApp, waitFor, type TestApp } from '../helpers.js';
import { ensureClientBuilt, launchBrowser, openPage, screenshot, seriousA11yViolations, type PageProblems } from './browser.js';

/**
 * Tool calls and approvals in the UI, against a real app with authentication off
 * (everyone is the local admin) and the offline model, which calls tools when the
 * input says `call <tool> {json}`. The default `assistant` agent has
 * send_notification, a built-in that always asks a person first.
 */
describe('UI tools and approvals (authentication off, offline model)', () => {
  let t: TestApp & { dropDatabase?: () => Promise<void> };
  let browser: Browser;

  beforeAll(async () => {
    ensureClientBuilt();
    t = await startTestApp({ env: { OFFLINE_MODEL_DELAY_MS: '0' } });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await t?.dropDatabase?.();
  });

  async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${t.url}${path}`, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    if (!res.ok) throw new Error(`${method} ${path} → ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  }
  const getRun = async (id: string) => (await api<{ run: Run }>('GET', `/api/runs/${id}`)).run;
  const approvals = async () => (await api<{ approvals: PendingApproval[] }>('GET', '/api/approvals')).approvals;

  async function waitForStatus(page: Page, status: string, timeout = 30_000): Promise<void> {
    await page.locator(`[data-testid="run-status"] [data-status="${status}"]`).waitFor({ timeout });
  }

  function expectClean(problems: PageProblems): void {
    expect(problems.errors).toEqual([]);
  }

  const toolCalls = (page: Page): Locator => page.getByTestId('tool-call');

  it('shows the agent’s tools on the agents page', async () => {
    const { page, context, problems } = await openPage(browser);
    await page.goto(`${t.url}/agents`);
    const tools = page.getByTestId('tools-assistant');
    await tools.getByText('send_notification', { exact: true }).waitFor();
    expect(await tools.getByRole('listitem').allTextContents()).toEqual(
      expect.arrayContaining([expect.stringMatching(/^calculator — /), expect.stringMatching(/^send_notification — Sends a short notification/), expect.stringMatching(/^run_agent/)]),
    );
    // The whole description is one hover away.
    expect(await tools.getByText(/Sends a short notification/).getAttribute('title')).toMatch(/A person approves every message first/);
    await page.getByTestId('agent-assistant').scrollIntoViewIfNeeded();
    await screenshot(page, 'agents-tools');
    expectClean(problems);
    await context.close();
  });

  it('starts a run from the form, approves its tool call on the run page, and shows the call with its result', async () => {
    const { page, context, problems } = await openPage(browser);
    await page.goto(`${t.url}/agents?agent=assistant`);
    const form = page.getByTestId('new-run-form');
    await form.getByLabel('Input').fill('call send_notification {"channel":"#ops","message":"deploy done"}');
    await form.getByRole('button', { name: 'Start run' }).click();
    await page.waitForURL(/\/runs\/[0-9a-f-]{36}$/);
    const id = page.url().split('/').pop() as string;

    const card = page.getByTestId('decision-card');
    await card.waitFor({ timeout: 30_000 });
    await waitForStatus(page, 'awaiting_input');
    expect(await page.getByTestId('question').count()).toBe(0);
    expect(await card.getByRole('heading', { level: 3 }).textContent()).toBe('Approve send_notification?');
    expect(JSON.parse((await card.getByTestId('decision-arguments').textContent()) ?? '')).toEqual({ channel: '#ops', message: 'deploy done' });
    // The badge in the navigation counts it too.
    await waitFor(async () => (await page.getByTestId('approvals-count').textContent())?.startsWith('1'), { what: 'the nav badge', timeoutMs: 20_000 });
    await screenshot(page, 'run-approval');
    expect(await seriousA11yViolations(page)).toEqual([]);

    await card.getByRole('button', { name: 'Approve' }).click();
    await waitForStatus(page, 'succeeded');
    const call = toolCalls(page).first();
    await call.waitFor();
    expect(await call.getAttribute('data-tool')).toBe('send_notification');
    expect(await call.getAttribute('data-how')).toBe('executed');
    expect(await call.getByTestId('tool-result').textContent()).toBe('sent to #ops');
    expect(await call.getByTestId('tool-how').textContent()).toBe('executed');
    await call.getByText('Arguments').click();
    await call.getByText('"deploy done"').waitFor();
    expect(await page.getByTestId('decision-card').count()).toBe(0);
    expect(await page.getByTestId('approvals-count').count()).toBe(0);
    await page.getByTestId('note-decision').getByText('approved send_notification').waitFor();
    await screenshot(page, 'run-tool-executed');
    expect(await seriousA11yViolations(page)).toEqual([]);

    const run = await getRun(id);
    expect(run.status).toBe('succeeded');
    const stored = run.steps.filter((s) => s.meta?.kind === 'tool');
    expect(stored.map((s) => (s.output as { how: string }).how)).toEqual(['executed']);
    expectClean(problems);
    await context.close();
  });

  it('lists two parallel approvals in the inbox; one denied and one approved there, the run shows both calls', async () => {
    const { run } = await api<{ run: Run }>('POST', '/api/runs', { agent: 'assistant', input: 'call send_notification {"message":"a"} and call send_notification {"message":"b"}' });
    await waitFor(async () => (await approvals()).filter((a) => a.runId === run.id).length === 2, { what: 'two pending approvals', timeoutMs: 30_000 });

    const { page, context, problems } = await openPage(browser);
    await page.goto(`${t.url}/approvals`);
    await page.getByRole('heading', { name: /^Approvals/, level: 1 }).waitFor();
    const inbox = page.getByTestId('approvals');
    // Only this run's cards: an earlier test that failed half-way may have left one behind.
    const cards = inbox.locator(`[data-testid="decision-card"][data-run-id="${run.id}"]`);
    await waitFor(async () => (await cards.count()) === 2, { what: 'two cards in the inbox' });
    const byMessage = (m: string) => cards.filter({ has: page.getByTestId('decision-arguments').filter({ hasText: `"message": "${m}"` }) });
    // Each card names the run it belongs to.
    expect(await byMessage('a').getByRole('link', { name: run.id.slice(0, 8) }).getAttribute('href')).toBe(`/runs/${run.id}`);
    await waitFor(async () => Number.parseInt((await page.getByTestId('approvals-count').textContent()) ?? '', 10) >= 2, { what: 'the nav badge' });
    await screenshot(page, 'approvals-inbox');
    expect(await seriousA11yViolations(page)).toEqual([]);

    const a = byMessage('a');
    await a.getByLabel(/^Reason/).fill('not now');
    await a.getByRole('button', { name: 'Deny' }).click();
    await waitFor(async () => (await cards.count()) === 1, { what: 'the denied request to leave the inbox' });
    // Approve the other with edited arguments.
    // Editing swaps the arguments for a text box: hold on to the card by its approval id.
    const b = inbox.locator(`[data-approval-id="${await byMessage('b').getAttribute('data-approval-id')}"]`);
    await b.getByRole('button', { name: 'Edit arguments' }).click();
    await b.getByLabel('Arguments to approve with (JSON)').fill('{"message": "b, edited"}');
    await b.getByRole('button', { name: 'Approve with these arguments' }).click();
    await waitFor(async () => (await cards.count()) === 0, { what: 'the inbox to empty' });
    if ((await approvals()).length === 0) {
      await page.getByRole('heading', { name: 'Nothing waits for you' }).waitFor();
      expect(await page.getByTestId('approvals-count').count()).toBe(0);
    }
    await screenshot(page, 'approvals-empty');
    expect(await seriousA11yViolations(page)).toEqual([]);

    await page.goto(`${t.url}/runs/${run.id}`);
    await waitForStatus(page, 'succeeded');
    await waitFor(async () => (await toolCalls(page).count()) === 2, { what: 'two tool calls in the timeline' });
    const how = await toolCalls(page).evaluateAll((els) => els.map((el) => (el as HTMLElement).dataset.how));
    expect(how.sort()).toEqual(['denied', 'executed']);
    const denied = page.locator('[data-testid="tool-call"][data-how="denied"]');
    expect(await denied.getByTestId('tool-result').textContent()).toMatch(/denied by a person: not now/);
    const executed = page.locator('[data-testid="tool-call"][data-how="executed"]');
    expect(await executed.getByTestId('tool-result').textContent()).toMatch(/^sent to /);
    await executed.getByText('Arguments').click();
    await executed.getByText('"b, edited"').waitFor();
    await screenshot(page, 'run-tools-denied-executed');
    expect(await seriousA11yViolations(page)).toEqual([]);

    const done = await getRun(run.id);
    expect(done.steps.filter((s) => s.meta?.kind === 'tool').map((s) => (s.output as { how: string }).how).sort()).toEqual(['denied', 'executed']);
    expectClean(problems);
    await context.close();
  });
});

describe('UI approvals by role (authentication on)', () => {
  const PASSWORD = 'correct horse battery';
  let t: TestApp & { dropDatabase?: () => Promise<void> };
  let browser: Browser;

  beforeAll(async () => {
    ensureClientBuilt();
    t = await startTestApp({ env: { OFFLINE_MODEL_DELAY_MS: '0', JWT_SECRET: 'e2e-secret-e2e-secret-e2e-secret-0123', ADMIN_USERNAME: 'admin', ADMIN_PASSWORD: PASSWORD } });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await t?.dropDatabase?.();
  });

  async function as<T>(token: string, method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${t.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${method} ${path} → ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  }
  async function token(username: string): Promise<string> {
    const res = await fetch(`${t.url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password: PASSWORD }) });
    return ((await res.json()) as { token: string }).token;
  }
  async function signIn(page: Page, username: string): Promise<void> {
    await page.goto(`${t.url}/login?next=%2Fapprovals`);
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${t.url}/approvals`);
  }

  it('an operator decides their own run’s request; a viewer is told who decides', async () => {
    const admin = await token('admin');
    await as(admin, 'POST', '/api/users', { username: 'olga', password: PASSWORD, role: 'operator' });
    await as(admin, 'POST', '/api/users', { username: 'vera', password: PASSWORD, role: 'viewer' });
    const olga = await token('olga');
    const { run } = await as<{ run: Run }>(olga, 'POST', '/api/runs', { agent: 'assistant', input: 'call send_notification {"message":"from olga"}' });
    await waitFor(async () => (await as<{ approvals: PendingApproval[] }>(olga, 'GET', '/api/approvals')).approvals.length === 1, { what: 'olga’s approval', timeoutMs: 30_000 });

    const viewer = await openPage(browser);
    await signIn(viewer.page, 'vera');
    await viewer.page.getByRole('heading', { name: 'Approvals are for operators and admins' }).waitFor();
    expect(await viewer.page.getByTestId('approvals-count').count()).toBe(0);
    expect(await viewer.page.getByTestId('decision-card').count()).toBe(0);
    await screenshot(viewer.page, 'approvals-viewer');
    expect(await seriousA11yViolations(viewer.page)).toEqual([]);
    expect(viewer.problems.errors).toEqual([]);
    await viewer.context.close();

    const operator = await openPage(browser);
    await signIn(operator.page, 'olga');
    const card = operator.page.locator(`[data-testid="decision-card"][data-run-id="${run.id}"]`);
    await card.waitFor();
    await card.getByRole('button', { name: 'Approve' }).click();
    await waitFor(async () => (await as<{ run: Run }>(olga, 'GET', `/api/runs/${run.id}`)).run.status === 'succeeded', { what: 'the run to succeed', timeoutMs: 30_000 });
    await operator.page.getByRole('heading', { name: 'Nothing waits for you' }).waitFor();
    expect(operator.problems.errors).toEqual([]);
    await operator.context.close();
  });
});
