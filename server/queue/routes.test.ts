import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../test/helpers.js';
import { gate, planInput, startQueue, testPlanner, type QueueHarness } from '../../test/support/queue-harness.js';

/** The runs API (docs/API.md section 3) against the real queue and PostgreSQL. */
describe('runs API', () => {
  let h: QueueHarness & { dropDatabase?: () => Promise<void> };
  let hold = gate();
  const started: string[] = [];
  const aborted: string[] = [];
  const planner = testPlanner(async (ctx) => {
    started.push(ctx.run.id);
    const input = planInput<{ mode?: string; text?: string }>(ctx);
    if (input.mode === 'hold') {
      await new Promise<void>((resolve, reject) => {
        void hold.promise.then(resolve);
        ctx.signal.addEventListener('abort', () => {
          aborted.push(ctx.run.id);
          reject(ctx.signal.reason);
        });
      });
    }
    if (input.mode === 'ask') {
      const first = await ctx.step('draft', { agent: 'writer' }, async () => ({ output: `draft of ${input.text}` }));
      const answer = ctx.awaitInput({ question: 'publish?', draft: first });
      return { output: { draft: first, answer } };
    }
    return { output: { echo: input.text ?? null } };
  });

  beforeAll(async () => {
    h = await startQueue(planner, { env: { MAX_CONCURRENT_JOBS: '4' } });
  });
  afterAll(async () => {
    hold.open();
    await h?.close();
    await h?.dropDatabase?.();
  });

  const post = (body: unknown, user = 'admin:admin', headers: Record<string, string> = {}) => h.api('/api/runs', { body, user, headers });
  const finished = (id: string, user = 'admin:admin') =>
    waitFor(async () => {
      const { body } = await h.api(`/api/runs/${id}`, { user });
      return ['succeeded', 'failed', 'cancelled'].includes(body.run.status) ? body.run : null;
    }, { what: `run ${id} final` });

  it('POST /api/runs answers 202 with the Run and a Location, and the run finishes', async () => {
    const res = await post({ agent: 'echo', input: { text: 'hi' } });
    expect(res.status).toBe(202);
    expect(res.headers.get('location')).toBe(`/api/runs/${res.body.run.id}`);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.body.run).toMatchObject({
      status: 'queued',
      agent: 'echo',
      pattern: null,
      input: { text: 'hi' },
      output: null,
      error: null,
      attempts: 0,
      model: 'offline',
      usage: { promptTokens: 0, completionTokens: 0 },
      steps: [],
      startedAt: null,
      finishedAt: null,
      owner: 'admin',
    });
    expect(new Date(res.body.run.createdAt).toISOString()).toBe(res.body.run.createdAt);
    const run = await finished(res.body.run.id);
    expect(run).toMatchObject({ status: 'succeeded', output: { echo: 'hi' }, attempts: 1 });
    expect(run.startedAt).not.toBeNull();
    expect(run.finishedAt).not.toBeNull();
    const events = await h.api(`/api/runs/${run.id}/events`);
    expect(events.body.events.map((e: { type: string }) => e.type)).toEqual(['run.queued', 'run.started', 'run.succeeded']);
    expect(events.body.events[0]).toEqual({ seq: 1, runId: run.id, type: 'run.queued', data: { priority: 0 }, at: expect.any(String) });
  });

  it('refuses bad bodies with 400, unknown agents with 404, viewers with 403, and writes nothing', async () => {
    const before = (await h.db.pool.query('SELECT count(*)::int AS n FROM runs')).rows[0].n;
    expect((await post({ input: 'x' })).status).toBe(400);
    expect((await post({ agent: 'a', pattern: 'sequential', input: 'x' })).status).toBe(400);
    expect((await post({ agent: 'echo' })).status).toBe(400);
    expect((await post({ agent: 'echo', input: 1, priority: 1.5 })).status).toBe(400);
    expect((await post({ agent: 'echo', input: 1, extra: true })).status).toBe(400);
    const missing = await post({ agent: 'missing', input: 'x' });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('not_found');
    const viewer = await post({ agent: 'echo', input: 'x' }, 'vera:viewer');
    expect(viewer.status).toBe(403);
    expect(viewer.body.error.code).toBe('forbidden');
    expect((await h.db.pool.query('SELECT count(*)::int AS n FROM runs')).rows[0].n).toBe(before);
  });

  it('returns the same run for the same idempotency key from the same user, a new one for another user', async () => {
    const first = await post({ agent: 'echo', input: { text: 'once' }, idempotencyKey: 'k-1' }, 'olga:operator');
    const again = await post({ agent: 'echo', input: { text: 'once' }, idempotencyKey: 'k-1' }, 'olga:operator');
    const header = await post({ agent: 'echo', input: { text: 'once' } }, 'olga:operator', { 'idempotency-key': 'k-1' });
    const other = await post({ agent: 'echo', input: { text: 'once' }, idempotencyKey: 'k-1' }, 'oscar:operator');
    expect(first.status).toBe(202);
    expect(again.status).toBe(202);
    expect(again.body.run.id).toBe(first.body.run.id);
    expect(header.body.run.id).toBe(first.body.run.id);
    expect(other.body.run.id).not.toBe(first.body.run.id);
    // Concurrent duplicates still make one run.
    const burst = await Promise.all(Array.from({ length: 8 }, () => post({ agent: 'echo', input: 1, idempotencyKey: 'burst' }, 'olga:operator')));
    expect(new Set(burst.map((r) => r.body.run.id)).size).toBe(1);
    const { rows } = await h.db.pool.query(`SELECT count(*)::int AS n FROM runs WHERE idempotency_key = 'burst'`);
    expect(rows[0].n).toBe(1);
    await finished(first.body.run.id);
    expect(started.filter((id) => id === first.body.run.id)).toHaveLength(1);
  });

  it('Prefer: wait answers 200 with the finished run in time, else 202', async () => {
    const quick = await post({ agent: 'echo', input: { text: 'fast' } }, 'admin:admin', { prefer: 'wait=30' });
    expect(quick.status).toBe(200);
    expect(quick.body.run).toMatchObject({ status: 'succeeded', output: { echo: 'fast' } });
    expect(quick.headers.get('location')).toBe(`/api/runs/${quick.body.run.id}`);
    const t0 = Date.now();
    const slow = await post({ agent: 'echo', input: { mode: 'hold' } }, 'admin:admin', { prefer: 'respond-async, wait=1' });
    expect(slow.status).toBe(202);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect(slow.body.run.status).toBe('running');
    hold.open();
    await finished(slow.body.run.id);
    hold = gate();
  });

  it('Prefer: wait answers 202 with the created run when the pool is exhausted by the end of the wait', async () => {
    const running = gate();
    const finish = gate();
    const own = await startQueue(
      testPlanner(async () => {
        running.open();
        await finish.promise;
        return { output: 'done' };
      }),
      // Short enough to fail a read inside the wait, long enough to start on a loaded machine.
      { env: { DB_CONNECTION_TIMEOUT_MS: '2000' } },
    );
    const held: import('pg').PoolClient[] = [];
    try {
      const answer = own.api('/api/runs', { body: { agent: 'echo', input: {} }, headers: { prefer: 'wait=5' } });
      await running.promise;
      // Every pooled connection taken while the request waits: reading the run at the end fails.
      const max = (own.db.pool as unknown as { options: { max: number } }).options.max;
      while (held.length < max) {
        try {
          held.push(await own.db.pool.connect());
        } catch {
          // a background statement had one for a moment: ask again
        }
      }
      const res = await answer;
      expect(res.status).toBe(202);
      expect(res.body.run).toMatchObject({ status: expect.stringMatching(/^(queued|running)$/) });
      expect(res.headers.get('location')).toBe(`/api/runs/${res.body.run.id}`);
    } finally {
      for (const client of held) client.release();
      finish.open();
      await own.close();
      await own.dropDatabase?.();
    }
  });

  it('lists runs newest first with status filter and cursor pagination; non-admins see only their own', async () => {
    const mine: string[] = [];
    for (let i = 0; i < 5; i++) mine.push((await post({ agent: 'echo', input: i }, 'lena:operator')).body.run.id);
    await Promise.all(mine.map((id) => finished(id)));
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: { status: number; body: { runs: { id: string; owner: string }[]; nextCursor: string | null } } = await h.api(
        `/api/runs?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        { user: 'lena:operator' },
      );
      expect(res.status).toBe(200);
      expect(res.body.runs.length).toBeLessThanOrEqual(2);
      for (const run of res.body.runs) expect(run.owner).toBe('lena');
      seen.push(...res.body.runs.map((r) => r.id));
      cursor = res.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...mine].reverse());
    const all = await h.api('/api/runs?limit=100');
    expect(all.body.runs.length).toBeGreaterThan(5);
    const times = all.body.runs.map((r: { createdAt: string }) => r.createdAt);
    expect([...times].sort().reverse()).toEqual(times);
    const succeeded = await h.api('/api/runs?status=succeeded&limit=100');
    expect(succeeded.body.runs.every((r: { status: string }) => r.status === 'succeeded')).toBe(true);
    expect((await h.api('/api/runs?status=bogus')).status).toBe(400);
    expect((await h.api('/api/runs?cursor=nonsense')).status).toBe(400);
    expect((await h.api('/api/runs?limit=0')).status).toBe(400);
    const others = await h.api('/api/runs?owner=admin', { user: 'lena:operator' });
    expect(others.body.runs).toEqual([]);
  });

  it("hides other people's runs (404) from non-admins; admins see all", async () => {
    const { body } = await post({ agent: 'echo', input: 'secret' }, 'olga:operator');
    const id = body.run.id;
    expect((await h.api(`/api/runs/${id}`, { user: 'vera:viewer' })).status).toBe(404);
    expect((await h.api(`/api/runs/${id}/events`, { user: 'vera:viewer' })).status).toBe(404);
    expect((await h.api(`/api/runs/${id}/cancel`, { method: 'POST', user: 'oscar:operator' })).status).toBe(404);
    expect((await h.api(`/api/runs/${id}`, { user: 'olga:operator' })).status).toBe(200);
    expect((await h.api(`/api/runs/${id}`)).status).toBe(200);
    expect((await h.api('/api/runs/not-a-uuid')).status).toBe(404);
    expect((await h.api('/api/runs/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await h.api(`/api/runs/${id}/events?after=-1`)).status).toBe(400);
  });

  it('cancels a queued run at once and a running run by aborting it; a finished run is 409', async () => {
    h.queue.stopClaiming();
    const queued = (await post({ agent: 'echo', input: 'later' })).body.run;
    const cancelled = await h.api(`/api/runs/${queued.id}/cancel`, { method: 'POST' });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.run.status).toBe('cancelled');
    expect(cancelled.body.run.finishedAt).not.toBeNull();
    h.queue.worker.resume();
    // A run submitted after it starts: the claim that took it would have taken the older one first.
    const later = (await post({ agent: 'echo', input: 'after the cancel' })).body.run;
    await waitFor(() => started.includes(later.id), { what: 'a run submitted later to start' });
    expect(started).not.toContain(queued.id);

    const running = (await post({ agent: 'echo', input: { mode: 'hold' } })).body.run;
    await waitFor(() => started.includes(running.id), { what: 'hold run to start' });
    const res = await h.api(`/api/runs/${running.id}/cancel`, { method: 'POST', user: 'olga:operator' });
    expect(res.status).toBe(404);
    const stop = await h.api(`/api/runs/${running.id}/cancel`, { method: 'POST' });
    expect(stop.status).toBe(200);
    expect(stop.body.run.status).toBe('cancelled');
    expect(aborted).toContain(running.id);
    const events = (await h.api(`/api/runs/${running.id}/events`)).body.events.map((e: { type: string }) => e.type);
    expect(events).toEqual(['run.queued', 'run.started', 'run.cancel_requested', 'run.cancelled']);
    const again = await h.api(`/api/runs/${running.id}/cancel`, { method: 'POST' });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('conflict');
  });

  it('parks a run for human input, 409s input otherwise, and resumes from checkpoints with the answer', async () => {
    const { body } = await post({ agent: 'echo', input: { mode: 'ask', text: 'essay' } });
    const id = body.run.id;
    const parked = await waitFor(async () => {
      const { body: b } = await h.api(`/api/runs/${id}`);
      return b.run.status === 'awaiting_input' ? b.run : null;
    }, { what: 'awaiting_input' });
    expect(parked.pendingInput).toEqual({ question: 'publish?', draft: 'draft of essay' });
    expect(parked.steps).toHaveLength(1);
    expect((await h.db.pool.query('SELECT lease_token, lease_owner FROM runs WHERE id = $1', [id])).rows[0]).toEqual({ lease_token: null, lease_owner: null });
    expect((await h.api(`/api/runs/${id}/input`, { body: {} })).status).toBe(400);
    expect((await h.api(`/api/runs/${id}/input`, { body: { answer: 'yes' }, user: 'vera:viewer' })).status).toBe(403);
    const answered = await h.api(`/api/runs/${id}/input`, { body: { answer: 'yes please' } });
    expect(answered.status).toBe(200);
    expect(['queued', 'running', 'succeeded']).toContain(answered.body.run.status);
    const run = await finished(id);
    expect(run).toMatchObject({ status: 'succeeded', output: { draft: 'draft of essay', answer: 'yes please' } });
    // A run that is not waiting (here: finished) refuses input. Checked after the fact, not
    // right after creation, where the worker may already have parked it.
    expect((await h.api(`/api/runs/${id}/input`, { body: { answer: 'yes' } })).status).toBe(409);
    expect(run.steps).toHaveLength(1);
    const types = (await h.api(`/api/runs/${id}/events`)).body.events.map((e: { type: string }) => e.type);
    expect(types).toEqual([
      'run.queued',
      'run.started',
      'run.step.started',
      'run.step.finished',
      'run.awaiting_input',
      'run.input_received',
      'run.started',
      'run.succeeded',
    ]);
    expect((await h.api(`/api/runs/${id}/input`, { body: { answer: 'again' } })).status).toBe(409);
  });
});
