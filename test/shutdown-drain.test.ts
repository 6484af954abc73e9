import http from 'node:http';
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { startTestApp } from './helpers.js';

/** One request on a fresh connection (no agent: every call opens its own socket). */
function request(port: number, method: string, path: string, body?: unknown): Promise<{ status: number; connection: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request({ host: '127.0.0.1', port, method, path, agent: false, headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {} }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * SHUTDOWN_DRAIN_MS: after the signal `/ready` is 503 at once, but the listener stays
 * open and serves normally until balancers have noticed, and only then closes.
 */
describe('graceful shutdown with a drain', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of cleanups) await c().catch(() => undefined);
  });

  it('answers /ready 503 at once, keeps accepting and serving (each response closing its connection), then closes the listener', async () => {
    // A drain far longer than the few local requests below, so they all fall inside it.
    const t = await startTestApp({ env: { SHUTDOWN_DRAIN_MS: '8000', SHUTDOWN_TIMEOUT_MS: '12000' } });
    cleanups.push(async () => {
      await t.close();
      await t.dropDatabase?.();
    });
    expect((await request(t.port, 'GET', '/ready')).status).toBe(200);

    let finished = false;
    const stopping = t.app.shutdown('test').then(() => (finished = true));

    const ready = await request(t.port, 'GET', '/ready');
    expect(ready.status).toBe(503);
    // New connections are still accepted and requests served as usual: a balancer that has
    // not yet seen the 503 loses nothing.
    const created = await request(t.port, 'POST', '/api/runs', { agent: 'summarizer', input: 'during the drain' });
    expect(created.status, created.body).toBe(202);
    expect(created.connection).toBe('close');
    expect((await request(t.port, 'GET', '/live')).status).toBe(200);
    expect(finished).toBe(false);

    await stopping;
    expect(await connects(t.port)).toBe(false);
  });

  it('does not drain when the instance never became ready (no balancer sends it traffic)', async () => {
    const t = await startTestApp({ env: { SHUTDOWN_DRAIN_MS: '100000', SHUTDOWN_TIMEOUT_MS: '120000' }, start: false });
    cleanups.push(async () => {
      await t.db.close().catch(() => undefined);
      await t.dropDatabase?.();
    });
    // Resolves without waiting out the 100 s drain (the test's own timeout would fail first).
    await t.app.shutdown('start-up failed');
    expect(await connects(t.port)).toBe(false);
  });
});
