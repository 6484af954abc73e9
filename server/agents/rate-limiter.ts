import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';

/** One slot in each scope, or the milliseconds to wait (see llm_take_slot in migrations/0004_llm.sql). */
export async function takeRateSlot(pool: pg.Pool, scopes: string[], limits: number[], windowMs: number): Promise<number> {
  const { rows } = await pool.query<{ wait_ms: number }>({
    name: 'llm_take_slot',
    text: 'SELECT llm_take_slot($1::text[], $2::integer[], $3) AS wait_ms',
    values: [scopes, limits, windowMs],
  });
  return rows[0]?.wait_ms ?? 0;
}

export async function deleteStaleRateSlots(pool: pg.Pool, windowMs: number): Promise<number> {
  const { rowCount } = await pool.query({
    name: 'llm_rate_slots_expire',
    text: 'DELETE FROM llm_rate_slots WHERE taken_at <= clock_timestamp() - make_interval(secs => $1::float8 / 1000)',
    values: [windowMs],
  });
  return rowCount ?? 0;
}

export interface RateLimiter {
  /** Waits (abortably) for a request slot; resolves with the milliseconds waited. */
  acquire(user: string | undefined, signal: AbortSignal): Promise<number>;
  readonly waiting: number;
}

/**
 * At most `maxRequests` model requests per window across every instance (the state
 * is in PostgreSQL), and at most `perUserMaxRequests` of them for one user. A caller
 * over the limit waits for the oldest slot to expire instead of failing; it polls at
 * least every `maxPollMs` so a freed slot is noticed soon.
 */
export function createRateLimiter(options: {
  pool: pg.Pool;
  maxRequests: number;
  perUserMaxRequests?: number;
  windowMs: number;
  maxPollMs?: number;
}): RateLimiter {
  const maxPollMs = options.maxPollMs ?? 1000;
  let waiting = 0;
  return {
    get waiting() {
      return waiting;
    },
    async acquire(user, signal) {
      const scopes = ['global'];
      const limits = [options.maxRequests];
      if (options.perUserMaxRequests !== undefined && user) {
        scopes.push(`user:${user}`);
        limits.push(options.perUserMaxRequests);
      }
      const started = Date.now();
      let counted = false;
      try {
        for (;;) {
          signal.throwIfAborted();
          const wait = await takeRateSlot(options.pool, scopes, limits, options.windowMs);
          if (wait === 0) return Date.now() - started;
          if (!counted) {
            counted = true;
            waiting++;
          }
          // Jitter so instances waiting on the same slot do not all ask at the same moment.
          await sleep(Math.min(wait, maxPollMs) + Math.floor(Math.random() * 50), undefined, { signal });
        }
      } finally {
        if (counted) waiting--;
      }
    },
  };
}
