import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PendingApproval, Run } from '../../shared/protocol.js';
import { createTestDatabase, jsonApi, startTestApp, waitFor, type TestApp } from '../helpers.js';
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

  const api = jsonApi(() => t.url);
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

  it('drops the card of a parked run that is cancelled, live (before the 30 s poll)', async () => {
    const { page, context, problems } = await openPage(browser);
    await page.goto(`${t.url}/approvals`);
    await page.getByRole('heading', { name: /^Approvals/, level: 1 }).waitFor();
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
    const { run } = await api<{ run: Run }>('POST', '/api/runs', { agent: 'assistant', input: 'call send_notification {"message":"never sent"}' });
    // The card arrives through the hub (run.approval.requested), not the poll.
    const card = page.locator(`[data-testid="decision-card"][data-run-id="${run.id}"]`);
    await card.waitFor({ timeout: 20_000 });
    await api('POST', `/api/runs/${run.id}/cancel`, {});
    await card.waitFor({ state: 'detached', timeout: 20_000 });
    expect((await getRun(run.id)).status).toBe('cancelled');
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

/**
 * A call whose outcome is unknown, made for real: an HTTP tool that is not safe to
 * repeat hangs, the instance running the call shuts down (the run goes back to the
 * queue with the call's intent and no receipt), and the next instance parks the run
 * for a person instead of charging twice. The person records the result from the
 * run page; the tool is not called again.
 */
describe('UI unknown outcome of a tool call (two instances, one database)', () => {
  let database: { url: string; drop(): Promise<void> };
  let first: TestApp | undefined;
  let second: TestApp | undefined;
  let browser: Browser;
  let service: Server;
  let dir: string;
  let env: Record<string, string> = {};
  const charges: { body: string; key: string | undefined }[] = [];
  let charged: () => void = () => undefined;
  const firstCharge = new Promise<void>((resolve) => (charged = resolve));

  beforeAll(async () => {
    ensureClientBuilt();
    // The payment service takes the charge and never answers.
    service = createServer((req: IncomingMessage, _res: ServerResponse) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        charges.push({ body, key: req.headers['idempotency-key'] as string | undefined });
        charged();
      });
    });
    await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve));
    const port = (service.address() as AddressInfo).port;
    dir = mkdtempSync(path.join(tmpdir(), 'agentry-e2e-tools-'));
    const agentsFile = path.join(dir, 'agents.json');
    writeFileSync(
      agentsFile,
      JSON.stringify({
        agents: [{ name: 'cashier', description: 'Charges customers.', systemPrompt: 'Charge when asked.', temperature: 0, tools: ['http:charge'], maxTurns: 4 }],
        httpTools: [
          {
            name: 'charge',
            description: 'Charges an amount to the customer.',
            url: `http://127.0.0.1:${port}/charge`,
            method: 'POST',
            input: { type: 'object', properties: { amount: { type: 'number' } }, required: ['amount'] },
            annotations: { readOnly: false, destructive: false, idempotent: false },
            approval: 'never',
            timeoutMs: 300_000,
          },
        ],
      }),
    );
    env = { OFFLINE_MODEL_DELAY_MS: '0', AGENTS_FILE: agentsFile, TOOL_HTTP_ALLOWED_HOSTS: '127.0.0.1', SHUTDOWN_TIMEOUT_MS: '1000' };
    database = await createTestDatabase('e2etools');
    first = await startTestApp({ databaseUrl: database.url, env });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await first?.close().catch(() => undefined);
    await second?.close();
    service?.closeAllConnections();
    await new Promise<void>((resolve) => (service ? service.close(() => resolve()) : resolve()));
    await database?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('parks the run after a crash mid-call; recording the result from the run page finishes it without a second charge', async () => {
    const app1 = first as TestApp;
    const created = await fetch(`${app1.url}/api/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ agent: 'cashier', input: 'call charge {"amount":5}' }) });
    expect(created.status).toBe(202);
    const { run } = (await created.json()) as { run: Run };
    await firstCharge;
    // The instance goes away while the charge hangs: the run goes back to the queue, the call unanswered.
    await app1.close();
    first = undefined;
    second = await startTestApp({ databaseUrl: database.url, env });
    const app2 = second;

    const { page, context, problems } = await openPage(browser);
    await page.goto(`${app2.url}/runs/${run.id}`);
    const card = page.locator('[data-testid="decision-card"][data-kind="tool.unknown_outcome"]');
    await card.waitFor({ timeout: 30_000 });
    await page.locator('[data-testid="run-status"] [data-status="awaiting_input"]').waitFor();
    expect(await card.getByRole('heading', { level: 3 }).textContent()).toBe('Unknown outcome: charge');
    expect(JSON.parse((await card.getByTestId('decision-arguments').textContent()) ?? '')).toEqual({ amount: 5 });
    await page.locator('[data-testid="tool-call"][data-how="interrupted"]').waitFor();
    await page.getByTestId('note-approval').getByText('Outcome of charge unknown').waitFor();
    await screenshot(page, 'run-unknown-outcome');
    expect(await seriousA11yViolations(page)).toEqual([]);

    // "Record result" without a result says what is missing and sends nothing.
    await card.getByRole('button', { name: 'Record result' }).click();
    await card.locator('[data-field-error="result"]').waitFor();
    await card.getByLabel(/^Result to record/).fill('{"charged": true, "receipt": "r-1"}');
    await card.getByLabel(/^Reason/).fill('checked the payment dashboard');
    await card.getByRole('button', { name: 'Record result' }).click();

    await page.locator('[data-testid="run-status"] [data-status="succeeded"]').waitFor({ timeout: 30_000 });
    const recorded = page.locator('[data-testid="tool-call"][data-how="recorded"]');
    await recorded.waitFor();
    expect(await recorded.getByTestId('tool-how').textContent()).toBe('recorded by a person');
    expect(JSON.parse((await recorded.getByTestId('tool-result').textContent()) ?? '')).toEqual({ charged: true, receipt: 'r-1' });
    await page.getByTestId('note-decision').getByText('recorded a result for charge').waitFor();
    await screenshot(page, 'run-unknown-outcome-recorded');
    expect(await seriousA11yViolations(page)).toEqual([]);
    // The service was charged once: recording a result does not call the tool again.
    expect(charges).toHaveLength(1);
    expect(problems.errors).toEqual([]);
    await context.close();
  });
});
