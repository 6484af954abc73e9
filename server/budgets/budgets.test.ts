import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PendingApproval, Run } from '../../shared/protocol.js';
import { startTestApp, waitFor, type TestApp } from '../../test/helpers.js';

/**
 * Budgets across two instances on one database, with the offline model: a daily token
 * budget that only one of two simultaneous runs of the same user fits, the ledger never
 * over it, and a raise that resumes the run that parked.
 */
describe('budgets', () => {
  let a: TestApp & { dropDatabase?: () => Promise<void> };
  let b: TestApp;
  const env = { OFFLINE_MODEL_DELAY_MS: '0', JOB_POLL_INTERVAL_MS: '200' };

  beforeAll(async () => {
    a = await startTestApp({ env });
    b = await startTestApp({ env, databaseUrl: a.config.database.url! });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await a?.dropDatabase?.();
  });

  const runOf = async (app: TestApp, id: string) => (await request(app.url).get(`/api/runs/${id}`).expect(200)).body.run as Run;
  const ledger = async (owner: string) => {
    const { rows } = await a.db.pool.query<{ spent_tokens: string; reserved_tokens: string }>(
      `SELECT spent_tokens, reserved_tokens FROM budget_ledger WHERE scope = 'user' AND subject = $1 AND period = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD')`,
      [owner],
    );
    return { spent: Number(rows[0]?.spent_tokens ?? 0), reserved: Number(rows[0]?.reserved_tokens ?? 0) };
  };

  it('two runs of one user on two instances at once: one fits, the other parks; the ledger never goes over; a raise resumes it', async () => {
    // Calibrate: what one call reserves (E) and really spends (A), under a budget far away.
    await request(a.url).put('/api/budgets').send({ scope: 'agent', subject: 'writer', dailyUsd: null, dailyTokens: 1_000_000_000 }).expect(200);
    const first = (await request(a.url).post('/api/runs').set('Prefer', 'wait=30').send({ agent: 'writer', input: 'Lanterns on the river' }).expect(200)).body.run as Run;
    expect(first.status).toBe('succeeded');
    const owner = first.owner;
    const { rows } = await a.db.pool.query<{ amount_tokens: string; spent_tokens: string; status: string }>('SELECT amount_tokens, spent_tokens, status FROM budget_reservations WHERE run_id = $1', [first.id]);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.status).toBe('settled');
    const reserve = Number(rows[0]!.amount_tokens);
    const actual = Number(rows[0]!.spent_tokens);
    expect(actual).toBe(first.usage.promptTokens + first.usage.completionTokens);
    expect(actual).toBeLessThanOrEqual(reserve);

    // A user budget that the next call fits once, whatever the order: A + E <= limit < 2A + E.
    const limit = actual + reserve + Math.floor(actual / 2);
    await request(a.url).put('/api/budgets').send({ scope: 'user', subject: owner, dailyUsd: null, dailyTokens: limit }).expect(200);
    // The user's ledger starts counting when it has a limit: the calibration call was not on it.
    expect((await ledger(owner)).spent).toBe(0);
    const warm = (await request(b.url).post('/api/runs').set('Prefer', 'wait=30').send({ agent: 'writer', input: 'Lanterns on the river' }).expect(200)).body.run as Run;
    expect(warm.status).toBe('succeeded');
    expect(await ledger(owner)).toEqual({ spent: actual, reserved: 0 });

    const [r1, r2] = await Promise.all([
      request(a.url).post('/api/runs').send({ agent: 'writer', input: 'Lanterns on the river' }).expect(202),
      request(b.url).post('/api/runs').send({ agent: 'writer', input: 'Lanterns on the river' }).expect(202),
    ]);
    const ids = [r1.body.run.id as string, r2.body.run.id as string];
    const settled = await waitFor(
      async () => {
        const runs = await Promise.all(ids.map((id) => runOf(a, id)));
        const statuses = runs.map((r) => r.status).sort();
        return statuses[0] === 'awaiting_input' && statuses[1] === 'succeeded' ? runs : null;
      },
      { timeoutMs: 30_000, what: 'one run to succeed and the other to park' },
    );
    const parked = settled.find((r) => r.status === 'awaiting_input')!;
    const after = await ledger(owner);
    expect(after).toEqual({ spent: 2 * actual, reserved: 0 });
    expect(after.spent).toBeLessThanOrEqual(limit);

    // What it waits for, and why: a budget.exceeded request saying what was spent and what is needed.
    const approvals = (await request(a.url).get('/api/approvals').expect(200)).body.approvals as PendingApproval[];
    const asked = approvals.find((p) => p.runId === parked.id)!;
    expect(asked.kind).toBe('budget.exceeded');
    expect(asked.arguments).toMatchObject({ scope: 'user', subject: owner, limitTokens: limit, needsTokens: reserve });
    // Refused at the moment it asked: the other call was then either held (reserved) or spent.
    const numbers = asked.arguments as { spentTokens: number; reservedTokens: number };
    expect([actual + reserve, 2 * actual]).toContain(numbers.spentTokens + numbers.reservedTokens);

    // Raising the budget resumes it (the instance that raises it need not be the one that ran it).
    const raised = await request(b.url).put('/api/budgets').send({ scope: 'user', subject: owner, dailyUsd: null, dailyTokens: limit + reserve }).expect(200);
    expect(raised.body.resumed).toBe(1);
    await waitFor(async () => (await runOf(a, parked.id)).status === 'succeeded', { timeoutMs: 30_000, what: 'the parked run to resume and finish' });
    expect(await ledger(owner)).toEqual({ spent: 3 * actual, reserved: 0 });

    // One reservation per call; none left open. Both changes are in the audit log.
    const reservations = await a.db.pool.query<{ n: string }>(`SELECT count(*) AS n FROM budget_reservations WHERE status = 'reserved'`);
    expect(Number(reservations.rows[0]!.n)).toBe(0);
    const audit = (await request(a.url).get('/api/audit').expect(200)).body.entries as { action: string; targetId?: string; target?: { id: string } }[];
    expect(audit.filter((e) => e.action === 'budget.set').length).toBeGreaterThanOrEqual(3);

    const view = (await request(a.url).get('/api/budgets').expect(200)).body;
    const mine = (view.budgets as { scope: string; subject: string; dailyTokens: number; today: { spentTokens: number } }[]).find((v) => v.scope === 'user' && v.subject === owner)!;
    expect(mine).toMatchObject({ dailyTokens: limit + reserve, today: { spentTokens: 3 * actual } });
    // Whichever instance was refused counted it.
    const metrics = (await Promise.all([a, b].map((x) => x.app.metrics.registry.getSingleMetricAsString('budget_reservations_total')))).join('\n');
    expect(metrics).toContain('outcome="exceeded"');
  });

  it('a run\'s own limits park it; a retry with higher limits resumes it, a fail ends it', async () => {
    const small = (await request(a.url).post('/api/runs').send({ agent: 'writer', input: 'Moths', limits: { maxTokens: 5 } }).expect(202)).body.run as Run;
    const parked = await waitFor(async () => {
      const run = await runOf(a, small.id);
      return run.status === 'awaiting_input' ? run : null;
    }, { timeoutMs: 30_000, what: 'the run to park on its own limit' });
    const request1 = (parked.pendingInput as { requests: { approvalId: string; kind: string; arguments: { scope: string } }[] }).requests[0]!;
    expect(request1.kind).toBe('budget.exceeded');
    expect(request1.arguments.scope).toBe('run');
    // A decision that does not fit the question changes nothing.
    await request(a.url).post(`/api/runs/${small.id}/input`).send({ approvalId: request1.approvalId, decision: 'approve' }).expect(400);
    await request(a.url).post(`/api/runs/${small.id}/input`).send({ approvalId: request1.approvalId, decision: 'retry', arguments: { maxTokens: -1 } }).expect(400);
    await request(a.url).post(`/api/runs/${small.id}/input`).send({ approvalId: request1.approvalId, decision: 'retry', arguments: { maxTokens: 1_000_000 } }).expect(200);
    const resumed = await waitFor(async () => {
      const run = await runOf(a, small.id);
      return run.status !== 'awaiting_input' && run.status !== 'queued' && run.status !== 'running' ? run : null;
    }, { timeoutMs: 30_000, what: 'the run to resume with its raised limit' });
    expect(resumed.error).toBeNull();
    expect(resumed.status).toBe('succeeded');

    const doomed = (await request(b.url).post('/api/runs').send({ agent: 'writer', input: 'Moths', limits: { maxTokens: 5 } }).expect(202)).body.run as Run;
    const waiting = await waitFor(async () => {
      const run = await runOf(b, doomed.id);
      return run.status === 'awaiting_input' ? run : null;
    }, { timeoutMs: 30_000, what: 'the second run to park' });
    const id = (waiting.pendingInput as { requests: { approvalId: string }[] }).requests[0]!.approvalId;
    await request(b.url).post(`/api/runs/${doomed.id}/input`).send({ approvalId: id, decision: 'fail', reason: 'too expensive' }).expect(200);
    const failed = await waitFor(async () => {
      const run = await runOf(b, doomed.id);
      return run.status === 'failed' ? run : null;
    }, { timeoutMs: 30_000, what: 'the run to fail' });
    expect(failed.error?.code).toBe('budget_exceeded');
  });

  it('refuses bad budgets and non-admin callers, and changes nothing', async () => {
    await request(a.url).put('/api/budgets').send({ scope: 'team', subject: 'x', dailyUsd: 1, dailyTokens: null }).expect(400);
    await request(a.url).put('/api/budgets').send({ scope: 'user', subject: 'x', dailyUsd: -1, dailyTokens: null }).expect(400);
    const view = (await request(a.url).get('/api/budgets').expect(200)).body;
    expect((view.budgets as { subject: string }[]).some((v) => v.subject === 'x')).toBe(false);
    const spend = (await request(a.url).get('/api/budgets/spend?days=7').expect(200)).body;
    expect((spend.byAgent as { key: string; tokens: number }[]).find((d) => d.key === 'writer')!.tokens).toBeGreaterThan(0);
  });
});
