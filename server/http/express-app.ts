import { existsSync } from 'node:fs';
import path from 'node:path';
import compression from 'compression';
import cors from 'cors';
import express, { type RequestHandler, type Router } from 'express';
import { rateLimit } from 'express-rate-limit';
import helmet from 'helmet';
import type pg from 'pg';
import { pinoHttp } from 'pino-http';
import type { Config } from '../config/config.js';
import { redactUrl, type Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import { errorHandler, notFoundHandler, requireJson, sendError } from './errors.js';
import { PostgresRateLimitStore } from './rate-limit-store.js';

export interface ExpressAppOptions {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  pool: pg.Pool;
  /** Routes that need no authentication (login), mounted under /api before `authenticate`. */
  publicApi: Router;
  authenticate: RequestHandler;
  /** Authenticated routes mounted under /api. */
  api: Router[];
}

const HOST_SAFE = /^[A-Za-z0-9.:[\]-]+$/;

/** Lower-case origin list match; `*` only outside production (config refuses it there). */
function corsOrigin(origins: readonly string[]): cors.CorsOptions['origin'] {
  if (origins.includes('*')) return true;
  if (origins.length === 0) return false;
  const allowed = new Set(origins.map((o) => o.toLowerCase().replace(/\/$/, '')));
  return (origin, callback) => callback(null, origin === undefined || allowed.has(origin.toLowerCase()));
}

export function createExpressApp(options: ExpressAppOptions): { app: express.Express; rateLimitStore: PostgresRateLimitStore } {
  const { config, logger, metrics } = options;
  const app = express();
  app.disable('x-powered-by');
  // A hop count, never `true`: only the platform's proxy may set the client address.
  app.set('trust proxy', config.server.trustProxyHops);
  app.set('etag', false);

  app.use((req, res, next) => {
    const end = metrics.httpRequestDuration.startTimer();
    res.on('finish', () => {
      const route = req.route ? `${req.baseUrl}${String(req.route.path)}` : req.path.startsWith('/api') ? 'unmatched' : 'static';
      const labels = { method: req.method, route, status: String(res.statusCode) };
      end(labels);
      metrics.httpRequestsTotal.inc(labels);
    });
    next();
  });

  app.use(
    helmet({
      contentSecurityPolicy: {
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'"],
          styleSrc: ["'self'"],
          imgSrc: ["'self'", 'data:'],
          fontSrc: ["'self'"],
          objectSrc: ["'none'"],
          frameAncestors: ["'none'"],
          baseUri: ["'self'"],
          formAction: ["'self'"],
          // The app's own WebSocket; older browsers do not treat ws: as 'self'.
          connectSrc: [
            "'self'",
            (req) => {
              const host = req.headers.host ?? '';
              return HOST_SAFE.test(host) ? `ws://${host} wss://${host}` : "'self'";
            },
          ],
          upgradeInsecureRequests: config.production ? [] : null,
        },
      },
      hsts: config.production ? { maxAge: 31536000, includeSubDomains: true, preload: true } : false,
      crossOriginEmbedderPolicy: false,
    }),
  );

  app.use(
    cors({
      origin: corsOrigin(config.server.corsOrigins),
      credentials: true,
      methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
      allowedHeaders: ['Content-Type', 'Authorization', 'Prefer', 'Idempotency-Key'],
      exposedHeaders: ['Location', 'Retry-After', 'RateLimit', 'RateLimit-Policy'],
      maxAge: 600,
    }),
  );

  app.use(
    compression({
      level: 6,
      threshold: 1024,
      filter: (req, res) => {
        if (req.headers['x-no-compression']) return false;
        return compression.filter(req, res);
      },
    }),
  );

  app.use(
    pinoHttp({
      logger,
      quietReqLogger: true,
      customLogLevel: (_req, res, error) => (error || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'info' : 'debug'),
      serializers: {
        req: (req: { method: string; url: string; id: unknown; remoteAddress?: string }) => ({ id: req.id, method: req.method, url: redactUrl(req.url), remoteAddress: req.remoteAddress }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
    }),
  );

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
  api.use(options.publicApi);
  api.use(options.authenticate);
  for (const router of options.api) api.use(router);
  api.use(notFoundHandler);
  app.use('/api', api);

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
