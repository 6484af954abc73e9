import type pg from 'pg';
import type { RunEvent } from '../../../shared/protocol.js';

/*
 * Reads other parts need (the hub's delivery and catch-up), reached through
 * server/queue/reads.ts: the queue owns runs and run_events; nobody else queries them.
 */

interface EventRow {
  run_id: string;
  seq: number;
  type: string;
  data: Record<string, unknown> | null;
  at: Date;
}

const toEvent = (row: EventRow): RunEvent => ({
  seq: row.seq,
  runId: row.run_id,
  type: row.type,
  data: row.data ?? {},
  at: row.at.toISOString(),
});

/** Owner and last stored seq of a run, or null when there is no such run. */
export async function selectRunHead(db: pg.Pool, runId: string): Promise<{ owner: string; lastSeq: number } | null> {
  const { rows } = await db.query<{ owner: string; last_seq: number }>({
    name: 'hub_select_run_head',
    text: 'SELECT owner, last_seq FROM runs WHERE id = $1',
    values: [runId],
  });
  return rows[0] ? { owner: rows[0].owner, lastSeq: rows[0].last_seq } : null;
}

/** Last stored seq of each of `runIds` that still exists. */
export async function selectRunHeads(db: pg.Pool, runIds: string[]): Promise<Map<string, number>> {
  const { rows } = await db.query<{ id: string; last_seq: number }>({
    name: 'hub_select_run_heads',
    text: 'SELECT id, last_seq FROM runs WHERE id = ANY($1::uuid[])',
    values: [runIds],
  });
  return new Map(rows.map((r) => [r.id, r.last_seq]));
}

/** Stored events of a run with after < seq <= upTo, in seq order, at most `limit`. */
export async function selectEventsAfter(db: pg.Pool, runId: string, after: number, upTo: number | null, limit: number): Promise<RunEvent[]> {
  const { rows } = await db.query<EventRow>({
    name: 'hub_select_events_after',
    text: `SELECT run_id, seq, type, data, at FROM run_events
            WHERE run_id = $1 AND seq > $2 AND ($3::integer IS NULL OR seq <= $3)
            ORDER BY seq LIMIT $4`,
    values: [runId, after, upTo, limit],
  });
  return rows.map(toEvent);
}

/** One stored event with its run's owner (for notifications sent by reference). */
export async function selectEvent(db: pg.Pool, runId: string, seq: number): Promise<{ event: RunEvent; owner: string } | null> {
  const { rows } = await db.query<EventRow & { owner: string }>({
    name: 'hub_select_event',
    text: `SELECT e.run_id, e.seq, e.type, e.data, e.at, r.owner
             FROM run_events e JOIN runs r ON r.id = e.run_id
            WHERE e.run_id = $1 AND e.seq = $2`,
    values: [runId, seq],
  });
  return rows[0] ? { event: toEvent(rows[0]), owner: rows[0].owner } : null;
}

/**
 * Catch-up for the `runs` topic after the LISTEN connection was away: lifecycle events
 * stored in the last `secondsAgo` seconds by the database's own clock (the app's may
 * differ), first page. Pages are in (at, run_id, seq) order, the run_events_at_idx order.
 */
export async function selectLifecycleEventsSince(db: pg.Pool, secondsAgo: number, types: readonly string[], limit: number): Promise<{ event: RunEvent; owner: string }[]> {
  const { rows } = await db.query<EventRow & { owner: string }>({
    name: 'hub_select_lifecycle_since',
    text: `SELECT e.run_id, e.seq, e.type, e.data, e.at, r.owner
             FROM run_events e JOIN runs r ON r.id = e.run_id
            WHERE e.at >= now() - make_interval(secs => $1) AND e.type = ANY($2::text[])
            ORDER BY e.at, e.run_id, e.seq LIMIT $3`,
    values: [secondsAgo, [...types], limit],
  });
  return rows.map((row) => ({ event: toEvent(row), owner: row.owner }));
}

/**
 * The next page after the event (runId, seq). The cursor's `at` is read in the database,
 * not sent back from JavaScript, whose Date would drop its microseconds.
 */
export async function selectLifecycleEventsAfter(db: pg.Pool, runId: string, seq: number, types: readonly string[], limit: number): Promise<{ event: RunEvent; owner: string }[]> {
  const { rows } = await db.query<EventRow & { owner: string }>({
    name: 'hub_select_lifecycle_after',
    text: `SELECT e.run_id, e.seq, e.type, e.data, e.at, r.owner
             FROM run_events e JOIN runs r ON r.id = e.run_id
            WHERE (e.at, e.run_id, e.seq) > (SELECT c.at, c.run_id, c.seq FROM run_events c WHERE c.run_id = $1 AND c.seq = $2)
              AND e.type = ANY($3::text[])
            ORDER BY e.at, e.run_id, e.seq LIMIT $4`,
    values: [runId, seq, [...types], limit],
  });
  return rows.map((row) => ({ event: toEvent(row), owner: row.owner }));
}

/** What a run's callback reports, for those of `runIds` that are final (others are absent). */
export interface RunOutcomeRow {
  id: string;
  owner: string;
  status: string;
  output: unknown;
  error: { code: string; message: string } | null;
  finishedAt: Date;
}

/** Final runs among `runIds` with their outcome (the webhooks part's callbacks). */
export async function selectFinalRuns(db: pg.Pool, runIds: string[]): Promise<{ final: RunOutcomeRow[]; missing: string[] }> {
  const { rows } = await db.query<{ id: string; owner: string; status: string; output: unknown; error: { code: string; message: string } | null; finished_at: Date | null }>({
    name: 'webhooks_select_final_runs',
    text: 'SELECT id, owner, status, output, error, finished_at FROM runs WHERE id = ANY($1::uuid[])',
    values: [runIds],
  });
  const seen = new Set(rows.map((r) => r.id));
  const final = rows
    .filter((r) => r.finished_at !== null && (r.status === 'succeeded' || r.status === 'failed' || r.status === 'cancelled'))
    .map((r) => ({ id: r.id, owner: r.owner, status: r.status, output: r.output, error: r.error ? { code: r.error.code, message: r.error.message } : null, finishedAt: r.finished_at as Date }));
  return { final, missing: runIds.filter((id) => !seen.has(id)) };
}

/**
 * The latest `limit` events of one run among `types`, in seq order: what happened between
 * attempts (the agents part's trace spans of waits), without reading every step's events.
 */
export async function selectRunEventsOfTypes(db: pg.Pool, runId: string, types: readonly string[], limit: number): Promise<RunEvent[]> {
  const { rows } = await db.query<EventRow>({
    name: 'queue_select_run_events_of_types',
    text: `SELECT run_id, seq, type, data, at FROM run_events
            WHERE run_id = $1 AND type = ANY($2::text[])
            ORDER BY seq DESC LIMIT $3`,
    values: [runId, [...types], limit],
  });
  return rows.map(toEvent).reverse();
}
