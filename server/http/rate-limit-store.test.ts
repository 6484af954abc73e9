import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../../test/helpers.js';
import { migrate } from '../db/migrate.js';
import { createLogger } from '../log.js';
import { PostgresRateLimitStore } from './rate-limit-store.js';
import type { Options } from 'express-rate-limit';

const logger = createLogger({ level: 'silent' });

describe('PostgresRateLimitStore', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let pool: pg.Pool;
  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new pg.Pool({ connectionString: db.url, max: 10 });
    const client = await pool.connect();
    await migrate(client, logger);
    client.release();
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  function store(limit: number, instances: number, prefix: string) {
    const s = new PostgresRateLimitStore(pool, logger, { limit, instances, idleMs: 50, prefix });
    s.init({ windowMs: 60_000 } as Options);
    return s;
  }

  it('never lets several instances together admit more than the limit', async () => {
    const limit = 1000;
    const stores = [store(limit, 3, 'burst:'), store(limit, 3, 'burst:'), store(limit, 3, 'burst:')];
    let admitted = 0;
    for (let round = 0; round < 30; round++) {
      const results = await Promise.all(stores.flatMap((s) => Array.from({ length: 20 }, () => s.increment('client'))));
      admitted += results.filter((r) => r.totalHits <= limit).length;
      await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.all(stores.map((s) => s.shutdown()));
    expect(admitted).toBeLessThanOrEqual(limit);
    // Reserved blocks never leave the limit unusable: nearly all of it was admitted.
    expect(admitted).toBeGreaterThan(limit * 0.95);
    // Unused reservations were given back: the stored count is what was admitted.
    const { rows } = await pool.query<{ hits: number }>("SELECT hits FROM rate_limits WHERE key = 'burst:client'");
    expect(rows[0]?.hits).toBe(admitted);
  });

  it('admits a burst from a fresh client that is under its limit', async () => {
    // 20 concurrent requests against limit 100 with 10 instances: blocks are 5 hits,
    // so one instance must go back to the database several times within the burst.
    const s = store(100, 10, 'fresh:');
    const results = await Promise.all(Array.from({ length: 20 }, () => s.increment('client')));
    expect(results.filter((r) => r.totalHits <= 100)).toHaveLength(20);
    await s.shutdown();
  });

  it('admits a burst spread over instances that is under the limit', async () => {
    const stores = Array.from({ length: 10 }, () => store(100, 10, 'spread:'));
    const results = await Promise.all(stores.flatMap((s) => Array.from({ length: 9 }, () => s.increment('client'))));
    expect(results.filter((r) => r.totalHits <= 100)).toHaveLength(90);
    await Promise.all(stores.map((s) => s.shutdown()));
  });

  it('never admits more than the limit when a burst from many instances goes past it', async () => {
    const limit = 100;
    const stores = Array.from({ length: 10 }, () => store(limit, 10, 'over:'));
    const results = await Promise.all(stores.flatMap((s) => Array.from({ length: 20 }, () => s.increment('client'))));
    const admitted = results.filter((r) => r.totalHits <= limit).length;
    expect(admitted).toBeLessThanOrEqual(limit);
    await Promise.all(stores.map((s) => s.shutdown()));
    // What a store reserved but did not use went back: the count is what was admitted.
    const { rows } = await pool.query<{ hits: number }>("SELECT hits FROM rate_limits WHERE key = 'over:client'");
    expect(rows[0]?.hits).toBe(admitted);
  });

  it('counts exactly and refuses past the limit when blocks shrink to one hit', async () => {
    const a = store(3, 2, 'exact:');
    const b = store(3, 2, 'exact:');
    const totals: number[] = [];
    for (let i = 0; i < 6; i++) totals.push((await (i % 2 ? a : b).increment('ip')).totalHits);
    expect(totals.slice(0, 3)).toEqual([1, 2, 3]);
    expect(totals.slice(3).every((t) => t > 3)).toBe(true);
    await a.shutdown();
    await b.shutdown();
  });
});
