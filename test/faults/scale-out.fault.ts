import fs from 'node:fs/promises';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computePoolSize } from '../../server/db/pool.js';
import { findMigrationsDir } from '../../server/db/migrate.js';
import { startCluster, type Cluster } from './harness.js';

const INSTANCES = 10;
const MAX_CONNECTIONS = 97;

/**
 * Ten instances starting at the same moment against one database that allows
 * 97 connections (3 reserved): one of them applies the migrations, the others
 * wait on the advisory lock and find nothing to do, and no instance ever holds
 * more connections than its computed share, at start or under load.
 */
describe('ten instances starting at once against one database', () => {
  let cluster: Cluster | undefined;
  const samples: { app: string; n: number }[][] = [];
  let sampling = true;
  let sampler: Promise<void> | undefined;

  const sample = async (db: pg.Pool) => {
    while (sampling) {
      const { rows } = await db.query<{ app: string; n: number }>(
        `SELECT application_name AS app, count(*)::int AS n FROM pg_stat_activity WHERE backend_type = 'client backend' GROUP BY 1`,
      );
      samples.push(rows);
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  beforeAll(async () => {
    // The observer samples pg_stat_activity from before the first process starts.
    const starting = startCluster({
      beforeInstances: (db) => {
        sampler = sample(db).catch(() => undefined);
      },
      instances: INSTANCES,
      postgres: 'private',
      pgSettings: { max_connections: MAX_CONNECTIONS },
      env: { MAX_INSTANCES: String(INSTANCES), MAX_CONNECTIONS: '20', LOG_LEVEL: 'info', MAX_CONCURRENT_JOBS: '2' },
      readyTimeoutMs: 150_000,
    });
    cluster = await starting;
  });
  afterAll(async () => {
    sampling = false;
    await sampler;
    await cluster?.close();
  });

  it('one migration, and connections never exceed the computed caps', async () => {
    const c = cluster!;
    const files = (await fs.readdir(findMigrationsDir())).filter((f) => f.endsWith('.sql')).sort();
    const { rows: applied } = await c.db.query<{ name: string }>('SELECT name FROM schema_migrations ORDER BY name');
    expect(applied.map((r) => r.name)).toEqual(files);
    // Exactly one instance logged applying them; every migration was applied once in all.
    const appliedLines = c.instances.flatMap((i) => i.output().split('\n').filter((l) => l.includes('"migration applied"')).map((l) => ({ instance: i.name, l })));
    expect(appliedLines).toHaveLength(files.length);
    expect(new Set(appliedLines.map((a) => a.instance)).size).toBe(1);

    // The pool each instance sized for itself, and the cap it implies.
    const { rows: settings } = await c.db.query<{ name: string; setting: string }>(
      `SELECT name, setting FROM pg_settings WHERE name IN ('max_connections', 'superuser_reserved_connections', 'reserved_connections')`,
    );
    const byName = new Map(settings.map((s) => [s.name, Number(s.setting)]));
    const sizing = computePoolSize({
      serverMaxConnections: byName.get('max_connections')!,
      reservedConnections: (byName.get('superuser_reserved_connections') ?? 3) + (byName.get('reserved_connections') ?? 0),
      maxInstances: INSTANCES,
      configuredMax: 20,
      dedicatedConnections: 2, // LISTEN + the queue's lease connection (server/db/database.ts)
    });
    expect(sizing.perInstanceBudget).toBe(9);
    for (const instance of c.instances) {
      const health = (await (await fetch(`${instance.url}/health`)).json()) as { checks: { pool: { max: number } } };
      expect(health.checks.pool.max).toBe(sizing.poolMax);
    }

    // Keep sampling while every instance is pushed to use its whole pool.
    const startSamples = samples.length;
    const statuses = new Map<number, number>();
    await Promise.all(
      c.instances.flatMap((instance) =>
        Array.from({ length: 30 }, async (_, k) => {
          const res = await fetch(`${instance.url}${k % 2 ? '/api/runs?limit=50' : '/api/usage'}`);
          await res.arrayBuffer();
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        }),
      ),
    );
    sampling = false;
    await sampler;
    expect([...statuses.keys()].every((s) => s === 200 || s === 503)).toBe(true);

    expect(startSamples).toBeGreaterThan(0);
    expect(samples.length).toBeGreaterThan(startSamples);
    let peakTotal = 0;
    const peakPerInstance = new Map<string, number>();
    for (const rows of samples) {
      let total = 0;
      for (const r of rows) {
        if (!r.app.startsWith('agentry-')) continue;
        total += r.n;
        peakPerInstance.set(r.app, Math.max(peakPerInstance.get(r.app) ?? 0, r.n));
      }
      peakTotal = Math.max(peakTotal, total);
    }
    for (const [app, peak] of peakPerInstance) expect(peak, `${app} connections`).toBeLessThanOrEqual(sizing.perInstanceBudget);
    expect(peakTotal).toBeLessThanOrEqual(MAX_CONNECTIONS - sizing.reservedConnections);
    console.info(`scale-out: ${samples.length} samples, peak per instance ${Math.max(...peakPerInstance.values())} (budget ${sizing.perInstanceBudget}), peak total ${peakTotal} (limit ${MAX_CONNECTIONS - sizing.reservedConnections}), statuses ${JSON.stringify([...statuses])}`);
    // The load did reach the pools (the check above is not vacuous).
    expect(Math.max(...peakPerInstance.values())).toBeGreaterThan(2);
  });
});
