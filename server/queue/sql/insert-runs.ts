import type { RunSummary } from '../types.js';
import { CHANNELS, RUN_COLUMNS, type Db, type RunRow } from './rows.js';

/** A run to insert: the queue's own fields, the frozen plan, and the summary the API shows. */
export interface NewRun extends RunSummary {
  id: string;
  owner: string;
  plan: unknown;
  planVersion: number;
  /** The owner's user id (users.id); null for the local admin when authentication is off. */
  ownerId?: string | null;
  priority: number;
  idempotencyKey: string | null;
  maxAttempts: number;
  model: string | null;
  offline: boolean;
  finishWaiters: boolean;
}

const json = (v: unknown) => (v === undefined || v === null ? null : JSON.stringify(v));

/**
 * Inserts runs (one or a batch) with their `run.queued` event (seq 1) and ONE
 * NOTIFY for the whole statement, however many rows. A row whose (owner,
 * idempotency key) already exists is skipped; the caller looks it up.
 */
export async function insertRuns(db: Db, runs: NewRun[]): Promise<(RunRow & { event_at: Date })[]> {
  if (runs.length === 0) return [];
  const { rows } = await db.query<RunRow & { event_at: Date }>({
    name: 'queue_insert_runs',
    text: `WITH src AS (
        SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::jsonb[], $7::jsonb[],
                             $8::int[], $9::text[], $10::int[], $11::text[], $12::bool[], $13::bool[], $14::jsonb[], $15::int[], $16::uuid[])
          AS s(id, owner, agent, pattern, agents, options, input, priority, idempotency_key, max_attempts, model, offline, finish_waiters,
               plan, plan_version, owner_id)
      ), r AS (
        INSERT INTO runs (id, owner, agent, pattern, agents, options, input, plan, plan_version, priority, idempotency_key,
                          max_attempts, model, offline, finish_waiters, last_seq, owner_id)
        SELECT id, owner, agent, pattern, agents, options, input, plan, plan_version, priority, idempotency_key,
               max_attempts, model, offline, finish_waiters, 1, owner_id FROM src
        ON CONFLICT (owner, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
        RETURNING ${RUN_COLUMNS}
      ), e AS (
        INSERT INTO run_events (run_id, seq, type, data)
        SELECT id, 1, 'run.queued', jsonb_build_object('priority', priority) FROM r
        RETURNING run_id, at
      ), n AS (
        SELECT pg_notify('${CHANNELS.work}', '') FROM (SELECT 1 FROM r LIMIT 1) one
      )
      SELECT r.*, e.at AS event_at FROM r JOIN e ON e.run_id = r.id CROSS JOIN (SELECT count(*) FROM n) notified`,
    values: [
      runs.map((r) => r.id),
      runs.map((r) => r.owner),
      runs.map((r) => r.agent),
      runs.map((r) => r.pattern),
      runs.map((r) => json(r.agents)),
      runs.map((r) => json(r.options)),
      runs.map((r) => JSON.stringify(r.input ?? null)),
      runs.map((r) => r.priority),
      runs.map((r) => r.idempotencyKey),
      runs.map((r) => r.maxAttempts),
      runs.map((r) => r.model),
      runs.map((r) => r.offline),
      runs.map((r) => r.finishWaiters),
      runs.map((r) => JSON.stringify(r.plan ?? null)),
      runs.map((r) => r.planVersion),
      runs.map((r) => r.ownerId ?? null),
    ],
  });
  return rows;
}

/** The run an idempotency key already named, for a repeated POST. */
export async function findRunByIdempotencyKey(db: Db, owner: string, key: string, wantsFinishNotice: boolean): Promise<RunRow | null> {
  const { rows } = await db.query<RunRow>({
    name: `queue_find_idempotent_${wantsFinishNotice ? 'wait' : 'plain'}`,
    text: wantsFinishNotice
      ? `UPDATE runs SET finish_waiters = true WHERE owner = $1 AND idempotency_key = $2 RETURNING ${RUN_COLUMNS}`
      : `SELECT ${RUN_COLUMNS} FROM runs WHERE owner = $1 AND idempotency_key = $2`,
    values: [owner, key],
  });
  return rows[0] ?? null;
}
