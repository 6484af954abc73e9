import { existsSync } from 'node:fs';
import path from 'node:path';
import compression from 'compression';
import cors from 'cors';
import express, { type RequestHandler, type Router } from 'express';
import { rateLimit } from 'express-rate-limit';
import helmet from 'helmet';
import type pg from 'pg';
import type { Config } from '../config/config.js';
import { redactUrl, type Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import type { ConnectionLimits } from './connection-limits.js';
import { errorHandler, notFoundHandler, requireJson, sendError } from './errors.js';
import { rejectUnsafeInput } from './input-guard.js';
import { createProxyTrust } from './proxy-trust.js';
import { PostgresRateLimitStore } from './rate-limit-store.js';

export interface ExpressAppOptions {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  pool: pg.Pool;
  /** Routes that need no authentication (login, the API reference), mounted under /api before `authenticate`. */
  publicApi: Router | Router[];
  authenticate: RequestHandler;
  /** Run after `authenticate` on every authenticated route (the per API key rate limit). */
  afterAuthenticate?: RequestHandler[];
  /** Authenticated routes mounted under /api. */
  api: Router[];
  /** Routes outside /api that authenticate themselves (inbound webhooks: by signature), with their own body parsing. */
  outside?: Router[];
  /** Requests in flight per client address (server/http/connection-limits.ts). */
  connectionLimits?: Pick<ConnectionLimits, 'requests' | 'userRequests'>;
  /** The trace span of each API request (server/telemetry), first so everything after runs inside it. */
  tracing?: RequestHandler;
}

const HOST_SAFE = /^[A-Za-z0-9.:[\]-]+$/;

/** Only this origin: scripts, styles, fonts, images (and data: images), and its own WebSocket. */
export function contentSecurityPolicy(host: string | null, production: boolean): string {
  const directives = [
    "default-src 'self'",
    "base-uri 'self'",
    "font-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "img-src 'self' data:",
    "object-src 'none'",
    "script-src 'self'",
    "script-src-attr 'none'",
    "style-src 'self'",
    host ? `connect-src 'self' ws://${host} wss://${host}` : "connect-src 'self'",
  ];
  if (production) directives.push('upgrade-insecure-requests');
  return directives.join(';');
}

/** Lower-case origin list match; `*` only outside production (config refuses it there). */
function corsOrigin(origins: readonly string[]): cors.CorsOptions['origin'] {
  if (origins.includes('*')) return true;
  if (origins.length === 0) return false;
  const allowed = new Set(origins.map((o) => o.toLowerCase().replace(/\/$/, '')));
  return (origin, callback) => callback(null, origin === undefined || allowed.has(origin.toLowerCase()));
}

export function createExpressApp(options: ExpressAppOptions): { app: express.Express; rateLimitStore: PostgresRateLimitStore } {
  const { config, logger, metrics } = options;
  if (config.production && !config.auth.metricsToken) {
    // Contract: the probes stay unauthenticated, so say once, loudly, what is public.
    logger.warn('METRICS_TOKEN is not set: /metrics and the details of /health (Node version, pid, pool, queue and WebSocket counts) are readable by anyone who can reach the app; set METRICS_TOKEN to require a Bearer token for /metrics');
  }
  const app = express();
  app.disable('x-powered-by');
  // Only a configured proxy may set the client address (TRUST_PROXY, docs/SECURITY.md):
  // Express's own hop-count trust believes X-Forwarded-For from any peer and returns
  // whatever string it holds, so req.ip is ours; protocol and hostname use the same trust.
  const trust = createProxyTrust(config.server.trustProxy);
  app.set('trust proxy', (address: string, hop: number) => trust.trusts(address, hop));
  Object.defineProperty(app.request, 'ip', {
    configurable: true,
    enumerable: true,
    get(this: express.Request) {
      return trust.clientAddress(this);
    },
  });
  app.set('etag', false);

  // Metrics and the request log in one 'finish' listener; nothing per request is
  // allocated for a log line the level would drop (pino-http's per-request child
  // logger cost more than the rest of the stack together).
  let requestId = 0;
  const { tracing } = options;
  if (tracing) app.use((req, res, next) => (req.path.startsWith('/api') ? tracing(req, res, next) : next()));
  app.use((req, res, next) => {
    const started = performance.now();
    const id = ++requestId;
    res.on('finish', () => {
      const seconds = (performance.now() - started) / 1000;
      const route = req.route ? `${req.baseUrl}${String(req.route.path)}` : req.path.startsWith('/api') ? 'unmatched' : 'static';
      const status = res.statusCode;
      const labels = { method: req.method, route, status: String(status) };
      metrics.httpRequestDuration.observe(labels, seconds);
      metrics.httpRequestsTotal.inc(labels);
      const level = status >= 500 ? 'error' : status >= 400 ? 'info' : 'debug';
      if (logger.isLevelEnabled(level)) {
        logger[level](
          { req: { id, method: req.method, url: redactUrl(req.originalUrl), remoteAddress: req.ip }, res: { statusCode: status }, responseTime: Math.round(seconds * 1000) },
          'request completed',
        );
      }
    });
    next();
  });

  if (options.connectionLimits) app.use(options.connectionLimits.requests);

  // The CSP names the request's own host for ws:/wss: (older browsers do not count them as
  // 'self'), so it differs per host; it is built once per host rather than per request.
  const cspCache = new Map<string, string>();
  app.use((req, res, next) => {
    const host = req.headers.host ?? '';
    let csp = cspCache.get(host);
    if (csp === undefined) {
      csp = contentSecurityPolicy(HOST_SAFE.test(host) ? host : null, config.production);
      if (cspCache.size < 100) cspCache.set(host, csp);
    }
    res.setHeader('Content-Security-Policy', csp);
    next();
  });

  app.use(
    helmet({
      contentSecurityPolicy: false,
      hsts: config.production ? { maxAge: 31536000, includeSubDomains: true, preload: true } : false,
      crossOriginEmbedderPolicy: false,
    }),
  );

  app.use(
    cors({
      origin: corsOrigin(config.server.corsOrigins),
      credentials: true,
      methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
      allowedHeaders: ['Content-Type', 'Authorization', 'Prefer', 'Idempotency-Key', 'Last-Event-ID'],
      exposedHeaders: ['Location', 'Retry-After', 'RateLimit', 'RateLimit-Policy'],
      maxAge: 600,
    }),
  );

  const compress = compression({
    level: 6,
    threshold: 1024,
    filter: (req, res) => {
      if (req.headers['x-no-compression']) return false;
      return compression.filter(req, res);
    },
  });
  // A client that accepts no encoding (scripts, health checkers) cannot get a compressed
  // body, so it skips the response wrapping; `Vary` still tells caches the body depends on it.
  app.use((req, res, next) => {
    if (req.headers['accept-encoding']) {
      compress(req, res, next);
      return;
    }
    res.vary('Accept-Encoding');
    next();
  });

  const api = express.Router();
  api.use((_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    next();
  });
  const rateLimitStore = new PostgresRateLimitStore(options.pool, logger, {
    limit: config.server.rateLimit.max,
    instances: config.autoscaling.maxInstances,
  });
  api.use(
    rateLimit({
      windowMs: config.server.rateLimit.windowMs,
      limit: config.server.rateLimit.max,
      standardHeaders: 'draft-8',
      legacyHeaders: false,
      store: rateLimitStore,
      // A database hiccup must not turn into refusing every request.
      passOnStoreError: true,
      handler: (_req, res, _next, opts) => {
        sendError(res, opts.statusCode, 'rate_limited', `too many requests; limit is ${config.server.rateLimit.max} per ${Math.round(config.server.rateLimit.windowMs / 1000)} s`);
      },
    }),
  );
  api.use(express.json({ limit: config.server.bodyLimitBytes, type: ['application/json', 'application/*+json'] }));
  api.use(requireJson);
  api.use(rejectUnsafeInput);
  for (const router of [options.publicApi].flat()) api.use(router);
  api.use(options.authenticate);
  for (const handler of options.afterAuthenticate ?? []) api.use(handler);
  if (options.connectionLimits) api.use(options.connectionLimits.userRequests);
  for (const router of options.api) api.use(router);
  api.use(notFoundHandler);
  app.use('/api', api);
  for (const router of options.outside ?? []) app.use(router);

  const staticDir = config.server.staticDir;
  const indexFile = path.join(staticDir, 'index.html');
  app.use(
    '/assets',
    express.static(path.join(staticDir, 'assets'), { maxAge: '1y', immutable: true, etag: false, lastModified: false, index: false, fallthrough: false }),
  );
  app.use(
    express.static(staticDir, {
      index: false,
      etag: true,
      setHeaders: (res) => res.setHeader('Cache-Control', 'no-cache'),
    }),
  );
  // SPA fallback: only GET navigations that accept HTML get the app shell.
  app.use((req, res, next) => {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || !req.accepts('html') || req.path.startsWith('/api')) {
      next();
      return;
    }
    if (!existsSync(indexFile)) {
      sendError(res, 404, 'not_built', 'the web client is not built; run `npm run build`');
      return;
    }
    res.setHeader('Cache-Control', 'no-cache');
    res.sendFile(indexFile);
  });
  app.use(notFoundHandler);
  app.use(errorHandler(logger));
  return { app, rateLimitStore };
}
