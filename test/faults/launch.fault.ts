import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { portInUse } from '../../server/db/embedded.js';
import { waitFor } from '../helpers.js';
import { deployCommand, freePort, processAlive, spawnApp, type AppProcess } from '../processes.js';

/**
 * The platform runs `.replit`'s deployment command (npm run start) and stops an
 * instance by signalling that process, not the server somewhere below it. Every
 * way that stop can reach (or miss) the server still ends in a graceful shutdown:
 * WebSockets closed with 1012, the embedded database stopped, exit 0.
 */
describe('stopping the process the platform started', () => {
  let scratch: string;
  let env: Record<string, string | undefined>;
  let pgPort: number;
  const started: AppProcess[] = [];

  beforeAll(async () => {
    expect(deployCommand(), 'run with TEST_USE_BUILD=1 after npm run build').toBeDefined();
    scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'agentry-launch-'));
    pgPort = await freePort();
    // The embedded database: what an orphaned server used to leave running.
    env = { LOG_LEVEL: 'info', DATABASE_URL: undefined, DATA_DIR: path.join(scratch, 'data'), EMBEDDED_PG_PORT: String(pgPort), SHUTDOWN_TIMEOUT_MS: '5000', OFFLINE_MODEL_DELAY_MS: '0' };
  });
  afterAll(async () => {
    await Promise.all(started.map((p) => p.kill()));
    await fs.rm(scratch, { recursive: true, force: true });
  });

  async function launch(): Promise<AppProcess> {
    const app = await spawnApp(env, { launch: 'deploy' });
    started.push(app);
    await app.waitReady(90_000);
    // The launcher really sits above the server: the case that used to lose the signal.
    expect(app.pid).not.toBe(app.child.pid);
    return app;
  }

  async function openSocket(app: AppProcess): Promise<{ closed: Promise<number> }> {
    const ws = new WebSocket(`ws://127.0.0.1:${app.port}/ws`);
    ws.on('error', () => undefined);
    // Bounded: a server that never hears of the stop must fail the test, not hang it.
    const closed = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the WebSocket was never closed: the server did not shut down')), 60_000);
      ws.once('close', (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
    closed.catch(() => undefined);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return { closed };
  }

  async function expectStoppedGracefully(app: AppProcess): Promise<void> {
    await waitFor(() => !processAlive(app.pid), { timeoutMs: 60_000, what: `server ${app.pid} to exit` });
    expect(app.output()).toContain('graceful shutdown finished');
    expect(app.output()).toContain('bye');
    expect(app.output()).not.toContain('second signal');
    expect(app.output()).not.toContain('did not finish in time');
    await waitFor(async () => !(await portInUse(pgPort)), { timeoutMs: 30_000, what: 'the embedded database to stop' });
  }

  it('SIGTERM to `npm run start` reaches the server: drain, WebSockets closed with 1012, database stopped, exit 0', async () => {
    const app = await launch();
    const socket = await openSocket(app);
    app.signal('SIGTERM');
    expect(await socket.closed).toBe(1012);
    // npm exits with its child's status: 0 only if the server shut down cleanly.
    expect((await app.exited).code).toBe(0);
    await expectStoppedGracefully(app);
  });

  it('a signal to the whole process group (Ctrl-C, a group kill) is one graceful shutdown, not a forced exit', async () => {
    const app = await launch();
    // npm forwards what it receives, so the server may get it twice within milliseconds.
    app.signalAll('SIGTERM');
    expect((await app.exited).code).toBe(0);
    await expectStoppedGracefully(app);
  });

  it('a launcher that dies without passing the signal on: the orphaned server notices and shuts down', async () => {
    const app = await launch();
    const socket = await openSocket(app);
    // SIGKILL to npm alone: no forwarding, the server is re-parented and never signalled.
    app.signal('SIGKILL');
    await app.exited;
    expect(await socket.closed).toBe(1012);
    await expectStoppedGracefully(app);
    expect(app.output()).toContain('parent process exited');
  });
});
