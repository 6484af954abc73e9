import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, waitFor as waitForCondition } from '../../test/helpers.js';
import { LeaseLost } from './retry.js';
import { gate, planInput, startQueue, testPlanner, type QueueHarness } from '../../test/support/queue-harness.js';
import type { RunContext } from './types.js';

/** Generous deadlines: two cores shared by several test runs. */
const waitFor: typeof waitForCondition = (fn, options = {}) => waitForCondition(fn, { timeoutMs: 30_000, ...options });

/**
 * Two queue instances on one database: leases, fencing, sweeping, shutdown
 * release and cross-instance cancel. Instance A is made to lose its run; the
 * assertion is always that the run still ends exactly once.
 */
describe('leases and fencing', () => {
  let database: { url: string; drop(): Promise<void> };
  const open: QueueHarness[] = [];

  beforeAll(async () => {
    database = await createTestDatabase('lease');
  });
  afterEach(async () => {
    for (const h of open.splice(0)) await h.close(500);
    // A run a test left unfinished is released to the queue at close; the next test's
    // instances would claim it and count its calls as their own. Retire it.
    const client = new pg.Client(database.url);
    await client.connect();
    try {
      await client.query(`UPDATE runs SET status = 'cancelled', lease_token = NULL, lease_owner = NULL, lease_expires_at = NULL WHERE status IN ('queued', 'running', 'awaiting_input')`);
    } finally {
      await client.end();
    }
  });
  afterAll(async () => {
    await database.drop();
  });

  const start = async (planner: ReturnType<typeof testPlanner>, env: Record<string, string> = {}, tuning = {}) => {
    const h = await startQueue(planner, { databaseUrl: database.url, env: { JOB_LEASE_MS: '1000', ...env }, tuning });
    open.push(h);
    return h;
  };
  const row = async (h: QueueHarness, id: string) =>
    (await h.db.pool.query('SELECT status, attempts, output, lease_token, last_seq FROM runs WHERE id = $1', [id])).rows[0];
  const finalEvents = async (h: QueueHarness, id: string) =>
    (await h.db.pool.query(`SELECT type FROM run_events WHERE run_id = $1 AND type IN ('run.succeeded', 'run.failed', 'run.cancelled')`, [id])).rows;
  const seqsOf = async (h: QueueHarness, id: string) =>
    (await h.db.pool.query('SELECT seq FROM run_events WHERE run_id = $1 ORDER BY seq', [id])).rows.map((r: { seq: number }) => r.seq);

  it('a worker whose lease expired cannot write a step, an event or a final status; the run ends once, elsewhere', async () => {
    const resumeA = gate();
    const attemptsSeen: { instance: string; attempt: number }[] = [];
    let lateWrite: unknown;
    const a = await start(
      testPlanner(async (ctx: RunContext) => {
        attemptsSeen.push({ instance: 'A', attempt: ctx.run.attempts });
        await ctx.step('one', { agent: 'x' }, async () => ({ output: 'A1' }));
        // Paused past the lease (think CPU throttling or a long GC) and ignoring the signal.
        await resumeA.promise;
        try {
          await ctx.step('two', { agent: 'x' }, async () => ({ output: 'A2' }));
        } catch (error) {
          lateWrite = error;
        }
        return { output: 'from A' };
      }),
      {},
      // No heartbeat during the test: A's lease is left to expire as if its process froze.
      { heartbeatMs: 60_000, sweepIntervalMs: 60_000 },
    );
    const run = (await a.queue.enqueue([{ id: randomUUID(), owner: 'admin', agent: 'x', input: {} }]))[0]!;
    await waitFor(async () => (await a.api(`/api/runs/${run.id}`)).body.run.steps[0]?.status === 'succeeded', { what: 'A to checkpoint step one' });
    a.queue.stopClaiming();
    const tokenA = (await row(a, run.id)).lease_token;
    await waitFor(async () => (await a.db.pool.query('SELECT lease_expires_at < now() AS expired FROM runs WHERE id = $1', [run.id])).rows[0].expired, { what: 'lease to expire' });

    // B sweeps the expired lease and runs the rest from the checkpoint.
    const bCalls: string[] = [];
    const b = await start(
      testPlanner(async (ctx) => {
        attemptsSeen.push({ instance: 'B', attempt: ctx.run.attempts });
        const one = await ctx.step('one', { agent: 'x' }, async () => {
          bCalls.push('one');
          return { output: 'B1' };
        });
        const two = await ctx.step('two', { agent: 'x' }, async () => {
          bCalls.push('two');
          return { output: `${one}+B2` };
        });
        return { output: two };
      }),
    );
    await waitFor(async () => (await row(b, run.id)).status === 'succeeded', { what: 'B to finish the run' });
    expect(bCalls).toEqual(['two']);
    expect((await row(b, run.id)).output).toBe('A1+B2');

    // A wakes up and tries to write with its old token: every write is refused.
    resumeA.open();
    await waitFor(() => a.queue.worker.activeCount === 0, { what: 'A to give up' });
    expect(lateWrite).toBeInstanceOf(LeaseLost);
    const after = await row(b, run.id);
    expect(after.status).toBe('succeeded');
    expect(after.output).toBe('A1+B2');
    expect(after.lease_token).toBeNull();
    expect(await finalEvents(b, run.id)).toEqual([{ type: 'run.succeeded' }]);
    const seqs = await seqsOf(b, run.id);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    expect(seqs.length).toBe(after.last_seq);
    expect(attemptsSeen).toEqual([
      { instance: 'A', attempt: 1 },
      { instance: 'B', attempt: 2 },
    ]);
    const released = (await b.db.pool.query(`SELECT data FROM run_events WHERE run_id = $1 AND type = 'run.released'`, [run.id])).rows;
    expect(released).toEqual([{ data: expect.objectContaining({ reason: 'lease_expired' }) }]);
    expect(tokenA).not.toBeNull();
  });

  it('the heartbeat keeps a long attempt leased well past the lease length', async () => {
    const finish = gate();
    const a = await start(
      testPlanner(async () => {
        await finish.promise;
        return { output: 'long' };
      }),
    );
    const run = (await a.queue.enqueue([{ id: randomUUID(), owner: 'admin', agent: 'x', input: {} }]))[0]!;
    await waitFor(async () => (await row(a, run.id)).status === 'running');
    // B (the sweeper) starts once A holds the run: started before, it could win the claim
    // under load and finish the run at once (seen once in CI).
    const b = await start(testPlanner(async () => ({ output: 'B should not run it' })));
    // Past the first lease, on renewals alone (state, not elapsed time).
    const { rows: first } = await a.db.pool.query<{ until: Date }>('SELECT lease_expires_at + interval \'1500 milliseconds\' AS until FROM runs WHERE id = $1', [run.id]);
    await waitFor(async () => (await a.db.pool.query('SELECT now() > $2 AS past FROM runs WHERE id = $1', [run.id, first[0]!.until])).rows[0].past, { what: 'time past the first lease' });
    await b.queue.sweep();
    expect((await row(a, run.id)).attempts).toBe(1);
    expect((await row(a, run.id)).status).toBe('running');
    finish.open();
    await waitFor(async () => (await row(a, run.id)).status === 'succeeded');
    expect((await row(a, run.id)).output).toBe('long');
  });

  it('shutdown waits for running attempts until the deadline, then releases the rest at once without counting the attempt', async () => {
    const quickDone = gate();
    const a = await start(
      testPlanner(async (ctx) => {
        const kind = planInput<{ kind: string }>(ctx).kind;
        await ctx.step('first', { agent: 'x' }, async () => ({ output: `${kind}-1` }));
        if (kind === 'quick') {
          await quickDone.promise;
          return { output: 'quick done' };
        }
        await new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
        return { output: 'unreachable' };
      }),
    );
    const [quick, slow] = await a.queue.enqueue([
      { id: randomUUID(), owner: 'admin', agent: 'x', input: { kind: 'quick' } },
      { id: randomUUID(), owner: 'admin', agent: 'x', input: { kind: 'slow' } },
    ]);
    if (!quick || !slow) throw new Error('enqueue returned fewer runs than given');
    await waitFor(async () => (await a.db.pool.query(`SELECT count(*)::int AS n FROM run_steps WHERE status = 'succeeded' AND run_id = ANY($1)`, [[quick.id, slow.id]])).rows[0].n === 2);
    open.splice(open.indexOf(a), 1);
    const t0 = Date.now();
    // A deadline the quick run's final write fits in even on a loaded machine.
    const closing = a.close(4000);
    setTimeout(() => quickDone.open(), 200);
    // Wait for the close and read the database from a new instance.
    const bCalls: string[] = [];
    await closing;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(3900);
    const b = await start(
      testPlanner(async (ctx) => {
        const first = await ctx.step('first', { agent: 'x' }, async () => {
          bCalls.push('first');
          return { output: 'again' };
        });
        return { output: `${first} finished by B` };
      }),
      {},
    );
    const quickRow = await row(b, quick.id);
    expect(quickRow.status).toBe('succeeded');
    await waitFor(async () => (await row(b, slow.id)).status === 'succeeded', { what: 'B to finish the released run' });
    const slowRow = await row(b, slow.id);
    expect(slowRow.output).toBe('slow-1 finished by B');
    // Released attempt not counted: A's attempt 1 was given back, B's is attempt 1.
    expect(slowRow.attempts).toBe(1);
    expect(bCalls).toEqual([]);
    const types = (await b.db.pool.query('SELECT type, data FROM run_events WHERE run_id = $1 ORDER BY seq', [slow.id])).rows;
    expect(types.map((t: { type: string }) => t.type)).toEqual([
      'run.queued',
      'run.started',
      'run.step.started',
      'run.step.finished',
      'run.released',
      'run.started',
      'run.succeeded',
    ]);
    expect(types[4].data).toMatchObject({ reason: 'shutdown' });
  });

  it('a cancel sent to one instance stops the run on another, and answers once the run is cancelled', async () => {
    let abortedAt = 0;
    const a = await start(
      testPlanner(async (ctx) => {
        await new Promise((_, reject) =>
          ctx.signal.addEventListener('abort', () => {
            abortedAt = Date.now();
            reject(ctx.signal.reason);
          }),
        );
        return { output: null };
      }),
    );
    const run = (await a.queue.enqueue([{ id: randomUUID(), owner: 'admin', agent: 'x', input: {} }]))[0]!;
    await waitFor(async () => (await row(a, run.id)).status === 'running');
    // B does not claim: it only serves the API. Its backstop poll and its heartbeat are out of
    // reach, so only the NOTIFYs (cancel to A, done back to B) can end the wait with `cancelled`.
    // Started once A holds the run: a claim B had in flight when told to stop could otherwise
    // take it (seen once under load).
    const b = await start(testPlanner(async () => ({ output: null })), {}, { cancelWaitMs: 120_000, waitPollMs: 120_000 });
    b.queue.stopClaiming();
    const res = await b.api(`/api/runs/${run.id}/cancel`, { method: 'POST' });
    expect(res.status).toBe(200);
    expect(res.body.run.status).toBe('cancelled');
    expect(abortedAt).toBeGreaterThan(0);
    expect(await finalEvents(a, run.id)).toEqual([{ type: 'run.cancelled' }]);
    // Without the done NOTIFY the answer would wait the whole cancelWaitMs: fail long before that.
  }, 60_000);

  it('the sweeper ends a run cancelled while its worker was gone, and fails one whose expired lease was its last attempt', async () => {
    const h = await start(testPlanner(async () => ({ output: null })));
    h.queue.stopClaiming();
    const [c, f] = await h.queue.enqueue([
      { id: randomUUID(), owner: 'admin', agent: 'x', input: {} },
      { id: randomUUID(), owner: 'admin', agent: 'x', input: {}, maxAttempts: 1 },
    ]);
    if (!c || !f) throw new Error('enqueue returned fewer runs than given');
    // Both look claimed by an instance that died.
    await h.db.pool.query(
      `UPDATE runs SET status = 'running', attempts = 1, lease_owner = 'dead', lease_token = gen_random_uuid(),
              lease_expires_at = now() - interval '1 second', cancel_requested = (id = $1) WHERE id = ANY($2)`,
      [c.id, [c.id, f.id]],
    );
    // Whichever sweep gets there (this one or the background one), both end.
    await h.queue.sweep();
    await waitFor(async () => (await row(h, c.id)).status !== 'running' && (await row(h, f.id)).status !== 'running', { what: 'both runs to be swept' });
    expect((await row(h, c.id)).status).toBe('cancelled');
    const failed = (await h.api(`/api/runs/${f.id}`)).body.run;
    expect(failed).toMatchObject({ status: 'failed', error: { code: 'lease_expired' } });
  });
  it('an expired lease not yet swept is still the worker\'s: its token decides, and the run ends once', async () => {
    const resume = gate();
    let calls = 0;
    const a = await start(
      testPlanner(async (ctx) => {
        calls++;
        await resume.promise;
        return { output: await ctx.step('late', { agent: 'x' }, async () => ({ output: 'written late' })) };
      }),
      {},
      // Nothing renews or sweeps during the test: the lease runs out as in a long event-loop stall.
      { heartbeatMs: 60_000, sweepIntervalMs: 60_000 },
    );
    const run = (await a.queue.enqueue([{ id: randomUUID(), owner: 'admin', agent: 'x', input: {} }]))[0]!;
    await waitFor(() => calls === 1, { what: 'the attempt to start' });
    await a.db.pool.query(`UPDATE runs SET lease_expires_at = now() - interval '1 second' WHERE id = $1`, [run.id]);
    resume.open();
    await waitFor(async () => ['succeeded', 'failed', 'queued'].includes((await row(a, run.id)).status), { what: 'the attempt to write its outcome' });
    expect(await row(a, run.id)).toMatchObject({ status: 'succeeded', output: 'written late', attempts: 1 });
    expect(calls).toBe(1);
  });

  it('leases survive a stall of the shared pool longer than the lease (renewals have their own connection)', async () => {
    const finish = gate();
    let calls = 0;
    // Requests for a pooled connection wait long (no timeout inside the stall): only the lease may run out.
    const a = await start(
      testPlanner(async (ctx) => {
        calls++;
        await finish.promise;
        return { output: await ctx.step('after', { agent: 'x' }, async () => ({ output: 'after the stall' })) };
      }),
      { DB_CONNECTION_TIMEOUT_MS: '60000' },
    );
    const run = (await a.queue.enqueue([{ id: randomUUID(), owner: 'admin', agent: 'x', input: {} }]))[0]!;
    await waitFor(() => calls === 1, { what: 'the attempt to start' });
    const observer = new pg.Client(database.url);
    await observer.connect();
    const held: pg.PoolClient[] = [];
    try {
      const { rows } = await observer.query<{ until: Date }>(`SELECT lease_expires_at + interval '1 second' AS until FROM runs WHERE id = $1`, [run.id]);
      // Every pooled connection is taken (think of a burst of slow requests).
      const max = (a.db.pool as unknown as { options: { max: number } }).options.max;
      while (held.length < max) held.push(await a.db.pool.connect());
      // The lease is renewed past what it was at the start of the stall plus a whole lease.
      await waitFor(async () => (await observer.query('SELECT lease_expires_at > $2 AS renewed FROM runs WHERE id = $1', [run.id, rows[0]!.until])).rows[0].renewed, {
        what: 'a renewal during the pool stall',
      });
      // Another instance sweeping now finds nothing to take.
      const b = await start(testPlanner(async () => ({ output: 'B must not run it' })));
      b.queue.stopClaiming();
      await b.queue.sweep();
      expect((await observer.query('SELECT status, attempts FROM runs WHERE id = $1', [run.id])).rows[0]).toEqual({ status: 'running', attempts: 1 });
    } finally {
      for (const client of held) client.release();
      await observer.end();
    }
    finish.open();
    await waitFor(async () => (await row(a, run.id)).status === 'succeeded', { what: 'the run to finish' });
    expect(await row(a, run.id)).toMatchObject({ output: 'after the stall', attempts: 1 });
    expect(calls).toBe(1);
  });
});
