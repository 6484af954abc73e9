import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';

/**
 * One slot in each scope, or the milliseconds to wait (see llm_take_slot in migrations/0004_llm.sql).
 *
 * llm_take_slot holds a transaction-scoped advisory lock per scope, so every model
 * call of every instance queues on the `global` lock until the previous taker has
 * committed. With a synchronous commit that is a WAL flush per call under the
 * lock: about 1/fsync calls a second in total, and each waiting call holds a pool
 * connection meanwhile (the streaming benchmark at K = 1,000 starved the pool this
 * way). The slot's commit is asynchronous instead: a database crash may forget the
 * last few hundred milliseconds of slots, i.e. let that many extra requests through
 * once; that is a budget, not data.
 */
export async function takeRateSlot(pool: pg.Pool, scopes: string[], limits: number[], windowMs: number): Promise<number> {
  const { rows } = await pool.query<{ wait_ms: number; commit: string }>({
    name: 'llm_take_slot_async',
    text: "SELECT llm_take_slot($1::text[], $2::integer[], $3) AS wait_ms, set_config('synchronous_commit', 'off', true) AS commit",
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
