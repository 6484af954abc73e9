import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { AuthUser } from '../auth/types.js';
import { ConflictError, ForbiddenError, ValidationError } from '../domain/errors.js';
import { findRunByIdempotencyKey, insertRuns } from './sql/insert-runs.js';
import type { RunRow } from './sql/rows.js';
import type { EventSink, FrozenPlan, RunCallbacks, SubmitSource } from './types.js';

export interface Submitted {
  run: RunRow;
  /** False when the idempotency key named a run that already existed. */
  created: boolean;
}

/** Submits a planned run for `actor`; the one way every producer (HTTP, threads, triggers…) creates runs. */
export type SubmitRun = (plan: FrozenPlan, actor: AuthUser, source: SubmitSource) => Promise<Submitted>;

/** Runs of an actor restricted to some agents (an API key with `agents`) may use only those. */
export function checkAgentsAllowed(plan: FrozenPlan, actor: AuthUser): void {
  const allowed = actor.apiKey?.agents;
  if (!allowed) return;
  if (!plan.agentNames) throw new ForbiddenError('this API key may run only some agents, and this run does not say which it uses');
  const refused = plan.agentNames.filter((name) => !allowed.includes(name));
  if (refused.length > 0) throw new ForbiddenError(`this API key may not run ${refused.map((n) => `"${n}"`).join(', ')} (allowed: ${allowed.join(', ')})`);
}

/**
 * Inserts the run with its `run.queued` event and NOTIFY, publishes the event and
 * wakes this instance's worker. Planning (validation) happened before: nothing here
 * looks inside the plan.
 */
export function createSubmitRun(deps: { pool: pg.Pool; sink: EventSink; maxAttempts: number; wake(): void; callbacks?: RunCallbacks }): SubmitRun {
  const { pool, sink } = deps;
  return async (plan, actor, source) => {
    checkAgentsAllowed(plan, actor);
    const idempotencyKey = source.idempotencyKey ?? null;
    const id = randomUUID();
    const callbackUrl = source.callbackUrl ?? null;
    if (callbackUrl !== null) {
      if (!deps.callbacks) throw new ValidationError('callbackUrl: callbacks are not available on this server');
      deps.callbacks.check(callbackUrl);
      // Before the run exists: a run that ends always finds its callback.
      await deps.callbacks.register(id, callbackUrl);
    }
    let inserted: Awaited<ReturnType<typeof insertRuns>>[number] | undefined;
    try {
      [inserted] = await insertRuns(pool, [
        {
          id,
          owner: actor.username,
          ownerId: actor.id ?? null,
          ...plan.summary,
          plan: plan.plan,
          planVersion: plan.version,
          priority: source.priority ?? 0,
          idempotencyKey,
          maxAttempts: deps.maxAttempts,
          model: plan.model,
          offline: plan.offline,
          finishWaiters: source.awaitFinish === true,
        },
      ]);
    } finally {
      // No run was created under this id (an error, or the idempotency key named another run).
      if (callbackUrl !== null && !inserted) await deps.callbacks?.forget(id).catch(() => undefined);
    }
    if (inserted) {
      const { event_at: at, ...run } = inserted;
      try {
        sink.event({ seq: 1, runId: run.id, type: 'run.queued', data: { priority: run.priority }, at: at.toISOString() }, run.owner);
      } catch {
        // Live delivery is best effort; the event is stored.
      }
      deps.wake();
      return { run, created: true };
    }
    // Same key from the same owner: the run it already named.
    const existing = idempotencyKey === null ? null : await findRunByIdempotencyKey(pool, actor.username, idempotencyKey, source.awaitFinish === true);
    if (!existing) throw new ConflictError('the run for this idempotency key is being created; retry');
    return { run: existing, created: false };
  };
}
