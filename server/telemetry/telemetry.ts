import { context, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span, type Tracer, type TextMapGetter } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type Sampler,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import type express from 'express';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type pg from 'pg';
import type { Config } from '../config/config.js';
import type { Part } from '../lifecycle/part.js';
import type { Logger } from '../log.js';
import { createTraceRouter } from './routes.js';

/**
 * OpenTelemetry traces (docs/OPERATIONS.md "Traces"). One TracerProvider per app (several
 * apps live in one test process), handed to the parts as a Tracer: nothing in our code
 * reaches for a global provider. Spans are always made, so log lines and stored runs carry
 * trace ids, and are exported over OTLP/HTTP only when an endpoint is configured.
 */
export interface Telemetry extends Part {
  readonly tracer: Tracer;
  /** Prompt and answer text may go into model spans (OTEL_GENAI_CAPTURE_CONTENT). */
  readonly captureContent: boolean;
  /** Express middleware: the server span of each request, continuing an incoming `traceparent`. */
  readonly requests: RequestHandler;
  /** Spans accepted but not yet exported are sent now (tests; shutdown does it too). */
  flush(): Promise<void>;
  /** GET /api/runs/:id/trace. */
  readonly router: express.Router;
}

const propagator = new W3CTraceContextPropagator();

const headerGetter: TextMapGetter<Request['headers']> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key.toLowerCase()],
};

let contextManagerRegistered = false;
/**
 * The one process-wide registration: the API's context (which span is current across
 * awaits) needs a context manager, and there is only one slot for it. It carries no
 * configuration, so every app in the process shares it; the providers stay per app.
 */
function registerContextManager(): void {
  if (contextManagerRegistered) return;
  contextManagerRegistered = context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
}

/** Every event `emitter` emits from now on runs its listeners with `ctx` active. */
function emitIn(ctx: Context, emitter: NodeJS.EventEmitter): void {
  const emit = emitter.emit;
  emitter.emit = function emitInContext(this: NodeJS.EventEmitter, ...args: Parameters<typeof emit>) {
    return context.with(ctx, emit, this, ...args);
  } as typeof emit;
}

function samplerOf(config: Config['telemetry']): Sampler {
  switch (config.sampler) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(config.samplerRatio);
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.samplerRatio) });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

/** `00-<trace id>-<span id>-<flags>` of the span current in `ctx`, or null outside any trace. */
export function traceparentOf(ctx: Context = context.active()): string | null {
  const carrier: Record<string, string> = {};
  propagator.inject(ctx, carrier, { set: (c, k, v) => (c[k] = v) });
  return carrier.traceparent ?? null;
}

/** The context a stored `traceparent` names (a span elsewhere, maybe in another process). */
export function contextOf(traceparent: string | null | undefined): Context {
  if (!traceparent) return ROOT_CONTEXT;
  return propagator.extract(ROOT_CONTEXT, { traceparent }, { keys: (c) => Object.keys(c), get: (c, k) => (c as Record<string, string>)[k] });
}

export function createTelemetry(deps: { config: Config; logger: Logger; pool: pg.Pool; instanceId: string; processors?: SpanProcessor[] }): Telemetry {
  const { config, logger } = deps;
  const settings = config.telemetry;
  registerContextManager();
  const processors: SpanProcessor[] = [...(deps.processors ?? [])];
  if (settings.tracesEndpoint) {
    const exporter = new OTLPTraceExporter({ url: settings.tracesEndpoint, headers: { ...settings.headers } });
    processors.push(new BatchSpanProcessor({ exporter, scheduledDelayMillis: 1000 }));
  }
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': settings.serviceName, 'service.instance.id': deps.instanceId }),
    // Nothing to export to: spans are not recorded (no attribute work per request or call), but
    // each still gets ids, so log lines and stored runs carry a trace id all the same.
    sampler: processors.length > 0 ? samplerOf(settings) : new AlwaysOffSampler(),
    spanProcessors: processors,
  });
  const tracer = provider.getTracer('agentry');

  const requests: RequestHandler = (req: Request, res: Response, next: NextFunction) => {
    const parent = propagator.extract(ROOT_CONTEXT, req.headers, headerGetter);
    const span = tracer.startSpan(req.method, { kind: SpanKind.SERVER }, parent);
    const ctx = trace.setSpan(parent, span);
    // Not sampled (or nothing to export to): the span only lends its ids to log lines and
    // runs, and nothing per request is spent on attributes or end listeners.
    if (span.isRecording()) recordRequest(req, res, span);
    // A body that arrives after this point is read in the socket's async context, not ours:
    // the request's events are emitted in ours. Only requests with a body need it, and one
    // emit wrapper is enough; the API's context.bind(ctx, emitter) patches every listener
    // method and wraps each listener, and cost about a seventh of a request's CPU. The
    // response needs nothing: 'finish' is emitted from a tick scheduled inside the request.
    if (req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0') emitIn(ctx, req);
    context.with(ctx, next);
  };

  function recordRequest(req: Request, res: Response, span: Span): void {
    span.setAttributes({ 'http.request.method': req.method, 'url.path': req.path, 'url.scheme': req.protocol });
    res.once('finish', () => {
      // The route is known only once a router matched it (the same label the metrics use).
      const route = req.route ? `${req.baseUrl}${String(req.route.path)}` : undefined;
      if (route) {
        span.setAttribute('http.route', route);
        span.updateName(`${req.method} ${route}`);
      }
      span.setAttribute('http.response.status_code', res.statusCode);
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    res.once('close', () => {
      if (!res.writableFinished) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: 'connection closed before the response was sent' });
        span.end();
      }
    });
  }

  return {
    name: 'telemetry',
    tracer,
    captureContent: settings.captureContent,
    requests,
    router: createTraceRouter({ pool: deps.pool }),
    flush: () => provider.forceFlush(),
    async stop() {
      // Stopped last among the parts: the spans of the runs released at shutdown are flushed too.
      await provider.shutdown().catch((error: unknown) => logger.warn({ err: error }, 'could not flush traces at shutdown'));
    },
  };
}
