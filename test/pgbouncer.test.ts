import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Run, RunEvent } from '../shared/protocol.js';
import { openSocket, wsUrl } from '../server/hub/test-client.js';
import { createTestDatabase, startTestApp, waitFor, type TestApp } from './helpers.js';
import { startPgBouncer, type PgBouncer } from './pgbouncer.js';

const PASSWORD = 'pgbouncer-admin-password';
const RATE_LIMIT = 200;

/**
 * The whole contract with DATABASE_URL through a real PgBouncer 1.18 in transaction
 * pooling mode (no startup parameters but a few, no prepared statements across
 * transactions) and DATABASE_URL_DIRECT straight to PostgreSQL, as on Neon, Supabase
 * or Replit with their pooled URLs.
 */
describe('behind PgBouncer (transaction pooling)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let bouncer: PgBouncer;
  let t: TestApp;
  let token: string;
  /** Every /api answer that was not a 429: all of them count against the rate limit. */
  let counted = 0;

  beforeAll(async () => {
    db = await createTestDatabase('pgb');
    bouncer = await startPgBouncer(db.url);
    t = await startTestApp({
      databaseUrl: bouncer.url(db.url),
      env: {
        DATABASE_URL_DIRECT: db.url,
        JWT_SECRET: 'j'.repeat(40),
        ADMIN_PASSWORD: PASSWORD,
        RATE_LIMIT_MAX: String(RATE_LIMIT),
        // Slow enough that a long pattern run can be cancelled while it runs.
        OFFLINE_MODEL_DELAY_MS: '20',
      },
    });
  });
  afterAll(async () => {
    await t?.close();
    await bouncer?.stop();
    await db?.drop();
  });

  async function api(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
    const res = await fetch(`${t.url}${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status !== 429) counted++;
    return res;
  }

  it('detects the pooler: no prepared statements, timeout from the role default', async () => {
    expect(t.config.database).toMatchObject({ pooled: true, preparedStatements: false });
    expect(bouncer.output()).not.toMatch(/unsupported startup parameter/);
    // Through PgBouncer: the timeout arrived without a startup parameter.
    const { rows } = await t.db.pool.query<{ statement_timeout: string }>('SHOW statement_timeout');
    expect(rows[0]?.statement_timeout).toBe('30s');
    // Named statements from the modules work on whichever server connection a transaction gets.
    for (let i = 0; i < 20; i++) {
      const result = await t.db.pool.query({ name: 'pgbouncer_probe', text: 'SELECT $1::int AS n', values: [i] });
      expect(result.rows[0]).toEqual({ n: i });
    }
  });

  it('is ready', async () => {
    const res = await fetch(`${t.url}/ready`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ready: true });
  });

  it('logs in, runs with Prefer: wait and idempotency keys, stores events', async () => {
    const login = await api('POST', '/api/auth/login', { username: 'admin', password: PASSWORD });
    expect(login.status).toBe(200);
    token = ((await login.json()) as { token: string }).token;

    const waited = await api('POST', '/api/runs', { agent: 'researcher', input: 'through the pooler' }, { prefer: 'wait=60' });
    expect(waited.status).toBe(200);
    const run = ((await waited.json()) as { run: Run }).run;
    expect(run.status).toBe('succeeded');
    expect(run.output).not.toBeNull();

    const first = await api('POST', '/api/runs', { agent: 'writer', input: 'once', idempotencyKey: 'pgb-1' });
    const second = await api('POST', '/api/runs', { agent: 'writer', input: 'once', idempotencyKey: 'pgb-1' });
    expect(first.status).toBe(202);
    expect(first.headers.get('location')).toBeTruthy();
    const a = ((await first.json()) as { run: Run }).run;
    const b = ((await second.json()) as { run: Run }).run;
    expect(b.id).toBe(a.id);
    const finished = await waitFor(
      async () => {
        const r = ((await (await api('GET', `/api/runs/${a.id}`)).json()) as { run: Run }).run;
        return r.status === 'succeeded' ? r : undefined;
      },
      { what: 'the idempotent run to finish', timeoutMs: 60_000, intervalMs: 250 },
    );
    expect(finished.attempts).toBe(1);

    const events = ((await (await api('GET', `/api/runs/${run.id}/events?after=0`)).json()) as { events: RunEvent[] }).events;
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    const types = events.map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['run.queued', 'run.started', 'run.succeeded']));

    const list = (await (await api('GET', '/api/runs?limit=10')).json()) as { runs: Run[] };
    expect(list.runs.map((r) => r.id)).toEqual(expect.arrayContaining([run.id, a.id]));
  });

  it('streams a run over the WebSocket with no gap', async () => {
    const socket = await openSocket(wsUrl(t.url, '/ws', token));
    try {
      const created = await api('POST', '/api/runs', { pattern: 'sequential', agents: ['researcher', 'writer'], input: 'stream me' });
      expect(created.status).toBe(202);
      const run = ((await created.json()) as { run: Run }).run;
      socket.send({ type: 'subscribe', topic: `run:${run.id}`, after: 0 });
      await socket.next((f) => f.type === 'subscribed');
      await socket.next((f) => f.type === 'event' && (f as { event: RunEvent }).event.type === 'run.succeeded', 60_000);
      const seqs = socket.seqs(`run:${run.id}`);
      expect(seqs).toEqual(seqs.map((_, i) => i + 1));
      expect(socket.frames.some((f) => f.type === 'event' && (f as { event: RunEvent }).event.type === 'run.token')).toBe(true);
    } finally {
      socket.close();
    }
  });

  it('cancels a running run', async () => {
    const created = await api('POST', '/api/runs', {
      pattern: 'sequential',
      agents: ['researcher', 'writer', 'editor', 'critic', 'fact-checker', 'researcher', 'writer', 'editor'],
      input: 'a long one',
    });
    const run = ((await created.json()) as { run: Run }).run;
    const cancel = await api('POST', `/api/runs/${run.id}/cancel`);
    expect(cancel.status).toBe(200);
    const ended = await waitFor(
      async () => {
        const r = ((await (await api('GET', `/api/runs/${run.id}`)).json()) as { run: Run }).run;
        return ['succeeded', 'failed', 'cancelled'].includes(r.status) ? r : undefined;
      },
      { what: 'the cancelled run to end', timeoutMs: 60_000, intervalMs: 250 },
    );
    expect(ended.status).toBe('cancelled');
    expect((await api('POST', `/api/runs/${run.id}/cancel`)).status).toBe(409);
  });

  it('rate limits across the pool: a 429 with Retry-After once the limit is used up, never more', async () => {
    let refused: Response | undefined;
    while (!refused && counted <= RATE_LIMIT) {
      const batch = await Promise.all(Array.from({ length: 20 }, () => api('GET', '/api/agents')));
      refused = batch.find((r) => r.status === 429);
    }
    expect(refused?.status).toBe(429);
    expect(Number(refused?.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await refused!.json()) as { error: { code: string } }).error.code).toBeTruthy();
    expect(counted).toBeLessThanOrEqual(RATE_LIMIT);
  });

  it('is still ready, and healthy', async () => {
    expect((await fetch(`${t.url}/ready`)).status).toBe(200);
    const health = await fetch(`${t.url}/health`);
    expect(health.status).toBe(200);
  });
});
