import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { AuthUser } from '../auth/types.js';
import { ConflictError, ForbiddenError, ValidationError } from '../domain/errors.js';
import { findRunByIdempotencyKey, insertRuns, type NewRun } from './sql/insert-runs.js';
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

export interface Submitter {
  submitRun: SubmitRun;
  /**
   * Commits every submission already accepted and resolves when none is left. Later
   * submissions still work (requests in flight during shutdown), each in its own batch at once.
   */
  stop(): Promise<void>;
}


interface Member {
  run: NewRun;
  source: SubmitSource;
  resolve(value: Submitted): void;
  reject(error: unknown): void;
}

/**
 * Inserts runs with their `run.queued` event and NOTIFY, publishes the event and
 * wakes this instance's worker. Planning (validation) happened before: nothing here
 * looks inside the plan.
 *
 * Concurrent submissions are coalesced: each durable commit is a WAL flush the request
 * would otherwise wait for alone (the profile of `POST /api/runs` at 500 req/s showed the
 * app idle 26 % of the time on it, BENCHMARKS.md). One statement is in flight at a time;
 * submissions arriving meanwhile join the next one, so batches grow with load and a lone
 * request waits at most one event-loop turn. Each caller still gets its own row or its own
 * error: when a batch statement fails, its members are inserted again one by one (ids are
 * chosen here, so a retry can never create a second run).
 */
/**
 * Whether the database refused the statement for what one of its rows holds: SQLSTATE
 * classes 22 (data exception, e.g. a \u0000 in JSON), 23 (integrity constraint) and
 * 54 (program limit, e.g. a value too large). Anything else fails the batch as a whole.
 */
function causedByARow(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^(22|23|54)[0-9A-Z]{3}$/.test(code);
}

export function createSubmitRun(deps: {
  pool: pg.Pool;
  sink: EventSink;
  maxAttempts: number;
  /** Rows per INSERT (SUBMIT_BATCH_MAX); 1 turns coalescing off: each submission its own statement and commit, concurrently. */
  maxBatch: number;
  wake(): void;
  /** Observes each batch's size (the `queue_submit_batch_size` histogram). */
  onBatch?(size: number): void;
  /** Run callbacks (server/webhooks): a run naming `callbackUrl` registers it before it exists. */
  callbacks?: RunCallbacks;
}): Submitter {
  const { pool, sink } = deps;
  let pending: Member[] = [];
  /** The statement in flight, if any: one at a time, so the next batch gathers meanwhile. */
  let inFlight: Promise<void> | null = null;
  let scheduled = false;
  let stopping = false;
  /** Work started by a batch that outlives its statement (one-by-one retries, idempotent look-ups). */
  const tails = new Set<Promise<void>>();

  const track = (work: Promise<void>) => {
    tails.add(work);
    void work.finally(() => tails.delete(work));
  };

  function schedule(): void {
    if (inFlight || scheduled || pending.length === 0) return;
    if (stopping) {
      flush();
      return;
    }
    // One turn's worth of submissions (requests parsed in the same poll phase) share the first statement.
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      flush();
    });
  }

  function flush(): void {
    if (inFlight || pending.length === 0) return;
    inFlight = runBatch().finally(() => {
      inFlight = null;
      schedule();
    });
  }

  async function runBatch(): Promise<void> {
    const batch = takeBatch();
    try {
      deps.onBatch?.(batch.leaders.length);
    } catch {
      // A metric must not strand the batch.
    }
    let rows: (RunRow & { event_at: Date })[];
    try {
      rows = await insertRuns(pool, batch.leaders.map((m) => m.run));
    } catch (error) {
      if (batch.leaders.length > 1 && causedByARow(error)) {
        // Which member broke the statement is not known: each tries alone, so only it fails.
        track(Promise.all(batch.leaders.map((m) => insertAlone(m, batch.followers))).then(() => undefined));
      } else {
        // The database or the pool is the trouble (timeout, connection, shutdown): retrying
        // each member would only make every caller wait for it again.
        for (const m of batch.leaders) settleFailed(m, error, batch.followers);
      }
      return;
    }
    settle(batch.leaders, rows, batch.followers);
  }

  /** Up to maxBatch leaders; a member whose (owner, key) a leader already carries follows it. */
  function takeBatch(): { leaders: Member[]; followers: Map<Member, Member[]> } {
    const leaders: Member[] = [];
    const followers = new Map<Member, Member[]>();
    const byKey = new Map<string, Member>();
    let i = 0;
    for (; i < pending.length && leaders.length < deps.maxBatch; i++) {
      const m = pending[i]!;
      const key = m.run.idempotencyKey === null ? null : `${m.run.owner}\u0000${m.run.idempotencyKey}`;
      const leader = key === null ? undefined : byKey.get(key);
      if (leader) {
        followers.set(leader, [...(followers.get(leader) ?? []), m]);
        continue;
      }
      if (key !== null) byKey.set(key, m);
      leaders.push(m);
    }
    pending = pending.slice(i);
    return { leaders, followers };
  }

  async function insertAlone(m: Member, followers: Map<Member, Member[]>): Promise<void> {
    try {
      settle([m], await insertRuns(pool, [m.run]), followers);
    } catch (error) {
      settleFailed(m, error, followers);
    }
  }

  function settle(members: Member[], rows: (RunRow & { event_at: Date })[], followers: Map<Member, Member[]>): void {
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (const m of members) {
      const inserted = byId.get(m.run.id);
      if (inserted) {
        const { event_at: at, ...run } = inserted;
        try {
          sink.event({ seq: 1, runId: run.id, type: 'run.queued', data: { priority: run.priority }, at: at.toISOString() }, run.owner);
        } catch {
          // Live delivery is best effort; the event is stored.
        }
        m.resolve({ run, created: true });
      } else {
        // Its (owner, key) was already taken by an earlier statement.
        track(lookUp(m));
      }
      for (const f of followers.get(m) ?? []) track(lookUp(f));
    }
    if (rows.length > 0) {
      try {
        deps.wake();
      } catch {
        // The poll loop and the NOTIFY wake the worker as well.
      }
    }
  }

  function settleFailed(m: Member, error: unknown, followers: Map<Member, Member[]>): void {
    m.reject(error);
    // A follower's own insert decides for it: its plan may be fine where the leader's was not.
    const rest = followers.get(m) ?? [];
    if (rest.length === 0) return;
    pending.push(...rest);
    schedule();
  }

  /** Same key from the same owner: the run it already named. */
  async function lookUp(m: Member): Promise<void> {
    try {
      const key = m.run.idempotencyKey;
      const existing = key === null ? null : await findRunByIdempotencyKey(pool, m.run.owner, key, m.source.awaitFinish === true);
      if (!existing) throw new ConflictError('the run for this idempotency key is being created; retry');
      m.resolve({ run: existing, created: false });
    } catch (error) {
      m.reject(error);
    }
  }

  const enqueue = (id: string, plan: FrozenPlan, actor: AuthUser, source: SubmitSource) =>
    new Promise<Submitted>((resolve, reject) => {
      const member: Member = {
        run: {
          id,
          owner: actor.username,
          ownerId: actor.id ?? null,
          ...plan.summary,
          plan: plan.plan,
          planVersion: plan.version,
          priority: source.priority ?? 0,
          idempotencyKey: source.idempotencyKey ?? null,
          maxAttempts: deps.maxAttempts,
          model: plan.model,
          offline: plan.offline,
          finishWaiters: source.awaitFinish === true,
        },
        source,
        resolve,
        reject,
      };
      // Coalescing off: every submission its own statement and commit, side by side.
      if (deps.maxBatch <= 1) track(insertAlone(member, new Map()));
      else {
        pending.push(member);
        schedule();
      }
    });

  const submitRun: SubmitRun = async (plan, actor, source) => {
    checkAgentsAllowed(plan, actor);
    const id = randomUUID();
    const callbackUrl = source.callbackUrl ?? null;
    if (callbackUrl !== null) {
      if (!deps.callbacks) throw new ValidationError('callbackUrl: callbacks are not available on this server');
      deps.callbacks.check(callbackUrl);
      // Before the run exists: a run that ends always finds its callback.
      await deps.callbacks.register(id, callbackUrl);
    }
    let submitted: Submitted | undefined;
    try {
      submitted = await enqueue(id, plan, actor, source);
      return submitted;
    } finally {
      // No run was created under this id (an error, or the idempotency key named another run).
      if (callbackUrl !== null && submitted?.created !== true) await deps.callbacks?.forget(id).catch(() => undefined);
    }
  };

  return {
    submitRun,
    async stop() {
      stopping = true;
      // A flush deferred to the next turn goes now; then wait out statements, retries and look-ups.
      flush();
      for (;;) {
        if (inFlight) await inFlight;
        else if (pending.length > 0) flush();
        else if (tails.size > 0) await Promise.allSettled([...tails]);
        else return;
      }
    },
  };
}
