import { DomainError } from '../domain/errors.js';
import { RunError } from './types.js';

/** Why an attempt's signal aborted. Also the `reason` its AbortSignal carries. */
export class AttemptAborted extends Error {
  constructor(readonly kind: 'cancelled' | 'timeout' | 'lease_lost' | 'shutdown', message: string) {
    super(message);
    this.name = 'AbortError';
  }
}

/** Thrown by a fenced write that matched no row: this worker no longer owns the run. */
export class LeaseLost extends Error {
  constructor(runId: string) {
    super(`lease on run ${runId} was lost; this worker may not write to it`);
    this.name = 'LeaseLost';
  }
}

export interface Classified {
  code: string;
  message: string;
  retryable: boolean;
  retryAfterMs?: number;
}

const MAX_MESSAGE = 2000;

/**
 * Retryable: transient trouble (timeouts, 429/5xx, lost connections, unknown
 * errors). Not retryable: what would fail the same way again — bad input and
 * options (RunError with retryable false, a DomainError, zod validation).
 */
export function classify(error: unknown, timeoutMs: number): Classified {
  const clip = (s: string) => (s.length > MAX_MESSAGE ? `${s.slice(0, MAX_MESSAGE)}…` : s);
  if (error instanceof AttemptAborted && error.kind === 'timeout') {
    return { code: 'timeout', message: `the attempt took longer than ${timeoutMs} ms`, retryable: true };
  }
  if (error instanceof RunError) {
    return { code: error.code, message: clip(error.message), retryable: error.retryable, retryAfterMs: error.retryAfterMs };
  }
  if (error instanceof DomainError) {
    return { code: error.code, message: clip(error.message), retryable: false };
  }
  if (error instanceof Error && error.name === 'ZodError') {
    return { code: 'invalid_input', message: clip(error.message), retryable: false };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'execution_error', message: clip(message || 'the run failed'), retryable: true };
}

/**
 * Exponential backoff with jitter: base·2^(attempt-1), capped, then a random
 * 50–100 % of it so runs that failed together do not retry together; never
 * sooner than what the failing step asked for (e.g. an LLM 429 Retry-After).
 */
export function backoffMs(attempt: number, options: { baseMs: number; maxMs: number; retryAfterMs?: number; random?: () => number }): number {
  const random = options.random ?? Math.random;
  const exp = Math.min(options.maxMs, options.baseMs * 2 ** Math.max(0, attempt - 1));
  const jittered = Math.round(exp / 2 + random() * (exp / 2));
  return Math.max(jittered, Math.ceil(options.retryAfterMs ?? 0));
}
