import { performance } from 'node:perf_hooks';
import type { RunEventBody } from '../../shared/events.js';
import type { RunEvent } from '../../shared/protocol.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import { createRunContext, type AttemptState } from './context.js';
import { createFinalWriter, finalStatements } from './final-writes.js';
import { AttemptAborted, backoffMs, classify, LeaseLost } from './retry.js';
import { claimRuns, releaseRuns, renewLeases, type ClaimedRow, type ReturnedRow } from './sql/leases.js';
import type { Db } from './sql/rows.js';
import { finishRun, parkRun, retryRun, type Fence, type WrittenEvent } from './sql/worker-writes.js';
import { AwaitingInput, type ClaimedRun, type EventSink, type RunPlanner } from './types.js';

export interface WorkerOptions {
  instanceId: string;
  maxConcurrent: number;
  leaseMs: number;
  jobTimeoutMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** After an abort, how long execute() may take to notice before the worker writes the outcome anyway. */
  abortGraceMs: number;
}

export interface WorkerDeps {
  db: Db;
  /** Where lease renewals go: a connection request traffic cannot starve (defaults to `db`). */
  leaseDb?: Db;
  planner: RunPlanner;
  sink: EventSink;
  logger: Logger;
  metrics: Metrics;
  options: WorkerOptions;
  /** A run reached a final status here (wakes local `Prefer: wait` requests). */
  onFinal(runId: string): void;
  /** A delayed retry becomes claimable at `at` (ms epoch). */
  onDelayed(at: number): void;
}

interface Attempt extends AttemptState {
  readonly row: ClaimedRow;
  readonly controller: AbortController;
  readonly startedAt: number;
  released: boolean;
  /** Left `active` (its entry may now belong to a newer attempt of the same run). */
  ended: boolean;
  done: Promise<void>;
}

/** Claim statements one instance keeps in flight: a second one overlaps the first's round trip. */
const MAX_CLAIMS_IN_FLIGHT = 2;
/** Attempts done executing but still committing their outcome, as a multiple of the cap. */
const FINALIZING_FACTOR = 4;
/** How long a cancel for a run not (yet) active here is remembered, in leases. */
const EARLY_CANCEL_LEASES = 2;

export type Outcome = 'succeeded' | 'failed' | 'cancelled' | 'retrying' | 'awaiting_input' | 'released' | 'lost';

/**
 * The claim loop and the attempts it runs. A claim statement asks for as many
 * runs as there are free slots (at most two claims in flight), so a busy worker
 * batches claims by itself. `generation` counts wake-ups (NOTIFY, poll, local
 * events): a claim that came back short marks the queue empty only for the
 * generation it started in, so a NOTIFY that arrives meanwhile is never lost.
 */
export function createWorker(deps: WorkerDeps) {
  const { db, planner, sink, logger, metrics, options } = deps;
  /*
   * Keyed by run id, holding the attempt that owns the entry. An attempt only
   * removes its own entry, and a run still active here is never claimed again
   * here (claimRuns excludes it), so one run has at most one attempt per instance.
   */
  const active = new Map<string, Attempt>();
  /*
   * Cancels for runs not active here when they arrived: a claim in flight may be
   * about to start one (the cancel NOTIFY can overtake the claim's answer).
   */
  const earlyCancels = new Map<string, number>();
  let accepting = false;
  let generation = 0;
  let emptyAt = -1;
  let claimErrorTimer: NodeJS.Timeout | undefined;
  const idleWaiters = new Set<() => void>();

  const publish = (runId: string, owner: string, written: { seq: number; at: Date } & RunEventBody) => {
    const event: RunEvent = { seq: written.seq, runId, type: written.type, data: written.data, at: written.at.toISOString() };
    try {
      sink.event(event, owner);
    } catch (error) {
      logger.warn({ err: error, runId }, 'event sink failed');
    }
  };

  function wake(): void {
    generation++;
    kick();
  }

  /*
   * The cap counts attempts whose execute() has not returned. One whose work is
   * done but whose final write is still being committed (batched, see
   * final-writes.ts) no longer holds a slot, so claiming overlaps with committing;
   * it stays in `active` (heartbeat, drain) and at most as many again may wait.
   */
  let executing = 0;
  /** Slots asked for by claim statements still in flight. */
  let reserved = 0;
  let claimsInFlight = 0;
  const freeSlots = () => Math.min(options.maxConcurrent - executing, options.maxConcurrent * FINALIZING_FACTOR - active.size) - reserved;

  function kick(): void {
    while (accepting && claimsInFlight < MAX_CLAIMS_IN_FLIGHT && emptyAt !== generation) {
      const free = freeSlots();
      if (free <= 0) return;
      void claim(free);
    }
  }

  async function claim(limit: number): Promise<void> {
    claimsInFlight++;
    reserved += limit;
    const startedIn = generation;
    try {
      const rows = await claimRuns(db, { limit, instanceId: options.instanceId, leaseMs: options.leaseMs, exclude: [...active.keys()] });
      if (rows.length < limit && startedIn > emptyAt) emptyAt = startedIn;
      reserved -= limit;
      limit = 0;
      for (const row of rows) begin(row);
    } catch (error) {
      logger.warn({ err: error }, 'claiming runs failed; retrying shortly');
      emptyAt = generation;
      clearTimeout(claimErrorTimer);
      claimErrorTimer = setTimeout(wake, 1000);
      claimErrorTimer.unref();
    } finally {
      reserved -= limit;
      claimsInFlight--;
      kick();
    }
  }

  function begin(row: ClaimedRow): void {
    const controller = new AbortController();
    const run: ClaimedRun = {
      id: row.id,
      owner: row.owner,
      plan: row.plan,
      planVersion: row.plan_version,
      attempts: row.attempts,
      maxAttempts: row.max_attempts,
      leaseToken: row.lease_token,
      inputAnswers: Array.isArray(row.input_answers) ? row.input_answers : [],
      createdAt: row.created_at,
      claimedAt: row.event_at,
      startedSeq: row.last_seq,
    };
    const attempt: Attempt = {
      row,
      run,
      fence: { id: row.id, token: row.lease_token },
      controller,
      signal: controller.signal,
      lastSeq: row.last_seq,
      lost: false,
      released: false,
      ended: false,
      startedAt: performance.now(),
      done: Promise.resolve(),
    };
    const previous = active.get(row.id);
    if (previous) {
      // Two claims in flight, the run swept between them: the older attempt's token is gone.
      previous.lost = true;
      abort(previous, 'lease_lost', 'the run was claimed again');
    }
    active.set(row.id, attempt);
    executing++;
    metrics.jobsActive.set(executing);
    publish(row.id, row.owner, { seq: row.last_seq, at: row.event_at, type: 'run.started', data: { attempt: row.attempts, instance: options.instanceId } });
    if (row.cancel_requested || earlyCancels.delete(row.id)) abort(attempt, 'cancelled', 'the run was cancelled');
    attempt.done = runAttempt(attempt);
  }

  async function runAttempt(attempt: Attempt): Promise<void> {
    const timer = setTimeout(() => abort(attempt, 'timeout', `attempt exceeded ${options.jobTimeoutMs} ms`), options.jobTimeoutMs);
    let outcome: Outcome = 'lost';
    let holdsSlot = true;
    const release = () => {
      holdsSlot = false;
      executing--;
      metrics.jobsActive.set(executing);
      kick();
    };
    try {
      const ctx = createRunContext({ db, sink, logger, attempt });
      let output: unknown;
      let failure: { error: unknown } | undefined;
      try {
        output = (await untilAbortedPlusGrace(planner.execute(ctx), attempt.signal, options.abortGraceMs)).output;
      } catch (error) {
        failure = { error };
      }
      clearTimeout(timer);
      release();
      outcome = failure ? await settleFailure(attempt, failure.error) : await settleSuccess(attempt, output);
    } catch (error) {
      // A database error while writing the outcome: the lease will expire and the sweeper re-queues the run.
      logger.error({ err: error, runId: attempt.run.id }, 'could not record the outcome of a run; its lease will expire and it will be retried');
    } finally {
      clearTimeout(timer);
      if (holdsSlot) release();
      attempt.ended = true;
      if (active.get(attempt.run.id) === attempt) active.delete(attempt.run.id);
      metrics.jobDuration.observe({ status: outcome }, (performance.now() - attempt.startedAt) / 1000);
      if (outcome === 'succeeded' || outcome === 'failed' || outcome === 'cancelled') {
        metrics.jobsCompletedTotal.inc({ status: outcome });
        deps.onFinal(attempt.run.id);
      }
      logger.debug({ runId: attempt.run.id, outcome, attempt: attempt.run.attempts }, 'attempt ended');
      if (active.size === 0) for (const resolve of idleWaiters) resolve();
      // A lost run may be queued again, and claims skipped it while this attempt was active.
      if (attempt.lost) wake();
      else kick();
    }
  }

  // Final writes go through a combiner (final-writes.ts): under load, many runs share one commit.
  const finals = createFinalWriter(finalStatements(db));

  async function writeFinal(attempt: Attempt, status: 'succeeded' | 'failed', output: unknown, error: { code: string; message: string } | null): Promise<Outcome> {
    const body: RunEventBody =
      status === 'succeeded'
        ? { type: 'run.succeeded', data: { output: output ?? null, attempt: attempt.run.attempts } }
        : { type: 'run.failed', data: { error, attempt: attempt.run.attempts } };
    const written = await finals.commit({ fence: attempt.fence, status, output, error, data: body.data });
    if (written) {
      publish(attempt.run.id, attempt.run.owner, { ...written, ...body });
      return status;
    }
    return writeCancelledIfRequested(attempt);
  }

  /** The first write refused: either a cancel is pending (write `cancelled`) or the lease is gone. */
  async function writeCancelledIfRequested(attempt: Attempt): Promise<Outcome> {
    const data = { attempt: attempt.run.attempts };
    const written = await finishRun(db, attempt.fence, { status: 'cancelled', output: null, error: null }, data);
    if (written) {
      publish(attempt.run.id, attempt.run.owner, { ...written, type: 'run.cancelled', data });
      return 'cancelled';
    }
    attempt.lost = true;
    logger.warn({ runId: attempt.run.id }, 'lease lost before the outcome could be written; another worker owns the run');
    return 'lost';
  }

  async function settleSuccess(attempt: Attempt, output: unknown): Promise<Outcome> {
    if (attempt.released) return 'released';
    if (attempt.lost) return 'lost';
    if (reasonOf(attempt)?.kind === 'cancelled') return writeCancelledIfRequested(attempt);
    return writeFinal(attempt, 'succeeded', output, null);
  }

  async function settleFailure(attempt: Attempt, error: unknown): Promise<Outcome> {
    if (attempt.released) return 'released';
    const reason = reasonOf(attempt);
    if (attempt.lost || error instanceof LeaseLost || reason?.kind === 'lease_lost') return 'lost';
    if (reason?.kind === 'shutdown') return 'released';
    if (reason?.kind === 'cancelled') return writeCancelledIfRequested(attempt);
    if (error instanceof AwaitingInput) {
      const data = { question: error.question ?? null };
      const written = await parkRun(db, attempt.fence, error.question, data);
      if (!written) return writeCancelledIfRequested(attempt);
      publish(attempt.run.id, attempt.run.owner, { ...written, type: 'run.awaiting_input', data });
      return 'awaiting_input';
    }
    const failure = classify(reason?.kind === 'timeout' ? reason : error, options.jobTimeoutMs);
    const runError = { code: failure.code, message: failure.message };
    if (failure.retryable && attempt.run.attempts < attempt.run.maxAttempts) {
      const delayMs = backoffMs(attempt.run.attempts, { baseMs: options.retryBaseMs, maxMs: options.retryMaxMs, retryAfterMs: failure.retryAfterMs });
      const data = { attempt: attempt.run.attempts, maxAttempts: attempt.run.maxAttempts, delayMs, error: runError };
      const written: WrittenEvent | null = await retryRun(db, attempt.fence, delayMs, runError, data);
      if (!written) return writeCancelledIfRequested(attempt);
      metrics.jobRetriesTotal.inc();
      publish(attempt.run.id, attempt.run.owner, { ...written, type: 'run.retrying', data });
      logger.info({ runId: attempt.run.id, attempt: attempt.run.attempts, delayMs, code: failure.code }, 'run will be retried');
      deps.onDelayed(Date.now() + delayMs);
      return 'retrying';
    }
    logger.info({ runId: attempt.run.id, code: failure.code, retryable: failure.retryable, attempts: attempt.run.attempts }, 'run failed');
    return writeFinal(attempt, 'failed', null, runError);
  }

  function reasonOf(attempt: Attempt): AttemptAborted | undefined {
    const reason: unknown = attempt.signal.reason;
    return attempt.signal.aborted && reason instanceof AttemptAborted ? reason : undefined;
  }

  function abort(attempt: Attempt, kind: AttemptAborted['kind'], message: string): void {
    if (!attempt.signal.aborted) attempt.controller.abort(new AttemptAborted(kind, message));
  }

  return {
    get activeCount() {
      return active.size;
    },
    get accepting() {
      return accepting;
    },
    /** Starts claiming (and claims now). */
    resume(): void {
      accepting = true;
      wake();
    },
    /** Stops claiming new runs; running ones carry on. */
    pause(): void {
      accepting = false;
      clearTimeout(claimErrorTimer);
    },
    wake,
    /** A cancel for `runId` arrived; if it runs here, abort it now. */
    cancel(runId: string): boolean {
      const attempt = active.get(runId);
      if (!attempt) {
        const now = Date.now();
        for (const [id, at] of earlyCancels) if (at < now - EARLY_CANCEL_LEASES * options.leaseMs) earlyCancels.delete(id);
        if (claimsInFlight > 0) earlyCancels.set(runId, now);
        return false;
      }
      abort(attempt, 'cancelled', 'the run was cancelled');
      return true;
    },
    /** The heartbeat: renews every held lease; aborts attempts whose lease is gone or that were cancelled. */
    async heartbeat(): Promise<void> {
      const held = [...active.values()].filter((a) => !a.released && !a.lost);
      if (held.length === 0) return;
      const renewed = await renewLeases(deps.leaseDb ?? db, held.map((a) => a.fence), options.leaseMs);
      const byToken = new Map(renewed.map((r) => [r.lease_token, r]));
      for (const attempt of held) {
        const row = byToken.get(attempt.fence.token);
        if (!row) {
          if (attempt.ended) continue; // finished while the heartbeat ran
          attempt.lost = true;
          logger.warn({ runId: attempt.run.id }, 'lease lost (expired or taken over); aborting the attempt');
          abort(attempt, 'lease_lost', 'the lease on this run was lost');
        } else if (row.cancel_requested) {
          abort(attempt, 'cancelled', 'the run was cancelled');
        }
      }
    },
    /**
     * Shutdown: waits for running attempts until `deadline`, then hands the rest
     * back to the queue at once (attempt not counted) and aborts them locally.
     */
    async drain(deadline: AbortSignal): Promise<ReturnedRow[]> {
      accepting = false;
      clearTimeout(claimErrorTimer);
      if (active.size > 0 && !deadline.aborted) {
        await new Promise<void>((resolve) => {
          const done = () => {
            idleWaiters.delete(done);
            deadline.removeEventListener('abort', done);
            resolve();
          };
          idleWaiters.add(done);
          deadline.addEventListener('abort', done, { once: true });
        });
      }
      const remaining = [...active.values()].filter((a) => !a.lost);
      if (remaining.length === 0) return [];
      for (const attempt of remaining) attempt.released = true;
      let returned: ReturnedRow[] = [];
      try {
        returned = await releaseRuns(db, remaining.map((a) => a.fence));
      } catch (error) {
        logger.error({ err: error }, 'could not release runs at shutdown; their leases will expire instead');
      }
      for (const row of returned) publish(row.id, row.owner, row);
      for (const attempt of remaining) abort(attempt, 'shutdown', 'the instance is shutting down');
      logger.info({ released: returned.length }, 'unfinished runs released to the queue');
      // Give aborted attempts a moment to unwind so nothing touches the pool after it closes.
      await Promise.race([Promise.allSettled(remaining.map((a) => a.done)), new Promise((r) => setTimeout(r, 500).unref())]);
      return returned;
    },
    /** Leases this worker holds now (for tests and health). */
    held(): Fence[] {
      return [...active.values()].map((a) => a.fence);
    },
  };
}

export type Worker = ReturnType<typeof createWorker>;

/**
 * Waits for `work`; once `signal` aborts, waits at most `graceMs` more and then
 * rejects with the abort reason, so a planner that ignores its signal cannot
 * hold a slot (and a lease) forever.
 */
function untilAbortedPlusGrace<T>(work: Promise<T>, signal: AbortSignal, graceMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const bail = new Promise<never>((_, reject) => {
    onAbort = () => {
      timer = setTimeout(() => reject(signal.reason), graceMs);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  return Promise.race([work, bail]).finally(() => {
    clearTimeout(timer);
    if (onAbort) signal.removeEventListener('abort', onAbort);
  });
}
