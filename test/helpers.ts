import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import pg from 'pg';
import { inject } from 'vitest';
import { createApp, type App } from '../server/app.js';
import { loadConfig, type Config } from '../server/config/config.js';
import { openDatabase, type Database } from '../server/db/database.js';
import { createLogger, type Logger } from '../server/log.js';

/** A fresh, empty database on the test server; drop() removes it. */
export async function createTestDatabase(prefix = 't'): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const adminUrl = inject('adminDatabaseUrl');
  const name = `${prefix}_${randomBytes(6).toString('hex')}`.toLowerCase();
  const admin = new pg.Client(adminUrl);
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    async drop() {
      const c = new pg.Client(adminUrl);
      await c.connect();
      try {
        // Connections a test just ended may still be closing: wait for them rather than
        // terminate them (a terminated connection that is ending reports 57P01 as an
        // unhandled error in whichever test file runs next). FORCE only as a last resort.
        for (let i = 0; i < 40; i++) {
          const { rows } = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [name]);
          if ((rows[0]?.n ?? 0) === 0) break;
          await new Promise((r) => setTimeout(r, 50));
        }
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** `databaseUrl` when given, else a fresh database that the caller drops. */
export async function databaseFor(databaseUrl: string | undefined, prefix = 't'): Promise<{ url: string; drop?: () => Promise<void> }> {
  if (databaseUrl) return { url: databaseUrl };
  const created = await createTestDatabase(prefix);
  return { url: created.url, drop: created.drop };
}

/** Captures log lines in memory so tests can assert on them (e.g. redaction). */
export function captureLogs(): { logger: Logger; lines: () => Record<string, unknown>[]; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  });
  const logger = createLogger({ level: 'debug', name: 'test' }, stream);
  return {
    logger,
    text: () => chunks.join(''),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

export interface TestApp {
  app: App;
  db: Database;
  config: Config;
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * A real app on a random loopback port against `databaseUrl` (a fresh database
 * unless given), with env overrides. close() shuts it down gracefully and closes the pool.
 */
export async function startTestApp(
  options: { env?: Record<string, string | undefined>; databaseUrl?: string; logger?: Logger; start?: boolean } = {},
): Promise<TestApp & { dropDatabase?: () => Promise<void> }> {
  const { url: databaseUrl, drop: dropDatabase } = await databaseFor(options.databaseUrl);
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    PORT: '0',
    HOST: '127.0.0.1',
    MAX_INSTANCES: '4',
    RATE_LIMIT_MAX: '100000',
    SHUTDOWN_TIMEOUT_MS: '5000',
    ...options.env,
    DATABASE_URL: databaseUrl,
  });
  const logger = options.logger ?? createLogger({ level: config.logLevel, name: 'test-app' });
  const db = await openDatabase(config, logger);
  const app = createApp({ config, logger, pool: db.pool, listener: db.listener, sizing: db.sizing, migrated: true });
  const address: AddressInfo = await app.listen(0, '127.0.0.1');
  if (options.start !== false) await app.start();
  let closed = false;
  return {
    app,
    db,
    config,
    port: address.port,
    url: `http://127.0.0.1:${address.port}`,
    dropDatabase,
    async close() {
      if (closed) return;
      closed = true;
      await app.shutdown('test');
      await db.close();
    },
  };
}

export async function waitFor<T>(fn: () => Promise<T | undefined | null | false> | T | undefined | null | false, options: { timeoutMs?: number; intervalMs?: number; what?: string } = {}): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 50));
  }
  throw new Error(`timed out waiting for ${options.what ?? 'condition'}${last ? `: ${(last as Error).message}` : ''}`);
}

/** A JSON client for `baseUrl` (a function, so it can follow an app that starts later): a non-2xx answer throws with its body. */
export function jsonApi(baseUrl: () => string) {
  return async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${baseUrl()}${path}`, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    if (!res.ok) throw new Error(`${method} ${path} → ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
}
