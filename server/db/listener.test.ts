import net from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, waitFor } from '../../test/helpers.js';
import { createLogger } from '../log.js';
import { createListener, type Listener } from './listener.js';

const logger = createLogger({ level: 'silent' });

/**
 * A TCP proxy in front of PostgreSQL that can be told to stop forwarding on the
 * connections it has, silently: no FIN, no RST, like a NAT entry or load balancer
 * that forgot them. New connections go through normally.
 */
async function startProxy(target: { host: string; port: number }) {
  const pairs = new Set<{ frozen: boolean; client: net.Socket; upstream: net.Socket }>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    const pair = { frozen: false, client, upstream };
    pairs.add(pair);
    client.on('data', (chunk) => {
      if (!pair.frozen) upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (!pair.frozen) client.write(chunk);
    });
    const close = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', () => !pair.frozen && close());
    upstream.on('error', close).on('close', () => !pair.frozen && close());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    freezeAll() {
      for (const pair of pairs) pair.frozen = true;
    },
    async close() {
      for (const pair of pairs) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('the LISTEN connection behind a proxy that stops forwarding silently', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  let listener: Listener;
  let direct: pg.Client;
  beforeAll(async () => {
    db = await createTestDatabase();
    const url = new URL(db.url);
    proxy = await startProxy({ host: url.hostname, port: Number(url.port) });
    const viaProxy = new URL(db.url);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    listener = createListener({ connectionString: viaProxy.toString(), logger, applicationName: 'listener-test', notifyTimeoutMs: 1000 });
    await listener.start();
    direct = new pg.Client(db.url);
    await direct.connect();
  });
  afterAll(async () => {
    await listener?.stop();
    await direct?.end();
    await proxy?.close();
    await db?.drop();
  });

  it('notices, lets notify() settle so callers can fall back, and reconnects', async () => {
    const received: string[] = [];
    listener.listen('listener_test', (payload) => received.push(payload));
    await waitFor(async () => {
      await direct.query("SELECT pg_notify('listener_test', 'before')");
      return received.includes('before');
    }, { what: 'a notification through the proxy' });

    let reconnected = false;
    listener.on('reconnected', () => (reconnected = true));
    proxy.freezeAll();

    // Before the fix this never settled, and the hub publisher waited on it for ever.
    await expect(listener.notify('listener_test', 'lost')).rejects.toThrow(/no answer/);
    // The app's periodic ping; a timed-out one replaces the connection too.
    await expect(listener.ping(1000)).rejects.toThrow();

    await waitFor(() => reconnected && listener.connected, { what: 'a new LISTEN connection', timeoutMs: 20_000 });
    await waitFor(async () => {
      await direct.query("SELECT pg_notify('listener_test', 'after')");
      return received.includes('after');
    }, { what: 'notifications on the new connection' });
    await listener.notify('listener_test', 'sent again');
    await waitFor(() => received.includes('sent again'), { what: 'NOTIFY on the new connection' });
  });

  it('a ping with no answer replaces the connection', async () => {
    let reconnected = false;
    const onReconnected = () => (reconnected = true);
    listener.on('reconnected', onReconnected);
    proxy.freezeAll();
    await expect(listener.ping(1000)).rejects.toThrow(/no answer/);
    await waitFor(() => reconnected && listener.connected, { what: 'reconnect after a ping timeout', timeoutMs: 20_000 });
    await listener.ping(10_000);
    listener.off('reconnected', onReconnected);
  });
});
