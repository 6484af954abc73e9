import type pg from 'pg';

type Db = Pick<pg.ClientBase, 'query'>;

export interface ScheduleRequest {
  agent?: string;
  pattern?: string;
  agents?: string[];
  options?: Record<string, unknown>;
  input: unknown;
}

export interface ScheduleRow {
  id: string;
  name: string;
  owner: string;
  owner_id: string | null;
  owner_role: string;
  cron: string;
  timezone: string;
  request: ScheduleRequest;
  missed_policy: 'skip' | 'run-once';
  enabled: boolean;
  checked_through: Date;
  next_fire_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = 'id, name, owner, owner_id, owner_role, cron, timezone, request, missed_policy, enabled, checked_through, next_fire_at, created_at, updated_at';

/** Wakes every instance's schedule loop (a new, changed or removed schedule). */
export const SCHEDULES_CHANNEL = 'agentry_schedules';

export async function insertSchedule(db: Db, s: Omit<ScheduleRow, 'created_at' | 'updated_at'>): Promise<ScheduleRow> {
  const { rows } = await db.query<ScheduleRow>({
    text: `INSERT INTO schedules (id, name, owner, owner_id, owner_role, cron, timezone, request, missed_policy, enabled, checked_through, next_fire_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING ${COLUMNS}`,
    values: [s.id, s.name, s.owner, s.owner_id, s.owner_role, s.cron, s.timezone, JSON.stringify(s.request), s.missed_policy, s.enabled, s.checked_through, s.next_fire_at],
  });
  if (!rows[0]) throw new Error('insert into schedules returned no row');
  return rows[0];
}

export async function selectSchedule(db: Db, id: string, forUpdate = false): Promise<ScheduleRow | undefined> {
  const { rows } = await db.query<ScheduleRow>({ text: `SELECT ${COLUMNS} FROM schedules WHERE id = $1${forUpdate ? ' FOR UPDATE' : ''}`, values: [id] });
  return rows[0];
}

export async function listSchedules(db: Db): Promise<ScheduleRow[]> {
  const { rows } = await db.query<ScheduleRow>({ name: 'schedules_list', text: `SELECT ${COLUMNS} FROM schedules ORDER BY created_at DESC, id LIMIT 1000` });
  return rows;
}

export async function updateSchedule(db: Db, s: ScheduleRow): Promise<ScheduleRow> {
  const { rows } = await db.query<ScheduleRow>({
    text: `UPDATE schedules SET name = $2, cron = $3, timezone = $4, request = $5, missed_policy = $6, enabled = $7, checked_through = $8,
                  next_fire_at = $9, updated_at = now()
            WHERE id = $1 RETURNING ${COLUMNS}`,
    values: [s.id, s.name, s.cron, s.timezone, JSON.stringify(s.request), s.missed_policy, s.enabled, s.checked_through, s.next_fire_at],
  });
  if (!rows[0]) throw new Error('update of schedules returned no row');
  return rows[0];
}

/** Sent inside the change's transaction, so it arrives once the change is visible. */
export async function notifyChanged(db: Db, id: string): Promise<void> {
  await db.query({ text: 'SELECT pg_notify($1, $2)', values: [SCHEDULES_CHANNEL, id] });
}

export async function deleteSchedule(db: Db, id: string): Promise<boolean> {
  const { rowCount } = await db.query({ text: 'DELETE FROM schedules WHERE id = $1', values: [id] });
  return (rowCount ?? 0) > 0;
}

/** Schedules due at `now`, locked: one instance handles a schedule's fire times at a time. */
export async function lockDue(db: Db, now: Date, limit: number): Promise<ScheduleRow[]> {
  const { rows } = await db.query<ScheduleRow>({
    text: `SELECT ${COLUMNS} FROM schedules WHERE enabled AND next_fire_at <= $1 ORDER BY next_fire_at LIMIT $2 FOR UPDATE SKIP LOCKED`,
    values: [now, limit],
  });
  return rows;
}

/** Records fire times (the unique fire key); returns those this call inserted. */
export async function insertFires(db: Db, scheduleId: string, fires: { at: Date; missed: boolean }[]): Promise<Date[]> {
  if (fires.length === 0) return [];
  const { rows } = await db.query<{ fire_at: Date }>({
    text: `INSERT INTO schedule_fires (schedule_id, fire_at, missed)
           SELECT $1, f.at, f.missed FROM unnest($2::timestamptz[], $3::boolean[]) AS f(at, missed)
           ON CONFLICT (schedule_id, fire_at) DO NOTHING RETURNING fire_at`,
    values: [scheduleId, fires.map((f) => f.at), fires.map((f) => f.missed)],
  });
  return rows.map((r) => r.fire_at);
}

/** Fire times up to `checkedThrough` are handled; never moves back (instances' clocks differ). */
export async function advance(db: Db, id: string, checkedThrough: Date, nextFireAt: Date | null): Promise<void> {
  await db.query({
    text: 'UPDATE schedules SET checked_through = GREATEST(checked_through, $2), next_fire_at = $3 WHERE id = $1',
    values: [id, checkedThrough, nextFireAt],
  });
}

export async function setFireOutcome(db: Db, scheduleId: string, fireAt: Date, outcome: { runId: string } | { error: string }): Promise<void> {
  await db.query({
    name: 'schedules_fire_outcome',
    text: 'UPDATE schedule_fires SET run_id = $3, error = $4 WHERE schedule_id = $1 AND fire_at = $2',
    values: [scheduleId, fireAt, 'runId' in outcome ? outcome.runId : null, 'error' in outcome ? outcome.error : null],
  });
}

/** Fires recorded but not submitted (the instance died in between), with their schedule. */
export async function selectUnsubmitted(db: Db, olderThanSeconds: number, limit: number): Promise<(ScheduleRow & { fire_at: Date })[]> {
  const { rows } = await db.query<ScheduleRow & { fire_at: Date }>({
    name: 'schedules_unsubmitted',
    text: `SELECT ${COLUMNS.split(', ').map((c) => `s.${c}`).join(', ')}, f.fire_at
             FROM schedule_fires f JOIN schedules s ON s.id = f.schedule_id
            WHERE f.run_id IS NULL AND f.error IS NULL AND f.created_at < now() - make_interval(secs => $1)
            ORDER BY f.created_at LIMIT $2`,
    values: [olderThanSeconds, limit],
  });
  return rows;
}

/** When the loop must look next: the earliest next fire time of an enabled schedule. */
export async function earliestNextFire(db: Db): Promise<Date | null> {
  const { rows } = await db.query<{ at: Date | null }>({ name: 'schedules_earliest', text: 'SELECT min(next_fire_at) AS at FROM schedules WHERE enabled' });
  return rows[0]?.at ?? null;
}

export async function recentFires(db: Db, id: string, limit: number): Promise<{ fire_at: Date; missed: boolean; run_id: string | null; error: string | null }[]> {
  const { rows } = await db.query<{ fire_at: Date; missed: boolean; run_id: string | null; error: string | null }>({
    name: 'schedules_recent_fires',
    text: 'SELECT fire_at, missed, run_id, error FROM schedule_fires WHERE schedule_id = $1 ORDER BY fire_at DESC LIMIT $2',
    values: [id, limit],
  });
  return rows;
}
