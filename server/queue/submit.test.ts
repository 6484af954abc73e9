import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../test/helpers.js';
import { NotFoundError, ValidationError } from '../domain/errors.js';
import { startQueue, testPlanner, type QueueHarness } from '../../test/support/queue-harness.js';
import type { FrozenPlan } from './types.js';

/**
 * One definition of a run: the queue stores the planner's frozen plan opaquely and
 * hands exactly that back to execute(); the API still shows the request's summary.
 */
describe('submitRun and the frozen plan', () => {
  let h: QueueHarness & { dropDatabase?: () => Promise<void> };
  const seen = new Map<string, { plan: unknown; planVersion: number }>();
  const planner = testPlanner(async (ctx) => {
    seen.set(ctx.run.id, { plan: ctx.run.plan, planVersion: ctx.run.planVersion });
    return { output: 'done' };
  });
  // A plan that is not the request's fields, so a worker reading the columns would be caught.
  planner.plan = async (body) => {
    if (body.agent === 'missing') throw new NotFoundError('agent "missing"');
    if (body.input === 'bad') throw new ValidationError('body.input: not acceptable', [{ path: 'input', message: 'bad' }]);
    return {
      version: 7,
      plan: { steps: [{ call: body.agent }], frozenInput: body.input },
      summary: { agent: body.agent ?? null, pattern: null, agents: null, options: null, input: body.input },
      model: 'm-1',
      offline: true,
    };
  };
  const admin = { username: 'admin', role: 'admin' as const };

  beforeAll(async () => {
    h = await startQueue(planner);
  });
  afterAll(async () => {
    await h?.close();
    await h?.dropDatabase?.();
  });

  it('POST /api/runs stores the plan; the worker executes the plan; the API shows the summary', async () => {
    const res = await h.api('/api/runs', { body: { agent: 'echo', input: { text: 'hi' } } });
    expect(res.status).toBe(202);
    expect(res.body.run).toMatchObject({ agent: 'echo', pattern: null, agents: null, options: null, input: { text: 'hi' }, model: 'm-1' });
    expect(res.body.run).not.toHaveProperty('plan');
    const id: string = res.body.run.id;
    const executed = await waitFor(() => seen.get(id), { what: 'execute() called' });
    expect(executed).toEqual({ plan: { steps: [{ call: 'echo' }], frozenInput: { text: 'hi' } }, planVersion: 7 });
    const { rows } = await h.db.pool.query('SELECT plan, plan_version FROM runs WHERE id = $1', [id]);
    expect(rows[0]).toEqual({ plan: { steps: [{ call: 'echo' }], frozenInput: { text: 'hi' } }, plan_version: 7 });
  });

  it('domain errors from planning become HTTP errors only at the edge', async () => {
    const missing = await h.api('/api/runs', { body: { agent: 'missing', input: 'x' } });
    expect(missing.status).toBe(404);
    expect(missing.body.error).toMatchObject({ code: 'not_found', message: 'agent "missing" not found' });
    const bad = await h.api('/api/runs', { body: { agent: 'echo', input: 'bad' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toEqual({ code: 'validation_error', message: 'body.input: not acceptable', details: [{ path: 'input', message: 'bad' }] });
  });

  it('submitRun works without HTTP (a trigger), and an idempotency key names the same run', async () => {
    const plan: FrozenPlan = await planner.plan({ agent: 'echo', input: 'from a trigger' }, admin);
    const key = randomUUID();
    const first = await h.queue.submitRun(plan, admin, { via: 'trigger', idempotencyKey: key, priority: 5 });
    expect(first.created).toBe(true);
    expect(first.run).toMatchObject({ owner: 'admin', priority: 5, status: 'queued', plan_version: 7, idempotency_key: key });
    const again = await h.queue.submitRun(plan, admin, { via: 'trigger', idempotencyKey: key });
    expect(again).toMatchObject({ created: false, run: { id: first.run.id } });
    // Delivery order is not seq order (the worker may claim and publish run.started before
    // submitRun's own publish); subscribers order by seq, so check the seq, not the position.
    expect(h.sink.of(first.run.id).find((e) => e.type === 'run.queued')).toMatchObject({ seq: 1 });
    await waitFor(() => seen.get(first.run.id), { what: 'triggered run executed' });
  });

  it('a run inserted without a plan (the previous release, mid-upgrade) gets one from its columns', async () => {
    const id = randomUUID();
    await h.db.pool.query(`INSERT INTO runs (id, owner, pattern, agents, options, input, last_seq) VALUES ($1, 'admin', 'debate', '["a","b"]', '{"rounds":2}', '"topic"', 0)`, [id]);
    const { rows } = await h.db.pool.query('SELECT plan, plan_version FROM runs WHERE id = $1', [id]);
    expect(rows[0]).toEqual({ plan: { agent: null, pattern: 'debate', agents: ['a', 'b'], options: { rounds: 2 }, input: 'topic' }, plan_version: 1 });
  });

  describe('concurrent submissions share one statement and one commit', () => {
    const batches = async () => {
      const { values } = await h.metrics.queueSubmitBatchSize.get();
      const of = (name: string) => values.find((v) => v.metricName === name)?.value ?? 0;
      return { count: of('queue_submit_batch_size_count'), sum: of('queue_submit_batch_size_sum') };
    };
    const planOf = (input: string): Promise<FrozenPlan> => planner.plan({ agent: 'echo', input }, admin);

    it('twenty submissions in one turn: one INSERT, twenty distinct runs, each with run.queued at seq 1', async () => {
      const before = await batches();
      const plans = await Promise.all(Array.from({ length: 20 }, (_, i) => planOf(`batch ${i}`)));
      const results = await Promise.all(plans.map((p, i) => h.queue.submitRun(p, admin, { via: 'trigger', priority: i % 3 })));
      const after = await batches();
      expect(after.count - before.count).toBe(1);
      expect(after.sum - before.sum).toBe(20);
      const ids = results.map((r) => r.run.id);
      expect(new Set(ids).size).toBe(20);
      results.forEach((r, i) => {
        expect(r.created).toBe(true);
        // Each caller gets its own row, not a neighbour's.
        expect(r.run).toMatchObject({ input: `batch ${i}`, priority: i % 3, status: 'queued' });
        expect(h.sink.of(r.run.id).find((e) => e.type === 'run.queued')).toMatchObject({ seq: 1, data: { priority: i % 3 } });
      });
      const { rows } = await h.db.pool.query<{ run_id: string; seq: number }>(
        `SELECT run_id, seq FROM run_events WHERE type = 'run.queued' AND run_id = ANY($1::uuid[])`,
        [ids],
      );
      expect(rows.map((r) => r.run_id).sort()).toEqual([...ids].sort());
      expect(rows.every((r) => r.seq === 1)).toBe(true);
      for (const id of ids) await waitFor(() => seen.get(id), { what: `batched run ${id} executed`, timeoutMs: 60_000 });
    });

    it('one idempotency key repeated within a batch names one run; another owner gets its own', async () => {
      const key = randomUUID();
      const plan = await planOf('same key');
      const alice = { username: 'alice', role: 'operator' as const };
      const before = await batches();
      const results = await Promise.all([
        h.queue.submitRun(plan, admin, { via: 'http', idempotencyKey: key }),
        h.queue.submitRun(plan, admin, { via: 'http', idempotencyKey: key }),
        h.queue.submitRun(plan, admin, { via: 'http', idempotencyKey: key, awaitFinish: true }),
        h.queue.submitRun(plan, alice, { via: 'http', idempotencyKey: key }),
        h.queue.submitRun(plan, admin, { via: 'http' }),
      ]);
      expect((await batches()).count - before.count).toBe(1);
      const [a, b, c, other, unkeyed] = results;
      expect(a!.created).toBe(true);
      expect(b).toMatchObject({ created: false, run: { id: a!.run.id } });
      expect(c).toMatchObject({ created: false, run: { id: a!.run.id } });
      expect(other).toMatchObject({ created: true, run: { owner: 'alice' } });
      expect(other!.run.id).not.toBe(a!.run.id);
      expect(unkeyed!.created).toBe(true);
      const { rows } = await h.db.pool.query('SELECT owner, finish_waiters FROM runs WHERE idempotency_key = $1 ORDER BY owner', [key]);
      expect(rows).toEqual([
        { owner: 'admin', finish_waiters: true },
        { owner: 'alice', finish_waiters: false },
      ]);
    });

    it('a member the database refuses fails alone; the others of its batch are created', async () => {
      // jsonb refuses \u0000: a real statement error raised by one row of the batch.
      const bad = await planOf('nul \u0000 inside');
      const key = randomUUID();
      const settled = await Promise.allSettled([
        h.queue.submitRun(await planOf('good 1'), admin, { via: 'trigger' }),
        h.queue.submitRun(bad, admin, { via: 'trigger', idempotencyKey: key }),
        h.queue.submitRun(await planOf('good 2'), admin, { via: 'trigger' }),
        // Same key as the refused one but a plan the database takes: it decides for itself.
        h.queue.submitRun(await planOf('good 3'), admin, { via: 'trigger', idempotencyKey: key }),
      ]);
      expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
      expect(settled[1]).toMatchObject({ status: 'rejected', reason: { code: '22P05' } });
      const created = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
      expect(created.map((r) => [r.created, r.run.input])).toEqual([
        [true, 'good 1'],
        [true, 'good 2'],
        [true, 'good 3'],
      ]);
      const { rows } = await h.db.pool.query<{ input: string }>('SELECT input FROM runs WHERE id = ANY($1::uuid[]) OR idempotency_key = $2', [
        created.map((r) => r.run.id),
        key,
      ]);
      expect(rows.map((r) => r.input).sort()).toEqual(['good 1', 'good 2', 'good 3']);
      for (const r of created) expect(h.sink.of(r.run.id).filter((e) => e.type === 'run.queued')).toHaveLength(1);
    });

    it('SUBMIT_BATCH_MAX=1: every submission its own statement, all created, none batched', async () => {
      const single = await startQueue(planner, { start: false, env: { SUBMIT_BATCH_MAX: '1' } });
      try {
        const plans = await Promise.all(Array.from({ length: 10 }, (_, i) => planOf(`single ${i}`)));
        const results = await Promise.all(plans.map((p) => single.queue.submitRun(p, admin, { via: 'trigger' })));
        expect(new Set(results.map((r) => r.run.id)).size).toBe(10);
        expect(results.every((r) => r.created)).toBe(true);
        const { values } = await single.metrics.queueSubmitBatchSize.get();
        expect(values.find((v) => v.metricName === 'queue_submit_batch_size_count')?.value ?? 0).toBe(0);
        const { rows } = await single.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM run_events WHERE type = 'run.queued' AND seq = 1`);
        expect(rows[0]!.n).toBe(10);
      } finally {
        await single.close();
        await single.dropDatabase?.();
      }
    });

    it('stop() commits and answers every submission it accepted before returning', async () => {
      const other = await startQueue(planner, { start: false });
      try {
        const key = randomUUID();
        const plans = await Promise.all(Array.from({ length: 300 }, (_, i) => planOf(`drain ${i}`)));
        const done: boolean[] = [];
        const submissions = plans.map((p, i) => {
          const promise = other.queue.submitRun(p, admin, { via: 'trigger', idempotencyKey: i % 100 === 0 ? key : null });
          void promise.then(() => (done[i] = true));
          return promise;
        });
        await other.queue.stop?.(AbortSignal.timeout(60_000));
        // Settled by the time stop() returned, not merely later.
        expect(done.filter(Boolean)).toHaveLength(300);
        const results = await Promise.all(submissions);
        expect(results.filter((r) => r.created)).toHaveLength(298);
        const { rows } = await other.db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM runs');
        expect(rows[0]!.n).toBe(298);
      } finally {
        await other.close();
        await other.dropDatabase?.();
      }
    });
  });
});
