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
  /**
   * Sent as a startup parameter when given. Leave it out behind a transaction pooler:
   * PgBouncer refuses the connection over it (the timeout then comes from the role's
   * default, see applyRoleStatementTimeout).
   */
  statementTimeoutMs: number | undefined;
  /**
   * Whether `{ name, text }` queries become named prepared statements. A transaction
   * pooler hands each transaction whichever server connection is free, where the
   * statement was never prepared (PgBouncer before 1.21 cannot track them): off there.
   * Default on.
   */
  preparedStatements?: boolean;
  applicationName: string;
  logger: Logger;
  metrics?: Metrics;
}

/** A query config object (not a string, not a Submittable such as a cursor) that names its statement. */
function namedConfig(config: unknown): config is pg.QueryConfig & { name: string } {
  return (
    typeof config === 'object' &&
    config !== null &&
    Object.getPrototypeOf(config) === Object.prototype &&
    typeof (config as { name?: unknown }).name === 'string' &&
    typeof (config as { submit?: unknown }).submit !== 'function'
  );
}

/**
 * A client that sends every query as an unnamed statement (parse, bind and execute in one
 * round trip, which a transaction pooler keeps on one server connection), so modules can
 * keep naming their statements whatever the database sits behind.
 */
export class UnnamedStatementClient extends pg.Client {}

// Assigned rather than declared: pg's overloads of query() cannot be restated in a subclass.
const baseQuery = pg.Client.prototype.query as (this: pg.Client, ...args: unknown[]) => unknown;
(UnnamedStatementClient.prototype as unknown as { query: (this: pg.Client, ...args: unknown[]) => unknown }).query = function query(
  this: pg.Client,
  config: unknown,
  ...rest: unknown[]
) {
  if (namedConfig(config)) {
    const { name: _name, ...unnamed } = config;
    return baseQuery.call(this, unnamed, ...rest);
  }
  return baseQuery.call(this, config, ...rest);
};

export function createPool(options: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.max,
    connectionTimeoutMillis: options.connectionTimeoutMs,
    idleTimeoutMillis: options.idleTimeoutMs,
    ...(options.statementTimeoutMs === undefined ? {} : { statement_timeout: options.statementTimeoutMs }),
    application_name: options.applicationName,
    allowExitOnIdle: false,
    // pool.query() and pool.connect() both use this class, so the switch lives here only.
    ...(options.preparedStatements === false ? { Client: UnnamedStatementClient } : {}),
  });
  // An idle client whose server went away emits here; without a listener the process would crash.
  pool.on('error', (error) => {
    options.logger.warn({ err: error }, 'idle database connection failed; it will be replaced');
  });
  options.metrics?.setPoolSource(() => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }));
  return pool;
}

/**
 * Behind a transaction pooler the timeout cannot travel as a startup parameter (PgBouncer
 * refuses unknown ones, `options` included) and a session `SET` would stick to whichever
 * server connection ran it. A default for this role in this database applies to every
 * server connection the pooler opens: set it through the direct connection when it
 * differs. The role may set its own defaults; when refused, say what to run instead.
 */
export async function applyRoleStatementTimeout(client: pg.ClientBase, timeoutMs: number, logger: Logger): Promise<void> {
  const wanted = `${timeoutMs}ms`;
  const { rows } = await client.query<{ ms: string }>(
    `SELECT COALESCE((SELECT split_part(c, '=', 2) FROM pg_db_role_setting s, unnest(s.setconfig) c
                       WHERE s.setrole = (SELECT oid FROM pg_roles WHERE rolname = current_user)
                         AND s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
                         AND c LIKE 'statement_timeout=%'), '') AS ms`,
  );
  if (rows[0]?.ms === wanted) return;
  const { rows: names } = await client.query<{ role: string; db: string }>('SELECT quote_ident(current_user) AS role, quote_ident(current_database()) AS db');
  const statement = `ALTER ROLE ${names[0]!.role} IN DATABASE ${names[0]!.db} SET statement_timeout = '${wanted}'`;
  try {
    await client.query(statement);
    logger.info({ statementTimeoutMs: timeoutMs }, 'statement timeout set as the role default for pooled connections');
  } catch (error) {
    logger.warn({ err: error, statement }, 'could not set the statement timeout for pooled connections; run this statement as an administrator');
  }
}

export function poolStats(pool: pg.Pool, max: number) {
  return { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max };
}
