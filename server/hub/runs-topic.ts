import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { EVENT_TYPES, type RunEvent } from '../../shared/protocol.js';
import { canSeeRun } from '../auth/roles.js';
import type { Logger } from '../log.js';
import { selectLifecycleEventsAfter, selectLifecycleEventsSince } from '../queue/reads.js';
import type { Connection } from './connection.js';

/** Events that the `runs` topic carries: a run's lifecycle, not its steps or tokens. */
export const LIFECYCLE_TYPES: ReadonlySet<string> = new Set(
  EVENT_TYPES.filter((type) => type !== 'run.token' && !type.startsWith('run.step.') && !type.startsWith('run.tool.')),
);

/** Runs whose last lifecycle seq sent on `runs` is remembered (duplicates from catch-up are dropped). */
const RUNS_SEEN_LIMIT = 10_000;
/** Lifecycle events read per page when the `runs` topic catches up. */
const CATCH_UP_PAGE = 1000;
/**
 * Catch-up reaches this far before the disconnect: an event's `at` is its transaction's
 * start, so one that began before the drop may commit (and be missed live) just after it.
 */
const CATCH_UP_MARGIN_SECONDS = 2;
const CATCH_UP_RETRY_MS = 1000;

/**
 * The `runs` topic (every visible run's lifecycle) and the catch-up after the LISTEN
 * connection was away: watched runs are filled (`reconcileRuns`) and the lifecycle
 * events stored meanwhile replayed on `runs`, paged, without repeating any.
 */
export function createRunsTopic(deps: { pool: pg.Pool; log: Logger; reconcileRuns(): Promise<void> }) {
  const { pool, log } = deps;
  const subscribers = new Set<Connection>();
  const seen = new Map<string, number>();
  /** performance.now() when the LISTEN connection dropped: monotonic, and compared with nothing but itself. */
  let disconnectedAt: number | undefined;
  let catchUpTimer: NodeJS.Timeout | undefined;
  let stopped = false;

  function deliver(event: RunEvent, owner: string): void {
    const last = seen.get(event.runId);
    if (last !== undefined && event.seq <= last) return;
    seen.delete(event.runId);
    seen.set(event.runId, event.seq);
    if (seen.size > RUNS_SEEN_LIMIT) seen.delete(seen.keys().next().value as string);
    if (subscribers.size === 0) return;
    const frame = Buffer.from(JSON.stringify({ type: 'event', topic: 'runs', event }));
    for (const conn of subscribers) if (canSeeRun(conn.user, owner)) conn.send(frame);
  }

  /** Every lifecycle event of the window, page by page: none is dropped for being one too many. */
  async function replay(secondsAgo: number): Promise<void> {
    const types = [...LIFECYCLE_TYPES];
    let page = await selectLifecycleEventsSince(pool, secondsAgo, types, CATCH_UP_PAGE);
    let total = 0;
    for (;;) {
      for (const { event, owner } of page) deliver(event, owner);
      total += page.length;
      if (page.length < CATCH_UP_PAGE || stopped) break;
      const last = page[page.length - 1]!.event;
      page = await selectLifecycleEventsAfter(pool, last.runId, last.seq, types, CATCH_UP_PAGE);
    }
    if (total > 0) log.info({ events: total, seconds: Math.round(secondsAgo) }, 'runs topic caught up after the LISTEN connection came back');
  }

  async function catchUp(): Promise<void> {
    const since = disconnectedAt;
    disconnectedAt = undefined;
    try {
      await deps.reconcileRuns();
      // The window is measured here and applied to the database's clock there: app and database clocks may disagree.
      if (since !== undefined && subscribers.size > 0) await replay((performance.now() - since) / 1000 + CATCH_UP_MARGIN_SECONDS);
    } catch (error) {
      // Keep the window (widened by any outage since) and try again; delivered events are not repeated (seen).
      if (since !== undefined) disconnectedAt = Math.min(since, disconnectedAt ?? since);
      log.warn({ err: error }, 'hub catch-up after reconnect failed; trying again');
      if (!catchUpTimer && !stopped) {
        catchUpTimer = setTimeout(() => {
          catchUpTimer = undefined;
          void catchUp();
        }, CATCH_UP_RETRY_MS);
        catchUpTimer.unref();
      }
    }
  }

  return {
    subscribers,
    /** A lifecycle event (others are ignored) for `runs` subscribers who may see `owner`'s runs. */
    event(event: RunEvent, owner: string): void {
      if (LIFECYCLE_TYPES.has(event.type)) deliver(event, owner);
    },
    /** Whether an event of `type` (unknown: undefined) would reach anyone here. */
    wants: (type: string | undefined) => subscribers.size > 0 && (type === undefined || LIFECYCLE_TYPES.has(type)),
    /** The LISTEN connection dropped: remember since when. */
    disconnected(): void {
      disconnectedAt ??= performance.now();
    },
    /** After the LISTEN connection was away: fill every watched run and replay missed lifecycle events on `runs`. */
    catchUp,
    start(): void {
      stopped = false;
    },
    stop(): void {
      stopped = true;
      clearTimeout(catchUpTimer);
      catchUpTimer = undefined;
    },
  };
}
