import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../test/helpers.js';
import { insertRun, openSocket, upgradeStatus, wsUrl } from '../hub/test-client.js';

/** Per-user isolation on REST and the WebSocket hub: who may connect, and whose runs they may see, follow or change. */

const SECRET = 'z'.repeat(48);
const ADMIN_PASSWORD = 'isolation-admin-pw';

type T = TestApp & { dropDatabase?: () => Promise<void> };

async function login(t: T, username: string, password: string) {
  const res = await request(t.url).post('/api/auth/login').send({ username, password });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  const cookie = String(([] as string[]).concat(res.headers['set-cookie'] ?? [])[0]).split(';')[0]!;
  return { token: res.body.token as string, cookie };
}

describe('WebSocket authentication and per-user topics', () => {
  let t: T;
  let admin: { token: string; cookie: string };
  let alice: { token: string; cookie: string };
  let bob: { token: string; cookie: string };

  beforeAll(async () => {
    t = await startTestApp({ env: { JWT_SECRET: SECRET, ADMIN_PASSWORD } });
    admin = await login(t, 'admin', ADMIN_PASSWORD);
    const auth = { Authorization: `Bearer ${admin.token}` };
    await request(t.url).post('/api/users').set(auth).send({ username: 'alice', password: 'alice-password', role: 'operator' }).expect(201);
    await request(t.url).post('/api/users').set(auth).send({ username: 'bob', password: 'bob-password', role: 'viewer' }).expect(201);
    alice = await login(t, 'alice', 'alice-password');
    bob = await login(t, 'bob', 'bob-password');
  });
  afterAll(async () => {
    await t.close();
    await t.dropDatabase?.();
  });

  it('refuses the upgrade with no token, a bad token or a revoked one', async () => {
    expect((await upgradeStatus(wsUrl(t.url))).status).toBe(401);
    expect((await upgradeStatus(wsUrl(t.url, '/ws', 'not.a.token'))).status).toBe(401);
    expect((await upgradeStatus(wsUrl(t.url), { Authorization: 'Bearer garbage' })).status).toBe(401);
    const doomed = await login(t, 'bob', 'bob-password');
    await request(t.url).post('/api/auth/logout').set('Authorization', `Bearer ${doomed.token}`).expect(200);
    expect((await upgradeStatus(wsUrl(t.url, '/ws', doomed.token))).status).toBe(401);
  });

  it('accepts a token by Authorization header, by session cookie (same origin) and by query', async () => {
    expect((await upgradeStatus(wsUrl(t.url), { Authorization: `Bearer ${alice.token}` })).status).toBe(101);
    expect((await upgradeStatus(wsUrl(t.url), { Cookie: alice.cookie, Origin: t.url })).status).toBe(101);
    expect((await upgradeStatus(wsUrl(t.url, '/ws', alice.token))).status).toBe(101);
  });

  it('refuses a cookie-authenticated upgrade from a foreign page (cross-site WebSocket hijacking)', async () => {
    const foreign = await upgradeStatus(wsUrl(t.url), { Cookie: alice.cookie, Origin: 'https://evil.example' });
    expect(foreign.status).toBeGreaterThanOrEqual(401);
    expect(foreign.status).toBeLessThan(404);
    // A cookie with no Origin at all is not a browser page; it still must prove its origin.
    expect((await upgradeStatus(wsUrl(t.url), { Cookie: alice.cookie })).status).toBe(401);
  });

  it("answers someone else's run topic exactly like a missing one", async () => {
    const alicesRun = await insertRun(t.db.pool, 'alice');
    const bobsRun = await insertRun(t.db.pool, 'bob');

    const bobSocket = await openSocket(wsUrl(t.url, '/ws', bob.token));
    bobSocket.send({ type: 'subscribe', topic: `run:${alicesRun}` });
    const refused = await bobSocket.next((f) => f.type === 'error');
    expect(refused).toMatchObject({ type: 'error', code: 'not_found' });
    bobSocket.send({ type: 'subscribe', topic: 'run:00000000-0000-4000-8000-000000000000' });
    await bobSocket.next((f) => f.type === 'error' && bobSocket.frames.filter((x) => x.type === 'error').length === 2);
    const errors = bobSocket.frames.filter((f) => f.type === 'error').map((f) => ({ ...f, topic: undefined }));
    expect(errors[0]).toEqual(errors[1]);
    bobSocket.send({ type: 'subscribe', topic: `run:${bobsRun}` });
    await bobSocket.next((f) => f.type === 'subscribed' && f.topic === `run:${bobsRun}`);
    expect(bobSocket.frames.some((f) => f.type === 'subscribed' && f.topic === `run:${alicesRun}`)).toBe(false);
    bobSocket.close();

    const adminSocket = await openSocket(wsUrl(t.url, '/ws', admin.token));
    adminSocket.send({ type: 'subscribe', topic: `run:${alicesRun}` });
    await adminSocket.next((f) => f.type === 'subscribed' && f.topic === `run:${alicesRun}`);
    adminSocket.close();
  });

  describe('runs over REST', () => {
    let agent: string;
    let alicesRun: string;
    let carol: { token: string; cookie: string };
    const as = (who: { token: string }) => ({ Authorization: `Bearer ${who.token}` });

    beforeAll(async () => {
      const agents = await request(t.url).get('/api/agents').set(as(admin)).expect(200);
      agent = agents.body.agents[0].name;
      await request(t.url).post('/api/users').set(as(admin)).send({ username: 'carol', password: 'carol-password', role: 'operator' }).expect(201);
      carol = await login(t, 'carol', 'carol-password');
      const created = await request(t.url).post('/api/runs').set(as(alice)).send({ agent, input: 'alice only' });
      expect(created.status, JSON.stringify(created.body)).toBe(202);
      alicesRun = created.body.run.id;
    });

    it('a viewer cannot start, cancel or answer runs', async () => {
      const start = await request(t.url).post('/api/runs').set(as(bob)).send({ agent, input: 'nope' });
      expect(start.status).toBe(403);
      expect((await request(t.url).post(`/api/runs/${alicesRun}/cancel`).set(as(bob))).status).toBe(403);
      expect((await request(t.url).post(`/api/runs/${alicesRun}/input`).set(as(bob)).send({ answer: 'x' })).status).toBe(403);
      const mine = await request(t.url).get('/api/runs').set(as(bob));
      expect(mine.status).toBe(200);
      expect(mine.body.runs.every((r: { owner?: string; id: string }) => r.id !== alicesRun)).toBe(true);
      expect(mine.body.runs.length).toBeGreaterThan(0); // bob's own run from the WebSocket test
    });

    it("someone else's run is 404 by id, events, cancel and input, and absent from lists", async () => {
      for (const who of [bob, carol]) {
        expect((await request(t.url).get(`/api/runs/${alicesRun}`).set(as(who))).status).toBe(404);
        expect((await request(t.url).get(`/api/runs/${alicesRun}/events`).set(as(who))).status).toBe(404);
        const list = await request(t.url).get('/api/runs').set(as(who));
        expect(list.body.runs.some((r: { id: string }) => r.id === alicesRun)).toBe(false);
        const filtered = await request(t.url).get('/api/runs?owner=alice').set(as(who));
        expect(filtered.body.runs ?? []).toEqual([]);
      }
      const missing = await request(t.url).get('/api/runs/00000000-0000-4000-8000-000000000000').set(as(carol));
      const hidden = await request(t.url).get(`/api/runs/${alicesRun}`).set(as(carol));
      expect(hidden.body).toEqual(missing.body);
      expect((await request(t.url).post(`/api/runs/${alicesRun}/cancel`).set(as(carol))).status).toBe(404);
      expect((await request(t.url).post(`/api/runs/${alicesRun}/input`).set(as(carol)).send({ answer: 'x' })).status).toBe(404);
      // The owner and an admin do see it.
      expect((await request(t.url).get(`/api/runs/${alicesRun}`).set(as(alice))).status).toBe(200);
      expect((await request(t.url).get(`/api/runs/${alicesRun}`).set(as(admin))).status).toBe(200);
      const all = await request(t.url).get('/api/runs').set(as(admin));
      expect(all.body.runs.some((r: { id: string }) => r.id === alicesRun)).toBe(true);
    });

    it("the runs topic carries only the runs a user may see", async () => {
      const bobSocket = await openSocket(wsUrl(t.url, '/ws', bob.token));
      const aliceSocket = await openSocket(wsUrl(t.url, '/ws', alice.token));
      const adminSocket = await openSocket(wsUrl(t.url, '/ws', admin.token));
      for (const s of [bobSocket, aliceSocket, adminSocket]) {
        s.send({ type: 'subscribe', topic: 'runs' });
        await s.next((f) => f.type === 'subscribed' && f.topic === 'runs');
      }
      const created = await request(t.url).post('/api/runs').set(as(alice)).send({ agent, input: 'watched' }).expect(202);
      const id = created.body.run.id as string;
      const isFinal = (f: { type: string; event?: { runId?: string; type?: string } }) =>
        f.type === 'event' && f.event?.runId === id && ['run.succeeded', 'run.failed', 'run.cancelled'].includes(String(f.event?.type));
      await aliceSocket.next(isFinal, 30_000);
      await adminSocket.next(isFinal, 30_000);
      // bob's socket is alive and served (pong after every event above was fanned out), yet saw none of them.
      bobSocket.send({ type: 'ping' });
      await bobSocket.next((f) => f.type === 'pong');
      expect(bobSocket.frames.filter((f) => f.type === 'event' && 'runId' in f.event && f.event.runId === id)).toEqual([]);
      for (const s of [bobSocket, aliceSocket, adminSocket]) s.close();
    });
  });
});

describe("a new account with a deleted user's name", () => {
  let t: T;
  let admin: { token: string; cookie: string };
  const as = (who: { token: string }) => ({ Authorization: `Bearer ${who.token}` });

  beforeAll(async () => {
    t = await startTestApp({ env: { JWT_SECRET: SECRET, ADMIN_PASSWORD } });
    admin = await login(t, 'admin', ADMIN_PASSWORD);
  });
  afterAll(async () => {
    await t.close();
    await t.dropDatabase?.();
  });

  it("does not inherit the old user's runs, events, idempotency keys or topics", async () => {
    await request(t.url).post('/api/users').set(as(admin)).send({ username: 'dana', password: 'dana-password-1', role: 'operator' }).expect(201);
    const oldDana = await login(t, 'dana', 'dana-password-1');
    const created = await request(t.url).post('/api/runs').set(as(oldDana)).send({ agent: 'summarizer', input: 'private', idempotencyKey: 'k-1' }).expect(202);
    const runId = created.body.run.id as string;
    const { rows: owned } = await t.db.pool.query('SELECT r.owner_id, u.id FROM runs r JOIN users u ON u.username = $2 WHERE r.id = $1', [runId, 'dana']);
    expect(owned[0].owner_id).toBe(owned[0].id);

    await request(t.url).delete('/api/users/dana').set(as(admin)).expect((res) => expect(res.status).toBeLessThan(300));
    await request(t.url).post('/api/users').set(as(admin)).send({ username: 'dana', password: 'dana-password-2', role: 'operator' }).expect(201);
    const newDana = await login(t, 'dana', 'dana-password-2');

    expect((await request(t.url).get(`/api/runs/${runId}`).set(as(newDana))).status).toBe(404);
    expect((await request(t.url).get(`/api/runs/${runId}/events`).set(as(newDana))).status).toBe(404);
    const list = await request(t.url).get('/api/runs').set(as(newDana)).expect(200);
    expect(list.body.runs).toEqual([]);
    const again = await request(t.url).post('/api/runs').set(as(newDana)).send({ agent: 'summarizer', input: 'mine', idempotencyKey: 'k-1' });
    expect(again.status).toBe(202);
    expect(again.body.run.id).not.toBe(runId);

    const socket = await openSocket(wsUrl(t.url, '/ws', newDana.token));
    socket.send({ type: 'subscribe', topic: `run:${runId}` });
    expect(await socket.next((f) => f.type === 'error' || f.type === 'subscribed')).toMatchObject({ type: 'error', code: 'not_found' });
    socket.close();

    // Admins still see the deleted user's run, under a name no account can take.
    const seen = await request(t.url).get(`/api/runs/${runId}`).set(as(admin)).expect(200);
    expect(seen.body.run.id).toBe(runId);
    const { rows } = await t.db.pool.query('SELECT owner, owner_id FROM runs WHERE id = $1', [runId]);
    expect(rows[0].owner_id).toBeNull();
    expect(rows[0].owner).toMatch(/^deleted:[0-9a-f-]{36}:dana$/);
  });
});
