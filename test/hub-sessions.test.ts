import request from 'supertest';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WS_CLOSE, type RunEvent } from '../shared/protocol.js';
import { createWsClient, type WebSocketConstructor } from '../shared/ws-client.js';
import { createTokens } from '../server/auth/tokens.js';
import { appendEvent, insertRun, openSocket, wsUrl, type TestSocket } from '../server/hub/test-client.js';
import { createTestDatabase, startTestApp, waitFor, type TestApp } from './helpers.js';

/**
 * A WebSocket lives no longer than its session, whichever instance ended it:
 * two apps share one database, the session changes through instance A, and the
 * socket is on instance B. Every wait is for an event (a close, a frame), never a delay.
 */
type T = TestApp & { dropDatabase?: () => Promise<void> };

const SECRET = 's'.repeat(40);
const ADMIN_PASSWORD = 'admin-password-123';
const ENV = { JWT_SECRET: SECRET, ADMIN_USERNAME: 'root', ADMIN_PASSWORD };

describe('WebSocket session lifetime across instances', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let a: T;
  let b: T;
  let admin: string;

  async function login(username: string, password: string): Promise<string> {
    const res = await request(a.url).post('/api/auth/login').send({ username, password });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body.token as string;
  }

  async function createUser(username: string, role: 'admin' | 'operator' | 'viewer'): Promise<string> {
    const password = `${username}-password-1`;
    const res = await request(a.url).post('/api/users').set('Authorization', `Bearer ${admin}`).send({ username, password, role });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return login(username, password);
  }

  async function subscribed(s: TestSocket, topic: string): Promise<void> {
    s.send({ type: 'subscribe', topic });
    await s.next((f) => f.type === 'subscribed' && f.topic === topic);
  }

  beforeAll(async () => {
    database = await createTestDatabase('hubsess');
    a = await startTestApp({ databaseUrl: database.url, env: ENV });
    b = await startTestApp({ databaseUrl: database.url, env: ENV });
    admin = await login('root', ADMIN_PASSWORD);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await database?.drop();
  });

  it('logout everywhere on A closes the user\'s sockets on B with 4401; the shared client stops and asks to sign in', async () => {
    const token = await createUser('alice', 'operator');
    const raw = await openSocket(wsUrl(b.url, '/ws', token));
    await subscribed(raw, 'runs');
    const reasons: string[] = [];
    const closes: number[] = [];
    let subscriptions = 0;
    const client = createWsClient({
      url: wsUrl(b.url),
      token,
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      minBackoffMs: 20,
      onClose: (code) => closes.push(code),
      onUnauthorized: (reason) => reasons.push(reason),
    });
    client.subscribe('runs', () => undefined, { onSubscribed: () => subscriptions++ });
    await waitFor(() => subscriptions === 1, { what: 'client subscribed' });

    const res = await request(a.url).post('/api/auth/logout').set('Authorization', `Bearer ${token}`).send({ everywhere: true });
    expect(res.status).toBe(200);

    expect((await raw.closed).code).toBe(WS_CLOSE.unauthorized);
    await waitFor(() => reasons.length === 1, { what: 'onUnauthorized' });
    expect(closes).toEqual([WS_CLOSE.unauthorized]);
    expect(client.state).toBe('closed');
    expect(subscriptions).toBe(1);
    client.close();
  });

  it('a plain logout closes only the socket opened with that token', async () => {
    const first = await createUser('amos', 'operator');
    const second = await login('amos', 'amos-password-1');
    const one = await openSocket(wsUrl(b.url, '/ws', first));
    const two = await openSocket(wsUrl(b.url, '/ws', second));
    await subscribed(one, 'queue');
    await subscribed(two, 'queue');
    expect((await request(a.url).post('/api/auth/logout').set('Authorization', `Bearer ${first}`).send({})).status).toBe(200);
    expect((await one.closed).code).toBe(WS_CLOSE.unauthorized);
    await subscribed(two, 'runs');
    expect(two.ws.readyState).toBe(WebSocket.OPEN);
    two.close();
  });

  it('a demoted admin is closed with 4401 and, signed in again as a viewer, sees only its own runs on `runs`', async () => {
    const token = await createUser('carol', 'admin');
    const rootRun = await insertRun(a.db.pool, 'root');
    const carolRun = await insertRun(a.db.pool, 'carol');
    const asAdmin = await openSocket(wsUrl(b.url, '/ws', token));
    await subscribed(asAdmin, 'runs');
    a.app.hub.event(await appendEvent(a.db.pool, rootRun, 'run.queued'), 'root');
    await asAdmin.next((f) => f.type === 'event' && f.topic === 'runs' && (f.event as RunEvent).runId === rootRun);

    const res = await request(a.url).patch('/api/users/carol').set('Authorization', `Bearer ${admin}`).send({ role: 'viewer' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect((await asAdmin.closed).code).toBe(WS_CLOSE.unauthorized);

    const asViewer = await openSocket(wsUrl(b.url, '/ws', await login('carol', 'carol-password-1')));
    await subscribed(asViewer, 'runs');
    // Published in this order by A, so B delivers root's first: once carol's arrives, root's was filtered.
    a.app.hub.event(await appendEvent(a.db.pool, rootRun, 'run.started'), 'root');
    a.app.hub.event(await appendEvent(a.db.pool, carolRun, 'run.queued'), 'carol');
    await asViewer.next((f) => f.type === 'event' && f.topic === 'runs' && (f.event as RunEvent).runId === carolRun);
    expect(asViewer.frames.some((f) => f.type === 'event' && (f.event as RunEvent).runId === rootRun)).toBe(false);
    asViewer.close();
  });

  it('closes the socket with 4401 when its token expires', async () => {
    await createUser('erin', 'viewer');
    const { rows } = await a.db.pool.query<{ id: string; token_version: number }>("SELECT id, token_version FROM users WHERE username = 'erin'");
    // The same secret as the apps, a token with a few seconds to live.
    const short = await createTokens({ secret: SECRET, ttlSeconds: 4 }).issue({ id: rows[0]!.id, username: 'erin', role: 'viewer', tokenVersion: rows[0]!.token_version });
    const s = await openSocket(wsUrl(b.url, '/ws', short.token));
    const closed = await s.closed;
    expect(closed.code).toBe(WS_CLOSE.unauthorized);
    expect(Date.now()).toBeGreaterThanOrEqual(short.expiresAt.getTime() - 50);
  });

  it('closes the socket of a deleted user with 4401', async () => {
    const token = await createUser('dave', 'operator');
    const s = await openSocket(wsUrl(b.url, '/ws', token));
    await subscribed(s, 'runs');
    expect((await request(a.url).delete('/api/users/dave').set('Authorization', `Bearer ${admin}`)).status).toBe(204);
    expect((await s.closed).code).toBe(WS_CLOSE.unauthorized);
  });

  it('refuses a subscribe once the session is over, even when no notification said so', async () => {
    const token = await createUser('frank', 'operator');
    const s = await openSocket(wsUrl(b.url, '/ws', token));
    await subscribed(s, 'queue');
    // Behind the app's back: no NOTIFY, so only the check on subscribe can notice.
    await a.db.pool.query("UPDATE users SET token_version = token_version + 1 WHERE username = 'frank'");
    let code: number | undefined;
    void s.closed.then((c) => (code = c.code));
    // Sessions are cached for up to a second per instance: keep subscribing until the hub notices.
    await waitFor(
      () => {
        if (code !== undefined) return true;
        s.send({ type: 'subscribe', topic: 'runs' });
        return false;
      },
      { timeoutMs: 15_000, intervalMs: 200, what: 'the socket to close' },
    );
    expect(code).toBe(WS_CLOSE.unauthorized);
  });
});
