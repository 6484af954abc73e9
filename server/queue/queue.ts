import { performance } from 'node:perf_hooks';
import type express from 'express';
import type pg from 'pg';
import { isFinalStatus, type QueueStats, type RunEvent, type RunStatus } from '../../shared/protocol.js';
import type { Config } from '../config/config.js';
import type { Listener } from '../db/listener.js';
import type { Part } from '../lifecycle/part.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import { createLeasePool } from './lease-pool.js';
import { resumeBudgetWaits } from './approvals.js';
import { createRunsRouter } from './routes.js';
import { createSubmitRun, type SubmitRun } from './submit.js';
import { answerInput, cancelRun, getRunStatus, type ControlResult } from './sql/control.js';
import { insertRuns, type NewRun } from './sql/insert-runs.js';
import { sweepExpiredLeases } from './sql/leases.js';
import { deleteOldRuns, readStats } from './sql/maintenance.js';
import { CHANNELS, type RunRow } from './sql/rows.js';
import type { EventSink, RunCallbacks, RunPlanner } from './types.js';
import { createWorker, type Worker } from './worker.js';

export interface Queue extends Part {
  router: express.Router;
  /** Stops claiming new runs (first moment of shutdown). */
  stopClaiming(): void;
  stats(): QueueStats | null;
  /** Submits a run the planner planned (docs/ARCHITECTURE.md, "the life of a run"). */
  submitRun: SubmitRun;
  /**
   * Inserts runs directly (no HTTP, no validation) in one statement with one
   * NOTIFY: for bulk producers, benchmarks and tests.
   */
  enqueue(runs: EnqueueRun[]): Promise<RunRow[]>;
  /** Resolves when the run is final, `ms` passed, or `signal` aborted. */
  waitForFinal(runId: string, ms: number, signal?: AbortSignal): Promise<void>;
  /**
   * Cancels a run as POST /api/runs/:id/cancel does, without waiting: a queued or waiting
   * run is `cancelled` now, a running one is asked to stop (`running` is returned). Null
   * when it was already final or does not exist.
   */
  cancel(runId: string, by: string): Promise<RunStatus | null>;
  /** Answers a run parked awaiting_input as POST /api/runs/:id/input does; false when it no longer waits. */
  answer(runId: string, answer: unknown, by: string): Promise<boolean>;
  /** The worker (claim loop, heartbeat, drain), exposed for tests. */
  readonly worker: Worker;
  /** Runs one sweep of expired leases now (tests; normally on a timer). */
  sweep(): Promise<number>;
  /** Runs one retention pass now (tests; normally on a timer). */
  prune(): Promise<number>;
  /** Gives a `retry` to runs parked on `budget.exceeded` for this scope (all for null); returns how many resumed. */
  resumeBudgetWaits(match: { scope: string; subject: string } | null, by: string): Promise<number>;
}

/**
 * Without `plan`, the summary fields are the plan (version 1 of the agents planner's
 * plan has exactly that shape), so tests and benchmarks can enqueue by agent or pattern.
 */
export type EnqueueRun = Pick<NewRun, 'id' | 'owner' | 'input'> & Partial<Omit<NewRun, 'id' | 'owner' | 'input'>>;

/** Timings with production defaults derived from config; tests and the benchmark shorten them. */
export interface QueueTuning {
  retryBaseMs: number;
  retryMaxMs: number;
  abortGraceMs: number;
  heartbeatMs: number;
  sweepIntervalMs: number;
  statsIntervalMs: number;
  retentionIntervalMs: number;
  retentionBatch: number;
  /** Backstop poll of a waited-on run in case its NOTIFY is missed. */
  waitPollMs: number;
  cancelWaitMs: number;
}

export interface QueueDeps {
  config: Config;
  logger: Logger;
  pool: pg.Pool;
  listener: Listener;
  metrics: Metrics;
  planner: RunPlanner;
  sink: EventSink;
  instanceId: string;
  tuning?: Partial<QueueTuning>;
  /** Registers runs' callback URLs (the webhooks part); without it `callbackUrl` is refused. */
  callbacks?: RunCallbacks;
}

function defaultTuning(config: Config): QueueTuning {
  const { leaseMs } = config.queue;
  return {
    retryBaseMs: config.queue.retryBaseMs,
    retryMaxMs: 5 * 60_000,
    abortGraceMs: 2000,
    // Three renewals per lease: one slow or lost heartbeat does not cost the lease.
    heartbeatMs: Math.max(200, Math.floor(leaseMs / 3)),
    // A crashed instance's runs come back within a lease plus this.
    sweepIntervalMs: Math.min(1000, Math.max(100, Math.floor(leaseMs / 4))),
    statsIntervalMs: 1000,
    retentionIntervalMs: 10 * 60_000,
    retentionBatch: 500,
    waitPollMs: 2000,
    cancelWaitMs: 3000,
  };
}

/**
 * The durable run queue on PostgreSQL: runs are rows, claimed with SKIP LOCKED,
 * leased and fenced, woken by LISTEN/NOTIFY with a slow poll behind it. See
 * docs in server/queue/README.md for the state machine.
 */
export function createQueue(deps: QueueDeps): Queue {
  const { config, logger, pool, listener, metrics, sink } = deps;
  const tuning = { ...defaultTuning(config), ...deps.tuning };
  const log = logger.child({ part: 'queue' });
  const timers = new Set<NodeJS.Timeout>();
  const waiters = new Map<string, Set<() => void>>();
  const unlisten: (() => void)[] = [];
  let phase: 'idle' | 'running' | 'stopping' | 'stopped' = 'idle';
  let lastStats: QueueStats | null = null;
  let retryTimer: { at: number; timer: NodeJS.Timeout } | undefined;
  const completions: number[] = [];
  // Renewals must outlive a stall of the shared pool; statements on it time out well inside a renewal period.
  const leasePool = createLeasePool(pool, { timeoutMs: Math.max(500, tuning.heartbeatMs), logger: log });

  const notifyFinal = (runId: string) => {
    const set = waiters.get(runId);
    if (set) for (const fn of [...set]) fn();
  };

  const worker = createWorker({
    db: pool,
    leaseDb: leasePool,
    planner: deps.planner,
    sink,
    logger: log,
    metrics,
    options: {
      instanceId: deps.instanceId,
      maxConcurrent: config.queue.maxConcurrentJobs,
      leaseMs: config.queue.leaseMs,
      jobTimeoutMs: config.queue.jobTimeoutMs,
      retryBaseMs: tuning.retryBaseMs,
      retryMaxMs: tuning.retryMaxMs,
      abortGraceMs: tuning.abortGraceMs,
    },
    onFinal(runId) {
      completions.push(Date.now());
      notifyFinal(runId);
    },
    onDelayed(at) {
      // One timer for the earliest pending retry; the poll covers the rest.
      if (phase !== 'running' || (retryTimer && retryTimer.at <= at)) return;
      if (retryTimer) clearTimeout(retryTimer.timer);
      const timer = setTimeout(() => {
        retryTimer = undefined;
        worker.wake();
      }, Math.max(0, at - Date.now()) + 5);
      timer.unref();
      retryTimer = { at, timer };
    },
  });

  function waitForFinal(runId: string, ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      let set = waiters.get(runId);
      if (!set) {
        set = new Set();
        waiters.set(runId, set);
      }
      const timers: { timeout?: NodeJS.Timeout; poll?: NodeJS.Timeout } = {};
      const finish = () => {
        clearTimeout(timers.timeout);
        clearInterval(timers.poll);
        signal?.removeEventListener('abort', finish);
        set.delete(finish);
        if (set.size === 0) waiters.delete(runId);
        resolve();
      };
      set.add(finish);
      if (signal?.aborted || phase === 'stopped') return finish();
      signal?.addEventListener('abort', finish, { once: true });
      timers.timeout = setTimeout(finish, ms);
      const check = () => {
        getRunStatus(pool, runId).then(
          (status) => {
            if (!status || isFinalStatus(status)) finish();
          },
          () => undefined,
        );
      };
      // Registered first, then checked: a final write before registration is seen here, after it by NOTIFY.
      check();
      timers.poll = setInterval(check, tuning.waitPollMs);
    });
  }

  /** Calls `tick` after `delay` on a tracked, unref'd timer (cleared at stop); nothing once stopped. */
  function after(delay: number, tick: () => void): void {
    if (phase === 'stopped') return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      tick();
    }, delay);
    timer.unref();
    timers.add(timer);
  }

  /** Runs `fn` every `ms` without overlapping itself; errors are logged, not thrown. */
  function every(ms: number, what: string, fn: () => Promise<unknown>, firstDelayMs = ms): { running: () => Promise<void> } {
    let current: Promise<void> = Promise.resolve();
    const tick = () => {
      if (phase !== 'running') return;
      current = fn()
        .then(() => undefined)
        .catch((error: unknown) => log.warn({ err: error }, `${what} failed`))
        .finally(() => schedule(ms));
    };
    const schedule = (delay: number) => after(delay, tick);
    schedule(firstDelayMs);
    return { running: () => current };
  }

  /*
   * The heartbeat runs on its own schedule, measured from the start of the last
   * renewal that succeeded (when the database extended the leases), not from the
   * end of the previous tick: a slow or failed renewal is followed by the next
   * one at once (failed: after a short pause), so one bad tick cannot push the
   * renewal past the lease. Renewals use the lease connection (see lease-pool.ts).
   */
  function heartbeatLoop(): { running: () => Promise<void> } {
    let current: Promise<void> = Promise.resolve();
    let lastSuccess = performance.now();
    const retryMs = Math.max(50, Math.floor(tuning.heartbeatMs / 4));
    const schedule = (delay: number) => after(delay, tick);
    const tick = () => {
      if (phase !== 'running' && phase !== 'stopping') return;
      const started = performance.now();
      current = worker.heartbeat().then(
        () => {
          lastSuccess = started;
          schedule(Math.max(0, lastSuccess + tuning.heartbeatMs - performance.now()));
        },
        (error: unknown) => {
          log.warn({ err: error }, 'heartbeat failed; retrying');
          schedule(retryMs);
        },
      );
    };
    schedule(tuning.heartbeatMs);
    return { running: () => current };
  }

  async function sweep(): Promise<number> {
    let total = 0;
    for (;;) {
      const rows = await sweepExpiredLeases(pool, 100, worker.held());
      total += rows.length;
      for (const row of rows) {
        const event: RunEvent = { seq: row.seq, runId: row.id, type: row.type, data: row.data, at: row.at.toISOString() };
        try {
          sink.event(event, row.owner);
        } catch {
          // best effort
        }
        if (row.status !== 'queued') {
          metrics.jobsCompletedTotal.inc({ status: row.status });
          notifyFinal(row.id);
        }
      }
      if (rows.length > 0) log.warn({ runs: rows.map((r) => ({ id: r.id, status: r.status })) }, 'expired leases returned to the queue');
      if (rows.length < 100) break;
    }
    if (total > 0) worker.wake();
    return total;
  }

  async function prune(): Promise<number> {
    let total = 0;
    while (phase !== 'stopping' && phase !== 'stopped') {
      const deleted = await deleteOldRuns(pool, config.queue.retentionDays, tuning.retentionBatch);
      total += deleted;
      if (deleted < tuning.retentionBatch) break;
      // Small batches with a pause: retention never competes with claiming for long.
      await new Promise((r) => setTimeout(r, 50));
    }
    if (total > 0) log.info({ deleted: total, days: config.queue.retentionDays }, 'old runs deleted');
    return total;
  }

  async function refreshStats(): Promise<void> {
    const row = await readStats(pool);
    const now = Date.now();
    while (completions.length > 0 && completions[0]! < now - 60_000) completions.shift();
    lastStats = {
      queued: row.queued,
      running: row.running,
      awaitingInput: row.awaiting_input,
      succeeded: row.succeeded,
      failed: row.failed,
      cancelled: row.cancelled,
      oldestQueuedAgeSeconds: row.oldest_queued_age === null ? null : Math.max(0, Math.round(row.oldest_queued_age * 1000) / 1000),
      runsPerSecond: Math.round((row.finished_last_minute / 60) * 100) / 100,
      p95DurationSeconds: row.p95_duration === null ? null : Math.round(row.p95_duration * 1000) / 1000,
      at: new Date(now).toISOString(),
    };
    metrics.jobsQueued.set(row.queued);
    metrics.jobsOldestQueuedAge.set(row.oldest_queued_age === null ? 0 : Math.max(0, row.oldest_queued_age));
    try {
      sink.queueStats(lastStats);
    } catch (error) {
      log.warn({ err: error }, 'queue stats sink failed');
    }
  }

  const loops: { running: () => Promise<void> }[] = [];
  const onReconnected = () => {
    // Notifications may have been missed while LISTEN was down: catch up from the tables.
    worker.wake();
    void worker.heartbeat().catch(() => undefined);
  };

  const submitter = createSubmitRun({
    pool,
    sink,
    maxAttempts: config.queue.retryAttempts,
    maxBatch: config.queue.submitBatchMax,
    wake: () => worker.wake(),
    onBatch: (size) => metrics.queueSubmitBatchSize.observe(size),
    callbacks: deps.callbacks,
  });
  const { submitRun } = submitter;
  const router = createRunsRouter({
    config,
    pool,
    planner: deps.planner,
    submitRun,
    sink,
    wake: () => worker.wake(),
    cancelLocal: (id) => worker.cancel(id),
    waitForFinal,
    cancelWaitMs: tuning.cancelWaitMs,
  });

  const publishControl = (row: ControlResult) => {
    try {
      sink.event({ seq: row.seq, runId: row.id, type: row.type, data: row.data, at: row.at.toISOString() }, row.owner);
    } catch {
      // Live delivery is best effort; the event is stored.
    }
  };

  return {
    name: 'queue',
    router,
    worker,
    submitRun,
    async resumeBudgetWaits(match, by) {
      const resumed = await resumeBudgetWaits(pool, match, by, (row) => {
        try {
          sink.event({ seq: row.seq, runId: row.id, type: row.type, data: row.data, at: row.at.toISOString() }, row.owner);
        } catch {
          // Live delivery is best effort; the event is stored.
        }
      });
      if (resumed > 0) worker.wake();
      return resumed;
    },
    async cancel(runId, by) {
      const result = await cancelRun(pool, runId, by);
      if (!result) return null;
      publishControl(result);
      if (result.status === 'running') worker.cancel(runId);
      return result.status;
    },
    async answer(runId, answer, by) {
      const result = await answerInput(pool, runId, answer, by);
      if (!result) return false;
      publishControl(result);
      worker.wake();
      return true;
    },
    waitForFinal: (id, ms, signal) => waitForFinal(id, ms, signal),
    async enqueue(runs) {
      const rows = await insertRuns(
        pool,
        runs.map((r) => {
          const summary = { agent: r.agent ?? null, pattern: r.pattern ?? null, agents: r.agents ?? null, options: r.options ?? null, input: r.input };
          return {
            priority: 0,
            idempotencyKey: null,
            maxAttempts: config.queue.retryAttempts,
            model: null,
            offline: deps.planner.offline,
            finishWaiters: false,
            plan: summary,
            planVersion: 1,
            ...r,
            ...summary,
          };
        }),
      );
      for (const row of rows) {
        try {
          sink.event({ seq: 1, runId: row.id, type: 'run.queued', data: { priority: row.priority }, at: row.event_at.toISOString() }, row.owner);
        } catch {
          // best effort
        }
      }
      if (rows.length > 0) worker.wake();
      return rows;
    },
    sweep,
    prune,
    async start() {
      if (phase !== 'idle') return;
      phase = 'running';
      unlisten.push(listener.listen(CHANNELS.work, () => worker.wake()));
      unlisten.push(listener.listen(CHANNELS.cancel, (id) => worker.cancel(id)));
      unlisten.push(listener.listen(CHANNELS.done, (id) => notifyFinal(id)));
      listener.on('reconnected', onReconnected);
      loops.push(every(config.queue.pollIntervalMs, 'poll', async () => worker.wake()));
      loops.push(heartbeatLoop());
      loops.push(every(tuning.sweepIntervalMs, 'lease sweep', sweep, 0));
      loops.push(every(tuning.statsIntervalMs, 'queue stats', refreshStats, 0));
      // Spread instances' first pass so a scale-out does not prune all at once.
      loops.push(every(tuning.retentionIntervalMs, 'retention', prune, Math.floor(30_000 + Math.random() * 30_000)));
      worker.resume();
      log.info({ instanceId: deps.instanceId, maxConcurrent: config.queue.maxConcurrentJobs, leaseMs: config.queue.leaseMs }, 'queue started');
    },
    stopClaiming() {
      worker.pause();
    },
    async stop(deadline) {
      // Submissions already accepted are committed (and answered) before anything closes.
      await submitter.stop();
      if (phase === 'stopped' || phase === 'idle') {
        phase = 'stopped';
        await leasePool.end().catch(() => undefined);
        return;
      }
      phase = 'stopping';
      const released = await worker.drain(deadline);
      phase = 'stopped';
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      if (retryTimer) clearTimeout(retryTimer.timer);
      for (const off of unlisten.splice(0)) off();
      listener.off('reconnected', onReconnected);
      // Pending `Prefer: wait` requests answer now (202) rather than hold the shutdown.
      for (const set of [...waiters.values()]) for (const fn of [...set]) fn();
      await Promise.allSettled(loops.map((l) => l.running()));
      await leasePool.end().catch((error: unknown) => log.warn({ err: error }, 'lease connection did not close cleanly'));
      metrics.jobsActive.set(0);
      log.info({ released: released.length }, 'queue stopped');
    },
    stats: () => lastStats,
    ready: () => phase === 'running',
    health() {
      return {
        status: phase,
        instance: { active: worker.activeCount, maxConcurrent: config.queue.maxConcurrentJobs, claiming: worker.accepting },
        ...(lastStats ?? {}),
      };
    },
  };
}
