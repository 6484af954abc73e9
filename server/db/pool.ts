import pg from 'pg';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';

export interface PoolSizing {
  serverMaxConnections: number;
  reservedConnections: number;
  maxInstances: number;
  /** Connections this instance may open in all (pool + LISTEN). */
  perInstanceBudget: number;
  /** Connections held outside the pool (the LISTEN connection). */
  dedicatedConnections: number;
  poolMax: number;
}

/**
 * Splits what the server allows between instances:
 *   budget = floor((max_connections - reserved) / MAX_INSTANCES)
 *   pool   = min(MAX_CONNECTIONS, budget - dedicated)
 * e.g. 97 connections, 3 reserved, 10 instances: budget 9, pool 8 + 1 LISTEN.
 */
export function computePoolSize(input: {
  serverMaxConnections: number;
  reservedConnections: number;
  maxInstances: number;
  configuredMax: number;
  dedicatedConnections: number;
}): PoolSizing {
  const usable = Math.max(0, input.serverMaxConnections - input.reservedConnections);
  const perInstanceBudget = Math.floor(usable / input.maxInstances);
  const poolMax = Math.max(1, Math.min(input.configuredMax, perInstanceBudget - input.dedicatedConnections));
  return {
    serverMaxConnections: input.serverMaxConnections,
    reservedConnections: input.reservedConnections,
    maxInstances: input.maxInstances,
    perInstanceBudget,
    dedicatedConnections: input.dedicatedConnections,
    poolMax,
  };
}

/** Reads max_connections and the reserved slots (superuser + PG16's reserved_connections). */
export async function readServerLimits(client: pg.ClientBase): Promise<{ maxConnections: number; reserved: number }> {
  const { rows } = await client.query<{ name: string; setting: string }>(
    `SELECT name, setting FROM pg_settings
      WHERE name IN ('max_connections', 'superuser_reserved_connections', 'reserved_connections')`,
  );
  const byName = new Map(rows.map((r) => [r.name, Number.parseInt(r.setting, 10)]));
  return {
    maxConnections: byName.get('max_connections') ?? 100,
    reserved: (byName.get('superuser_reserved_connections') ?? 3) + (byName.get('reserved_connections') ?? 0),
  };
}

export interface PoolOptions {
  connectionString: string;
  max: number;
  connectionTimeoutMs: number;
  idleTimeoutMs: number;
  statementTimeoutMs: number;
  applicationName: string;
  logger: Logger;
  metrics?: Metrics;
}

export function createPool(options: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.max,
    connectionTimeoutMillis: options.connectionTimeoutMs,
    idleTimeoutMillis: options.idleTimeoutMs,
    statement_timeout: options.statementTimeoutMs,
    application_name: options.applicationName,
    allowExitOnIdle: false,
  });
  // An idle client whose server went away emits here; without a listener the process would crash.
  pool.on('error', (error) => {
    options.logger.warn({ err: error }, 'idle database connection failed; it will be replaced');
  });
  options.metrics?.setPoolSource(() => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }));
  return pool;
}

export function poolStats(pool: pg.Pool, max: number) {
  return { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max };
}

/** pg's message when no pooled connection could be had within connectionTimeoutMillis. */
export function isPoolTimeout(error: unknown): boolean {
  return error instanceof Error && /timeout exceeded when trying to connect|Connection terminated due to connection timeout/i.test(error.message);
}
