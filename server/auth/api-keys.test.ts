import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreatedApiKey } from '../../shared/protocol.js';
import { captureLogs, createTestDatabase, startTestApp, waitFor, type TestApp } from '../../test/helpers.js';
import { openSocket, upgradeStatus, wsUrl } from '../hub/test-client.js';

const SECRET = 'k'.repeat(40);
const ADMIN_PASSWORD = 'admin-password-123';
const ENV = { JWT_SECRET: SECRET, ADMIN_USERNAME: 'root', ADMIN_PASSWORD };

type T = TestApp & { dropDatabase?: () => Promise<void> };

async function login(t: T): Promise<string> {
  const res = await request(t.url).post('/api/auth/login').send({ username: 'root', password: ADMIN_PASSWORD });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.token as string;
}

async function createKey(t: T, token: string, body: Record<string, unknown>): Promise<CreatedApiKey> {
  const res = await request(t.url).post('/api/keys').set('Authorization', `Bearer ${token}`).send(body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as CreatedApiKey;
}

describe('API keys on two instances', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let a: T;
  let b: T;
  let adminToken: string;
  const logs = captureLogs();

  beforeAll(async () => {
    database = await createTestDatabase('keys');
    a = await startTestApp({ databaseUrl: database.url, env: ENV, logger: logs.logger });
    b = await startTestApp({ databaseUrl: database.url, env: ENV, logger: logs.logger });
    adminToken = await login(a);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await database?.drop();
  });

  it('creates a key whose secret is shown once, stored only as a hash, never logged; it works as a Bearer token', async () => {
    const created = await createKey(a, adminToken, { name: 'ci', role: 'operator' });
    expect(created.secret).toMatch(/^agk_[0-9a-f]{32}_[A-Za-z0-9_-]{43}$/);
    expect(created.key).toMatchObject({ name: 'ci', role: 'operator', agents: null, principal: 'key:ci', createdBy: 'root', lastUsedAt: null, revokedAt: null });

    const me = await request(b.url).get('/api/auth/me').set('Authorization', `Bearer ${created.secret}`);
    expect(me.status).toBe(200);
    expect(me.body.user).toMatchObject({ username: 'key:ci', role: 'operator' });

    const run = await request(b.url).post('/api/runs').set('Authorization', `Bearer ${created.secret}`).send({ agent: 'writer', input: 'a haiku' });
    expect(run.status, JSON.stringify(run.body)).toBe(202);
    expect(run.body.run.owner).toBe('key:ci');
    // Its runs are its own: listed for the key, hidden from another key.
    const mine = await request(a.url).get('/api/runs').set('Authorization', `Bearer ${created.secret}`);
    expect(mine.body.runs.map((r: { id: string }) => r.id)).toContain(run.body.run.id);
    const other = await createKey(a, adminToken, { name: 'other', role: 'viewer' });
    const hidden = await request(a.url).get(`/api/runs/${run.body.run.id}`).set('Authorization', `Bearer ${other.secret}`);
    expect(hidden.status).toBe(404);
    // A viewer key may not start runs; a wrong secret for a real key id is refused.
    expect((await request(a.url).post('/api/runs').set('Authorization', `Bearer ${other.secret}`).send({ agent: 'writer', input: 'x' })).status).toBe(403);
    const forged = created.secret.slice(0, -4) + (created.secret.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    expect((await request(a.url).get('/api/auth/me').set('Authorization', `Bearer ${forged}`)).status).toBe(401);

    // The database holds a hash, not the secret; the list never shows it.
    const { rows } = await a.db.pool.query<{ secret_hash: string }>('SELECT secret_hash FROM api_keys WHERE id = $1', [created.key.id]);
    const random = created.secret.split('_')[2]!;
    expect(rows[0]!.secret_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(rows[0]!.secret_hash).not.toContain(random);
    const list = await request(a.url).get('/api/keys').set('Authorization', `Bearer ${adminToken}`);
    expect(list.status).toBe(200);
    expect(JSON.stringify(list.body)).not.toContain(random);
    // Last use is known on the instance that saw it before it is written (at most once a minute).
    const listB = await request(b.url).get('/api/keys').set('Authorization', `Bearer ${adminToken}`);
    expect(listB.body.keys.find((k: { id: string }) => k.id === created.key.id).lastUsedAt).not.toBeNull();

    // Neither the secret nor its random part appears in any log line (requests with it were logged).
    await request(a.url).get('/api/nothing-here').set('Authorization', `Bearer ${created.secret}`);
    // A key put in a URL (the WebSocket's `token` query) is blanked in the request log.
    await request(a.url).get(`/api/runs?token=${created.secret}`);
    expect(logs.text()).not.toContain(random);
    expect(logs.text()).toContain('API key created');

    const audit = await request(a.url).get('/api/audit?targetType=api_key').set('Authorization', `Bearer ${adminToken}`);
    expect(audit.body.entries.map((e: { action: string; targetId: string }) => `${e.action}:${e.targetId}`)).toContain(`api_key.create:${created.key.id}`);
  });

  it('only admins manage keys; bad input is refused and changes nothing; names are never reused', async () => {
    const viewer = await createKey(a, adminToken, { name: 'reader', role: 'viewer' });
    expect((await request(a.url).get('/api/keys').set('Authorization', `Bearer ${viewer.secret}`)).status).toBe(403);
    expect((await request(a.url).post('/api/keys').set('Authorization', `Bearer ${viewer.secret}`).send({ name: 'x', role: 'admin' })).status).toBe(403);
    const bad = await request(a.url).post('/api/keys').set('Authorization', `Bearer ${adminToken}`).send({ name: 'has space', role: 'operator' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/name/);
    expect((await request(a.url).post('/api/keys').set('Authorization', `Bearer ${adminToken}`).send({ name: 'READER', role: 'viewer' })).status).toBe(409);
    const { rows } = await a.db.pool.query('SELECT name FROM api_keys WHERE lower(name) IN ($1, $2)', ['has space', 'reader']);
    expect(rows).toHaveLength(1);
    expect((await request(a.url).delete('/api/keys/00000000-0000-4000-8000-000000000000').set('Authorization', `Bearer ${adminToken}`)).status).toBe(404);
  });

  it('a revoked key is refused at once by the other instance too (NOTIFY, not a cache expiry), and its WebSocket closes', async () => {
    const created = await createKey(a, adminToken, { name: 'to-revoke', role: 'operator' });
    const auth = { Authorization: `Bearer ${created.secret}` };
    // B has the key cached (its cache holds a key a minute while LISTEN is up).
    expect((await request(b.url).get('/api/runs').set(auth)).status).toBe(200);
    const revoked = await request(a.url).delete(`/api/keys/${created.key.id}`).set('Authorization', `Bearer ${adminToken}`);
    expect(revoked.status).toBe(200);
    expect(revoked.body.key.revokedAt).not.toBeNull();
    expect((await request(a.url).get('/api/runs').set(auth)).status).toBe(401);
    // Only the notification can make B refuse before its cache entry (60 s) runs out.
    await waitFor(async () => (await request(b.url).get('/api/runs').set(auth)).status === 401, { timeoutMs: 20_000, intervalMs: 20, what: 'B to refuse the revoked key' });

    // A WebSocket on B opened with a key, by header and by the `token` query, closes when it is revoked.
    const ws = await createKey(a, adminToken, { name: 'ws-key', role: 'viewer' });
    const wsAuth = { Authorization: `Bearer ${ws.secret}` };
    const byHeader = await openSocket(wsUrl(b.url), { headers: wsAuth });
    const byQuery = await openSocket(wsUrl(b.url, '/ws', ws.secret));
    byHeader.send({ type: 'subscribe', topic: 'runs' });
    await byHeader.next((f) => f.type === 'subscribed');
    expect((await request(a.url).delete(`/api/keys/${ws.key.id}`).set('Authorization', `Bearer ${adminToken}`)).status).toBe(200);
    expect((await byHeader.closed).code).toBe(4401);
    expect((await byQuery.closed).code).toBe(4401);
    expect((await upgradeStatus(wsUrl(b.url), wsAuth)).status).toBe(401);
    const audit = await request(a.url).get(`/api/audit?targetType=api_key&targetId=${created.key.id}`).set('Authorization', `Bearer ${adminToken}`);
    expect(audit.body.entries.map((e: { action: string }) => e.action)).toEqual(['api_key.revoke', 'api_key.create']);
  });

  it('a key restricted to agents may run only those, whatever the pattern names', async () => {
    const created = await createKey(a, adminToken, { name: 'writer-only', role: 'operator', agents: ['writer', 'critic'] });
    const auth = { Authorization: `Bearer ${created.secret}` };
    expect((await request(a.url).post('/api/runs').set(auth).send({ agent: 'writer', input: 'x' })).status).toBe(202);
    const refused = await request(a.url).post('/api/runs').set(auth).send({ agent: 'planner', input: 'x' });
    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toMatch(/"planner"/);
    expect((await request(a.url).post('/api/runs').set(auth).send({ pattern: 'sequential', agents: ['writer', 'critic'], input: 'x' })).status).toBe(202);
    expect((await request(a.url).post('/api/runs').set(auth).send({ pattern: 'sequential', agents: ['writer', 'summarizer'], input: 'x' })).status).toBe(403);
    const { rows } = await a.db.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM runs WHERE owner = 'key:writer-only'");
    expect(rows[0]!.n).toBe(2);
  });

  it('last use is written to the database when the instance flushes (at most once a minute, and at shutdown)', async () => {
    const created = await createKey(a, adminToken, { name: 'touch', role: 'viewer' });
    expect((await request(b.url).get('/api/agents').set('Authorization', `Bearer ${created.secret}`)).status).toBe(200);
    const before = await a.db.pool.query('SELECT last_used_at FROM api_keys WHERE id = $1', [created.key.id]);
    expect(before.rows[0].last_used_at).toBeNull();
    await b.app.auth.stop?.(AbortSignal.timeout(5000));
    const after = await a.db.pool.query('SELECT last_used_at FROM api_keys WHERE id = $1', [created.key.id]);
    expect(after.rows[0].last_used_at).toBeInstanceOf(Date);
    await b.app.auth.start?.();
  });
});

describe('API key rate limit', () => {
  let t: T;
  let adminToken: string;
  beforeAll(async () => {
    t = await startTestApp({ env: { ...ENV, API_KEY_RATE_LIMIT_MAX: '3', API_KEY_RATE_LIMIT_WINDOW_MS: '600000' } });
    adminToken = await login(t);
  });
  afterAll(async () => {
    await t.close();
    await t.dropDatabase?.();
  });

  it('each key has its own limit; session tokens are not counted against it', async () => {
    const one = await createKey(t, adminToken, { name: 'one', role: 'viewer' });
    const two = await createKey(t, adminToken, { name: 'two', role: 'viewer' });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await request(t.url).get('/api/agents').set('Authorization', `Bearer ${one.secret}`)).status);
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    const limited = await request(t.url).get('/api/agents').set('Authorization', `Bearer ${one.secret}`);
    expect(limited.body.error.code).toBe('rate_limited');
    expect(limited.headers.ratelimit).toBeDefined();
    expect((await request(t.url).get('/api/agents').set('Authorization', `Bearer ${two.secret}`)).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await request(t.url).get('/api/agents').set('Authorization', `Bearer ${adminToken}`)).status).toBe(200);
  });
});
