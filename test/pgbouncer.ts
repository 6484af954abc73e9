import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { runAsUser } from '../server/db/embedded.js';
import { freePort } from './processes.js';

/** CI installs the Debian `pgbouncer` package (.ci/run); a missing binary fails the test that needs it. */
const PGBOUNCER = process.env.PGBOUNCER ?? '/usr/sbin/pgbouncer';

export interface PgBouncer {
  readonly port: number;
  /** `databaseUrl` with host and port replaced by PgBouncer's. */
  url(databaseUrl: string): string;
  output(): string;
  stop(): Promise<void>;
}

/**
 * A real PgBouncer in transaction pooling mode on a free loopback port, in front of the
 * server of `databaseUrl` (every database of it, under the same name). Its ini and
 * userlist live in a temp dir it removes on stop(). It runs as `postgres` when we are
 * root, since PgBouncer refuses to run as root.
 */
export async function startPgBouncer(databaseUrl: string, settings: Record<string, string | number> = {}): Promise<PgBouncer> {
  const target = new URL(databaseUrl);
  const user = decodeURIComponent(target.username);
  const password = decodeURIComponent(target.password);
  const port = await freePort();
  const runAs = await runAsUser();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'agentry-pgbouncer-'));
  const ini = {
    listen_addr: '127.0.0.1',
    listen_port: port,
    unix_socket_dir: '',
    auth_type: 'scram-sha-256',
    auth_file: path.join(dir, 'userlist.txt'),
    pool_mode: 'transaction',
    max_client_conn: 500,
    default_pool_size: 10,
    ignore_startup_parameters: 'extra_float_digits',
    admin_users: user,
    logfile: '',
    ...settings,
  };
  const quote = (v: string) => `"${v.replace(/"/g, '""')}"`;
  await fs.writeFile(path.join(dir, 'userlist.txt'), `${quote(user)} ${quote(password)}\n`, { mode: 0o600 });
  await fs.writeFile(
    path.join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `* = host=${target.hostname} port=${target.port || 5432}`,
      '[pgbouncer]',
      ...Object.entries(ini).map(([k, v]) => `${k} = ${v}`),
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  if (runAs.uid !== undefined && runAs.gid !== undefined) {
    for (const f of ['', 'userlist.txt', 'pgbouncer.ini']) await fs.chown(path.join(dir, f), runAs.uid, runAs.gid);
  }
  const child: ChildProcess = spawn(PGBOUNCER, [path.join(dir, 'pgbouncer.ini')], { ...runAs, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', (error) => {
      output += `\ncannot run ${PGBOUNCER} (install the Debian package "pgbouncer"): ${error.message}`;
      resolve();
    });
  });
  let gone = false;
  void exited.then(() => (gone = true));

  // Ready when it accepts TCP connections.
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (gone) throw new Error(`pgbouncer exited at start:\n${output.slice(-2000)}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (open) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`pgbouncer not listening within 30 s:\n${output.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    port,
    url(url) {
      const through = new URL(url);
      through.hostname = '127.0.0.1';
      through.port = String(port);
      return through.toString();
    },
    output: () => output,
    async stop() {
      if (!gone) {
        // SIGTERM is an immediate shutdown in 1.18 (SIGINT waits for clients).
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
