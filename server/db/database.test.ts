import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { createTestDatabase, startTestApp, waitFor } from '../../test/helpers.js';
import { freePort } from '../../test/processes.js';
import { createLogger } from '../log.js';
import { startEmbeddedPostgres } from './embedded.js';
import { findMigrationsDir, migrate } from './migrate.js';

const logger = createLogger({ level: 'silent' });

describe('migrations', () => {
  it('run exactly once when several instances start at the same moment', async () => {
    const db = await createTestDatabase();
    const clients = Array.from({ length: 6 }, () => new pg.Client(db.url));
    try {
      await Promise.all(clients.map((c) => c.connect()));
      const results = await Promise.all(clients.map((c) => migrate(c, logger)));
      const files = (await fs.readdir(findMigrationsDir())).filter((f) => f.endsWith('.sql'));
      const appliedTotal = results.reduce((n, r) => n + r.applied.length, 0);
      expect(appliedTotal).toBe(files.length);
      expect(results.filter((r) => r.applied.length > 0)).toHaveLength(1);
      const { rows } = await clients[0]!.query<{ name: string }>('SELECT name FROM schema_migrations ORDER BY name');
      expect(rows.map((r) => r.name)).toEqual(files.sort());
    } finally {
      await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
      await db.drop();
    }
  });
});

describe('probes while the database goes away and comes back', () => {
  it('/live stays 200, /ready and /health are 503 during the outage and recover after', async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'agentry-outage-'));
    const port = await freePort();
    let server = await startEmbeddedPostgres({ dataDir, port, logger, settings: { fsync: 'off' } });
    const t = await startTestApp({ databaseUrl: server.url });
    try {
      expect((await request(t.url).get('/ready')).status).toBe(200);
      await server.stop();
      await waitFor(async () => (await request(t.url).get('/ready')).status === 503, { what: '/ready 503', timeoutMs: 15_000 });
      const ready = await request(t.url).get('/ready');
      expect(ready.body).toMatchObject({ ready: false, error: expect.stringContaining('database') });
      const health = await request(t.url).get('/health');
      expect(health.status).toBe(503);
      expect(health.body).toMatchObject({ status: 'unhealthy', error: expect.stringContaining('database') });
      expect((await request(t.url).get('/live')).status).toBe(200);

      server = await startEmbeddedPostgres({ dataDir, port, logger, settings: { fsync: 'off' } });
      await waitFor(async () => (await request(t.url).get('/ready')).status === 200, { what: '/ready 200 again', timeoutMs: 20_000 });
      expect(t.db.listener.connected).toBe(true);
      expect((await request(t.url).get('/health')).status).toBe(200);
    } finally {
      await t.close();
      await server.stop();
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });
});
