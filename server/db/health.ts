import type { Part } from '../lifecycle/part.js';
import type { Logger } from '../log.js';
import type { Listener } from './listener.js';

const CHECK_INTERVAL_MS = 1000;

/** Whether the database answers, as the probes report it (`/ready`, `/health`). */
export interface DatabaseHealth extends Part {
  readonly ok: boolean;
  /** Why it is not ok (null when ok). */
  readonly error: string | null;
}

/**
 * The database as a part: pings over the LISTEN connection every second (no pool
 * connection, so an exhausted pool is not mistaken for a database outage), and
 * reports a dropped LISTEN connection at once rather than at the next ping.
 */
export function createDatabaseHealth(deps: { listener: Listener; logger: Logger; intervalMs?: number }): DatabaseHealth {
  const { listener, logger } = deps;
  const intervalMs = deps.intervalMs ?? CHECK_INTERVAL_MS;
  let ok = listener.connected;
  let error: string | null = null;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  const onDisconnected = () => {
    if (ok) logger.warn('database connection lost');
    ok = false;
    error = 'connection lost';
  };

  async function check(): Promise<void> {
    try {
      await listener.ping(Math.min(2000, intervalMs * 2));
      if (!ok) logger.info('database reachable');
      ok = true;
      error = null;
    } catch (e) {
      if (ok) logger.warn({ err: e }, 'database unreachable');
      ok = false;
      error = (e as Error).message;
    }
  }

  function schedule(): void {
    timer = setTimeout(() => {
      void check().finally(() => {
        if (!stopped) schedule();
      });
    }, intervalMs);
    timer.unref();
  }

  listener.on('disconnected', onDisconnected);

  return {
    name: 'database',
    get ok() {
      return ok;
    },
    get error() {
      return error;
    },
    async start() {
      await check();
      if (!stopped) schedule();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      listener.off('disconnected', onDisconnected);
    },
  };
}
