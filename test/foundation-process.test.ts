import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { portInUse } from '../server/db/embedded.js';
import { createTestDatabase, waitFor } from './helpers.js';
import { freePort, spawnApp, type AppProcess } from './processes.js';

const started: AppProcess[] = [];

afterAll(async () => {
  await Promise.all(started.map((p) => p.kill()));
});

async function launch(env: Record<string, string | undefined>): Promise<AppProcess> {
  const app = await spawnApp(env);
  started.push(app);
  return app;
}

describe('the app process', () => {
  it('exits 1 with one clear line naming a bad variable', async () => {
    const app = await launch({ PORT: undefined, MAX_CONNECTIONS: 'lots' });
    const { code } = await app.exited;
    expect(code).toBe(1);
    const lines = app.output().trim().split('\n').filter((l) => l.includes('MAX_CONNECTIONS'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('Invalid configuration: MAX_CONNECTIONS');
  });

  it('refuses production without DATABASE_URL', async () => {
    const app = await launch({ NODE_ENV: 'production', JWT_SECRET: 'z'.repeat(40) });
    expect((await app.exited).code).toBe(1);
    expect(app.output()).toContain('DATABASE_URL');
  });

  it('uses DATABASE_URL without starting a database, and exits 0 on SIGTERM after a graceful shutdown', async () => {
    const db = await createTestDatabase();
    try {
      const app = await launch({ DATABASE_URL: db.url, SHUTDOWN_TIMEOUT_MS: '5000' });
      await app.waitReady();
      expect(app.output()).not.toContain('embedded PostgreSQL');
      const live = (await fetch(`${app.url}/live`).then((r) => r.json())) as { alive: boolean };
      expect(live.alive).toBe(true);
      app.signal('SIGTERM');
      const exit = await app.exited;
      expect(exit.code).toBe(0);
      expect(app.output()).toContain('graceful shutdown finished');
      // It ended because every handle closed, not because the forced-exit timer fired.
      expect(app.output()).not.toContain('did not finish in time');
    } finally {
      await db.drop();
    }
  });

  it('starts its own embedded PostgreSQL under DATA_DIR, keeps data across restarts and stops it on exit', async () => {
    // Under a private (0700) directory, like a checkout in `mktemp -d`: the postgres user must still get in.
    const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'agentry-data-'));
    const dataDir = path.join(scratch, 'nested', 'data');
    const pgPort = await freePort();
    const env = { DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(pgPort), DATABASE_URL: undefined };
    try {
      const first = await launch(env);
      await first.waitReady(60_000);
      expect(first.output()).toContain('embedded PostgreSQL initialised');
      expect(first.output()).toContain('migration applied');
      first.signal('SIGTERM');
      expect((await first.exited).code).toBe(0);
      expect(first.output()).toContain('embedded PostgreSQL stopped');
      // Stopped: nothing listens on its port any more.
      await expect(fetch(`http://127.0.0.1:${pgPort}`).catch((e: Error) => Promise.reject(e))).rejects.toThrow();

      const second = await launch(env);
      await second.waitReady(60_000);
      expect(second.output()).not.toContain('embedded PostgreSQL initialised');
      expect(second.output()).not.toContain('migration applied');
      // kill -9 leaves the database running; the next start reuses it.
      await second.kill();
      const third = await launch(env);
      await third.waitReady(60_000);
      expect(third.output()).toContain('already running');
      third.signal('SIGTERM');
      expect((await third.exited).code).toBe(0);
      // The reused database is this DATA_DIR's: it stops with the app.
      expect(third.output()).toContain('embedded PostgreSQL stopped');

      // A forced exit (second signal) still stops it.
      const fourth = await launch(env);
      await fourth.waitReady(60_000);
      fourth.signal('SIGTERM');
      fourth.signal('SIGTERM');
      await fourth.exited;
      await waitFor(async () => !(await portInUse(pgPort)), { what: 'embedded database to stop after a forced exit' });

      // Another process on the port: a clear start-up error naming the setting.
      const blocker = net.createServer().listen(pgPort, '127.0.0.1');
      await new Promise((r) => blocker.once('listening', r));
      try {
        const blocked = await launch(env);
        expect((await blocked.exited).code).toBe(1);
        expect(blocked.output()).toContain('EMBEDDED_PG_PORT');
      } finally {
        blocker.close();
      }
    } finally {
      await fs.rm(scratch, { recursive: true, force: true });
    }
  });

  it('a second signal forces exit while the first shutdown waits for a request in flight', async () => {
    const db = await createTestDatabase();
    const socket = new net.Socket();
    try {
      const app = await launch({ DATABASE_URL: db.url, SHUTDOWN_TIMEOUT_MS: '20000' });
      await app.waitReady();
      // A request whose body never finishes keeps the graceful shutdown waiting.
      await new Promise<void>((resolve) => socket.connect(app.port, '127.0.0.1', resolve));
      socket.write('POST /api/runs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"agent":');
      await new Promise((r) => setTimeout(r, 200));
      app.signal('SIGTERM');
      await waitFor(() => app.output().includes('graceful shutdown started'), { what: 'shutdown to start' });
      await new Promise((r) => setTimeout(r, 300));
      expect(app.child.exitCode).toBeNull();
      app.signal('SIGTERM');
      const exit = await app.exited;
      expect(exit.code).toBe(1);
      expect(app.output()).toContain('second signal');
    } finally {
      socket.destroy();
      await db.drop();
    }
  });
});
