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
});
