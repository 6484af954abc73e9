import pg from 'pg';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Run } from '../../shared/protocol.js';
import { createTestDatabase, startTestApp, waitFor, type TestApp } from '../../test/helpers.js';
import { takeRateSlot } from './rate-limiter.js';
import { startOpenAiTestServer, type OpenAiTestServer } from '../../test/openai-server.js';

async function runStatus(t: TestApp, id: string): Promise<Run> {
  return (await request(t.url).get(`/api/runs/${id}`)).body.run as Run;
}

/** OPENAI_RPM is one budget for every instance: two apps on one database share it. */
describe('global model rate limit held by two instances', () => {
  let llm: OpenAiTestServer;
  let db: { url: string; drop(): Promise<void> };
  let a: TestApp;
  let b: TestApp;
  let admin: pg.Pool;

  beforeAll(async () => {
    llm = await startOpenAiTestServer();
    db = await createTestDatabase('rpm');
    const env = { OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: llm.url, OPENAI_RPM: '2', OPENAI_MAX_RETRIES: '0', CACHE_TTL: '0', JOB_POLL_INTERVAL_MS: '100' };
    a = await startTestApp({ databaseUrl: db.url, env });
    b = await startTestApp({ databaseUrl: db.url, env });
    admin = new pg.Pool({ connectionString: db.url, max: 1 });
  });
  afterAll(async () => {
    await admin.end();
    await a.close();
    await b.close();
    await db.drop();
    await llm.close();
  });

  it('lets two requests through per minute across both, makes the third wait (abortably) for a slot', async () => {
    const first = await request(a.url).post('/api/runs').set('Prefer', 'wait=20').send({ agent: 'writer', input: 'one' });
    const second = await request(b.url).post('/api/runs').set('Prefer', 'wait=20').send({ agent: 'writer', input: 'two' });
    expect([first.body.run.status, second.body.run.status]).toEqual(['succeeded', 'succeeded']);
    expect(llm.count()).toBe(2);

    const third = await request(a.url).post('/api/runs').send({ agent: 'writer', input: 'three' });
    await waitFor(async () => (await runStatus(a, third.body.run.id)).status === 'running', { what: 'the third run to start' });
    await new Promise((r) => setTimeout(r, 800));
    // Waiting, not failed, and no request sent.
    expect((await runStatus(a, third.body.run.id)).status).toBe('running');
    expect(llm.count()).toBe(2);
    // Whichever instance claimed it reports the waiting step.
    const limits = await Promise.all([a, b].map(async (t) => (await request(t.url).get('/health')).body.checks.llm.rateLimit as { requestsPerMinute: number; waiting: number }));
    expect(limits.map((l) => l.requestsPerMinute)).toEqual([2, 2]);
    expect(limits[0]!.waiting + limits[1]!.waiting).toBe(1);

    // A minute passes (for the window): the waiting step takes the freed slot and finishes.
    await admin.query("UPDATE llm_rate_slots SET taken_at = taken_at - interval '2 minutes'");
    await waitFor(async () => (await runStatus(a, third.body.run.id)).status === 'succeeded', { what: 'the third run to finish' });
    expect(llm.count()).toBe(3);

    // One slot left in this window: the fourth goes through on B, the fifth waits and can be cancelled.
    const fourth = await request(b.url).post('/api/runs').set('Prefer', 'wait=20').send({ agent: 'writer', input: 'four' });
    expect(fourth.body.run.status).toBe('succeeded');
    const fifth = await request(b.url).post('/api/runs').send({ agent: 'writer', input: 'five' });
    await waitFor(async () => (await runStatus(b, fifth.body.run.id)).status === 'running', { what: 'the fifth run to start' });
    await new Promise((r) => setTimeout(r, 300));
    const cancelled = await request(b.url).post(`/api/runs/${fifth.body.run.id}/cancel`);
    expect(cancelled.status).toBe(200);
    await waitFor(async () => (await runStatus(b, fifth.body.run.id)).status === 'cancelled', { what: 'the fifth run to be cancelled' });
    expect(llm.count()).toBe(4);
  });
});

describe('taking a rate slot', () => {
  let db: { url: string; drop(): Promise<void> };
  let pool: pg.Pool;
  let app: TestApp;

  beforeAll(async () => {
    db = await createTestDatabase('slot');
    // The app applies the migrations (llm_take_slot); the pool below commits synchronously unless told otherwise.
    app = await startTestApp({ databaseUrl: db.url });
    pool = new pg.Pool({ connectionString: db.url, max: 1, options: '-c synchronous_commit=on' });
  });
  afterAll(async () => {
    await pool.end();
    await app.close();
    await db.drop();
  });

  it('commits the slot asynchronously, so the global lock is not held across a WAL flush', async () => {
    const results: { rows: Record<string, unknown>[] }[] = [];
    const spy = {
      query: async (config: pg.QueryConfig) => {
        const result = await pool.query(config);
        results.push(result);
        return result;
      },
    } as unknown as pg.Pool;
    expect(await takeRateSlot(spy, ['global'], [5], 60_000)).toBe(0);
    // set_config answers the value now in force for the slot's own transaction.
    expect(results).toHaveLength(1);
    expect(results[0]!.rows[0]).toMatchObject({ wait_ms: 0, commit: 'off' });
    // Only that transaction: the session still commits synchronously.
    expect((await pool.query<{ s: string }>("SELECT current_setting('synchronous_commit') AS s")).rows[0]!.s).toBe('on');
    expect((await pool.query<{ n: string }>("SELECT count(*) AS n FROM llm_rate_slots WHERE scope = 'global'")).rows[0]!.n).toBe('1');
    // The limit still holds.
    for (let i = 1; i < 5; i++) expect(await takeRateSlot(pool, ['global'], [5], 60_000)).toBe(0);
    expect(await takeRateSlot(pool, ['global'], [5], 60_000)).toBeGreaterThan(0);
  });
});
