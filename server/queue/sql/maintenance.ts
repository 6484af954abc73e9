/** Queue-wide statistics and retention. */
import type { Db } from './rows.js';

export interface StatsRow {
  queued: number;
  running: number;
  awaiting_input: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  oldest_queued_age: number | null;
  finished_last_minute: number;
  p95_duration: number | null;
}

/**
 * Active statuses are counted exactly (partial/status indexes keep that cheap);
 * finished ones over the last hour, so the cost does not grow with history.
 * The oldest queued age counts only runs that are ready (not a backoff delay).
 */
export async function readStats(db: Db): Promise<StatsRow> {
  const { rows } = await db.query<StatsRow>({
    name: 'queue_read_stats',
    text: `SELECT
        (SELECT count(*) FROM runs WHERE status = 'queued')::int AS queued,
        (SELECT count(*) FROM runs WHERE status = 'running')::int AS running,
        (SELECT count(*) FROM runs WHERE status = 'awaiting_input')::int AS awaiting_input,
        (SELECT extract(epoch FROM now() - min(run_at))::float8 FROM runs WHERE status = 'queued' AND run_at <= now()) AS oldest_queued_age,
        coalesce(f.succeeded, 0)::int AS succeeded, coalesce(f.failed, 0)::int AS failed, coalesce(f.cancelled, 0)::int AS cancelled,
        coalesce(f.last_minute, 0)::int AS finished_last_minute, f.p95::float8 AS p95_duration
      FROM (
        SELECT count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
               count(*) FILTER (WHERE status = 'failed') AS failed,
               count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
               count(*) FILTER (WHERE finished_at > now() - interval '60 seconds') AS last_minute,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - coalesce(started_at, created_at)))
                 FILTER (WHERE finished_at > now() - interval '5 minutes') AS p95
          FROM runs WHERE finished_at > now() - interval '1 hour'
      ) f`,
  });
  const row = rows[0];
  if (!row) throw new Error('stats query returned nothing');
  return row;
}

/**
 * Deletes up to `batch` finished runs older than `days` (steps and events go
 * with them by cascade). Small batches keep each transaction short; SKIP LOCKED
 * lets several instances prune at once without waiting on each other.
 */
export async function deleteOldRuns(db: Db, days: number, batch: number): Promise<number> {
  const result = await db.query({
    name: 'queue_delete_old_runs',
    text: `DELETE FROM runs WHERE id IN (
        SELECT id FROM runs WHERE finished_at < now() - $1 * interval '1 day'
         ORDER BY finished_at LIMIT $2 FOR UPDATE SKIP LOCKED)`,
    values: [days, batch],
  });
  return result.rowCount ?? 0;
}
