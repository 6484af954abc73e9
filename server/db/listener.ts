import { EventEmitter } from 'node:events';
import pg from 'pg';
import type { Logger } from '../log.js';

export type NotificationHandler = (payload: string) => void;

/**
 * The process's one LISTEN connection (on DATABASE_URL_DIRECT when set, since a
 * transaction-pooling proxy cannot carry LISTEN). It reconnects with backoff and
 * re-LISTENs every channel; 'reconnected' tells subscribers that notifications
 * may have been missed meanwhile so they can catch up from the tables.
 *
 * A connection can also die silently (a proxy or NAT that stops forwarding sends no
 * FIN or RST): a ping or NOTIFY that gets no answer in time replaces it, TCP
 * keepalive catches a vanished peer while idle, and nothing waits on it for ever.
 */
export interface Listener {
  listen(channel: string, handler: NotificationHandler): () => void;
  /**
   * Sends NOTIFY on the dedicated connection (pool-free; used where a pool client is not at hand).
   * Rejects when the connection is down or gives no answer within notifyTimeoutMs (then it is
   * replaced): the caller falls back to `pg_notify` through the pool.
   */
  notify(channel: string, payload: string): Promise<void>;
  /**
   * Several payloads in one statement (one round trip), delivered in array order.
   * Optional so test doubles need not have it; callers fall back to `notify`.
   */
  notifyAll?(channel: string, payloads: readonly string[]): Promise<void>;
  readonly connected: boolean;
  /** `SELECT 1` on the dedicated connection: a database check that never waits for the pool. No answer in time replaces the connection. */
  ping(timeoutMs: number): Promise<void>;
  on(event: 'reconnected' | 'disconnected', fn: () => void): void;
  off(event: 'reconnected' | 'disconnected', fn: () => void): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface ListenerOptions {
  connectionString: string;
  logger: Logger;
  applicationName: string;
  /** How long notify() waits for an answer before it rejects (so the caller can use the pool instead) and the connection is replaced. */
  notifyTimeoutMs?: number;
  /** Limit for connecting and re-LISTENing; past it the attempt is abandoned and retried. */
  connectTimeoutMs?: number;
  /** Idle time before the kernel starts TCP keepalive probes on the connection. */
  keepAliveInitialDelayMs?: number;
}

/** Evaluated row by row in array order, so the notifications keep it (PostgreSQL delivers a transaction's notifications in the order sent). */
export const NOTIFY_ALL_SQL = 'SELECT count(pg_notify($1, p)) FROM unnest($2::text[]) AS p';

class NoAnswer extends Error {}

/** Rejects with NoAnswer when `work` has not settled within `ms`; the timer never outlives the race. */
async function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new NoAnswer(`${what}: no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * end() waits for the server's side of the goodbye, which a silently dead connection
 * (a proxy or NAT that stopped forwarding without FIN or RST) never sends: destroying
 * the socket fails the statements still waiting on it at once.
 */
function destroySocket(which: pg.Client): void {
  (which as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}

export function createListener(options: ListenerOptions): Listener {
  const { logger } = options;
  const notifyTimeoutMs = options.notifyTimeoutMs ?? 2000;
  const connectTimeoutMs = options.connectTimeoutMs ?? 5000;
  const handlers = new Map<string, Set<NotificationHandler>>();
  const events = new EventEmitter();
  let client: pg.Client | undefined;
  let connected = false;
  let stopping = false;
  let everConnected = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let attempt = 0;

  const quote = (channel: string) => `"${channel.replace(/"/g, '""')}"`;

  // pg warns (and v9 will refuse) when a query is issued while another runs on the
  // same client: every statement on the dedicated connection goes through one chain.
  let chain: Promise<unknown> = Promise.resolve();
  function serial<T>(run: () => Promise<T>): Promise<T> {
    const next = chain.then(run, run);
    chain = next.catch(() => undefined);
    return next;
  }

  async function connect(): Promise<void> {
    const next = new pg.Client({
      connectionString: options.connectionString,
      application_name: options.applicationName,
      connectionTimeoutMillis: connectTimeoutMs,
      // Lets the kernel notice a peer that vanished (host gone, cable pulled) on an idle
      // connection; a proxy that stops forwarding still answers probes, which the pings catch.
      keepAlive: true,
      keepAliveInitialDelayMillis: options.keepAliveInitialDelayMs ?? 10_000,
    });
    next.on('error', (error) => {
      logger.warn({ err: error }, 'LISTEN connection error');
      void drop(next);
    });
    next.on('end', () => void drop(next));
    next.on('notification', (message) => {
      const set = handlers.get(message.channel);
      if (!set) return;
      for (const handler of set) {
        try {
          handler(message.payload ?? '');
        } catch (error) {
          logger.error({ err: error, channel: message.channel }, 'notification handler failed');
        }
      }
    });
    try {
      await next.connect();
      await within(
        (async () => {
          for (const channel of handlers.keys()) await next.query(`LISTEN ${quote(channel)}`);
        })(),
        connectTimeoutMs,
        'LISTEN',
      );
    } catch (error) {
      next.removeAllListeners('end');
      destroySocket(next);
      throw error;
    }
    if (stopping) {
      // stop() ran while this attempt was under way: it must not leave a connection behind.
      next.removeAllListeners('end');
      await next.end().catch(() => undefined);
      return;
    }
    client = next;
    chain = Promise.resolve();
    connected = true;
    attempt = 0;
    if (everConnected) {
      logger.info('LISTEN connection re-established');
      events.emit('reconnected');
    }
    everConnected = true;
  }

  /** `dead`: it stopped answering, so do not wait for a polite close. */
  async function drop(which: pg.Client, dead = false): Promise<void> {
    if (client !== which) return;
    client = undefined;
    connected = false;
    events.emit('disconnected');
    which.removeAllListeners('notification');
    scheduleReconnect();
    if (dead) destroySocket(which);
    else await which.end().catch(() => undefined);
  }

  /** Runs a statement on the dedicated connection; one that gets no answer in time replaces the connection. */
  async function answered<T>(current: pg.Client, run: () => Promise<T>, timeoutMs: number, what: string): Promise<T> {
    try {
      return await within(serial(run), timeoutMs, what);
    } catch (error) {
      if (error instanceof NoAnswer && client === current) {
        logger.warn({ err: error }, 'LISTEN connection stopped answering; reconnecting');
        void drop(current, true);
      }
      throw error;
    }
  }

  function scheduleReconnect(): void {
    if (stopping || retryTimer) return;
    const delay = Math.min(5000, 100 * 2 ** attempt) + Math.floor(Math.random() * 100);
    attempt++;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      connect().catch((error: unknown) => {
        logger.warn({ err: error, attempt }, 'LISTEN reconnect failed');
        scheduleReconnect();
      });
    }, delay);
  }

  return {
    get connected() {
      return connected;
    },
    listen(channel, handler) {
      let set = handlers.get(channel);
      if (!set) {
        set = new Set();
        handlers.set(channel, set);
        const current = client;
        if (current) serial(() => current.query(`LISTEN ${quote(channel)}`)).catch((error: unknown) => logger.warn({ err: error, channel }, 'LISTEN failed'));
      }
      set.add(handler);
      return () => {
        set.delete(handler);
      };
    },
    async notify(channel, payload) {
      const current = client;
      if (!current) throw new Error('LISTEN connection is down');
      await answered(current, () => current.query('SELECT pg_notify($1, $2)', [channel, payload]), notifyTimeoutMs, 'NOTIFY');
    },
    async notifyAll(channel, payloads) {
      const current = client;
      if (!current) throw new Error('LISTEN connection is down');
      await answered(current, () => current.query(NOTIFY_ALL_SQL, [channel, payloads]), notifyTimeoutMs, 'NOTIFY');
    },
    async ping(timeoutMs) {
      const current = client;
      if (!current) throw new Error('no connection');
      await answered(current, () => current.query('SELECT 1'), timeoutMs, 'ping');
    },
    on(event, fn) {
      events.on(event, fn);
    },
    off(event, fn) {
      events.off(event, fn);
    },
    async start() {
      stopping = false;
      await connect();
    },
    async stop() {
      stopping = true;
      if (retryTimer) clearTimeout(retryTimer);
      retryTimer = undefined;
      const current = client;
      client = undefined;
      connected = false;
      if (current) {
        current.removeAllListeners('end');
        // A dead connection never completes end(): shutdown must not wait on it.
        await within(current.end(), connectTimeoutMs, 'close').catch(() => destroySocket(current));
      }
    },
  };
}
