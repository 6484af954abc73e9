import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Run } from '../shared/protocol.js';
import { startTestApp, waitFor, type TestApp } from './helpers.js';
import { startTestMcpServer, type TestMcpServer } from './support/mcp-server.js';

/**
 * Tool use end to end: the real app (queue, PostgreSQL, HTTP, auth), the offline
 * model's deterministic tool calls, and a real MCP server over streamable HTTP whose
 * `executions` say exactly which calls reached it, with which idempotency key.
 */

const SECRET = 't'.repeat(48);
const ADMIN_PASSWORD = 'tools-admin-password';
const OUTPUT_MAX = 200;

interface Event {
  seq: number;
  type: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- event data is asserted on field by field
  data: Record<string, any>;
}

type StartedApp = TestApp & { dropDatabase?: () => Promise<void> };

const FINAL = ['succeeded', 'failed', 'cancelled'];

describe('tool calls through the queue and HTTP', () => {
  let shop: TestMcpServer;
  let flaky: TestMcpServer;
  let t: StartedApp;
  let dir: string;
  const tokens: Record<string, string> = {};

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies, asserted on field by field
  async function api(pathname: string, init: { method?: string; body?: unknown; as?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; body: any }> {
    const res = await fetch(`${t.url}${pathname}`, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      headers: { authorization: `Bearer ${tokens[init.as ?? 'admin']}`, ...(init.body === undefined ? {} : { 'content-type': 'application/json' }), ...init.headers },
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  }

  async function login(username: string, password: string): Promise<string> {
    const res = await fetch(`${t.url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
    expect(res.status).toBe(200);
    return ((await res.json()) as { token: string }).token;
  }

  const getRun = async (id: string): Promise<Run> => {
    const res = await api(`/api/runs/${id}`);
    expect(res.status).toBe(200);
    return res.body.run as Run;
  };
  const events = async (id: string): Promise<Event[]> => (await api(`/api/runs/${id}/events`)).body.events as Event[];
  const until = (id: string, statuses: string[], what = statuses.join('/')) =>
    waitFor(async () => {
      const run = await getRun(id);
      return statuses.includes(run.status) ? run : null;
    }, { timeoutMs: 120_000, intervalMs: 100, what: `run ${id} to be ${what}` });

  async function submit(body: Record<string, unknown>, as = 'admin'): Promise<string> {
    const res = await api('/api/runs', { body, as });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    return res.body.run.id as string;
  }
  const finished = async (body: Record<string, unknown>) => until(await submit(body), FINAL, 'final');
  const decide = (runId: string, body: Record<string, unknown>, as = 'admin') => api(`/api/runs/${runId}/input`, { body, as });
  const toolFinished = (list: Event[]) => list.filter((e) => e.type === 'run.tool.finished');

  beforeAll(async () => {
    shop = await startTestMcpServer();
    flaky = await startTestMcpServer();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'agentry-tools-'));
    const defaults = JSON.parse(readFileSync(path.resolve('server/agents/agents.default.json'), 'utf8')) as { agents: Record<string, unknown>[] };
    const tooling = (name: string, tools: string[], maxTurns = 4) => ({
      name,
      description: `A tool-using agent (${tools.join(', ')}).`,
      systemPrompt: 'You act with tools and say which ones you used.',
      temperature: 0,
      tools,
      maxTurns,
    });
    const agentsFile = path.join(dir, 'agents.json');
    await fs.writeFile(
      agentsFile,
      JSON.stringify({
        agents: [
          ...defaults.agents,
          tooling('shopper', ['mcp:shop/*', 'calculator', 'run_agent', 'send_notification']),
          tooling('looper', ['calculator'], 2),
          tooling('mathy', ['calculator']),
          tooling('counter', ['calculator', 'current_time']),
          tooling('fragile', ['mcp:flaky/*']),
        ],
      }),
    );
    t = await startTestApp({
      env: {
        JWT_SECRET: SECRET,
        ADMIN_PASSWORD,
        AGENTS_FILE: agentsFile,
        MCP_SERVERS: JSON.stringify([
          { name: 'shop', transport: 'http', url: shop.url, timeoutMs: 10_000 },
          // `wait` never answers: a generous timeout keeps it in flight until the test takes the server down.
          { name: 'flaky', transport: 'http', url: flaky.url, timeoutMs: 60_000 },
        ]),
        OFFLINE_MODEL_DELAY_MS: '0',
        TOOL_OUTPUT_MAX_CHARS: String(OUTPUT_MAX),
        JOB_POLL_INTERVAL_MS: '100',
        CACHE_TTL: '0',
      },
    });
    tokens.admin = await login('admin', ADMIN_PASSWORD);
    for (const [username, role] of [
      ['olga', 'operator'],
      ['vic', 'viewer'],
    ] as const) {
      expect((await api('/api/users', { body: { username, password: `${username}-password`, role } })).status).toBe(201);
      tokens[username] = await login(username, `${username}-password`);
    }
  });

  afterAll(async () => {
    await t?.close();
    await t?.dropDatabase?.();
    await shop?.close();
    await flaky?.close();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('a tool call end to end: intent and receipt stored in order, a tool step on the run', async () => {
    const run = await finished({ agent: 'shopper', input: 'call shop__echo {"text":"hello"}' });
    expect(run.status).toBe('succeeded');
    expect(String(run.output)).toContain('echo: hello');
    const list = await events(run.id);
    const types = list.map((e) => e.type);
    const called = types.indexOf('run.tool.called');
    const done = types.indexOf('run.tool.finished');
    expect(called).toBeGreaterThan(types.indexOf('run.started'));
    expect(done).toBeGreaterThan(called);
    expect(types.indexOf('run.succeeded')).toBeGreaterThan(done);
    // seq increases by one per stored event.
    expect(list.map((e) => e.seq)).toEqual(list.map((_e, i) => i + 1));
    const intent = list[called]!;
    expect(intent.data.meta).toMatchObject({ kind: 'tool', tool: 'mcp:shop/echo', toolName: 'shop__echo', source: 'mcp', arguments: { text: 'hello' } });
    expect(list[done]!.data).toMatchObject({ status: 'succeeded', key: intent.data.key, output: { content: 'echo: hello', isError: false, how: 'executed' } });
    const toolSteps = run.steps.filter((s) => (s as { meta?: { kind?: string } }).meta?.kind === 'tool');
    expect(toolSteps).toHaveLength(1);
    expect(toolSteps[0]).toMatchObject({ status: 'succeeded', agent: 'shopper' });
    const { rows } = await t.db.pool.query<{ key: string; status: string; kind: string | null }>("SELECT key, status, meta->>'kind' AS kind FROM run_steps WHERE run_id = $1 ORDER BY idx", [run.id]);
    expect(rows.map((r) => [r.kind, r.status])).toEqual([
      [null, 'succeeded'],
      ['tool', 'succeeded'],
      [null, 'succeeded'],
    ]);
    expect(rows[1]!.key).toBe(intent.data.key);
    // The MCP server saw one call, carrying `<run id>:<step key>` as its idempotency key.
    expect(shop.executions.filter((e) => e.key?.startsWith(`${run.id}:`))).toEqual([{ tool: 'echo', key: `${run.id}:${intent.data.key}`, args: { text: 'hello' } }]);
  });

  it('parallel calls needing approval park the run once; answered in reverse order it resumes once with exactly the approved calls', async () => {
    const id = await submit({ agent: 'shopper', input: 'call shop__charge {"amount":1} and call shop__charge {"amount":2}' }, 'olga');
    const parked = await until(id, ['awaiting_input']);
    expect(parked.status).toBe('awaiting_input');
    const requested = (await events(id)).filter((e) => e.type === 'run.approval.requested');
    expect(requested.map((e) => e.data.arguments)).toEqual([{ amount: 1 }, { amount: 2 }]);
    const [first, second] = requested.map((e) => e.data.approvalId as string);
    expect(first).not.toBe(second);

    const inbox = (await api('/api/approvals', { as: 'olga' })).body.approvals as { approvalId: string; runId: string; kind: string; toolName: string; owner: string }[];
    const mine = inbox.filter((a) => a.runId === id);
    expect(mine.map((a) => a.approvalId)).toEqual([first, second]);
    expect(mine.every((a) => a.kind === 'tool.approval' && a.toolName === 'shop__charge' && a.owner === 'olga')).toBe(true);
    expect((await api('/api/approvals')).body.approvals.filter((a: { runId: string }) => a.runId === id)).toHaveLength(2);
    expect((await api('/api/approvals', { as: 'vic' })).body.approvals).toEqual([]);
    expect((await decide(id, { approvalId: first, decision: 'approve' }, 'vic')).status).toBe(403);
    expect(shop.executions.filter((e) => e.key?.startsWith(`${id}:`))).toEqual([]);

    const startsBefore = (await events(id)).filter((e) => e.type === 'run.started').length;
    const one = await decide(id, { approvalId: second, decision: 'approve' }, 'olga');
    expect(one.status).toBe(200);
    // One of two decided: the run still waits, nothing ran.
    expect(one.body.run.status).toBe('awaiting_input');
    expect(shop.executions.filter((e) => e.key?.startsWith(`${id}:`))).toEqual([]);
    const two = await decide(id, { approvalId: first, decision: 'approve' }, 'olga');
    expect(two.status).toBe(200);
    const run = await until(id, FINAL, 'final');
    expect(run.status).toBe('succeeded');

    const list = await events(id);
    expect(list.filter((e) => e.type === 'run.approval.decided').map((e) => [e.data.approvalId, e.data.remaining, e.data.by])).toEqual([
      [second, 1, 'olga'],
      [first, 0, 'olga'],
    ]);
    expect(list.filter((e) => e.type === 'run.started')).toHaveLength(startsBefore + 1);
    expect(list.filter((e) => e.type === 'run.awaiting_input')).toHaveLength(1);
    const charges = shop.executions.filter((e) => e.key?.startsWith(`${id}:`));
    expect(charges.map((e) => e.args.amount).sort()).toEqual([1, 2]);
    expect(new Set(charges.map((e) => e.key)).size).toBe(2);
    expect(toolFinished(list).map((e) => e.data.output.how)).toEqual(['executed', 'executed']);
    expect(toolFinished(list).every((e) => e.data.meta.approvedBy === 'olga')).toBe(true);
  });

  it('a denial goes back to the model and the tool is not run', async () => {
    const id = await submit({ agent: 'shopper', input: 'call shop__charge {"amount":99}' });
    await until(id, ['awaiting_input']);
    const [request] = (await api('/api/approvals')).body.approvals.filter((a: { runId: string }) => a.runId === id);
    expect((await decide(id, { approvalId: request.approvalId, decision: 'deny', reason: 'too expensive' })).status).toBe(200);
    const run = await until(id, FINAL, 'final');
    expect(run.status).toBe('succeeded');
    expect(String(run.output)).toContain('denied by a person: too expensive');
    const [receipt] = toolFinished(await events(id));
    expect(receipt!.data.output).toMatchObject({ how: 'denied', isError: true });
    expect(shop.executions.filter((e) => e.key?.startsWith(`${id}:`))).toEqual([]);
  });

  it('bad decisions get a clear 400 or 409 and change nothing', async () => {
    const id = await submit({ agent: 'shopper', input: 'call shop__charge {"amount":5} and call shop__charge {"amount":6}' });
    await until(id, ['awaiting_input']);
    const ids = (await api('/api/approvals')).body.approvals.filter((a: { runId: string }) => a.runId === id).map((a: { approvalId: string }) => a.approvalId) as string[];
    expect(ids).toHaveLength(2);
    const snapshot = async () => {
      const { rows } = await t.db.pool.query('SELECT status, pending_input, input_answers, last_seq FROM runs WHERE id = $1', [id]);
      return rows[0];
    };
    const before = await snapshot();

    const wrongKind = await decide(id, { approvalId: ids[0], decision: 'record', result: 'x' });
    expect(wrongKind.status).toBe(400);
    expect(wrongKind.body.error.message).toMatch(/tool\.approval request takes "approve", "deny"/);
    const unknown = await decide(id, { approvalId: 'ap_nope', decision: 'approve' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toMatch(/no pending request ap_nope/);
    const invalid = await decide(id, { approvalId: ids[0], decision: 'maybe' });
    expect(invalid.status).toBe(400);
    const argsOnDeny = await decide(id, { approvalId: ids[0], decision: 'deny', arguments: { amount: 0 } });
    expect(argsOnDeny.status).toBe(400);
    const plainAnswer = await api(`/api/runs/${id}/input`, { body: { answer: 'yes' } });
    expect(plainAnswer.status).toBe(400);
    expect(await snapshot()).toEqual(before);

    // Decided once is decided: the second answer is a conflict and the first stands.
    expect((await decide(id, { approvalId: ids[0], decision: 'deny' })).status).toBe(200);
    const middle = await snapshot();
    const twice = await decide(id, { approvalId: ids[0], decision: 'approve' });
    expect(twice.status).toBe(409);
    expect(twice.body.error.message).toMatch(/already decided/);
    expect(await snapshot()).toEqual(middle);

    expect((await decide(id, { approvalId: ids[1], decision: 'approve', arguments: { amount: 7 } })).status).toBe(200);
    const run = await until(id, FINAL, 'final');
    expect(run.status).toBe('succeeded');
    // A decision on a run that no longer waits: 409.
    expect((await decide(id, { approvalId: ids[1], decision: 'approve' })).status).toBe(409);
    // Exactly the approved call ran, with the arguments the person gave.
    expect(shop.executions.filter((e) => e.key?.startsWith(`${id}:`)).map((e) => e.args)).toEqual([{ amount: 7 }]);
  });

  it('run_agent: a call of a nested agent that needs approval parks the whole run; approved, it runs once', async () => {
    const id = await submit({ agent: 'shopper', input: 'call run_agent {"agent":"shopper","prompt":"call shop__charge {\\"amount\\":9}"}' });
    await until(id, ['awaiting_input']);
    const [request] = (await api('/api/approvals')).body.approvals.filter((a: { runId: string }) => a.runId === id);
    expect(request).toMatchObject({ kind: 'tool.approval', toolName: 'shop__charge', arguments: { amount: 9 } });
    expect((await decide(id, { approvalId: request.approvalId, decision: 'approve' })).status).toBe(200);
    const run = await until(id, FINAL, 'final');
    expect(run.status).toBe('succeeded');
    expect(String(run.output)).toContain('charged 9');
    // (The run_agent step of the first attempt is recorded as failed — "run is waiting for a person" — when the nested agent parks.)
    const receipts = toolFinished(await events(id)).filter((e) => e.data.status === 'succeeded');
    expect(receipts.map((e) => e.data.meta.tool)).toEqual(['mcp:shop/charge', 'run_agent']);
    expect(shop.executions.filter((e) => e.key?.startsWith(`${id}:`)).map((e) => e.args)).toEqual([{ amount: 9 }]);
  });

  it('reaching maxTurns fails the run with code max_turns', async () => {
    const run = await finished({ agent: 'looper', input: 'keep calling calculator {"expression":"1+1"}' });
    expect(run.status).toBe('failed');
    expect(run.error).toMatchObject({ code: 'max_turns' });
    expect(toolFinished(await events(run.id))).toHaveLength(2);
  });

  it('a tool output longer than TOOL_OUTPUT_MAX_CHARS is cut with a marker', async () => {
    const text = 'x'.repeat(OUTPUT_MAX * 2);
    const run = await finished({ agent: 'shopper', input: `call shop__echo {"text":"${text}"}` });
    expect(run.status).toBe('succeeded');
    const [receipt] = toolFinished(await events(run.id));
    const output = receipt!.data.output as { content: string; truncated?: boolean };
    expect(output.truncated).toBe(true);
    expect(output.content.startsWith(`echo: ${'x'.repeat(OUTPUT_MAX - 6)}\n`)).toBe(true);
    expect(output.content).toMatch(/\[truncated: \d+ more characters not shown\]$/);
    expect(output.content.length).toBeLessThan(text.length);
  });

  it('built-ins: arithmetic goes to the calculator, a time question to current_time', async () => {
    const run = await finished({ agent: 'counter', input: 'What is 17 * 3? And what time is it now?' });
    expect(run.status).toBe('succeeded');
    const receipts = toolFinished(await events(run.id));
    expect(receipts.map((e) => e.data.meta.tool).sort()).toEqual(['calculator', 'current_time']);
    expect(receipts.find((e) => e.data.meta.tool === 'calculator')!.data.output.content).toBe('51');
  });

  it('an MCP server that goes down mid-call: the model reads an error and the run ends; once it is back the next run works', async () => {
    const id = await submit({ agent: 'fragile', input: 'call flaky__wait {}' });
    await waitFor(() => flaky.executions.some((e) => e.key?.startsWith(`${id}:`)), { timeoutMs: 60_000, what: 'the call to reach the MCP server' });
    const port = flaky.port;
    await flaky.close();
    const run = await until(id, FINAL, 'final');
    expect(run.status).toBe('succeeded');
    const [receipt] = toolFinished(await events(id));
    expect(receipt!.data.output).toMatchObject({ isError: true, how: 'executed' });
    expect(receipt!.data.output.content).toMatch(/^the tool failed: /);
    expect(String(run.output)).toContain('the tool failed');

    flaky = await startTestMcpServer({ port });
    await waitFor(async () => {
      const { body } = await api('/api/tools');
      return (body.mcpServers as { name: string; connected: boolean }[]).some((s) => s.name === 'flaky' && s.connected);
    }, { timeoutMs: 90_000, what: 'the app to reconnect to the MCP server' });
    const again = await finished({ agent: 'fragile', input: 'call flaky__echo {"text":"back"}' });
    expect(again.status).toBe('succeeded');
    expect(toolFinished(await events(again.id))[0]!.data.output).toMatchObject({ content: 'echo: back', isError: false });
    expect(flaky.executions.filter((e) => e.key?.startsWith(`${again.id}:`))).toHaveLength(1);
  });

  const patterns: [string, Record<string, unknown>][] = [
    ['sequential', { pattern: 'sequential', agents: ['mathy', 'writer'], input: 'What is 6 * 7?' }],
    ['parallel', { pattern: 'parallel', agents: ['mathy', 'counter'], input: 'What is 6 * 7?', options: { aggregator: 'summarizer' } }],
    ['debate', { pattern: 'debate', agents: ['mathy', 'counter'], input: 'What is 6 * 7?', options: { rounds: 1 } }],
    ['verification', { pattern: 'verification', agents: ['mathy', 'verifier'], input: 'What is 6 * 7?', options: { maxAttempts: 3 } }],
    ['expert-panel', { pattern: 'expert-panel', agents: ['mathy', 'counter'], input: 'What is 6 * 7?' }],
    ['router', { pattern: 'router', agents: ['mathy', 'counter'], input: 'What is 6 * 7?', options: { threshold: 0 } }],
  ];
  it.each(patterns)('the %s pattern with a tool-using agent succeeds offline and shows tool steps', async (_name, body) => {
    const run = await finished(body);
    expect(run.status, JSON.stringify(run.error)).toBe('succeeded');
    const receipts = toolFinished(await events(run.id));
    expect(receipts.length).toBeGreaterThan(0);
    expect(receipts.some((e) => e.data.meta.tool === 'calculator' && e.data.output.content === '42')).toBe(true);
    expect(run.steps.some((s) => (s as { meta?: { kind?: string } }).meta?.kind === 'tool')).toBe(true);
  });
});
