import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { probeLive } from '../scripts/bench/live-probe.js';

/**
 * The streaming benchmark's `/live` probe (issue #18): it must measure the answer,
 * not a queue of its own making. A busy instance accepts one connection per loop
 * turn, so the probe must never open connections while its own are busy; and a
 * probe it had to queue behind unanswered ones must still count from its scheduled
 * time. Here the server holds every answer until told: no waiting on time.
 */

async function until(what: string, condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface HoldingServer {
  port: number;
  connections: number;
  received: number;
  held: http.ServerResponse[];
  hold: boolean;
  /** When the first held request arrived (performance.now()). */
  firstHeldAt: number | undefined;
  release(): void;
  close(): Promise<void>;
}

async function holdingServer(): Promise<HoldingServer> {
  const answer = (res: http.ServerResponse) => res.end('{"alive":true}');
  const state: HoldingServer = {
    port: 0,
    connections: 0,
    received: 0,
    held: [],
    hold: false,
    firstHeldAt: undefined,
    release() {
      state.hold = false;
      for (const res of state.held.splice(0)) answer(res);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server = http.createServer((_req, res) => {
    state.received++;
    if (!state.hold) return answer(res);
    state.firstHeldAt ??= performance.now();
    state.held.push(res);
  });
  server.on('connection', () => state.connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as AddressInfo).port;
  return state;
}

describe('the streaming benchmark /live probe', () => {
  let server: HoldingServer;
  beforeEach(async () => {
    server = await holdingServer();
  });
  afterEach(async () => {
    server.release();
    await server.close();
  });

  it('opens its connections before measuring and no more while they are all busy', { timeout: 30_000 }, async () => {
    const probe = await probeLive(server.port, { perSecond: 200, connections: 3 });
    expect(server.connections).toBe(3);

    server.hold = true;
    // Every connection holds an unanswered probe, and more probes are due than connections.
    await until('three held probes and more scheduled', () => server.held.length >= 3 && probe.scheduled >= 12);
    expect(server.connections).toBe(3);
    // A connection answers one request at a time: the queued probes wait on our side, not in the server's accept queue.
    expect(server.held.length).toBe(3);

    const releasedAt = performance.now();
    server.release();
    const stats = await probe.stop();
    expect(server.connections).toBe(3);
    expect(stats.opened).toBe(0);
    expect(stats.errors).toBe(0);
    // The hold began before the first timed probe: all but the first three found every connection busy.
    expect(stats.queued).toBe(probe.scheduled - 3);
    // Every probe scheduled was answered and counted, the queued ones included.
    expect(stats.n).toBe(probe.scheduled);
    // The first held probe was sent before the server held it and answered after the release:
    // its time covers the whole hold, however fast or slow this machine is.
    expect(stats.max).toBeGreaterThanOrEqual(releasedAt - server.firstHeldAt!);
  });

  it('with fresh, opens a new connection for every probe', { timeout: 30_000 }, async () => {
    const probe = await probeLive(server.port, { perSecond: 100, fresh: true });
    expect(server.connections).toBe(0);
    await until('five answered probes', () => server.received >= 5);
    const stats = await probe.stop();
    expect(stats.n).toBe(probe.scheduled);
    expect(stats.opened).toBe(stats.n);
    expect(server.connections).toBe(stats.n);
  });
});
