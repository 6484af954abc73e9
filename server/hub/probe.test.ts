import { EventEmitter } from 'node:events';
import type pg from 'pg';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Auth } from '../auth/types.js';
import { loadConfig } from '../config/config.js';
import type { Listener, NotificationHandler } from '../db/listener.js';
import { createLogger } from '../log.js';
import { createMetrics } from '../metrics/metrics.js';
import { createHub, type Hub } from './hub.js';
import { parseNotification } from './messages.js';

/**
 * The hello probe in isolation: a listener whose notifications the test lets
 * through or drops, and fake timers, so "a probe timed out" is a step of the
 * test rather than a race with the machine's speed.
 */
function fakeListener() {
  const handlers = new Map<string, NotificationHandler>();
  const events = new EventEmitter();
  const control = { deliverHellos: true };
  const listener: Listener = {
    connected: true,
    listen(channel, handler) {
      handlers.set(channel, handler);
      return () => handlers.delete(channel);
    },
    async notify(channel, payload) {
      const hello = parseNotification(payload)?.m.some((item) => item.k === 'hello');
      if (hello && !control.deliverHellos) return;
      handlers.get(channel)?.(payload);
    },
    async ping() {},
    on: (event, fn) => void events.on(event, fn),
    off: (event, fn) => void events.off(event, fn),
    async start() {},
    async stop() {},
  };
  return { listener, control, emit: (event: 'reconnected' | 'disconnected') => events.emit(event) };
}

const HELLO_TIMEOUT_MS = 1000;
const PROBE_RETRY_MS = 3000;

describe('hub hello probe', () => {
  let hub: Hub | undefined;
  let fake: ReturnType<typeof fakeListener>;

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'clearImmediate', 'Date'] });
    fake = fakeListener();
    const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: 'postgres://unused@127.0.0.1:1/unused', LOG_LEVEL: 'silent' });
    hub = createHub({
      config,
      logger: createLogger({ level: 'silent', name: 'probe-test' }),
      // No run is watched, so nothing here reads the database.
      pool: {} as pg.Pool,
      listener: fake.listener,
      metrics: createMetrics(),
      auth: {} as Auth,
      helloTimeoutMs: HELLO_TIMEOUT_MS,
      probeRetryMs: PROBE_RETRY_MS,
    });
  });
  afterEach(async () => {
    const stopping = hub?.stop!(new AbortController().signal);
    await vi.advanceTimersByTimeAsync(10);
    await stopping;
    vi.useRealTimers();
  });

  async function start(h: Hub): Promise<void> {
    const starting = h.start!();
    // Past the probe's deadline (and the 5 s the hub once hard-coded).
    await vi.advanceTimersByTimeAsync(6000);
    await starting;
  }

  it('lets only the latest probe decide: a stale probe timing out does not mark the hub deaf', async () => {
    await start(hub!);
    expect(hub!.ready!()).toBe(true);
    // A reconnect whose hello is lost, then another whose hello is heard.
    fake.control.deliverHellos = false;
    fake.emit('disconnected');
    fake.emit('reconnected');
    await vi.advanceTimersByTimeAsync(10);
    fake.control.deliverHellos = true;
    fake.emit('reconnected');
    await vi.advanceTimersByTimeAsync(10);
    expect(hub!.ready!()).toBe(true);
    // The first probe's deadline passes well after the second one was heard.
    await vi.advanceTimersByTimeAsync(10_000);
    expect(hub!.ready!()).toBe(true);
    expect(hub!.health!()).toMatchObject({ listening: true });
  });

  it('probes again while it does not hear itself, and becomes ready once it does', async () => {
    fake.control.deliverHellos = false;
    await start(hub!);
    expect(hub!.ready!()).toBe(false);
    await vi.advanceTimersByTimeAsync(PROBE_RETRY_MS + HELLO_TIMEOUT_MS + 10);
    expect(hub!.ready!()).toBe(false);
    fake.control.deliverHellos = true;
    await vi.advanceTimersByTimeAsync(PROBE_RETRY_MS + HELLO_TIMEOUT_MS + 10);
    expect(hub!.ready!()).toBe(true);
  });
});
