import { describe, expect, it } from 'vitest';
import { createTestDatabase } from '../../test/helpers.js';
import { createLogger } from '../log.js';
import { computePoolSize, createPool } from './pool.js';

describe('computePoolSize', () => {
  it('splits a 97-connection database between 10 instances, counting the LISTEN connection', () => {
    const sizing = computePoolSize({ serverMaxConnections: 97, reservedConnections: 3, maxInstances: 10, configuredMax: 20, dedicatedConnections: 1 });
    expect(sizing.perInstanceBudget).toBe(9);
    expect(sizing.poolMax).toBe(8);
    expect((sizing.poolMax + sizing.dedicatedConnections) * 10).toBeLessThanOrEqual(97 - 3);
  });

  it('never exceeds MAX_CONNECTIONS', () => {
    expect(computePoolSize({ serverMaxConnections: 1000, reservedConnections: 3, maxInstances: 2, configuredMax: 20, dedicatedConnections: 1 }).poolMax).toBe(20);
  });

  it('keeps at least one pooled connection when the budget is tiny', () => {
    expect(computePoolSize({ serverMaxConnections: 10, reservedConnections: 3, maxInstances: 10, configuredMax: 20, dedicatedConnections: 1 }).poolMax).toBe(1);
  });
});

describe('createPool with preparedStatements off', () => {
  it('sends named queries unnamed, from pool.query() and from checked-out clients', async () => {
    const db = await createTestDatabase();
    const logger = createLogger({ level: 'silent' });
    const open = (preparedStatements: boolean) =>
      createPool({ connectionString: db.url, max: 1, connectionTimeoutMs: 5000, idleTimeoutMs: 10_000, statementTimeoutMs: 1234, preparedStatements, applicationName: 'pool-test', logger });
    const prepared = async (pool: ReturnType<typeof open>) => {
      const client = await pool.connect();
      try {
        const named = await client.query({ name: 'pool_test_named', text: 'SELECT $1::int AS n', values: [7] });
        expect(named.rows).toEqual([{ n: 7 }]);
        const { rows } = await client.query<{ name: string }>('SELECT name FROM pg_prepared_statements');
        return rows.map((r) => r.name);
      } finally {
        client.release();
      }
    };
    const off = open(false);
    const on = open(true);
    try {
      expect((await off.query({ name: 'pool_test_q', text: 'SELECT 1 AS one' })).rows).toEqual([{ one: 1 }]);
      expect(await prepared(off)).toEqual([]);
      expect(await prepared(on)).toEqual(['pool_test_named']);
      expect((await on.query('SHOW statement_timeout')).rows[0]).toEqual({ statement_timeout: '1234ms' });
    } finally {
      await off.end();
      await on.end();
      await db.drop();
    }
  });
});
