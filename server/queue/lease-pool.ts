import pg from 'pg';
import type { Logger } from '../log.js';

/** Connections the queue holds outside the shared pool (count them in the per-instance budget). */
export const LEASE_CONNECTIONS = 1;

/**
 * A one-connection pool for lease renewals only. On the shared pool a renewal
 * queues behind request traffic and, when that pool is exhausted, waits up to
 * DB_CONNECTION_TIMEOUT_MS: long enough for every lease of the instance to
 * expire while its workers are fine. A pool of one (rather than a bare client)
 * reconnects by itself after the server drops the connection.
 */
export function createLeasePool(shared: pg.Pool, options: { timeoutMs: number; logger: Logger }): pg.Pool {
  const base = shared.options;
  const pool = new pg.Pool({
    connectionString: base.connectionString,
    host: base.host,
    port: base.port,
    user: base.user,
    password: base.password,
    database: base.database,
    ssl: base.ssl,
    max: LEASE_CONNECTIONS,
    // A renewal that cannot connect or answer within this is abandoned and tried again.
    connectionTimeoutMillis: options.timeoutMs,
    query_timeout: options.timeoutMs,
    statement_timeout: options.timeoutMs,
    idleTimeoutMillis: 0,
    application_name: `${base.application_name ?? 'agentry'}-lease`,
    allowExitOnIdle: true,
  });
  pool.on('error', (error) => options.logger.warn({ err: error }, 'lease connection failed; it will be replaced'));
  return pool;
}
