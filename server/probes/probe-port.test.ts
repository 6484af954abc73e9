import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, waitFor, type TestApp } from '../../test/helpers.js';

/**
 * PROBE_PORT (issue #18): Node accepts one connection per event-loop turn and
 * listener, so on a busy instance a check on a new connection to PORT waits behind
 * every connection opened before it. On the probes' own listener it does not.
 * Told by order, not by time: how many of the connections queued on PORT had been
 * accepted when the check was answered.
 */

const QUEUED = 40;

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

describe('the probes on a port of their own', () => {
  let t: TestApp & { dropDatabase?: () => Promise<void> };
  let probePort: number;
  let accepted = 0;
  const idle: net.Socket[] = [];

  beforeAll(async () => {
    // A drain, as in production: the probes' listener must keep answering through it.
    t = await startTestApp({ env: { SHUTDOWN_DRAIN_MS: '1500' } });
    probePort = (await t.app.listenProbes(0, '127.0.0.1')).port;
    t.app.server.on('connection', () => accepted++);
  });
  afterAll(async () => {
    for (const socket of idle) socket.destroy();
    await t.close();
    await t.dropDatabase?.();
  });

  it('answers the probes, and nothing else', async () => {
    const live = await get(probePort, '/live');
    expect(live.status).toBe(200);
    expect(JSON.parse(live.body)).toMatchObject({ alive: true, pid: process.pid });
    expect((await get(probePort, '/ready')).status).toBe(200);
    expect((await get(probePort, '/metrics')).body).toContain('nodejs_eventloop_lag_p99_seconds');
    const other = await get(probePort, '/api/runs');
    expect(other.status).toBe(404);
    expect(JSON.parse(other.body)).toMatchObject({ error: { code: 'not_found' } });
  });

  it('answers a new connection before the connections queued on PORT are accepted', async () => {
    // Connections the kernel completes at once and the app accepts one per turn; they never send anything.
    const before = accepted;
    for (let i = 0; i < QUEUED; i++) idle.push(net.connect(t.port, '127.0.0.1').on('error', () => undefined));
    const probe = get(probePort, '/live').then((r) => ({ ...r, acceptedThen: accepted - before }));
    const onPort = get(t.port, '/live').then((r) => ({ ...r, acceptedThen: accepted - before }));
    const [own, shared] = await Promise.all([probe, onPort]);
    expect(own.status).toBe(200);
    expect(shared.status).toBe(200);
    // On PORT the check came after the 40 in the accept queue; on its own listener it did not wait for them.
    expect(shared.acceptedThen).toBeGreaterThanOrEqual(QUEUED + 1);
    expect(own.acceptedThen).toBeLessThan(QUEUED);
    await waitFor(() => accepted - before >= QUEUED + 1, { what: 'every queued connection accepted' });
    for (const socket of idle.splice(0)) socket.destroy();
  });

  it('answers /ready 503 through the drain, then closes with the app', async () => {
    const closing = t.close();
    await waitFor(async () => (await get(probePort, '/ready')).status === 503, { what: '/ready 503 on the probe port while draining' });
    await closing;
    await expect(get(probePort, '/live')).rejects.toThrow();
  });
});
