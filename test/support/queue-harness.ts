/**
 * Test support for the queue's own tests: a real PostgreSQL database, the real
 * queue and its real HTTP routes behind the real Express stack. What is swapped
 * is the planner (the queue is what is under test, so execute() does work the
 * test controls) and authentication (a header names the user and role).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { databaseFor } from '../helpers.js';
import type { QueueStats, Role, RunEvent } from '../../shared/protocol.js';
import { roleSchema } from '../../shared/protocol.js';
import type { AuthUser } from '../../server/auth/types.js';
import { loadConfig, type Config } from '../../server/config/config.js';
import { openDatabase, type Database } from '../../server/db/database.js';
import { NotFoundError } from '../../server/domain/errors.js';
import { createExpressApp } from '../../server/http/express-app.js';
import { createLogger, type Logger } from '../../server/log.js';
import { createMetrics, type Metrics } from '../../server/metrics/metrics.js';
import { createQueue, type Queue, type QueueTuning } from '../../server/queue/queue.js';
import type { EventSink, RunContext, RunOutcome, RunPlanner } from '../../server/queue/types.js';

export class RecordingSink implements EventSink {
  readonly events: { event: RunEvent; owner: string }[] = [];
  readonly tokens: { runId: string; seq: number; data: Record<string, unknown> }[] = [];
  readonly stats: QueueStats[] = [];
  event(event: RunEvent, owner: string): void {
    this.events.push({ event, owner });
  }
  token(runId: string, _owner: string, seq: number, data: Record<string, unknown>): void {
    this.tokens.push({ runId, seq, data });
  }
  queueStats(stats: QueueStats): void {
    this.stats.push(stats);
  }
  of(runId: string): RunEvent[] {
    return this.events.filter((e) => e.event.runId === runId).map((e) => e.event);
  }
}

export type Execute = (ctx: RunContext) => Promise<RunOutcome>;

/** The input the test submitted (the test planner's plan is the request's fields). */
export const planInput = <T>(ctx: RunContext): T => (ctx.run.plan as { input: T }).input;

/** A planner whose execute() the test sets (and may swap) at will; agent "missing" is unknown. */
export function testPlanner(execute: Execute): RunPlanner & { execute: Execute; set(fn: Execute): void } {
  let current = execute;
  return {
    offline: true,
    async plan(body) {
      if (body.agent === 'missing' || body.pattern === 'missing') throw new NotFoundError(`agent "${body.agent ?? body.pattern}"`);
      const summary = { agent: body.agent ?? null, pattern: body.pattern ?? null, agents: body.agents ?? null, options: body.options ?? null, input: body.input };
      return { version: 1, plan: summary, summary, model: 'offline', offline: true };
    },
    execute: (ctx) => current(ctx),
    set(fn) {
      current = fn;
    },
  };
}

export interface QueueHarness {
  queue: Queue;
  db: Database;
  config: Config;
  sink: RecordingSink;
  metrics: Metrics;
  url: string;
  // Tests read arbitrary JSON answers; typing each one would only restate the assertions.
  /** fetch against the harness with JSON and the x-test-user header ("name:role", default admin). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  api(path: string, init?: { method?: string; body?: unknown; user?: string; headers?: Record<string, string> }): Promise<{ status: number; headers: Headers; body: any }>;
  close(deadlineMs?: number): Promise<void>;
}

export interface HarnessOptions {
  env?: Record<string, string>;
  tuning?: Partial<QueueTuning>;
  databaseUrl?: string;
  instanceId?: string;
  logger?: Logger;
  start?: boolean;
}

/** One queue instance against a database (a fresh one unless `databaseUrl` is given). */
export async function startQueue(planner: RunPlanner, options: HarnessOptions = {}): Promise<QueueHarness & { dropDatabase?: () => Promise<void> }> {
  const { url: databaseUrl, drop: dropDatabase } = await databaseFor(options.databaseUrl, 'q');
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    MAX_INSTANCES: '10',
    RATE_LIMIT_MAX: '1000000',
    JOB_POLL_INTERVAL_MS: '500',
    JOB_RETRY_BASE_MS: '50',
    ...options.env,
    DATABASE_URL: databaseUrl,
  });
  const logger = options.logger ?? createLogger({ level: config.logLevel, name: 'queue-test' });
  const metrics = createMetrics();
  const db = await openDatabase(config, logger, metrics);
  const sink = new RecordingSink();
  const queue = createQueue({
    config,
    logger,
    pool: db.pool,
    listener: db.listener,
    metrics,
    planner,
    sink,
    instanceId: options.instanceId ?? `test-${Math.random().toString(36).slice(2, 8)}`,
    tuning: { statsIntervalMs: 200, sweepIntervalMs: 200, cancelWaitMs: 30_000, ...options.tuning },
  });
  const authenticate: express.RequestHandler = (req, _res, next) => {
    const [username, role] = (req.get('x-test-user') ?? 'admin:admin').split(':');
    const user: AuthUser = { username: username ?? '', role: roleSchema.parse(role) as Role };
    req.user = user;
    next();
  };
  const { app, rateLimitStore } = createExpressApp({ config, logger, metrics, pool: db.pool, publicApi: express.Router(), authenticate, api: [queue.router] });
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  if (options.start !== false) await queue.start?.();
  let closed = false;
  return {
    queue,
    db,
    config,
    sink,
    metrics,
    url,
    dropDatabase,
    async api(path, init = {}) {
      const res = await fetch(`${url}${path}`, {
        method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
        headers: {
          'x-test-user': init.user ?? 'admin:admin',
          ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...init.headers,
        },
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
      });
      const text = await res.text();
      return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
    },
    async close(deadlineMs = 2000) {
      if (closed) return;
      closed = true;
      queue.stopClaiming();
      await queue.stop?.(AbortSignal.timeout(deadlineMs));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rateLimitStore.shutdown();
      await db.close();
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A promise the test resolves by hand (gates execute() at a chosen point). */
export function gate<T = void>(): { promise: Promise<T>; open(value: T): void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}
