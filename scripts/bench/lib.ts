import { fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../server/db/embedded.js';
import { createLogger } from '../../server/log.js';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const BUILT_ENTRY = path.join(ROOT, 'dist/server/server/index.js');

import { freePort } from '../../test/processes.js';

export { freePort };

export function requireBuild(): void {
  if (!existsSync(BUILT_ENTRY)) throw new Error('run `npm run build` first: the benchmarks measure the built server');
}

/** A scratch embedded PostgreSQL for one benchmark run (DATABASE_URL is used instead when set). */
export async function benchDatabase(settings: Record<string, string | number> = {}): Promise<{ url: string; stop(): Promise<void> }> {
  if (process.env.DATABASE_URL) return { url: process.env.DATABASE_URL, stop: async () => {} };
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'agentry-bench-pg-'));
  const pg: EmbeddedPostgres = await startEmbeddedPostgres({
    dataDir: dir,
    port: await freePort(),
    logger: createLogger({ level: 'warn' }),
    settings: { max_connections: 300, ...settings },
  });
  return {
    url: pg.url,
    async stop() {
      await pg.stop();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

export interface Proc {
  child: ChildProcess;
  port: number;
  output(): string;
  stop(): Promise<number | null>;
}

/**
 * The environment of a built server put under load from this machine: development mode
 * on the bench database, and no per-client or per-user connection cap, since every
 * autocannon connection and WebSocket comes from one address as the one local user.
 */
export function loadEnv(databaseUrl: string, env: Record<string, string> = {}): Record<string, string> {
  return { DATABASE_URL: databaseUrl, NODE_ENV: 'development', MAX_CONNECTIONS_PER_CLIENT: '0', MAX_CONNECTIONS_PER_USER: '0', ...env };
}

/** Runs the built app (what `npm start` runs) and waits for /ready. */
export async function startApp(env: Record<string, string>, options: { readyTimeoutMs?: number; execArgv?: string[] } = {}): Promise<Proc & { readyMs: number }> {
  requireBuild();
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, [...(options.execArgv ?? []), BUILT_ENTRY], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, HOST: '127.0.0.1', LOG_LEVEL: 'warn', RATE_LIMIT_MAX: '100000000', ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  let readyMs = -1;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`app exited: ${output.slice(-2000)}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/ready`);
      if (res.status === 200) {
        readyMs = performance.now() - started;
        break;
      }
    } catch {
      // not yet listening
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  if (readyMs < 0) throw new Error(`app not ready: ${output.slice(-2000)}`);
  return { child, port, readyMs, output: () => output, stop: () => stopChild(child) };
}

export function stopChild(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    child.once('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });
}

/** Starts an anchor script that reports its port over IPC. */
export async function startAnchor(script: string, env: Record<string, string> = {}): Promise<Proc> {
  const child = fork(path.join(ROOT, 'scripts/bench/anchors', script), [], { cwd: ROOT, env: { ...process.env, ...env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { port: number }).port));
    child.once('exit', () => reject(new Error(`anchor ${script} exited: ${output}`)));
  });
  return { child, port, output: () => output, stop: () => stopChild(child) };
}

export interface LoadResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  non2xx: number;
}

export async function load(url: string, options: { connections?: number; durationSeconds?: number; method?: string; body?: string; headers?: Record<string, string>; overallRate?: number } = {}): Promise<LoadResult> {
  const result = await autocannon({
    url,
    connections: options.connections ?? 50,
    duration: options.durationSeconds ?? 8,
    method: (options.method ?? 'GET') as 'GET',
    body: options.body,
    headers: options.headers,
    overallRate: options.overallRate,
  });
  return {
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

/** Replaces (or appends) one `## heading` section of BENCHMARKS.md, leaving the others alone. */
export async function writeSection(heading: string, body: string): Promise<void> {
  const file = path.join(ROOT, 'BENCHMARKS.md');
  let text = existsSync(file) ? await fs.readFile(file, 'utf8') : '# Benchmarks\n\nEvery figure is measured against a named anchor in the same run, on the same machine.\n';
  const marker = `## ${heading}`;
  const section = `${marker}\n\n${body.trim()}\n`;
  const start = text.indexOf(`${marker}\n`);
  if (start === -1) {
    text = `${text.trimEnd()}\n\n${section}`;
  } else {
    const next = text.indexOf('\n## ', start + marker.length);
    text = text.slice(0, start) + section + (next === -1 ? '' : `\n${text.slice(next + 1)}`);
  }
  await fs.writeFile(file, text);
}

export const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
export const machine = () => `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;

/**
 * A CPU profile of a child started with `--inspect=127.0.0.1:<port>`, over the
 * inspector protocol, for just the measured phase (`--cpu-prof` would need the
 * child to exit by itself, and would cover start-up and shutdown too).
 */
export async function inspectorProfiler(port: number): Promise<{ start(): Promise<void>; stop(file: string): Promise<void>; close(): void }> {
  const { default: WebSocket } = await import('ws');
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as { webSocketDebuggerUrl: string }[];
  const ws = new WebSocket(targets[0]!.webSocketDebuggerUrl, { perMessageDeflate: false, maxPayload: 1024 * 2 ** 20 });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.on('error', () => undefined);
  let id = 0;
  const pending = new Map<number, (result: unknown) => void>();
  ws.on('message', (data) => {
    const message = JSON.parse(String(data)) as { id?: number; result?: unknown };
    if (message.id !== undefined) pending.get(message.id)?.(message.result);
  });
  const call = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<unknown>((resolve) => {
      const n = ++id;
      pending.set(n, resolve);
      ws.send(JSON.stringify({ id: n, method, params }));
    });
  return {
    async start() {
      await call('Profiler.enable');
      await call('Profiler.setSamplingInterval', { interval: 1000 });
      await call('Profiler.start');
    },
    async stop(file) {
      const result = (await call('Profiler.stop')) as { profile: unknown };
      await fs.writeFile(file, JSON.stringify(result.profile));
    },
    close: () => ws.close(),
  };
}
