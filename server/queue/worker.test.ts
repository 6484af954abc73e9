import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor as waitForCondition } from '../../test/helpers.js';
import { createLogger } from '../log.js';
import { createMetrics } from '../metrics/metrics.js';
import { claimRuns, sweepExpiredLeases } from './sql/leases.js';
import { cancelRun } from './sql/control.js';
import type { Db } from './sql/rows.js';
import { gate, RecordingSink, startQueue, testPlanner, type QueueHarness } from '../../test/support/queue-harness.js';
import type { RunContext } from './types.js';
import { createWorker, type Worker } from './worker.js';

/** Generous deadlines: two cores shared by several test runs. */
const waitFor: typeof waitForCondition = (fn, options = {}) => waitForCondition(fn, { timeoutMs: 30_000, ...options });

/**
 * The worker on its own (no timers: no heartbeat, no sweeper, no poll), so a
 * test decides exactly when a lease is swept, a claim answers or a cancel
 * arrives. The database and every statement are real.
 */
describe('worker', () => {
  let h: QueueHarness & { dropDatabase?: () => Promise<void> };
  beforeAll(async () => {
    // Only for a migrated database and its pool: the harness's own queue never starts.
    h = await startQueue(testPlanner(async () => ({ output: null })), { start: false });
  });
  afterAll(async () => {
    await h?.close();
    await h?.dropDatabase?.();
  });

  const workerWith = (execute: (ctx: RunContext) => Promise<{ output: unknown }>, db: Db = h.db.pool): Worker => {
    const worker = createWorker({
      db,
      planner: testPlanner(execute),
      sink: new RecordingSink(),
      logger: createLogger({ level: 'silent' }),
      metrics: createMetrics(),
      options: { instanceId: `w-${randomUUID().slice(0, 6)}`, maxConcurrent: 4, leaseMs: 60_000, jobTimeoutMs: 60_000, retryBaseMs: 10, retryMaxMs: 100, abortGraceMs: 60_000 },
      onFinal: () => undefined,
      onDelayed: () => undefined,
    });
    return worker;
  };
  const enqueue = async () => (await h.queue.enqueue([{ id: randomUUID(), owner: 'admin', agent: 'x', input: {} }]))[0]!;
  const row = async (id: string) => (await h.db.pool.query('SELECT status, attempts, output, lease_token FROM runs WHERE id = $1', [id])).rows[0];
  /** A Db whose claim statements are counted (answered ones). */
  const countingClaims = (): { db: Db; answered: () => number } => {
    let answered = 0;
    const pool = h.db.pool;
    const db = {
      query: async (config: pg.QueryConfig) => {
        const result = await pool.query(config);
        if (config.name === 'queue_claim_runs') answered++;
        return result;
      },
    } as unknown as Db;
    return { db, answered: () => answered };
  };

  it('does not claim again a run whose earlier attempt is still active here; claims it once that attempt ends', async () => {
    const firstResumes = gate();
    const attempts: number[] = [];
    const { db, answered } = countingClaims();
    const worker = workerWith(async (ctx) => {
      attempts.push(ctx.run.attempts);
      // The first attempt hangs on, ignoring its lease (think of a stalled pool).
      if (ctx.run.attempts === 1) await firstResumes.promise;
      await ctx.step('only', { agent: 'x' }, async () => ({ output: `step by attempt ${ctx.run.attempts}` }));
      return { output: `attempt ${ctx.run.attempts}` };
    }, db);
    try {
      const run = await enqueue();
      worker.resume();
      await waitFor(() => attempts.length === 1, { what: 'the first attempt' });
      // Its lease expires and a sweeper (say another instance's) returns the run to the queue.
      await h.db.pool.query(`UPDATE runs SET lease_expires_at = now() - interval '1 second' WHERE id = $1`, [run.id]);
      expect((await sweepExpiredLeases(h.db.pool, 100)).map((r) => r.id)).toEqual([run.id]);
      // A wake-up here: the claim must skip the run while its first attempt is active.
      const before = answered();
      worker.wake();
      await waitFor(() => answered() > before, { what: 'a claim to answer' });
      expect(attempts).toEqual([1]);
      expect((await row(run.id)).status).toBe('queued');
      expect(worker.activeCount).toBe(1);
      // The first attempt unwinds: its writes are fenced out, and then the run is claimed again here.
      firstResumes.open();
      await waitFor(async () => (await row(run.id)).status === 'succeeded', { what: 'the second attempt to finish the run' });
      expect(attempts).toEqual([1, 2]);
      expect((await row(run.id)).output).toBe('attempt 2');
      await waitFor(() => worker.activeCount === 0, { what: 'both attempts to leave' });
    } finally {
      worker.pause();
      await worker.drain(AbortSignal.timeout(1000));
    }
  });

  it('a cancel that arrives while the claim that took the run is still answering aborts the attempt at once', async () => {
    const claimAnswered = gate();
    const release = gate();
    let claimed = false;
    const pool = h.db.pool;
    const db = {
      query: async (config: pg.QueryConfig) => {
        const result = await pool.query(config);
        if (config.name === 'queue_claim_runs' && result.rows.length > 0) {
          claimed = true;
          claimAnswered.open();
          await release.promise;
        }
        return result;
      },
    } as unknown as Db;
    const seen: { aborted: boolean; reason: unknown }[] = [];
    const worker = workerWith(async (ctx) => {
      seen.push({ aborted: ctx.signal.aborted, reason: ctx.signal.reason });
      return { output: 'ran to the end' };
    }, db);
    try {
      const run = await enqueue();
      worker.resume();
      await claimAnswered.promise;
      expect(claimed).toBe(true);
      // Committed as running; the cancel is stored and its NOTIFY reaches this worker first.
      expect((await cancelRun(pool, run.id, 'admin'))?.status).toBe('running');
      worker.cancel(run.id);
      release.open();
      await waitFor(async () => (await row(run.id)).status === 'cancelled', { what: 'the run to end cancelled' });
      expect(seen).toHaveLength(1);
      expect(seen[0]!.aborted).toBe(true);
    } finally {
      worker.pause();
      await worker.drain(AbortSignal.timeout(1000));
    }
  });

  it('the claim commits synchronously: run.started is published only once it is durable', async () => {
    const run = await enqueue();
    const client = await h.db.pool.connect();
    try {
      await client.query('BEGIN');
      // The test server runs with synchronous_commit off for speed; production keeps the default (on).
      const setting = async () => (await client.query<{ s: string }>(`SELECT current_setting('synchronous_commit') AS s`)).rows[0]!.s;
      await client.query(`SET LOCAL synchronous_commit = on`);
      const rows = await claimRuns(client, { limit: 1, instanceId: 'sync-check', leaseMs: 60_000 });
      expect(rows.map((r) => r.id)).toContain(run.id);
      // What the claim's transaction commits with: it must not have turned durability off.
      expect(await setting()).toBe('on');
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });
});
