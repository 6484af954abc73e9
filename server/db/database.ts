import pg from 'pg';
import type { Config } from '../config/config.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded.js';
import { createListener, type Listener } from './listener.js';
import { migrate, type MigrationResult } from './migrate.js';
import { applyRoleStatementTimeout, computePoolSize, createPool, readServerLimits, type PoolSizing } from './pool.js';

export interface Database {
  pool: pg.Pool;
  listener: Listener;
  sizing: PoolSizing;
  migration: MigrationResult;
  embedded: EmbeddedPostgres | undefined;
  url: string;
  /** Closes the LISTEN connection and the pool; stops an embedded server this process started. */
  close(): Promise<void>;
}

/**
 * Connections the process holds outside the pool: LISTEN, and the queue's lease
 * renewal connection (server/queue/lease-pool.ts, LEASE_CONNECTIONS).
 */
const DEDICATED_CONNECTIONS = 2;

/**
 * Brings the database up: embedded server when DATABASE_URL is unset, migrations
 * under an advisory lock, then a pool sized for MAX_INSTANCES and the LISTEN
 * connection. Everything is released by close().
 */
export async function openDatabase(config: Config, logger: Logger, metrics?: Metrics, applicationName = 'agentry'): Promise<Database> {
  let embedded: EmbeddedPostgres | undefined;
  let url = config.database.url;
  if (!url) {
    embedded = await startEmbeddedPostgres({ dataDir: config.database.dataDir, port: config.database.embeddedPort, logger });
    url = embedded.url;
  }
  const directUrl = config.database.directUrl ?? url;
  // Through a pooler, migrations (a session advisory lock) and LISTEN do not work.
  const directIsPooled = config.database.pooled && !config.database.directUrl;
  if (directIsPooled) logger.warn('DATABASE_URL goes through a pooler but DATABASE_URL_DIRECT is not set: migrations and LISTEN need a direct connection');
  try {
    const bootstrap = new pg.Client({ connectionString: directUrl, application_name: `${applicationName}-migrate`, connectionTimeoutMillis: config.database.connectionTimeoutMs });
    bootstrap.on('error', (error) => logger.warn({ err: error }, 'bootstrap connection error'));
    await bootstrap.connect();
    let limits: { maxConnections: number; reserved: number };
    let migration: MigrationResult;
    try {
      limits = await readServerLimits(bootstrap);
      if (config.database.pooled) await applyRoleStatementTimeout(bootstrap, config.database.statementTimeoutMs, logger);
      // A role default (set above, or by an administrator) must not cut a long migration short.
      if (!directIsPooled) await bootstrap.query('SET statement_timeout = 0');
      migration = await migrate(bootstrap, logger);
    } finally {
      await bootstrap.end().catch(() => undefined);
    }
    const sizing = computePoolSize({
      serverMaxConnections: limits.maxConnections,
      reservedConnections: limits.reserved,
      maxInstances: config.autoscaling.maxInstances,
      configuredMax: config.database.maxConnections,
      dedicatedConnections: DEDICATED_CONNECTIONS,
    });
    if (sizing.perInstanceBudget < DEDICATED_CONNECTIONS + 1) {
      logger.warn(sizing, 'database allows fewer connections per instance than the process needs; lower MAX_INSTANCES or raise max_connections');
    }
    logger.info({ ...sizing, pooled: config.database.pooled, preparedStatements: config.database.preparedStatements }, 'database pool sized');
    const pool = createPool({
      connectionString: url,
      max: sizing.poolMax,
      connectionTimeoutMs: config.database.connectionTimeoutMs,
      idleTimeoutMs: config.database.idleTimeoutMs,
      // Behind a pooler the role default carries it (applyRoleStatementTimeout).
      statementTimeoutMs: config.database.pooled ? undefined : config.database.statementTimeoutMs,
      preparedStatements: config.database.preparedStatements,
      applicationName,
      logger,
      metrics,
    });
    const listener = createListener({ connectionString: directUrl, logger, applicationName: `${applicationName}-listen` });
    await listener.start();
    let closed = false;
    return {
      pool,
      listener,
      sizing,
      migration,
      embedded,
      url,
      async close() {
        if (closed) return;
        closed = true;
        await listener.stop();
        await pool.end().catch((error: unknown) => logger.warn({ err: error }, 'pool did not close cleanly'));
        if (embedded) await embedded.stop();
      },
    };
  } catch (error) {
    if (embedded) await embedded.stop();
    throw error;
  }
}
