/**
 * Every write a worker makes while it runs a run. Each is ONE statement whose
 * first step is an UPDATE of the run row guarded by the fencing token: that UPDATE both proves the worker still owns the run and
 * takes the next event seq (runs.last_seq), so a worker that lost its lease
 * writes nothing at all — no step, no event, no status — and seqs have no gaps.
 */
import type { RunError as RunErrorJson, Usage } from '../../../shared/protocol.js';
import { CHANNELS, STEP_COLUMNS, type Db, type StepRow } from './rows.js';

export interface Fence {
  id: string;
  token: string;
}

export interface WrittenEvent {
  seq: number;
  at: Date;
}

/*
 * The token decides, not the clock: the sweeper clears the token when it takes
 * a run back, so a worker whose lease ran out (a stall) but was not swept yet
 * still owns the run and may write; once swept, no write of it matches.
 */
const FENCE = `id = $1 AND lease_token = $2 AND status = 'running'`;

export async function appendEvent(db: Db, fence: Fence, type: string, data: Record<string, unknown>): Promise<WrittenEvent | null> {
  const { rows } = await db.query<WrittenEvent>({
    name: 'queue_append_event',
    text: `WITH r AS (
        UPDATE runs SET last_seq = last_seq + 1, updated_at = now() WHERE ${FENCE} RETURNING id, last_seq
      )
      INSERT INTO run_events (run_id, seq, type, data) SELECT id, last_seq, $3, $4::jsonb FROM r RETURNING seq, at`,
    values: [fence.id, fence.token, type, JSON.stringify(data)],
  });
  return rows[0] ?? null;
}

export async function loadSteps(db: Db, runIds: string[]): Promise<StepRow[]> {
  if (runIds.length === 0) return [];
  const { rows } = await db.query<StepRow>({
    name: 'queue_load_steps',
    text: `SELECT ${STEP_COLUMNS} FROM run_steps WHERE run_id = ANY($1::uuid[]) ORDER BY run_id, idx, started_at`,
    values: [runIds],
  });
  return rows;
}

export interface StepStart {
  key: string;
  index: number;
  agent: string | null;
  meta: Record<string, unknown> | null;
  /** The stored events' types: a tool step's are run.tool.called / run.tool.finished. */
  startedType?: 'run.step.started' | 'run.tool.called';
  finishedType?: 'run.step.finished' | 'run.tool.finished';
}

/** Marks a step running (visible in GET /api/runs/:id) with its `run.step.started` event. */
export async function startStep(db: Db, fence: Fence, step: StepStart, data: Record<string, unknown>): Promise<WrittenEvent | null> {
  const { rows } = await db.query<WrittenEvent>({
    name: 'queue_start_step',
    text: `WITH r AS (
        UPDATE runs SET last_seq = last_seq + 1, updated_at = now() WHERE ${FENCE} RETURNING id, last_seq
      ), s AS (
        INSERT INTO run_steps (run_id, key, idx, agent, status, meta, started_at)
        SELECT id, $3, $4, $5, 'running', $6::jsonb, now() FROM r
        ON CONFLICT (run_id, key) DO UPDATE SET status = 'running', idx = EXCLUDED.idx, meta = EXCLUDED.meta,
               output = NULL, started_at = now(), finished_at = NULL
      )
      INSERT INTO run_events (run_id, seq, type, data) SELECT id, last_seq, $8::text, $7::jsonb FROM r RETURNING seq, at`,
    values: [fence.id, fence.token, step.key, step.index, step.agent, step.meta ? JSON.stringify(step.meta) : null, JSON.stringify(data), step.startedType ?? 'run.step.started'],
  });
  return rows[0] ?? null;
}

export interface StepEnd extends StepStart {
  status: 'succeeded' | 'failed';
  output: unknown;
  model: string | null;
  usage: Usage | null;
}

/**
 * The checkpoint: stores the step's output and adds its usage to the run's
 * totals, with `run.step.finished`, atomically. A failed step is stored too
 * (for the record, with the usage it spent, which counts on the run) but is
 * not a checkpoint: the next attempt runs it again.
 */
export async function finishStep(db: Db, fence: Fence, step: StepEnd, data: Record<string, unknown>): Promise<WrittenEvent | null> {
  const usage = step.usage;
  const { rows } = await db.query<WrittenEvent>({
    name: 'queue_finish_step',
    text: `WITH r AS (
        UPDATE runs SET last_seq = last_seq + 1, updated_at = now(),
               prompt_tokens = prompt_tokens + $8, completion_tokens = completion_tokens + $9,
               cost_usd = cost_usd + $10, cached_requests = cached_requests + $11
         WHERE ${FENCE} RETURNING id, last_seq
      ), s AS (
        INSERT INTO run_steps (run_id, key, idx, agent, status, output, meta, model, prompt_tokens, completion_tokens,
                               cost_usd, cached, started_at, finished_at)
        SELECT id, $3, $4, $5, $12, $6::jsonb, $7::jsonb, $13, $8, $9, $10, $11 > 0, now(), now() FROM r
        ON CONFLICT (run_id, key) DO UPDATE SET status = EXCLUDED.status, idx = EXCLUDED.idx, output = EXCLUDED.output,
               meta = EXCLUDED.meta, model = EXCLUDED.model, prompt_tokens = EXCLUDED.prompt_tokens,
               completion_tokens = EXCLUDED.completion_tokens, cost_usd = EXCLUDED.cost_usd, cached = EXCLUDED.cached,
               finished_at = now()
      )
      INSERT INTO run_events (run_id, seq, type, data) SELECT id, last_seq, $15::text, $14::jsonb FROM r RETURNING seq, at`,
    values: [
      fence.id,
      fence.token,
      step.key,
      step.index,
      step.agent,
      JSON.stringify(step.output ?? null),
      step.meta ? JSON.stringify(step.meta) : null,
      Math.max(0, Math.round(usage?.promptTokens ?? 0)),
      Math.max(0, Math.round(usage?.completionTokens ?? 0)),
      Math.max(0, usage?.costUsd ?? 0),
      Math.max(0, Math.round(usage?.cachedRequests ?? 0)),
      step.status,
      step.model,
      JSON.stringify(data),
      step.finishedType ?? 'run.step.finished',
    ],
  });
  return rows[0] ?? null;
}

export interface FinalRow extends WrittenEvent {
  finished_at: Date;
  started_at: Date | null;
}

/*
 * Final writes. succeeded/failed need `NOT cancel_requested` (a cancel that
 * arrived first wins); `cancelled` needs it set. When the first kind returns no
 * row the worker tries the second: no row again means the lease is gone.
 */
export async function finishRun(
  db: Db,
  fence: Fence,
  final: { status: 'succeeded' | 'failed' | 'cancelled'; output: unknown; error: RunErrorJson | null },
  data: Record<string, unknown>,
): Promise<FinalRow | null> {
  const cancelled = final.status === 'cancelled';
  const { rows } = await db.query<FinalRow>({
    name: `queue_finish_run_${cancelled ? 'cancelled' : 'done'}`,
    text: `WITH r AS (
        UPDATE runs SET status = $3, output = $4::jsonb, error = $5::jsonb, finished_at = now(), updated_at = now(),
               lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, pending_input = NULL,
               last_seq = last_seq + 1
         WHERE ${FENCE} AND ${cancelled ? 'cancel_requested' : 'NOT cancel_requested'}
        RETURNING id, last_seq, finish_waiters, started_at, finished_at
      ), e AS (
        INSERT INTO run_events (run_id, seq, type, data) SELECT id, last_seq, 'run.' || $3, $6::jsonb FROM r RETURNING run_id, seq, at
      ), d AS (
        SELECT pg_notify('${CHANNELS.done}', id::text) FROM r WHERE finish_waiters
      )
      SELECT e.seq, e.at, r.started_at, r.finished_at FROM r JOIN e ON e.run_id = r.id CROSS JOIN (SELECT count(*) FROM d) d1`,
    values: [
      fence.id,
      fence.token,
      final.status,
      final.output === undefined || final.status !== 'succeeded' ? null : JSON.stringify(final.output),
      final.error ? JSON.stringify(final.error) : null,
      JSON.stringify(data),
    ],
  });
  return rows[0] ?? null;
}

/** Back to the queue after a retryable failure, claimable again after `delayMs`. */
export async function retryRun(db: Db, fence: Fence, delayMs: number, error: RunErrorJson, data: Record<string, unknown>): Promise<WrittenEvent | null> {
  const { rows } = await db.query<WrittenEvent>({
    name: 'queue_retry_run',
    text: `WITH r AS (
        UPDATE runs SET status = 'queued', run_at = now() + $3 * interval '1 millisecond', error = $4::jsonb,
               lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, last_seq = last_seq + 1, updated_at = now()
         WHERE ${FENCE} AND NOT cancel_requested
        RETURNING id, last_seq
      )
      INSERT INTO run_events (run_id, seq, type, data) SELECT id, last_seq, 'run.retrying', $5::jsonb FROM r RETURNING seq, at`,
    values: [fence.id, fence.token, delayMs, JSON.stringify(error), JSON.stringify(data)],
  });
  return rows[0] ?? null;
}

/**
 * Parks the run for a person: no lease, no worker. This attempt is not counted,
 * since asking is not failing.
 */
export async function parkRun(db: Db, fence: Fence, question: unknown, data: Record<string, unknown>): Promise<WrittenEvent | null> {
  const { rows } = await db.query<WrittenEvent>({
    name: 'queue_park_run',
    text: `WITH r AS (
        UPDATE runs SET status = 'awaiting_input', pending_input = $3::jsonb, attempts = greatest(attempts - 1, 0),
               lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, last_seq = last_seq + 1, updated_at = now()
         WHERE ${FENCE} AND NOT cancel_requested
        RETURNING id, last_seq
      )
      INSERT INTO run_events (run_id, seq, type, data) SELECT id, last_seq, 'run.awaiting_input', $4::jsonb FROM r RETURNING seq, at`,
    values: [fence.id, fence.token, JSON.stringify(question ?? null), JSON.stringify(data)],
  });
  return rows[0] ?? null;
}

export interface FinalWrite {
  fence: Fence;
  status: 'succeeded' | 'failed';
  output: unknown;
  error: RunErrorJson | null;
  data: Record<string, unknown>;
}

/**
 * The same fenced final write as finishRun (succeeded/failed) for several runs
 * in one statement: attempts that end while another final write is in flight
 * are committed together. Rows are locked in id order, as the heartbeat does,
 * so two multi-row statements of one instance never deadlock. Runs missing from
 * the answer were refused (lease gone or cancel pending).
 */
export async function finishRuns(db: Db, finals: FinalWrite[]): Promise<Map<string, FinalRow>> {
  const { rows } = await db.query<FinalRow & { id: string }>({
    name: 'queue_finish_runs',
    text: `WITH f AS (
        SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::jsonb[], $5::jsonb[], $6::jsonb[])
          AS f(id, token, status, output, error, data)
      ), l AS (
        SELECT runs.id FROM runs JOIN f ON runs.id = f.id AND runs.lease_token = f.token
         WHERE runs.status = 'running' AND NOT runs.cancel_requested
         ORDER BY runs.id FOR UPDATE OF runs
      ), r AS (
        UPDATE runs SET status = f.status, output = f.output, error = f.error, finished_at = now(), updated_at = now(),
               lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, pending_input = NULL,
               last_seq = runs.last_seq + 1
          FROM f, l WHERE runs.id = f.id AND l.id = f.id
        RETURNING runs.id, runs.last_seq, runs.finish_waiters, runs.started_at, runs.finished_at, f.status AS final_status, f.data
      ), e AS (
        INSERT INTO run_events (run_id, seq, type, data) SELECT id, last_seq, 'run.' || final_status, data FROM r RETURNING run_id, seq, at
      ), d AS (
        SELECT pg_notify('${CHANNELS.done}', id::text) FROM r WHERE finish_waiters
      )
      SELECT r.id, e.seq, e.at, r.started_at, r.finished_at FROM r JOIN e ON e.run_id = r.id CROSS JOIN (SELECT count(*) FROM d) d1`,
    values: [
      finals.map((f) => f.fence.id),
      finals.map((f) => f.fence.token),
      finals.map((f) => f.status),
      finals.map((f) => (f.status === 'succeeded' && f.output !== undefined ? JSON.stringify(f.output) : null)),
      finals.map((f) => (f.error ? JSON.stringify(f.error) : null)),
      finals.map((f) => JSON.stringify(f.data)),
    ],
  });
  return new Map(rows.map((r) => [r.id, r]));
}
