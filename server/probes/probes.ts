import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import v8 from 'node:v8';
import type { Metrics } from '../metrics/metrics.js';

/** What the probes read; kept current by the composition root and the database monitor. */
export interface ProbeState {
  phase: 'starting' | 'ready' | 'stopping';
  databaseOk: boolean;
  databaseError: string | null;
  migrated: boolean;
  /** Name of a part that is not ready, or null. */
  notReadyPart(): string | null;
  /** Extra checks for `/health` (pool, queue, llm, websocket, instance…). */
  checks(): Record<string, unknown>;
  agentsHealthy(): boolean;
}

/** A JSON answer with a flat header list (also the probe port's 404). */
export function sendProbeJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  // A flat header list: the probes are the hottest path a load balancer hits.
  res.writeHead(status, ['content-type', 'application/json; charset=utf-8', 'cache-control', 'no-store', 'content-length', String(Buffer.byteLength(text))]);
  res.end(text);
}

export const HEAP_UNHEALTHY_RATIO = 0.9;

/**
 * `/live`, `/ready`, `/health` and `/metrics`, answered by a plain request listener
 * in front of Express: no auth, no rate limit, no compression, no body parsing, so
 * they stay fast and truthful whatever the middleware is doing.
 */
export function createProbeHandler(options: {
  state: ProbeState;
  metrics: Metrics;
  metricsToken?: string;
  heapLimitBytes?: number;
}): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { state, metrics } = options;
  const heapLimit = options.heapLimitBytes ?? v8.getHeapStatistics().heap_size_limit;
  // Compared as SHA-256 digests with timingSafeEqual: equal lengths, and no byte-by-byte early exit to time.
  const expectedAuth = options.metricsToken ? createHash('sha256').update(`Bearer ${options.metricsToken}`).digest() : undefined;
  const metricsAuthorized = (header: string | undefined) =>
    !expectedAuth || (header !== undefined && timingSafeEqual(createHash('sha256').update(header).digest(), expectedAuth));

  function readiness(): string | null {
    if (state.phase === 'stopping') return 'shutting down';
    if (state.phase === 'starting') return 'starting';
    if (!state.databaseOk) return `database unreachable${state.databaseError ? `: ${state.databaseError}` : ''}`;
    if (!state.migrated) return 'migrations not applied';
    const part = state.notReadyPart();
    if (part) return `${part} not running`;
    return null;
  }

  return (req, res) => {
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (path !== '/live' && path !== '/ready' && path !== '/health' && path !== '/metrics') return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      sendProbeJson(res, 405, { error: { code: 'method_not_allowed', message: `${path} answers GET` } });
      return true;
    }
    const timestamp = new Date().toISOString();
    switch (path) {
      case '/live':
        sendProbeJson(res, 200, { alive: true, timestamp, pid: process.pid, uptime: process.uptime() });
        return true;
      case '/ready': {
        const reason = readiness();
        if (reason) sendProbeJson(res, 503, { ready: false, error: reason, timestamp });
        else sendProbeJson(res, 200, { ready: true, timestamp });
        return true;
      }
      case '/health': {
        const memory = process.memoryUsage();
        let error: string | null = null;
        if (state.phase === 'stopping') error = 'shutting down';
        else if (!state.databaseOk) error = `database unreachable${state.databaseError ? `: ${state.databaseError}` : ''}`;
        else if (memory.heapUsed > heapLimit * HEAP_UNHEALTHY_RATIO) error = `heap above ${HEAP_UNHEALTHY_RATIO * 100}% of its limit`;
        else if (!state.agentsHealthy()) error = 'agent system unavailable';
        if (error) {
          sendProbeJson(res, 503, { status: 'unhealthy', error, timestamp });
          return true;
        }
        let extra: Record<string, unknown>;
        try {
          extra = state.checks();
        } catch (e) {
          extra = { checksError: (e as Error).message };
        }
        sendProbeJson(res, 200, {
          status: 'healthy',
          timestamp,
          checks: {
            database: 'connected',
            agents: 'healthy',
            memory: {
              rss: memory.rss,
              heapTotal: memory.heapTotal,
              heapUsed: memory.heapUsed,
              external: memory.external,
              heapLimit,
            },
            uptime: process.uptime(),
            ...extra,
          },
        });
        return true;
      }
      default: {
        if (!metricsAuthorized(req.headers.authorization)) {
          res.setHeader('www-authenticate', 'Bearer');
          sendProbeJson(res, 401, { error: { code: 'unauthorized', message: '/metrics needs Authorization: Bearer <METRICS_TOKEN>' } });
          return true;
        }
        metrics.registry.metrics().then(
          (text) => {
            res.writeHead(200, { 'content-type': metrics.registry.contentType, 'cache-control': 'no-store' });
            res.end(text);
          },
          () => sendProbeJson(res, 500, { error: { code: 'internal_error', message: 'metrics unavailable' } }),
        );
        return true;
      }
    }
  };
}
