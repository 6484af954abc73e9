import type { RunEventBody } from '../../../shared/events.js';
import { CHANNELS, RUN_COLUMNS, type Db, type RunRow } from './rows.js';

export type ClaimedRow = RunRow & { lease_token: string; event_at: Date; cancel_requested: boolean };

/**
 * Claims up to `limit` ready runs, highest priority then oldest, in ONE statement:
 * SKIP LOCKED lets every worker of every instance claim at once without waiting
 * on each other. Each claim counts an attempt, takes a fresh fencing token and
 * records `run.started` with the next seq of its run.
 */
export async function claimRuns(db: Db, options: { limit: number; instanceId: string; leaseMs: number; exclude?: readonly string[] }): Promise<ClaimedRow[]> {
  const { rows } = await db.query<ClaimedRow>({
    name: 'queue_claim_runs',
    /*
     * The claim commits synchronously, like every other write that stores an
     * event: run.started is published as soon as this returns, so it must be on
     * disk by then. (An asynchronous commit lost in a crash would hand its seq to
     * the next event, and a client that resumed after run.started would skip it.)
     *
     * `exclude` names runs still active on this instance (an earlier attempt
     * unwinding after its lease was swept): the same instance never runs two
     * attempts of one run side by side; another instance may take it meanwhile.
     */
    text: `WITH c AS (
        SELECT runs.id AS claim_id FROM runs
         WHERE runs.status = 'queued' AND runs.run_at <= now() AND runs.id <> ALL($4::uuid[])
         ORDER BY runs.priority DESC, runs.run_at, runs.created_at
         LIMIT $1
         FOR UPDATE OF runs SKIP LOCKED
      ), r AS (
        UPDATE runs SET status = 'running', attempts = runs.attempts + 1, lease_owner = $2,
               lease_token = gen_random_uuid(), lease_expires_at = now() + $3 * interval '1 millisecond',
               started_at = coalesce(runs.started_at, now()), updated_at = now(), last_seq = runs.last_seq + 1
          FROM c WHERE runs.id = c.claim_id
        RETURNING ${RUN_COLUMNS}, runs.cancel_requested
      ), e AS (
        INSERT INTO run_events (run_id, seq, type, data)
        SELECT id, last_seq, 'run.started', jsonb_build_object('attempt', attempts, 'instance', $2::text) FROM r
        RETURNING run_id, at
      )
      SELECT r.*, e.at AS event_at FROM r JOIN e ON e.run_id = r.id
      ORDER BY r.priority DESC, r.created_at`,
    values: [options.limit, options.instanceId, options.leaseMs, options.exclude ?? []],
  });
  return rows;
}

export interface HeldLease {
  id: string;
  token: string;
}

/**
 * The heartbeat: extends every lease this instance still holds, in one statement.
 * The token alone decides: a lease that expired but was not swept yet (a stalled
 * event loop, a slow renewal) is still this worker's, since nobody else can hold
 * the run without the sweeper first clearing the token. A token missing from the
 * answer was lost (swept, or the run ended elsewhere); `cancel_requested` is the
 * backstop for a missed cancel NOTIFY.
 */
export async function renewLeases(db: Db, leases: HeldLease[], leaseMs: number): Promise<{ id: string; lease_token: string; cancel_requested: boolean }[]> {
  if (leases.length === 0) return [];
  const { rows } = await db.query<{ id: string; lease_token: string; cancel_requested: boolean }>({
    name: 'queue_renew_leases',
    // Locked in id order, like the batched final write, so the two never deadlock.
    text: `WITH l AS (
        SELECT runs.id FROM runs JOIN unnest($1::uuid[], $2::uuid[]) AS h(id, token) ON runs.id = h.id AND runs.lease_token = h.token
         WHERE runs.status = 'running'
         ORDER BY runs.id FOR UPDATE OF runs
      )
      UPDATE runs SET lease_expires_at = now() + $3 * interval '1 millisecond' FROM l WHERE runs.id = l.id
      RETURNING runs.id, runs.lease_token, runs.cancel_requested`,
    values: [leases.map((l) => l.id), leases.map((l) => l.token), leaseMs],
  });
  return rows;
}

/** A run handed back (released, or swept as failed/cancelled) with the event this statement wrote. */
export type ReturnedRow = {
  id: string;
  owner: string;
  status: 'queued' | 'failed' | 'cancelled';
  seq: number;
  at: Date;
} & Extract<RunEventBody, { type: 'run.released' | 'run.failed' | 'run.cancelled' }>;

/*
 * What a run becomes when its worker lets go without finishing: cancelled if a
 * cancel is pending, failed when an expired lease used its last attempt, else
 * queued again at once (its checkpoints stay).
 */
const RETURNED_STATUS = `CASE WHEN runs.cancel_requested THEN 'cancelled'
                              WHEN $COUNTED AND runs.attempts >= runs.max_attempts THEN 'failed'
                              ELSE 'queued' END`;

function returnStatement(source: string, counted: boolean, reason: string): string {
  const status = RETURNED_STATUS.replace('$COUNTED', counted ? 'true' : 'false');
  return `WITH x AS (${source}), r AS (
      UPDATE runs SET status = ${status},
             error = CASE WHEN ${status} = 'failed'
                          THEN jsonb_build_object('code', 'lease_expired', 'message',
                               'the worker running this run stopped answering on its last attempt')
                          ELSE runs.error END,
             finished_at = CASE WHEN ${status} = 'queued' THEN NULL ELSE now() END,
             attempts = CASE WHEN ${counted ? 'false' : 'true'} THEN greatest(runs.attempts - 1, 0) ELSE runs.attempts END,
             -- Keep its place: a run handed back goes ahead of runs queued after it.
             run_at = LEAST(runs.run_at, now()), lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL,
             last_seq = runs.last_seq + 1, updated_at = now()
        FROM x WHERE runs.id = x.id
      RETURNING runs.id, runs.owner, runs.status, runs.last_seq, runs.error, runs.finish_waiters, x.lease_owner AS previous_owner
    ), e AS (
      INSERT INTO run_events (run_id, seq, type, data)
      SELECT id, last_seq,
             CASE status WHEN 'queued' THEN 'run.released' WHEN 'cancelled' THEN 'run.cancelled' ELSE 'run.failed' END,
             CASE status WHEN 'failed' THEN jsonb_build_object('error', error, 'reason', '${reason}')
                         ELSE jsonb_build_object('reason', '${reason}', 'instance', previous_owner) END
        FROM r
      RETURNING run_id, seq, type, data, at
    ), n AS (
      SELECT pg_notify('${CHANNELS.work}', '') FROM (SELECT 1 FROM r WHERE status = 'queued' LIMIT 1) one
    ), d AS (
      SELECT pg_notify('${CHANNELS.done}', id::text) FROM r WHERE status <> 'queued' AND finish_waiters
    )
    SELECT r.id, r.owner, r.status, e.seq, e.type, e.data, e.at
      FROM r JOIN e ON e.run_id = r.id CROSS JOIN (SELECT count(*) FROM n) n1 CROSS JOIN (SELECT count(*) FROM d) d1`;
}

/**
 * The sweeper, run by every instance: returns runs whose lease expired (their
 * worker crashed, was killed or paused past its lease) to the queue. The
 * attempt stays counted, so a run that keeps killing its worker ends failed.
 */
export async function sweepExpiredLeases(db: Db, batch: number, ownHeld: readonly HeldLease[] = []): Promise<ReturnedRow[]> {
  const { rows } = await db.query<ReturnedRow>({
    name: 'queue_sweep_expired',
    // Leases this instance still holds are not taken from itself: their worker is
    // alive (only late, e.g. after an event-loop stall) and its token still writes.
    text: returnStatement(
      `SELECT id, lease_owner FROM runs WHERE status = 'running' AND lease_expires_at < now()
          AND (id, lease_token) NOT IN (SELECT * FROM unnest($2::uuid[], $3::uuid[]))
        ORDER BY lease_expires_at LIMIT $1 FOR UPDATE SKIP LOCKED`,
      true,
      'lease_expired',
    ),
    values: [batch, ownHeld.map((l) => l.id), ownHeld.map((l) => l.token)],
  });
  return rows;
}

/**
 * Shutdown: hands this instance's unfinished runs back to the queue now instead
 * of when their leases expire; the attempt is not counted.
 */
export async function releaseRuns(db: Db, leases: HeldLease[]): Promise<ReturnedRow[]> {
  if (leases.length === 0) return [];
  const { rows } = await db.query<ReturnedRow>({
    name: 'queue_release_runs',
    text: returnStatement(
      `SELECT runs.id, runs.lease_owner FROM runs JOIN unnest($1::uuid[], $2::uuid[]) AS h(id, token)
          ON runs.id = h.id AND runs.lease_token = h.token
       WHERE runs.status = 'running' ORDER BY runs.id FOR UPDATE OF runs`,
      false,
      'shutdown',
    ),
    values: [leases.map((l) => l.id), leases.map((l) => l.token)],
  });
  return rows;
}
