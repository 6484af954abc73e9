import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startTestApp, waitFor, type TestApp } from '../../test/helpers.js';
import { ConnectionCounter } from './connection-limits.js';

type T = TestApp & { dropDatabase?: () => Promise<void> };

const opened: (net.Socket | WebSocket)[] = [];
afterEach(() => {
  for (const s of opened.splice(0)) {
    if (s instanceof WebSocket) s.terminate();
    else s.destroy();
  }
});

/** A raw client that, like a slowloris tool, never closes its side when the server closes its own. */
function rawSocket(port: number, send = ''): Promise<{ socket: net.Socket; ended: Promise<void>; response: () => string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    opened.push(socket);
    let response = '';
    const ended = new Promise<void>((r) => socket.once('end', () => r()));
    socket.on('data', (d) => (response += d.toString()));
    socket.on('error', () => undefined);
    socket.once('connect', () => {
      if (send) socket.write(send);
      resolve({ socket, ended, response: () => response });
    });
    socket.once('error', reject);
  });
}

const connections = (t: T) => new Promise<number>((resolve, reject) => t.app.server.getConnections((error, n) => (error ? reject(error) : resolve(n))));

function openWs(t: T, forwardedFor: string): Promise<{ status: number; body: string; ws?: WebSocket }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${t.port}/ws`, { headers: { 'X-Forwarded-For': forwardedFor } });
    opened.push(ws);
    ws.once('open', () => resolve({ status: 101, body: '', ws }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('error', reject);
  });
}

describe('ConnectionCounter', () => {
  it('caps each key, releases once, and 0 means no cap', () => {
    const c = new ConnectionCounter(2);
    const a = c.acquire('k')!;
    const b = c.acquire('k')!;
    expect(c.acquire('k')).toBeNull();
    expect(c.acquire('other')).not.toBeNull();
    a();
    a();
    expect(c.held('k')).toBe(1);
    expect(c.acquire('k')).not.toBeNull();
    b();
    const unlimited = new ConnectionCounter(0);
    for (let i = 0; i < 1000; i++) expect(unlimited.acquire('k')).not.toBeNull();
  });
});

describe('slow clients', () => {
  let t: T;
  beforeAll(async () => {
    t = await startTestApp({ env: { HEADERS_TIMEOUT_MS: '1000', REQUEST_TIMEOUT_MS: '2000', KEEP_ALIVE_TIMEOUT_MS: '1000' } });
  });
  afterAll(async () => {
    await t.close();
    await t.dropDatabase?.();
  });

  it('are closed, not half-closed, after the header timeout', async () => {
    const clients = await Promise.all(Array.from({ length: 5 }, () => rawSocket(t.port, 'GET /api/agents HTTP/1.1\r\nHost: x\r\nX-Slow: ')));
    await waitFor(async () => (await connections(t)) === 5, { what: '5 connections' });
    // The server answers and sends its FIN; the clients never close their side.
    await Promise.all(clients.map((c) => c.ended));
    for (const c of clients) expect(c.response()).toMatch(/^HTTP\/1\.1 408/);
    await waitFor(async () => (await connections(t)) === 0, { timeoutMs: 20_000, what: 'the server to let go of every slow socket' });
  });
});

describe('sockets per client address', () => {
  let t: T;
  beforeAll(async () => {
    // Trust no proxy, so the loopback test client is a client like any other.
    t = await startTestApp({ env: { TRUST_PROXY: '0', MAX_CONNECTIONS_PER_CLIENT: '3' } });
  });
  afterAll(async () => {
    await t.close();
    await t.dropDatabase?.();
  });

  it('refuses the socket over the cap with a 429, and takes new ones when one closes', async () => {
    const held = await Promise.all(Array.from({ length: 3 }, () => rawSocket(t.port)));
    await waitFor(async () => (await connections(t)) === 3, { what: '3 connections' });
    const over = await rawSocket(t.port);
    await over.ended;
    expect(over.response()).toMatch(/^HTTP\/1\.1 429/);
    expect(over.response()).toContain('"code":"too_many_connections"');
    expect(over.response()).toMatch(/Retry-After: \d+/);
    held[0]!.socket.destroy();
    await waitFor(async () => (await fetch(`${t.url}/api/agents`)).status === 200, { timeoutMs: 20_000, what: 'a socket to be free again' });
  });
});

describe('requests and WebSockets per client address and per user (behind a proxy)', () => {
  let t: T;
  const waits = new AbortController();
  beforeAll(async () => {
    // Slow offline model: a run lasts long enough for `Prefer: wait` to hold its request.
    t = await startTestApp({ env: { TRUST_PROXY: '1', MAX_CONNECTIONS_PER_CLIENT: '2', MAX_CONNECTIONS_PER_USER: '3', OFFLINE_MODEL_DELAY_MS: '10000' } });
  });
  afterAll(async () => {
    waits.abort();
    await t.close();
    await t.dropDatabase?.();
  });

  const get = (forwardedFor: string) => fetch(`${t.url}/api/agents`, { headers: { 'X-Forwarded-For': forwardedFor } });

  it('caps requests in flight per forwarded client address', async () => {
    // Two runs waited for hold the address's two slots (one at a time: a stored run means
    // its request is past the cap and waiting).
    for (let i = 0; i < 2; i++) {
      fetch(`${t.url}/api/runs`, {
        method: 'POST',
        headers: { 'X-Forwarded-For': '203.0.113.5', 'Content-Type': 'application/json', Prefer: 'wait=60' },
        body: JSON.stringify({ agent: 'summarizer', input: 'slow' }),
        signal: waits.signal,
      }).catch(() => undefined);
      await waitFor(async () => (await t.db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM runs')).rows[0]!.n === i + 1, { what: `run ${i + 1} stored` });
    }
    const refused = await get('203.0.113.5');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBeTruthy();
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('too_many_connections');
    expect((await get('203.0.113.6')).status).toBe(200);
    waits.abort();
  });

  it('caps WebSockets per client address and per user', async () => {
    expect((await openWs(t, '198.51.100.1')).status).toBe(101);
    expect((await openWs(t, '198.51.100.1')).status).toBe(101);
    const byAddress = await openWs(t, '198.51.100.1');
    expect(byAddress.status).toBe(429);
    expect(JSON.parse(byAddress.body).error.code).toBe('too_many_connections');
    // Authentication is off: every socket is the local admin's, whose cap is 3.
    const third = await openWs(t, '198.51.100.2');
    expect(third.status).toBe(101);
    const byUser = await openWs(t, '198.51.100.3');
    expect(byUser.status).toBe(429);
    expect(JSON.parse(byUser.body).error.message).toMatch(/this user/);
    third.ws!.close();
    await waitFor(async () => {
      const again = await openWs(t, '198.51.100.3');
      return again.status === 101;
    }, { timeoutMs: 20_000, what: 'the user to get a socket back' });
  });
});

describe('requests in flight per user', () => {
  let t: T;
  let token: string;
  const waits = new AbortController();
  beforeAll(async () => {
    // Slow offline model: a run lasts long enough for `Prefer: wait` to hold its request.
    t = await startTestApp({ env: { TRUST_PROXY: '1', JWT_SECRET: 'c'.repeat(40), ADMIN_USERNAME: 'root', ADMIN_PASSWORD: 'caps-admin-pw', MAX_CONNECTIONS_PER_USER: '2', OFFLINE_MODEL_DELAY_MS: '10000' } });
    const res = await fetch(`${t.url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'root', password: 'caps-admin-pw' }) });
    token = ((await res.json()) as { token: string }).token;
  });
  afterAll(async () => {
    waits.abort();
    await t.close();
    await t.dropDatabase?.();
  });

  it('are capped whatever address they come from', async () => {
    // Two runs waited for, from two addresses, hold the user's two slots (one at a time: a
    // stored run means its request is past the cap and waiting).
    for (const [i, ip] of ['203.0.113.21', '203.0.113.22'].entries()) {
      fetch(`${t.url}/api/runs`, {
        method: 'POST',
        headers: { 'X-Forwarded-For': ip, Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', Prefer: 'wait=60' },
        body: JSON.stringify({ agent: 'summarizer', input: 'slow' }),
        signal: waits.signal,
      }).catch(() => undefined);
      await waitFor(async () => (await t.db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM runs')).rows[0]!.n === i + 1, { what: `run ${i + 1} stored` });
    }
    const get = (ip: string, auth: boolean) => fetch(`${t.url}/api/agents`, { headers: { 'X-Forwarded-For': ip, ...(auth ? { Authorization: `Bearer ${token}` } : {}) } });
    const refused = await get('203.0.113.23', true);
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('too_many_connections');
    // Another client without the token is not this user.
    expect((await get('203.0.113.23', false)).status).toBe(401);
  });
});
