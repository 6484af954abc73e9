import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../test/helpers.js';
import { gate, planInput, startQueue, testPlanner, type Execute, type QueueHarness } from '../../test/support/queue-harness.js';
import { RunError } from './types.js';

/** The queue's worker side: ordering, concurrency, retries, timeouts, checkpoints, stats. */
describe('queue worker', () => {
  let h: QueueHarness & { dropDatabase?: () => Promise<void> };
  const planner = testPlanner(async () => ({ output: null }));
  const use = (fn: Execute) => planner.set(fn);

  beforeAll(async () => {
    h = await startQueue(planner, { env: { MAX_CONCURRENT_JOBS: '3', JOB_TIMEOUT_MS: '1500' }, tuning: { abortGraceMs: 200 } });
  });
  afterAll(async () => {
    await h?.close();
    await h?.dropDatabase?.();
  });

  const status = async (id: string) => (await h.api(`/api/runs/${id}`)).body.run;
  const settled = (id: string, timeoutMs = 20_000) =>
    waitFor(async () => {
      const run = await status(id);
      return ['succeeded', 'failed', 'cancelled'].includes(run.status) ? run : null;
    }, { timeoutMs, what: `run ${id} to finish` });

  it('runs higher priority first, then oldest first', async () => {
    h.queue.stopClaiming();
    const order: number[] = [];
    use(async (ctx) => {
      order.push(planInput<{ n: number }>(ctx).n);
      return { output: null };
    });
    const rows = await h.queue.enqueue([
      { id: randomUUID(), owner: 'admin', agent: 'echo', input: { n: 1 }, priority: 0 },
      { id: randomUUID(), owner: 'admin', agent: 'echo', input: { n: 2 }, priority: 5 },
      { id: randomUUID(), owner: 'admin', agent: 'echo', input: { n: 3 }, priority: 0 },
      { id: randomUUID(), owner: 'admin', agent: 'echo', input: { n: 4 }, priority: 5 },
      { id: randomUUID(), owner: 'admin', agent: 'echo', input: { n: 5 }, priority: -1 },
    ]);
    // Created in one statement: make their ages distinct and known.
    for (const [i, row] of rows.entries()) {
      await h.db.pool.query(`UPDATE runs SET created_at = now() - $2 * interval '1 second', run_at = now() - $2 * interval '1 second' WHERE id = $1`, [row.id, 10 - i]);
    }
    // One at a time so the start order is the claim order.
    const single = await startQueue(planner, { databaseUrl: h.db.url, env: { MAX_CONCURRENT_JOBS: '1' } });
    try {
      await waitFor(() => order.length === 5, { what: 'all five to run' });
      expect(order).toEqual([2, 4, 1, 3, 5]);
    } finally {
      await single.close();
      h.queue.worker.resume();
    }
  });

  it('never runs more than MAX_CONCURRENT_JOBS at once', async () => {
    let running = 0;
    let peak = 0;
    const release = gate();
    use(async () => {
      running++;
      peak = Math.max(peak, running);
      await release.promise;
      running--;
      return { output: 'ok' };
    });
    const rows = await h.queue.enqueue(Array.from({ length: 8 }, (_, n) => ({ id: randomUUID(), owner: 'admin', agent: 'echo', input: { n } })));
    await waitFor(() => running === 3, { what: 'three running' });
    // A wake-up with no free slot claims nothing (peak, checked at the end, covers the whole run).
    h.queue.worker.wake();
    expect(h.queue.worker.activeCount).toBe(3);
    const { rows: counts } = await h.db.pool.query(`SELECT count(*)::int AS n FROM runs WHERE status = 'running'`);
    expect(counts[0].n).toBe(3);
    release.open();
    for (const row of rows) expect((await settled(row.id)).status).toBe('succeeded');
    expect(peak).toBe(3);
  });

  it('retries a retryable failure with backoff and a run.retrying event, then succeeds', async () => {
    use(async (ctx) => {
      if (ctx.run.attempts < 3) throw new RunError('upstream_unavailable', 'model said 503');
      return { output: { attempt: ctx.run.attempts } };
    });
    const row = (await h.queue.enqueue([{ id: randomUUID(), owner: 'admin', agent: 'echo', input: {} }]))[0]!;
    const run = await settled(row.id);
    expect(run.status).toBe('succeeded');
    expect(run.attempts).toBe(3);
    expect(run.output).toEqual({ attempt: 3 });
    const { body } = await h.api(`/api/runs/${row.id}/events`);
    const retrying = body.events.filter((e: { type: string }) => e.type === 'run.retrying');
    expect(retrying).toHaveLength(2);
    // Base 50 ms, doubling, jitter 50–100 %.
    expect(retrying[0].data.delayMs).toBeGreaterThanOrEqual(25);
    expect(retrying[0].data.delayMs).toBeLessThanOrEqual(50);
    expect(retrying[1].data.delayMs).toBeGreaterThanOrEqual(50);
    expect(retrying[1].data.delayMs).toBeLessThanOrEqual(100);
    expect(retrying[0].data.error).toEqual({ code: 'upstream_unavailable', message: 'model said 503' });
  });

  it('honours a retryAfterMs the step reports (e.g. a 429)', async () => {
    const starts: number[] = [];
    use(async (ctx) => {
      starts.push(Date.now());
      if (ctx.run.attempts === 1) throw new RunError('rate_limited', 'slow down', true, 700);
      return { output: 'ok' };
    });
    const row = (await h.queue.enqueue([{ id: randomUUID(), owner: 'admin', agent: 'echo', input: {} }]))[0]!;
    expect((await settled(row.id)).status).toBe('succeeded');
    expect(starts[1]! - starts[0]!).toBeGreaterThanOrEqual(650);
    const { body } = await h.api(`/api/runs/${row.id}/events`);
    expect(body.events.find((e: { type: string }) => e.type === 'run.retrying').data.delayMs).toBe(700);
  });

  it('fails at once on a non-retryable error, and after the last attempt on a retryable one', async () => {
    let calls = 0;
    use(async (ctx) => {
      calls++;
      if (planInput<{ bad: boolean }>(ctx).bad) throw new RunError('invalid_option', 'rounds must be ≤ 5', false);
      throw new Error('flaky');
    });
    const bad = (await h.queue.enqueue([{ id: randomUUID(), owner: 'admin', agent: 'echo', input: { bad: true } }]))[0]!;
    const failed = await settled(bad.id);
    expect(failed).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'invalid_option', message: 'rounds must be ≤ 5' } });
    expect(calls).toBe(1);
    const flaky = (await h.queue.enqueue([{ id: randomUUID(), owner: 'admin', agent: 'echo', input: { bad: false } }]))[0]!;
    const exhausted = await settled(flaky.id);
    expect(exhausted).toMatchObject({ status: 'failed', attempts: 3, error: { code: 'execution_error', message: 'flaky' } });
    expect(exhausted.finishedAt).not.toBeNull();
  });

  it('times an attempt out through its AbortSignal and retries it', async () => {
    const aborted: string[] = [];
    use(async (ctx) => {
      if (ctx.run.attempts === 1) {
        await new Promise((_, reject) => {
          ctx.signal.addEventListener('abort', () => {
            aborted.push(String((ctx.signal.reason as Error).message));
            reject(ctx.signal.reason);
          });
        });
      }
      return { output: 'second time lucky' };
    });
    const row = (await h.queue.enqueue([{ id: randomUUID(), owner: 'admin', agent: 'echo', input: {} }]))[0]!;
    const run = await settled(row.id);
    expect(run).toMatchObject({ status: 'succeeded', attempts: 2, output: 'second time lucky' });
    expect(aborted[0]).toMatch(/exceeded 1500 ms/);
    const { body } = await h.api(`/api/runs/${row.id}/events`);
    expect(body.events.find((e: { type: string }) => e.type === 'run.retrying').data.error.code).toBe('timeout');
  });

  it('still ends an attempt whose planner ignores the abort (grace period), with a timeout error', async () => {
    use(async () => new Promise(() => undefined));
    const row = (await h.queue.enqueue([{ id: randomUUID(), owner: 'admin', agent: 'echo', input: {}, maxAttempts: 1 }]))[0]!;
    const run = await settled(row.id);
    expect(run).toMatchObject({ status: 'failed', error: { code: 'timeout' } });
  });

  it('counts the usage a failed step spent, on the run and on the step', async () => {
    use(async (ctx) => {
      await ctx.step('paid', { agent: 'writer' }, async (step) => {
        step.spent?.({ promptTokens: 12, completionTokens: 4, costUsd: 0.002, cachedRequests: 0 });
        throw new RunError('bad_output', 'the answer was not JSON', false);
      });
      return { output: null };
    });
    const row = (await h.queue.enqueue([{ id: randomUUID(), owner: 'admin', agent: 'echo', input: {} }]))[0]!;
    const run = await settled(row.id);
    expect(run.status).toBe('failed');
    expect(run.usage).toMatchObject({ promptTokens: 12, completionTokens: 4 });
    expect(run.usage.costUsd).toBeCloseTo(0.002);
    expect(run.steps[0]).toMatchObject({ status: 'failed', usage: expect.objectContaining({ promptTokens: 12, completionTokens: 4 }) });
  });

  it('checkpoints steps: a retried run does not repeat completed steps, and usage is summed once', async () => {
    const calls: string[] = [];
    use(async (ctx) => {
      const a = await ctx.step('a', { agent: 'researcher' }, async (step) => {
        calls.push('a');
        step.token('hel');
        step.token('lo');
        return { output: 'A', usage: { promptTokens: 10, completionTokens: 5, costUsd: 0.001 }, model: 'offline' };
      });
      const b = await ctx.step('b', { agent: 'writer', meta: { round: 1 } }, async () => {
        calls.push('b');
        if (ctx.run.attempts === 1) throw new RunError('upstream_unavailable', 'try again');
        return { output: `${a}B`, usage: { promptTokens: 7, completionTokens: 3 } };
      });
      await ctx.emit('run.input_received', { answer: 'world' });
      return { output: b };
    });
    const row = (await h.queue.enqueue([{ id: randomUUID(), owner: 'admin', agent: 'echo', input: {} }]))[0]!;
    const run = await settled(row.id);
    expect(run.status).toBe('succeeded');
    expect(run.output).toBe('AB');
    expect(calls).toEqual(['a', 'b', 'b']);
    expect(run.usage).toMatchObject({ promptTokens: 17, completionTokens: 8 });
    expect(run.usage.costUsd).toBeCloseTo(0.001);
    expect(run.steps.map((s: { index: number; agent: string; status: string; output: unknown }) => [s.index, s.agent, s.status, s.output])).toEqual([
      [0, 'researcher', 'succeeded', 'A'],
      [1, 'writer', 'succeeded', 'AB'],
    ]);
    expect(run.steps[1].meta).toEqual({ round: 1 });
    const tokens = h.sink.tokens.filter((t) => t.runId === row.id);
    expect(tokens.map((t) => t.data.delta)).toEqual(['hel', 'lo']);
    expect(tokens[0]!.seq).toBeGreaterThan(0);
    // The stored history: gap-free seq from 1, in order, with the step and retry events.
    const { body } = await h.api(`/api/runs/${row.id}/events`);
    const seqs = body.events.map((e: { seq: number }) => e.seq);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    expect(body.events.map((e: { type: string }) => e.type)).toEqual([
      'run.queued',
      'run.started',
      'run.step.started',
      'run.step.finished',
      'run.step.started',
      'run.step.finished',
      'run.retrying',
      'run.started',
      'run.step.started',
      'run.step.finished',
      'run.input_received',
      'run.succeeded',
    ]);
    // What the sink saw live matches what is stored.
    expect(h.sink.of(row.id).map((e) => e.seq).sort((x, y) => x - y)).toEqual(seqs);
    const after = await h.api(`/api/runs/${row.id}/events?after=10`);
    expect(after.body.events.map((e: { seq: number }) => e.seq)).toEqual([11, 12]);
  });

  it('publishes queue stats and metrics', async () => {
    await waitFor(() => h.sink.stats.length > 2, { what: 'stats' });
    const stats = h.queue.stats();
    expect(stats).toMatchObject({ queued: expect.any(Number), running: expect.any(Number), awaitingInput: expect.any(Number) });
    expect(stats!.succeeded).toBeGreaterThan(5);
    expect(stats!.runsPerSecond).toBeGreaterThan(0);
    expect(stats!.p95DurationSeconds).toEqual(expect.any(Number));
    const health = h.queue.health?.() as Record<string, unknown>;
    expect(health).toMatchObject({ status: 'running', instance: { maxConcurrent: 3 } });
    const text = await h.metrics.registry.metrics();
    expect(text).toMatch(/jobs_completed_total\{status="succeeded"\} \d+/);
    expect(text).toMatch(/job_retries_total \d+/);
    expect(text).toMatch(/job_duration_seconds_count\{status="succeeded"\} \d+/);
    expect(text).toMatch(/jobs_queued \d+/);
  });

  it('deletes finished runs past retention with their events and steps, and nothing else', async () => {
    use(async () => ({ output: 'x' }));
    const [old, fresh] = await h.queue.enqueue([
      { id: randomUUID(), owner: 'admin', agent: 'echo', input: {} },
      { id: randomUUID(), owner: 'admin', agent: 'echo', input: {} },
    ]);
    if (!old || !fresh) throw new Error('enqueue returned fewer runs than given');
    await settled(old.id);
    await settled(fresh.id);
    await h.db.pool.query(`UPDATE runs SET finished_at = now() - interval '31 days' WHERE id = $1`, [old.id]);
    expect(await h.queue.prune()).toBe(1);
    expect((await h.api(`/api/runs/${old.id}`)).status).toBe(404);
    const { rows } = await h.db.pool.query('SELECT count(*)::int AS n FROM run_events WHERE run_id = $1', [old.id]);
    expect(rows[0].n).toBe(0);
    expect((await h.api(`/api/runs/${fresh.id}`)).status).toBe(200);
  });
});
