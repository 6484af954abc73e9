import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../test/helpers.js';
import { createLogger } from '../log.js';
import { createDatabaseHealth } from './health.js';
import type { Listener } from './listener.js';

/** A listener whose ping answers as the test says, counting pings. */
function fakeListener() {
  const events = new EventEmitter();
  const fake = {
    answer: (): Promise<void> => Promise.resolve(),
    pings: 0,
    connected: true,
    listen: () => () => undefined,
    notify: async () => undefined,
    ping() {
      fake.pings++;
      return fake.answer();
    },
    on: (event: string, fn: () => void) => void events.on(event, fn),
    off: (event: string, fn: () => void) => void events.off(event, fn),
    emit: (event: string) => events.emit(event),
    listeners: (event: string) => events.listenerCount(event),
    start: async () => undefined,
    stop: async () => undefined,
  };
  return fake;
}

describe('database health part', () => {
  const logger = createLogger({ level: 'silent', name: 'db-health' });

  it('checks once at start, follows pings and a dropped LISTEN connection, and stops its loop', async () => {
    const listener = fakeListener();
    const health = createDatabaseHealth({ listener: listener as unknown as Listener, logger, intervalMs: 5 });
    expect(health.name).toBe('database');
    await health.start?.();
    expect(listener.pings).toBe(1);
    expect(health).toMatchObject({ ok: true, error: null });

    listener.emit('disconnected');
    expect(health).toMatchObject({ ok: false, error: 'connection lost' });
    await waitFor(() => health.ok, { what: 'next ping reports the database reachable' });

    listener.answer = () => Promise.reject(new Error('ping timed out'));
    await waitFor(() => health.error === 'ping timed out', { what: 'a failing ping reported' });
    expect(health.ok).toBe(false);

    await health.stop?.(AbortSignal.timeout(1000));
    expect(listener.listeners('disconnected')).toBe(0);
  });
});
