import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import type express from 'express';
import type pg from 'pg';
import { createAgents, type Agents } from './agents/agents.js';
import { findDefaultAgentsFile, loadCatalogTools } from './agents/catalog.js';
import { createTools, type Tools } from './tools/tools.js';
import { createAudit, type Audit } from './audit/audit.js';
import { createBudgets, type Budgets } from './budgets/budgets.js';
import { createAuth } from './auth/auth.js';
import { createApiDocs } from './openapi/routes.js';
import type { Auth } from './auth/types.js';
import type { Config } from './config/config.js';
import { createDatabaseHealth } from './db/health.js';
import type { Listener } from './db/listener.js';
import { poolStats, type PoolSizing } from './db/pool.js';
import { createConnectionLimits } from './http/connection-limits.js';
import { createExpressApp } from './http/express-app.js';
import { createEvals, type Evals } from './evals/evals.js';
import { createHub, type Hub } from './hub/hub.js';
import type { Part } from './lifecycle/part.js';
import type { Logger } from './log.js';
import { createMetrics, type Metrics } from './metrics/metrics.js';
import { createProbeHandler, sendProbeJson, type ProbeState } from './probes/probes.js';
import { createQueue, type Queue } from './queue/queue.js';
import { createSchedules } from './schedules/schedules.js';
import { scheduleRoutes } from './schedules/routes.js';
import type { Schedules } from './schedules/types.js';
import { hookRoutes, triggerAdminRoutes } from './triggers/routes.js';
import { createTriggers } from './triggers/triggers.js';
import type { Triggers } from './triggers/types.js';
import type { Webhooks } from './webhooks/types.js';
import { createWebhooks } from './webhooks/webhooks.js';
import { createTelemetry, type Telemetry } from './telemetry/telemetry.js';
import type { EventSink } from './queue/types.js';
import { createConversationStore } from './threads/store.js';
import { createThreads, type Threads } from './threads/threads.js';

export interface AppDeps {
  config: Config;
  logger: Logger;
  pool: pg.Pool;
  listener: Listener;
  sizing: PoolSizing;
  migrated: boolean;
  metrics?: Metrics;
  instanceId?: string;
}

export interface App {
  readonly instanceId: string;
  readonly server: http.Server;
  readonly express: express.Express;
  readonly metrics: Metrics;
  readonly state: ProbeState;
  readonly auth: Auth;
  readonly audit: Audit;
  readonly agents: Agents;
  readonly tools: Tools;
  readonly hub: Hub;
  readonly queue: Queue;
  readonly evals: Evals;
  readonly webhooks: Webhooks;
  readonly triggers: Triggers;
  readonly schedules: Schedules;
  readonly telemetry: Telemetry;
  readonly budgets: Budgets;
  readonly threads: Threads;
  /** Starts every part; `/ready` turns 200 when done. */
  start(): Promise<void>;
  listen(port: number, host?: string): Promise<AddressInfo>;
  /**
   * The probes (`/live`, `/ready`, `/health`, `/metrics`; 404 for anything else) also on a
   * listener of their own (PROBE_PORT): a busy instance accepts one connection per loop turn
   * and listener, so there a check on a new connection does not wait behind client connections.
   */
  listenProbes(port: number, host?: string): Promise<AddressInfo>;
  /** Graceful shutdown (docs/API.md section 5), except closing the database, which its owner does. */
  shutdown(reason?: string): Promise<void>;
}

const CLIENT_ERROR_GRACE_MS = 1000;
/** The API's version in the OpenAPI document (package.json's). */
const APP_VERSION = '0.1.0';

function closeAfterResponse(_req: http.IncomingMessage, res: http.ServerResponse): void {
  res.setHeader('Connection', 'close');
}

/** The composition root: builds every part from what it needs and wires them together. */
export function createApp(deps: AppDeps): App {
  const { config, logger, pool, listener } = deps;
  const instanceId = deps.instanceId ?? `${process.pid}-${randomUUID().slice(0, 8)}`;
  const metrics = deps.metrics ?? createMetrics();
  metrics.setPoolSource(() => poolStats(pool, deps.sizing.poolMax));

  // First, so the spans of every other part (and their trace ids in logs) have a provider.
  const telemetry = createTelemetry({ config, logger, pool, instanceId });
  const database = createDatabaseHealth({ listener, logger });
  const audit = createAudit({ pool, logger });
  const auth = createAuth({ config, logger, pool, audit, listener });
  const tools = createTools({ config, logger, fromFile: loadCatalogTools(config.agents.file ?? findDefaultAgentsFile()) });
  // Raising a budget resumes the runs parked on it: the queue answers them (it is built below).
  const budgets = createBudgets({ config, logger, pool, metrics, audit, resumeWaiting: (match, by) => queue.resumeBudgetWaits(match, by) });
  // Thread runs read their conversation through the threads part's store (agents never import threads).
  const agents = createAgents({ config, logger, pool, metrics, listener, audit, tools: tools.registry, tracer: telemetry.tracer, captureContent: telemetry.captureContent, budgets, conversations: createConversationStore(pool) });
  const connectionLimits = createConnectionLimits(config);
  const hub = createHub({ config, logger, pool, listener, metrics, auth, connectionLimits });
  const webhooks = createWebhooks({ config, logger, pool, metrics });
  // Experiments are runs: the queue executes through the evals planner, which hands every
  // other plan to the agents planner. submitRun is the queue's, built just below.
  const evals = createEvals({ config, logger, pool, audit, wiring: { planner: agents, judge: agents.runner, submitRun: (plan, actor, source) => queue.submitRun(plan, actor, source) } });
  // The queue's events go to the hub, and to threads (a thread's run ended: answer its next message).
  const sink: EventSink = {
    event(event, owner) {
      hub.event(event, owner);
      threads.runEvent(event);
    },
    token: (runId, owner, seq, data) => hub.token(runId, owner, seq, data),
    queueStats: (stats) => hub.queueStats(stats),
  };
  const queue = createQueue({ config, logger, pool, listener, metrics, planner: evals.planner, sink, instanceId, callbacks: webhooks });
  const threads = createThreads({ config, logger, pool, listener, planner: agents, queue, hub });
  const triggers = createTriggers({ logger, pool, planner: agents, submitRun: queue.submitRun, audit, webhooks, metrics });
  const schedules = createSchedules({ config, logger, pool, listener, planner: agents, submitRun: queue.submitRun, audit, metrics });
  // The database first: its first check runs before the others start, and it stops last.
  // Schedules and triggers stop first (no new runs), webhooks after the queue (last callbacks).
  // Telemetry stops last of all: the spans of runs released at shutdown are flushed too.
  const parts: Part[] = [telemetry, database, audit, auth, tools, budgets, agents, hub, webhooks, evals, queue, threads, triggers, schedules];

  const state: ProbeState = {
    phase: 'starting',
    get databaseOk() {
      return database.ok;
    },
    get databaseError() {
      return database.error;
    },
    migrated: deps.migrated,
    notReadyPart: () => parts.find((p) => p.ready && !p.ready())?.name ?? null,
    agentsHealthy: () => agents.ready?.() ?? true,
    checks: () => {
      const checks: Record<string, unknown> = {
        pool: poolStats(pool, deps.sizing.poolMax),
        instance: { id: instanceId, pid: process.pid, phase: state.phase, node: process.version },
      };
      for (const part of parts) {
        const health = part.health?.();
        if (health !== undefined) checks[part.healthKey ?? part.name] = health;
      }
      return checks;
    },
  };

  // Every router under /api, in mounting order; the OpenAPI document describes exactly these.
  const apiRouters = [agents.router, tools.router, queue.router, hub.router, audit.router, evals.router, webhooks.router, triggerAdminRoutes(triggers), scheduleRoutes(schedules), budgets.router, telemetry.router, threads.router];
  // Routes outside /api that authenticate themselves (POST /hooks/:id); described too.
  const outsideRouters = [hookRoutes(triggers)];
  const docs = createApiDocs({ routers: () => [auth.router, docs.router, ...apiRouters], outside: () => outsideRouters, version: APP_VERSION });
  const { app: expressApp, rateLimitStore } = createExpressApp({
    config,
    logger,
    metrics,
    pool,
    publicApi: [auth.router, docs.router],
    authenticate: auth.authenticate,
    afterAuthenticate: [auth.keyRateLimit],
    api: apiRouters,
    outside: outsideRouters,
    connectionLimits,
    tracing: telemetry.requests,
  });

  const probes = createProbeHandler({ state, metrics, metricsToken: config.auth.metricsToken });
  // Node enforces headersTimeout/requestTimeout only when it sweeps connections
  // (every 30 s by default), so a slow client would outlive a 1 s timeout by 30 s:
  // sweep at a quarter of the shorter timeout.
  const sweepMs = Math.max(250, Math.min(30_000, Math.floor(Math.min(config.server.headersTimeoutMs, config.server.requestTimeoutMs) / 4)));
  const server = http.createServer({ connectionsCheckingInterval: sweepMs }, (req, res) => {
    // A socket over its address's cap has its 429 and is closing: nothing it sends is served.
    if (connectionLimits.refused(req.socket)) return;
    if (!probes(req, res)) expressApp(req, res);
  });
  server.on('connection', connectionLimits.onConnection);
  guard(server);
  /** The probes' own listener (listenProbes), if any. */
  let probeServer: http.Server | undefined;

  function guard(target: http.Server): void {
    target.keepAliveTimeout = config.server.keepAliveTimeoutMs;
    target.headersTimeout = config.server.headersTimeoutMs;
    target.requestTimeout = config.server.requestTimeoutMs;
    target.on('clientError', onClientError);
  }

  function onClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
    logger.debug({ err: error }, 'client connection error');
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const status = error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    // end() only half-closes, and the HTTP server allows half-open sockets: a slow client that
    // never closes its side would hold the socket (and a descriptor) for good. Destroy it once
    // the answer has had a moment to be read.
    const timer = setTimeout(() => socket.destroy(), CLIENT_ERROR_GRACE_MS).unref();
    socket.once('close', () => clearTimeout(timer));
  }
  hub.attach(server);

  function listenOn(target: http.Server, port: number, host: string | undefined): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      target.once('error', reject);
      target.listen(port, host, () => {
        target.off('error', reject);
        resolve(target.address() as AddressInfo);
      });
    });
  }

  let shutdownPromise: Promise<void> | undefined;

  return {
    instanceId,
    server,
    express: expressApp,
    metrics,
    state,
    auth,
    audit,
    agents,
    tools,
    hub,
    queue,
    evals,
    webhooks,
    triggers,
    schedules,
    telemetry,
    budgets,
    threads,
    async start() {
      for (const part of parts) {
        if (part.start) {
          await part.start();
          logger.debug({ part: part.name }, 'part started');
        }
      }
      state.phase = 'ready';
      logger.info({ instanceId }, 'ready');
    },
    listen(port, host) {
      return listenOn(server, port, host);
    },
    listenProbes(port, host) {
      if (!probeServer) {
        probeServer = http.createServer({ connectionsCheckingInterval: sweepMs }, (req, res) => {
          if (!probes(req, res)) sendProbeJson(res, 404, { error: { code: 'not_found', message: 'this port answers /live, /ready, /health and /metrics only' } });
        });
        guard(probeServer);
      }
      return listenOn(probeServer, port, host);
    },
    shutdown(reason = 'shutdown') {
      shutdownPromise ??= (async () => {
        const started = Date.now();
        logger.info({ reason }, 'graceful shutdown started');
        // Only a ready instance has balancers sending it traffic to drain.
        const wasReady = state.phase === 'ready';
        state.phase = 'stopping';
        queue.stopClaiming();
        // One deadline for the whole shutdown, drain included: the platform's grace period is fixed.
        const deadline = AbortSignal.timeout(config.server.shutdownTimeoutMs);
        const drainMs = config.server.shutdownDrainMs;
        if (wasReady && drainMs > 0 && server.listening) {
          // `/ready` already answers 503; keep listening until balancers have seen it, or the
          // connections they still send (some queued in the kernel) would be refused or reset.
          // Every response meanwhile closes its connection, so no keep-alive socket is left
          // for a balancer to reuse at the moment the listener closes.
          server.prependListener('request', closeAfterResponse);
          logger.info({ ms: drainMs }, 'draining: not ready, still serving until balancers notice');
          await delay(drainMs, undefined, { signal: deadline }).catch(() => undefined);
        }
        // Stop accepting; requests in flight complete; idle keep-alive sockets close now.
        const closed = server.listening
          ? new Promise<void>((resolve) => server.close(() => resolve()))
          : Promise.resolve();
        server.closeIdleConnections();
        // Queue first (waits for running jobs until the deadline), then the rest in reverse start order.
        for (const part of [...parts].reverse()) {
          try {
            await part.stop?.(deadline);
          } catch (error) {
            logger.error({ err: error, part: part.name }, 'part did not stop cleanly');
          }
        }
        await rateLimitStore.shutdown();
        const forced = new Promise<void>((resolve) => {
          if (deadline.aborted) resolve();
          else deadline.addEventListener('abort', () => resolve(), { once: true });
        });
        await Promise.race([closed, forced]);
        server.closeAllConnections();
        // The probes' listener last: balancers saw /ready 503 on it throughout the drain.
        if (probeServer?.listening) {
          probeServer.close();
          probeServer.closeAllConnections();
        }
        logger.info({ ms: Date.now() - started }, 'graceful shutdown finished');
      })();
      return shutdownPromise;
    },
  };
}
