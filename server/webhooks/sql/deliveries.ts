import type pg from 'pg';

type Db = Pick<pg.Pool, 'query'>;

export async function insertDelivery(db: Db, runId: string, url: string): Promise<void> {
  await db.query({ name: 'webhooks_insert', text: 'INSERT INTO webhook_deliveries (run_id, url) VALUES ($1, $2) ON CONFLICT (run_id) DO NOTHING', values: [runId, url] });
}

export async function deleteDelivery(db: Db, runId: string): Promise<void> {
  await db.query({ name: 'webhooks_delete', text: "DELETE FROM webhook_deliveries WHERE run_id = $1 AND state = 'waiting'", values: [runId] });
}

/** A page of callbacks still waiting for their run to end, in (created_at, run_id) order after the cursor. */
export async function selectWaiting(db: Db, after: { createdAt: Date; runId: string } | null, limit: number): Promise<{ run_id: string; created_at: Date }[]> {
  const { rows } = await db.query<{ run_id: string; created_at: Date }>({
    name: 'webhooks_select_waiting',
    text: `SELECT run_id, created_at FROM webhook_deliveries
            WHERE state = 'waiting' AND ($1::timestamptz IS NULL OR (created_at, run_id) > ($1, $2::uuid))
            ORDER BY created_at, run_id LIMIT $3`,
    values: [after?.createdAt ?? null, after?.runId ?? null, limit],
  });
  return rows;
}

/** Turns waiting callbacks whose runs ended into due ones, with the payload fixed now. */
export async function markReady(db: Db, ready: { runId: string; payload: unknown }[]): Promise<number> {
  if (ready.length === 0) return 0;
  const { rowCount } = await db.query({
    name: 'webhooks_mark_ready',
    text: `UPDATE webhook_deliveries d SET state = 'pending', payload = r.payload, ready_at = now(), next_attempt_at = now()
             FROM unnest($1::uuid[], $2::jsonb[]) AS r(run_id, payload)
            WHERE d.run_id = r.run_id AND d.state = 'waiting'`,
    values: [ready.map((r) => r.runId), ready.map((r) => JSON.stringify(r.payload))],
  });
  return rowCount ?? 0;
}

/** Waiting callbacks whose run does not exist (never created, or deleted by retention), once surely not in flight. */
export async function deleteOrphans(db: Db, runIds: string[], olderThanSeconds: number): Promise<void> {
  if (runIds.length === 0) return;
  await db.query({
    name: 'webhooks_delete_orphans',
    text: "DELETE FROM webhook_deliveries WHERE run_id = ANY($1::uuid[]) AND state = 'waiting' AND created_at < now() - make_interval(secs => $2)",
    values: [runIds, olderThanSeconds],
  });
}

export interface ClaimedDelivery {
  run_id: string;
  url: string;
  payload: unknown;
  attempts: number;
  ready_at: Date;
}

/**
 * Claims due attempts: the attempt count goes up and next_attempt_at moves `leaseSeconds`
 * ahead, which is the claim's lease (an instance that dies mid-attempt leaves it due again).
 */
export async function claimDue(db: Db, limit: number, leaseSeconds: number): Promise<ClaimedDelivery[]> {
  const { rows } = await db.query<ClaimedDelivery>({
    name: 'webhooks_claim_due',
    text: `UPDATE webhook_deliveries d SET attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => $2)
             FROM (SELECT run_id FROM webhook_deliveries
                    WHERE state = 'pending' AND next_attempt_at <= now()
                    ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED) due
            WHERE d.run_id = due.run_id
        RETURNING d.run_id, d.url, d.payload, d.attempts, d.ready_at`,
    values: [limit, leaseSeconds],
  });
  return rows;
}

/**
 * Logs an attempt and sets the outcome in one statement, fenced by the attempt number
 * (an attempt whose lease ran out and was claimed again writes only its log line).
 * `nextInMs` null: no more attempts (delivered, or given up).
 */
export async function recordAttempt(
  db: Db,
  a: { runId: string; attempt: number; statusCode: number | null; error: string | null; durationMs: number; state: 'pending' | 'delivered' | 'failed'; nextInMs: number | null },
): Promise<void> {
  await db.query({
    name: 'webhooks_record_attempt',
    text: `WITH logged AS (
             INSERT INTO webhook_attempts (run_id, attempt, status_code, error, duration_ms) VALUES ($1, $2, $3, $4, $5)
           )
           UPDATE webhook_deliveries SET state = $6, last_error = $4,
                  next_attempt_at = CASE WHEN $7::float8 IS NULL THEN NULL ELSE now() + make_interval(secs => $7::float8 / 1000) END,
                  finished_at = CASE WHEN $6 = 'pending' THEN NULL ELSE now() END
            WHERE run_id = $1 AND attempts = $2 AND state = 'pending'`,
    values: [a.runId, a.attempt, a.statusCode, a.error, a.durationMs, a.state, a.nextInMs],
  });
}

export interface DeliveryRow {
  run_id: string;
  url: string;
  state: 'waiting' | 'pending' | 'delivered' | 'failed';
  attempts: number;
  next_attempt_at: Date | null;
  finished_at: Date | null;
  last_error: string | null;
}

export async function selectDelivery(db: Db, runId: string): Promise<{ delivery: DeliveryRow; log: { attempt: number; at: Date; status_code: number | null; error: string | null; duration_ms: number }[] } | null> {
  const { rows } = await db.query<DeliveryRow>({
    name: 'webhooks_select_delivery',
    text: 'SELECT run_id, url, state, attempts, next_attempt_at, finished_at, last_error FROM webhook_deliveries WHERE run_id = $1',
    values: [runId],
  });
  const delivery = rows[0];
  if (!delivery) return null;
  const log = await db.query<{ attempt: number; at: Date; status_code: number | null; error: string | null; duration_ms: number }>({
    name: 'webhooks_select_attempts',
    text: 'SELECT attempt, at, status_code, error, duration_ms FROM webhook_attempts WHERE run_id = $1 ORDER BY id LIMIT 200',
    values: [runId],
  });
  return { delivery, log: log.rows };
}

/** Finished callbacks older than the runs' retention go with them. */
export async function deleteFinishedBefore(db: Db, days: number): Promise<void> {
  await db.query({
    name: 'webhooks_retention',
    text: "DELETE FROM webhook_deliveries WHERE state IN ('delivered', 'failed') AND finished_at < now() - make_interval(days => $1)",
    values: [days],
  });
}

/** The stored secrets, created on first use by whichever instance gets there first. */
export async function loadSettings(db: Db, generated: { signingSecret: string; encryptionKey: string }): Promise<{ signing_secret: string; encryption_key: string }> {
  await db.query({
    name: 'webhooks_settings_insert',
    text: 'INSERT INTO webhook_settings (id, signing_secret, encryption_key) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING',
    values: [generated.signingSecret, generated.encryptionKey],
  });
  const { rows } = await db.query<{ signing_secret: string; encryption_key: string }>({ name: 'webhooks_settings_select', text: 'SELECT signing_secret, encryption_key FROM webhook_settings WHERE id = 1' });
  if (!rows[0]) throw new Error('webhook_settings: no row after insert');
  return rows[0];
}
