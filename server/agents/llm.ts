import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { Config } from '../config/config.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import { RunError } from '../queue/types.js';
import { createBreaker, type Breaker } from './breaker.js';
import { cacheKey, deleteExpiredResponses, getCachedResponse, putCachedResponse } from './cache.js';
import type { CallOptions, ModelBackend, ModelRequest, ModelResponse } from './model.js';
import { createOfflineModel } from './offline-model.js';
import { createOpenAiAttempt, LlmFailure, type FailureKind, type OpenAiAttempt } from './openai-model.js';
import { createRateLimiter, deleteStaleRateSlots, type RateLimiter } from './rate-limiter.js';

/** Longest Retry-After honoured inside a step; longer ones go back to the queue as a delayed retry. */
const MAX_INLINE_WAIT_MS = 20_000;
const RETRY_BASE_MS = 250;
const RETRY_CAP_MS = 8000;
const CLEANUP_INTERVAL_MS = 60_000;

const RETRYABLE: ReadonlySet<FailureKind> = new Set(['rate_limited', 'server', 'connection', 'timeout', 'malformed']);
/** Failures that say the API is unwell (a 429 says it is busy; a 400 says it is up). */
const BREAKER_FAILURES: ReadonlySet<FailureKind> = new Set(['server', 'connection', 'timeout', 'malformed']);

export interface Llm extends ModelBackend {
  start(): void;
  stop(): void;
  health(): Record<string, unknown>;
}

function runErrorFor(failure: LlmFailure): RunError {
  switch (failure.kind) {
    case 'rate_limited':
      return new RunError('llm_rate_limited', failure.message, true, failure.retryAfterMs ?? 5000);
    case 'server':
      return new RunError('llm_server_error', failure.message, true, failure.retryAfterMs);
    case 'connection':
      return new RunError('llm_unreachable', failure.message, true);
    case 'timeout':
      return new RunError('llm_timeout', failure.message, true);
    case 'malformed':
      return new RunError('llm_malformed_response', failure.message, false);
    case 'rejected':
    case 'aborted':
    default:
      return new RunError('llm_rejected', failure.message, false);
  }
}

function backoff(attempt: number): number {
  const base = Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** attempt);
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

/**
 * The model client every agent call goes through. Offline (no key): the built-in
 * model, with metrics. Online: response cache → circuit breaker → global rate limit
 * → one streamed SDK attempt, with retries on 429/5xx/connection errors that honour
 * Retry-After. Failures come out as RunErrors the queue can act on.
 */
export function createLlm(deps: {
  config: Config;
  logger: Logger;
  pool: pg.Pool;
  metrics: Metrics;
  offlineDelayMs: number;
  /** Replaces the SDK attempt (the benchmark's zero-latency model). */
  attempt?: OpenAiAttempt;
}): Llm {
  const { config, logger, pool, metrics } = deps;
  const settings = config.openai;
  let cleanupTimer: NodeJS.Timeout | undefined;

  const record = (model: string, outcome: string, started: number, usage?: ModelResponse['usage']) => {
    metrics.llmRequestsTotal.inc({ model, outcome });
    metrics.llmRequestDuration.observe({ model, outcome }, (performance.now() - started) / 1000);
    if (usage) {
      metrics.llmTokensTotal.inc({ model, kind: 'prompt' }, usage.promptTokens);
      metrics.llmTokensTotal.inc({ model, kind: 'completion' }, usage.completionTokens);
    }
  };

  if (settings.offline && !deps.attempt) {
    const offline = createOfflineModel({ delayMs: deps.offlineDelayMs });
    return {
      name: 'offline',
      async complete(request, call) {
        const started = performance.now();
        try {
          const response = await offline.complete(request, call);
          record('offline', 'success', started, response.usage);
          return response;
        } catch (error) {
          if (call.signal.aborted) throw abortReason(call.signal);
          record('offline', 'error', started);
          throw error;
        }
      },
      start() {},
      stop() {},
      health() {
        return { status: 'healthy', mode: 'offline', offline: true, model: 'offline', note: 'no OPENAI_API_KEY: agents answer with the built-in deterministic offline model' };
      },
    };
  }

  const attempt =
    deps.attempt ?? createOpenAiAttempt({ apiKey: settings.apiKey ?? '', baseUrl: settings.baseUrl, timeoutMs: settings.timeoutMs, logger });
  const breaker: Breaker = createBreaker({
    threshold: settings.breaker.threshold,
    cooldownMs: settings.breaker.cooldownMs,
    onChange: (state) => logger[state === 'open' ? 'warn' : 'info']({ breaker: state }, `model API circuit ${state}`),
  });
  const limiter: RateLimiter = createRateLimiter({
    pool,
    maxRequests: settings.rateLimit.maxRequests,
    perUserMaxRequests: settings.rateLimit.perUserMaxRequests,
    windowMs: settings.rateLimit.windowMs,
  });
  let lastError: { message: string; at: string } | null = null;

  const cacheable = (request: ModelRequest) =>
    settings.cacheTtlSeconds > 0 && (request.temperature === 0 || settings.cacheNonZeroTemperature);

  async function fromCache(key: string, request: ModelRequest, call: CallOptions): Promise<ModelResponse | null> {
    const started = performance.now();
    try {
      const hit = await getCachedResponse(pool, key);
      if (!hit) return null;
      call.onToken?.(hit.text);
      record(request.model, 'cached', started);
      return { text: hit.text, model: hit.model, usage: hit.usage, cached: true };
    } catch (error) {
      logger.warn({ err: error }, 'response cache read failed; calling the model');
      return null;
    }
  }

  async function complete(request: ModelRequest, call: CallOptions): Promise<ModelResponse> {
    const key = cacheable(request) ? cacheKey(request) : null;
    if (key) {
      const hit = await fromCache(key, request, call);
      if (hit) return hit;
    }
    /*
     * Watchers already got the deltas of a try that failed mid-stream; a retry
     * starts its answer over. Its deltas are held back until they pass what was
     * already sent, so live text is never repeated (a retry whose answer differs
     * shows its own tail; the step's stored output is always the final answer).
     */
    let sent = 0;
    const tryOptions = (): CallOptions => {
      const forward = call.onToken;
      if (!forward) return call;
      let received = 0;
      return {
        ...call,
        onToken(delta) {
          const start = received;
          received += delta.length;
          if (received <= sent) return;
          const fresh = delta.slice(Math.max(0, sent - start));
          sent = received;
          forward(fresh);
        },
      };
    };
    for (let tries = 0; ; tries++) {
      call.signal.throwIfAborted();
      const openFor = breaker.check();
      if (openFor !== null) {
        metrics.llmRequestsTotal.inc({ model: request.model, outcome: 'circuit_open' });
        const snapshot = breaker.snapshot();
        throw new RunError(
          'llm_circuit_open',
          `the model API is failing (${snapshot.consecutiveFailures} consecutive failures, last: ${snapshot.lastFailure ?? 'unknown'}); not calling it for another ${Math.ceil(openFor / 1000)} s`,
          true,
          openFor,
        );
      }
      try {
        await limiter.acquire(call.user, call.signal);
      } catch (error) {
        breaker.release();
        if (call.signal.aborted) throw abortReason(call.signal);
        throw error;
      }
      const started = performance.now();
      try {
        const response = await attempt(request, tryOptions());
        breaker.success();
        record(request.model, 'success', started, response.usage);
        if (key) {
          await putCachedResponse(pool, key, { text: response.text, model: response.model, usage: response.usage }, settings.cacheTtlSeconds).catch((error: unknown) =>
            logger.warn({ err: error }, 'response cache write failed'),
          );
        }
        return response;
      } catch (error) {
        const failure = error instanceof LlmFailure ? error : new LlmFailure('malformed', (error as Error).message, undefined, undefined, { cause: error });
        if (failure.kind === 'aborted' || call.signal.aborted) {
          breaker.release();
          record(request.model, 'cancelled', started);
          throw abortReason(call.signal);
        }
        record(request.model, failure.kind, started);
        lastError = { message: failure.message, at: new Date().toISOString() };
        if (BREAKER_FAILURES.has(failure.kind)) breaker.failure(failure.message);
        else breaker.release();
        if (failure.kind === 'rejected') breaker.success();
        const retryable = RETRYABLE.has(failure.kind);
        logger.warn({ model: request.model, kind: failure.kind, status: failure.status, tries: tries + 1, retryable }, failure.message);
        if (!retryable || tries >= settings.maxRetries) throw runErrorFor(failure);
        const wait = failure.retryAfterMs ?? backoff(tries);
        if (wait > MAX_INLINE_WAIT_MS) throw runErrorFor(failure);
        await sleep(wait, undefined, { signal: call.signal }).catch(() => {
          throw abortReason(call.signal);
        });
      }
    }
  }

  const baseUrl = settings.baseUrl ? new URL(settings.baseUrl).origin : 'https://api.openai.com';
  return {
    name: 'openai',
    complete,
    start() {
      cleanupTimer = setInterval(() => {
        void Promise.all([deleteExpiredResponses(pool), deleteStaleRateSlots(pool, settings.rateLimit.windowMs)]).catch((error: unknown) =>
          logger.debug({ err: error }, 'llm cleanup failed'),
        );
      }, CLEANUP_INTERVAL_MS);
      cleanupTimer.unref();
    },
    stop() {
      clearInterval(cleanupTimer);
    },
    health() {
      const state = breaker.snapshot();
      return {
        status: state.state === 'closed' ? 'healthy' : 'degraded',
        mode: 'openai',
        offline: false,
        model: settings.model,
        baseUrl,
        breaker: state,
        ...(state.state !== 'closed' ? { error: `model API circuit ${state.state}: ${state.lastFailure ?? ''}`.trim() } : {}),
        rateLimit: { requestsPerMinute: settings.rateLimit.maxRequests, perUserRequestsPerMinute: settings.rateLimit.perUserMaxRequests ?? null, waiting: limiter.waiting },
        cache: { ttlSeconds: settings.cacheTtlSeconds, nonZeroTemperature: settings.cacheNonZeroTemperature },
        lastError,
      };
    },
  };
}
