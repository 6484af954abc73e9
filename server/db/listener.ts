import { EventEmitter } from 'node:events';
import pg from 'pg';
import type { Logger } from '../log.js';

export type NotificationHandler = (payload: string) => void;

/**
 * The process's one LISTEN connection (on DATABASE_URL_DIRECT when set, since a
 * transaction-pooling proxy cannot carry LISTEN). It reconnects with backoff and
 * re-LISTENs every channel; 'reconnected' tells subscribers that notifications
 * may have been missed meanwhile so they can catch up from the tables.
 */
export interface Listener {
  listen(channel: string, handler: NotificationHandler): () => void;
  /** Sends NOTIFY on the dedicated connection (pool-free; used where a pool client is not at hand). */
  notify(channel: string, payload: string): Promise<void>;
  readonly connected: boolean;
  /** `SELECT 1` on the dedicated connection: a database check that never waits for the pool. */
  ping(timeoutMs: number): Promise<void>;
  on(event: 'reconnected' | 'disconnected', fn: () => void): void;
  off(event: 'reconnected' | 'disconnected', fn: () => void): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function createListener(options: { connectionString: string; logger: Logger; applicationName: string }): Listener {
  const { logger } = options;
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
      connectionTimeoutMillis: 5000,
      keepAlive: true,
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
    await next.connect();
    for (const channel of handlers.keys()) await next.query(`LISTEN ${quote(channel)}`);
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

  async function drop(which: pg.Client): Promise<void> {
    if (client !== which) return;
    client = undefined;
    connected = false;
    events.emit('disconnected');
    which.removeAllListeners('notification');
    await which.end().catch(() => undefined);
    scheduleReconnect();
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
      if (!client) throw new Error('LISTEN connection is down');
      const current = client;
      await serial(() => current.query('SELECT pg_notify($1, $2)', [channel, payload]));
    },
    async ping(timeoutMs) {
      const current = client;
      if (!current) throw new Error('no connection');
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          serial(() => current.query('SELECT 1')),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
          }),
        ]);
      } finally {
        clearTimeout(timer);
      }
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
        await current.end().catch(() => undefined);
      }
    },
  };
}
