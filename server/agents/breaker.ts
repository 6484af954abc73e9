/**
 * A circuit breaker for the model API: after `threshold` consecutive failures it
 * opens for `cooldownMs` and calls fail fast; then one trial call is let through
 * (half-open) and its outcome closes or reopens it. Per instance, in memory.
 */
export type BreakerState = 'closed' | 'open' | 'half-open';

export interface Breaker {
  /** Null when a call may go ahead; otherwise the milliseconds until it may be tried again. */
  check(): number | null;
  success(): void;
  failure(reason: string): void;
  /** Releases a half-open trial that ended without a verdict (cancelled). */
  release(): void;
  snapshot(): { state: BreakerState; consecutiveFailures: number; openUntil: string | null; lastFailure: string | null };
}

export function createBreaker(options: { threshold: number; cooldownMs: number; now?: () => number; onChange?: (state: BreakerState) => void }): Breaker {
  const now = options.now ?? Date.now;
  let failures = 0;
  let openUntil = 0;
  let trialInFlight = false;
  let lastFailure: string | null = null;
  let state: BreakerState = 'closed';

  const set = (next: BreakerState) => {
    if (next !== state) {
      state = next;
      options.onChange?.(next);
    }
  };

  return {
    check() {
      if (state === 'closed') return null;
      const remaining = openUntil - now();
      if (remaining > 0) return remaining;
      if (trialInFlight) return Math.min(1000, options.cooldownMs);
      set('half-open');
      trialInFlight = true;
      return null;
    },
    success() {
      failures = 0;
      trialInFlight = false;
      set('closed');
    },
    failure(reason) {
      failures++;
      lastFailure = reason;
      if (state === 'half-open' || failures >= options.threshold) {
        trialInFlight = false;
        openUntil = now() + options.cooldownMs;
        set('open');
      }
    },
    release() {
      trialInFlight = false;
    },
    snapshot() {
      const open = state !== 'closed' && openUntil > now();
      return {
        state: open ? 'open' : state === 'closed' ? 'closed' : 'half-open',
        consecutiveFailures: failures,
        openUntil: open ? new Date(openUntil).toISOString() : null,
        lastFailure,
      };
    },
  };
}
