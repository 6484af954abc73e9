/**
 * The multi-instance harness: N real app processes (the built server under
 * `npm test` / `npm run test:faults`, else the sources through tsx) on one
 * PostgreSQL, a client that spreads HTTP requests and WebSockets over them the
 * way a platform's load balancer does, and the faults a PaaS inflicts: SIGTERM,
 * kill -9, SIGSTOP/SIGCONT (CPU throttling), restarts, and PostgreSQL going away.
 *
 *   const cluster = await startCluster({ instances: 3, env: { JOB_LEASE_MS: '3000' } });
 *   const res = await cluster.balancer.fetch('/api/runs', { method: 'POST', json: {...}, idempotencyKey: 'k1' });
 *   await cluster.instances[1].kill9();
 *   await cluster.close();
 *
 * Each instance runs `.replit`'s deployment command (npm run start) when built, in a
 * process group of its own: SIGTERM goes to the top process as a platform sends it;
 * kill -9 and SIGSTOP/SIGCONT go to the whole group, like a killed or frozen container.
 *
 * Each instance connects with `application_name=agentry-<name>` in its URL, so
 * pg_stat_activity and the audit trigger (see invariants.ts) can tell instances apart.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import WebSocket from 'ws';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../server/db/embedded.js';
import { createLogger } from '../../server/log.js';
import { createTestDatabase } from '../helpers.js';
import { freePort, spawnApp, type AppProcess } from '../processes.js';

export type Env = Record<string, string | undefined>;

export interface Instance {
  /** Stable name across restarts: i0, i1, … */
  readonly name: string;
  /** The current process (replaced by restart()). */
  readonly proc: AppProcess;
  readonly url: string;
  readonly pid: number;
  /** `application_name` of every connection this instance opens. */
  readonly applicationName: string;
  /** The queue's lease owner prefix for this process (`<pid>-`). */
  readonly leaseOwnerPrefix: string;
  readonly paused: boolean;
  readonly running: boolean;
  sigterm(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill9(): Promise<void>;
  /** SIGSTOP: the process keeps its sockets and leases but runs no code, like a throttled CPU. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** Starts a fresh process under the same name (after the old one exited), and waits for /ready. */
  restart(extraEnv?: Env): Promise<void>;
  output(): string;
}

export interface PostgresControl {
  readonly url: string;
  readonly running: boolean;
  /** Fast shutdown: every connection is terminated. Only for a private cluster. */
  stop(): Promise<void>;
  start(): Promise<void>;
}

export interface BalancedInit {
  method?: string;
  headers?: Record<string, string>;
  /** Sent as JSON with the right content type. */
  json?: unknown;
  body?: string;
  /** Sets `Idempotency-Key`: makes a POST safe to retry on another instance. */
  idempotencyKey?: string;
  /** Gives up on one instance after this long (a load balancer's upstream timeout). */
  timeoutMs?: number;
  /** Send to this instance only (no balancing, no retry). */
  instance?: Instance;
}

export interface BalancerStats {
  requests: number;
  /** Attempts that failed at the connection level and went to another instance. */
  retries: number;
  /** Requests that failed on every attempt (what a user would see as an error). */
  failures: number;
  failureMessages: string[];
}

export interface Balancer {
  /** Round-robin over instances whose last /ready was 200; retries connection failures elsewhere. */
  fetch(pathname: string, init?: BalancedInit): Promise<Response>;
  /** Convenience: fetch and parse JSON. */
  json<T = unknown>(pathname: string, init?: BalancedInit): Promise<{ status: number; headers: Headers; body: T }>;
  /** A WebSocket constructor for shared/ws-client.ts: every (re)connect goes to an instance in rotation. */
  readonly WebSocket: new (url: string) => WebSocket;
  /** Instances in rotation now. */
  rotation(): Instance[];
  /** Runs one health check round now. */
  check(): Promise<void>;
  readonly stats: BalancerStats;
}

export interface Cluster {
  readonly databaseUrl: string;
  /** The test's own pool on the same database (application_name `fault-observer`). */
  readonly db: pg.Pool;
  readonly instances: Instance[];
  readonly balancer: Balancer;
  /** Present for a private cluster (`postgres: 'private'`). */
  readonly postgres?: PostgresControl;
  /** Starts one more instance and waits for it to be ready. */
  add(extraEnv?: Env): Promise<Instance>;
  /** Kills every process, stops the balancer, drops the database or stops the private cluster. */
  close(): Promise<void>;
}

export interface ClusterOptions {
  instances: number;
  /** Environment for every instance (DATABASE_URL and PORT are set by the harness). */
  env?: Env;
  /** 'shared' (default): a fresh database on the test run's server. 'private': an embedded cluster of its own that can be stopped. */
  postgres?: 'shared' | 'private';
  /** Server settings for a private cluster (e.g. max_connections). */
  pgSettings?: Record<string, string | number>;
  /** Wait for every instance to be ready (default true). */
  waitReady?: boolean;
  readyTimeoutMs?: number;
  /** Health check period of the balancer (default 100 ms). */
  healthIntervalMs?: number;
  /** Called with the observer pool before any instance is spawned (e.g. to sample pg_stat_activity from the first moment). */
  beforeInstances?: (db: pg.Pool, databaseUrl: string) => void | Promise<void>;
}

const BASE_ENV: Env = {
  LOG_LEVEL: 'warn',
  RATE_LIMIT_MAX: '100000000',
  MAX_INSTANCES: '10',
  SHUTDOWN_TIMEOUT_MS: '5000',
  OFFLINE_MODEL_DELAY_MS: '0',
  JOB_POLL_INTERVAL_MS: '500',
};

/** Errors where the request never reached a healthy server (or the connection died before an answer). */
export function isConnectionFailure(error: unknown): boolean {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current && typeof current === 'object' && !seen.has(current)) {
    seen.add(current);
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|UND_ERR_SOCKET|UND_ERR_CLOSED|UND_ERR_CONNECT_TIMEOUT|UND_ERR_HEADERS_TIMEOUT)$/.test(code)) return true;
    if ((current as { name?: unknown }).name === 'TimeoutError') return true;
    current = (current as { cause?: unknown }).cause;
  }
  return error instanceof TypeError && /fetch failed|terminated|other side closed/i.test(error.message);
}

function withAppName(url: string, name: string): string {
  const u = new URL(url);
  u.searchParams.set('application_name', name);
  return u.toString();
}

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const logger = createLogger({ level: 'warn', name: 'fault-pg' });
  let databaseUrl: string;
  let cleanupDatabase: () => Promise<void>;
  let postgres: PostgresControl | undefined;

  if (options.postgres === 'private') {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'agentry-faults-pg-'));
    const port = await freePort();
    const settings = { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', ...options.pgSettings };
    let server: EmbeddedPostgres | undefined = await startEmbeddedPostgres({ dataDir, port, logger, settings });
    databaseUrl = server.url;
    postgres = {
      url: server.url,
      get running() {
        return server !== undefined;
      },
      async stop() {
        const s = server;
        server = undefined;
        await s?.stop();
      },
      async start() {
        if (server) return;
        server = await startEmbeddedPostgres({ dataDir, port, logger, settings });
      },
    };
    cleanupDatabase = async () => {
      await postgres?.stop();
      await fs.rm(dataDir, { recursive: true, force: true });
    };
  } else {
    const created = await createTestDatabase('fault');
    databaseUrl = created.url;
    cleanupDatabase = created.drop;
  }

  const db = new pg.Pool({ connectionString: databaseUrl, max: 4, application_name: 'fault-observer', connectionTimeoutMillis: 5000 });
  db.on('error', () => undefined);

  const instances: Instance[] = [];
  const allProcs: AppProcess[] = [];
  const healthy = new Set<Instance>();

  const launch = async (name: string, extraEnv: Env, port?: number): Promise<AppProcess> => {
    // Started the way the platform starts it (`.replit`: npm run start), so SIGTERM goes
    // to the top process, not to a server the test reached around the launcher for.
    const proc = await spawnApp({ ...BASE_ENV, ...options.env, ...extraEnv, DATABASE_URL: withAppName(databaseUrl, `agentry-${name}`) }, { port, launch: 'deploy' });
    allProcs.push(proc);
    return proc;
  };

  const makeInstance = async (name: string, extraEnv: Env = {}): Promise<Instance> => {
    let proc = await launch(name, extraEnv);
    let paused = false;
    const instance: Instance = {
      name,
      get proc() {
        return proc;
      },
      get url() {
        return proc.url;
      },
      get pid() {
        return proc.pid;
      },
      applicationName: `agentry-${name}`,
      get leaseOwnerPrefix() {
        return `${proc.pid}-`;
      },
      get paused() {
        return paused;
      },
      get running() {
        return proc.child.exitCode === null && proc.child.signalCode === null;
      },
      async sigterm() {
        if (paused) instance.resume();
        proc.signal('SIGTERM');
        return proc.exited;
      },
      async kill9() {
        healthy.delete(instance);
        // The whole instance, launcher and server, as when a platform kills a container.
        await proc.kill();
        paused = false;
      },
      pause() {
        proc.signalAll('SIGSTOP');
        paused = true;
      },
      resume() {
        proc.signalAll('SIGCONT');
        paused = false;
      },
      async restart(more: Env = {}) {
        if (instance.running) throw new Error(`${name} is still running; stop it first`);
        // Same PORT, as a platform restarts an instance (and a balancer's config names it).
        proc = await launch(name, { ...extraEnv, ...more }, proc.port);
        await proc.waitReady(options.readyTimeoutMs ?? 60_000);
      },
      output: () => proc.output(),
    };
    return instance;
  };

  // ------------------------------------------------------------------ balancer
  let cursor = 0;
  const stats: BalancerStats = { requests: 0, retries: 0, failures: 0, failureMessages: [] };

  async function checkOne(instance: Instance): Promise<void> {
    if (!instance.running || instance.paused) {
      healthy.delete(instance);
      return;
    }
    try {
      const res = await fetch(`${instance.url}/ready`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200) healthy.add(instance);
      else healthy.delete(instance);
    } catch {
      healthy.delete(instance);
    }
  }
  const check = async () => {
    await Promise.all(instances.map(checkOne));
  };
  let checking = true;
  const healthLoop = (async () => {
    while (checking) {
      await check();
      await new Promise((r) => setTimeout(r, options.healthIntervalMs ?? 100));
    }
  })();

  const rotation = () => instances.filter((i) => healthy.has(i) && i.running && !i.paused);
  const pick = (exclude: Set<Instance>): Instance | undefined => {
    const candidates = rotation().filter((i) => !exclude.has(i));
    if (candidates.length === 0) return undefined;
    cursor = (cursor + 1) % candidates.length;
    return candidates[cursor];
  };

  async function balancedFetch(pathname: string, init: BalancedInit = {}): Promise<Response> {
    stats.requests++;
    const method = (init.method ?? (init.json !== undefined ? 'POST' : 'GET')).toUpperCase();
    const headers: Record<string, string> = { ...init.headers };
    let body = init.body;
    if (init.json !== undefined) {
      body = JSON.stringify(init.json);
      headers['content-type'] ??= 'application/json';
    }
    if (init.idempotencyKey) headers['idempotency-key'] = init.idempotencyKey;
    const retryable = method === 'GET' || method === 'HEAD' || Boolean(init.idempotencyKey);
    if (init.instance) {
      return fetch(`${init.instance.url}${pathname}`, { method, headers, body, signal: init.timeoutMs ? AbortSignal.timeout(init.timeoutMs) : undefined });
    }
    const tried = new Set<Instance>();
    const deadline = Date.now() + 30_000;
    let lastError: unknown;
    while (Date.now() < deadline) {
      let target = pick(tried);
      if (!target) {
        // Everything tried or out of rotation: wait for the health checks, as a balancer queues briefly.
        tried.clear();
        await new Promise((r) => setTimeout(r, 50));
        target = pick(tried);
        if (!target) continue;
      }
      tried.add(target);
      try {
        return await fetch(`${target.url}${pathname}`, { method, headers, body, signal: AbortSignal.timeout(init.timeoutMs ?? 20_000) });
      } catch (error) {
        lastError = error;
        const refused = hasCode(error, 'ECONNREFUSED');
        if (!isConnectionFailure(error) || (!retryable && !refused)) break;
        healthy.delete(target);
        stats.retries++;
      }
    }
    stats.failures++;
    const message = `${method} ${pathname}: ${describe(lastError)}`;
    stats.failureMessages.push(message);
    throw new Error(message, { cause: lastError });
  }

  // WebSocket constructor for the shared client: the URL's host is replaced by an instance in rotation.
  class BalancedWebSocket extends WebSocket {
    constructor(url: string) {
      const target = pick(new Set());
      const u = new URL(url);
      const base = new URL(target?.url ?? instances[0]?.url ?? 'http://127.0.0.1:1');
      u.host = base.host;
      super(u.toString(), { perMessageDeflate: false });
      // The shared client uses onerror/onclose; an unhandled 'error' must never throw.
      this.on('error', () => undefined);
    }
  }

  const balancer: Balancer = {
    fetch: balancedFetch,
    async json<T>(pathname: string, init?: BalancedInit) {
      const res = await balancedFetch(pathname, init);
      const text = await res.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON: leave the text for the assertion message
      }
      return { status: res.status, headers: res.headers, body: body as T };
    },
    WebSocket: BalancedWebSocket,
    rotation,
    check,
    stats,
  };

  // ------------------------------------------------------------------ start
  await options.beforeInstances?.(db, databaseUrl);
  const count = instances.length;
  const created = await Promise.all(Array.from({ length: options.instances }, (_, i) => makeInstance(`i${count + i}`)));
  instances.push(...created);
  const close = async () => {
    checking = false;
    await healthLoop.catch(() => undefined);
    for (const p of allProcs) if (p.child.signalCode === 'SIGSTOP' || p.child.exitCode === null) p.signalAll('SIGCONT');
    await Promise.all(allProcs.map((p) => p.kill()));
    await db.end().catch(() => undefined);
    await cleanupDatabase().catch(() => undefined);
  };
  try {
    if (options.waitReady !== false) {
      await Promise.all(created.map((i) => i.proc.waitReady(options.readyTimeoutMs ?? 90_000)));
      await check();
    }
  } catch (error) {
    await close();
    throw error;
  }

  return {
    databaseUrl,
    db,
    instances,
    balancer,
    postgres,
    async add(extraEnv?: Env) {
      const instance = await makeInstance(`i${instances.length}`, extraEnv);
      instances.push(instance);
      await instance.proc.waitReady(options.readyTimeoutMs ?? 90_000);
      await checkOne(instance);
      return instance;
    },
    close,
  };
}

function hasCode(error: unknown, code: string): boolean {
  let current: unknown = error;
  for (let i = 0; i < 5 && current && typeof current === 'object'; i++) {
    if ((current as { code?: unknown }).code === code) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof Error ? `${error.message} (${(cause as { code?: string }).code ?? cause.message})` : error.message;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
