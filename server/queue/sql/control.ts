/** Statements behind the HTTP API: reading runs and events, cancel, human input. */
import type { RunStatus } from '../../../shared/protocol.js';
import { CHANNELS, RUN_COLUMNS, type Db, type EventRow, type RunRow } from './rows.js';

export async function getRun(db: Db, id: string): Promise<RunRow | null> {
  const { rows } = await db.query<RunRow>({ name: 'queue_get_run', text: `SELECT ${RUN_COLUMNS} FROM runs WHERE id = $1`, values: [id] });
  return rows[0] ?? null;
}

export async function getRunStatus(db: Db, id: string): Promise<RunStatus | null> {
  const { rows } = await db.query<{ status: RunStatus }>({ name: 'queue_get_run_status', text: 'SELECT status FROM runs WHERE id = $1', values: [id] });
  return rows[0]?.status ?? null;
}

export interface ListFilter {
  owner?: string;
  status?: RunStatus;
  /** Keyset position: the last row of the previous page. */
  before?: { createdAtMicros: string; id: string };
  limit: number;
}

/** Newest first, keyset-paginated on (created_at, id); asks for one more row to know if a next page exists. */
export async function listRuns(db: Db, filter: ListFilter): Promise<(RunRow & { created_us: string })[]> {
  const where: string[] = [];
  const values: unknown[] = [];
  if (filter.owner !== undefined) {
    values.push(filter.owner);
    where.push(`owner = $${values.length}`);
  }
  if (filter.status !== undefined) {
    values.push(filter.status);
    where.push(`status = $${values.length}`);
  }
  if (filter.before) {
    values.push(filter.before.createdAtMicros, filter.before.id);
    where.push(`(created_at, id) < (timestamptz 'epoch' + $${values.length - 1}::bigint * interval '1 microsecond', $${values.length}::uuid)`);
  }
  values.push(filter.limit + 1);
  const { rows } = await db.query<RunRow & { created_us: string }>(
    `SELECT ${RUN_COLUMNS}, (extract(epoch FROM created_at) * 1000000)::bigint::text AS created_us
       FROM runs ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY created_at DESC, id DESC LIMIT $${values.length}`,
    values,
  );
  return rows;
}

export async function listEvents(db: Db, runId: string, after: number, limit: number): Promise<EventRow[]> {
  const { rows } = await db.query<EventRow>({
    name: 'queue_list_events',
    text: 'SELECT run_id, seq, type, data, at FROM run_events WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3',
    values: [runId, after, limit],
  });
  return rows;
}

export interface ControlResult {
  id: string;
  owner: string;
  status: RunStatus;
  lease_owner: string | null;
  seq: number;
  type: string;
  data: Record<string, unknown>;
  at: Date;
}

/**
 * Cancel: a queued or waiting run ends `cancelled` here and now; a running one
 * gets `cancel_requested` and a NOTIFY so whichever instance holds it aborts it
 * (the worker, or the sweeper if the worker is gone, writes `cancelled`), and
 * `finish_waiters` so that final write NOTIFYs the instance answering the cancel.
 */
export async function cancelRun(db: Db, id: string, by: string): Promise<ControlResult | null> {
  const { rows } = await db.query<ControlResult>({
    name: 'queue_cancel_run',
    text: `WITH r AS (
        UPDATE runs SET cancel_requested = true, updated_at = now(), last_seq = last_seq + 1,
               -- The canceller waits for a running run to end: ask for its done NOTIFY.
               finish_waiters = finish_waiters OR status = 'running',
               status = CASE WHEN status = 'running' THEN status ELSE 'cancelled' END,
               finished_at = CASE WHEN status = 'running' THEN NULL ELSE now() END,
               pending_input = CASE WHEN status = 'running' THEN pending_input ELSE NULL END
         WHERE id = $1 AND status IN ('queued', 'running', 'awaiting_input')
        RETURNING id, owner, status, lease_owner, last_seq, finish_waiters
      ), e AS (
        INSERT INTO run_events (run_id, seq, type, data)
        SELECT id, last_seq, CASE WHEN status = 'running' THEN 'run.cancel_requested' ELSE 'run.cancelled' END,
               jsonb_build_object('by', $2::text) FROM r
        RETURNING run_id, seq, type, data, at
      ), n AS (
        SELECT pg_notify(CASE WHEN status = 'running' THEN '${CHANNELS.cancel}' ELSE '${CHANNELS.done}' END, id::text)
          FROM r WHERE status = 'running' OR finish_waiters
      )
      SELECT r.id, r.owner, r.status, r.lease_owner, e.seq, e.type, e.data, e.at
        FROM r JOIN e ON e.run_id = r.id CROSS JOIN (SELECT count(*) FROM n) n1`,
    values: [id, by],
  });
  return rows[0] ?? null;
}

/** Appends the person's answer and puts the run back in the queue; it resumes from its checkpoints. */
export async function answerInput(db: Db, id: string, answer: unknown, by: string): Promise<ControlResult | null> {
  const { rows } = await db.query<ControlResult>({
    name: 'queue_answer_input',
    text: `WITH r AS (
        UPDATE runs SET status = 'queued', input_answers = input_answers || jsonb_build_array($2::jsonb),
               pending_input = NULL, run_at = now(), updated_at = now(), last_seq = last_seq + 1
         WHERE id = $1 AND status = 'awaiting_input'
        RETURNING id, owner, status, lease_owner, last_seq, jsonb_array_length(input_answers) AS answers
      ), e AS (
        INSERT INTO run_events (run_id, seq, type, data)
        SELECT id, last_seq, 'run.input_received', jsonb_build_object('answer', $2::jsonb, 'by', $3::text, 'index', answers - 1) FROM r
        RETURNING run_id, seq, type, data, at
      ), n AS (
        SELECT pg_notify('${CHANNELS.work}', '') FROM r
      )
      SELECT r.id, r.owner, r.status, r.lease_owner, e.seq, e.type, e.data, e.at
        FROM r JOIN e ON e.run_id = r.id CROSS JOIN (SELECT count(*) FROM n) n1`,
    values: [id, JSON.stringify(answer ?? null), by],
  });
  return rows[0] ?? null;
}
