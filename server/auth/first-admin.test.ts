import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { createApp } from '../app.js';
import { loadConfig } from '../config/config.js';
import { openDatabase } from '../db/database.js';
import { captureLogs, createTestDatabase, startTestApp } from '../../test/helpers.js';

/** The admin created at first start (docs/SECURITY.md, "First admin"). */

const SECRET = 'f'.repeat(40);

describe('first admin', () => {
  it('is created once from ADMIN_USERNAME / ADMIN_PASSWORD; a later start with another password changes nothing', async () => {
    const first = await startTestApp({ env: { JWT_SECRET: SECRET, ADMIN_USERNAME: 'boss', ADMIN_PASSWORD: 'first-password' } });
    try {
      expect((await request(first.url).post('/api/auth/login').send({ username: 'boss', password: 'first-password' })).status).toBe(200);
      const second = await startTestApp({ env: { JWT_SECRET: SECRET, ADMIN_USERNAME: 'boss', ADMIN_PASSWORD: 'second-password' }, databaseUrl: first.db.url });
      try {
        expect((await request(second.url).post('/api/auth/login').send({ username: 'boss', password: 'second-password' })).status).toBe(401);
        expect((await request(second.url).post('/api/auth/login').send({ username: 'boss', password: 'first-password' })).status).toBe(200);
        const { rows } = await first.db.pool.query("SELECT count(*)::int AS n FROM users WHERE role = 'admin'");
        expect(rows[0].n).toBe(1);
      } finally {
        await second.close();
      }
    } finally {
      await first.close();
      await first.dropDatabase?.();
    }
  });

  it('outside production without ADMIN_PASSWORD: a generated password goes to a 0600 file, never to the log', async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'agentry-first-admin-'));
    const logs = captureLogs();
    const t = await startTestApp({ env: { JWT_SECRET: SECRET, ADMIN_PASSWORD: undefined, DATA_DIR: dataDir }, logger: logs.logger });
    try {
      const file = path.join(dataDir, 'initial-admin-password');
      const stat = await fs.stat(file);
      expect(stat.mode & 0o777).toBe(0o600);
      const password = (await fs.readFile(file, 'utf8')).trim();
      expect(password.length).toBeGreaterThanOrEqual(20);
      expect(logs.text()).toContain(file);
      expect(logs.text()).not.toContain(password);
      expect((await request(t.url).post('/api/auth/login').send({ username: 'admin', password })).status).toBe(200);
    } finally {
      await t.close();
      await t.dropDatabase?.();
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });

  it('in production without ADMIN_PASSWORD: no account is made up, and the log says what to do', async () => {
    const db = await createTestDatabase();
    const logs = captureLogs();
    const config = loadConfig({ NODE_ENV: 'production', DATABASE_URL: db.url, JWT_SECRET: SECRET, HOST: '127.0.0.1', MAX_INSTANCES: '4', SHUTDOWN_TIMEOUT_MS: '3000' });
    const database = await openDatabase(config, logs.logger);
    const app = createApp({ config, logger: logs.logger, pool: database.pool, listener: database.listener, sizing: database.sizing, migrated: true });
    try {
      await app.start();
      const { rows } = await database.pool.query('SELECT count(*)::int AS n FROM users');
      expect(rows[0].n).toBe(0);
      const line = logs.lines().find((l) => String(l.msg).includes('no admin account exists'));
      expect(line?.level).toBe(50);
      expect(String(line?.msg)).toMatch(/ADMIN_PASSWORD/);
      expect(String(line?.msg)).toMatch(/npm run user/);
    } finally {
      await app.shutdown('test');
      await database.close();
      await db.drop();
    }
  });
});
