/** Statements on threads: create, read, list, update, delete, and the dispatcher's bookkeeping. */
import { THREAD_COLUMNS, THREADS_CHANNEL, type Db, type ThreadRow } from './rows.js';

export interface NewThread {
  id: string;
  owner: string;
  ownerId: string | null;
  agent: string | null;
  pattern: string | null;
  agents: string[] | null;
  options: Record<string, unknown> | null;
  title: string | null;
  policy: string;
}

export async function insertThread(db: Db, t: NewThread): Promise<ThreadRow> {
  const { rows } = await db.query<ThreadRow>({
    name: 'threads_insert',
    text: `INSERT INTO threads (id, owner, owner_id, agent, pattern, agents, options, title, policy)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ${THREAD_COLUMNS}`,
    values: [t.id, t.owner, t.ownerId, t.agent, t.pattern, t.agents === null ? null : JSON.stringify(t.agents), t.options === null ? null : JSON.stringify(t.options), t.title, t.policy],
  });
  const row = rows[0];
  if (!row) throw new Error('INSERT … RETURNING returned no row');
  return row;
}

export async function getThread(db: Db, id: string): Promise<ThreadRow | null> {
  const { rows } = await db.query<ThreadRow>({ name: 'threads_get', text: `SELECT ${THREAD_COLUMNS} FROM threads WHERE id = $1`, values: [id] });
  return rows[0] ?? null;
}

/** The thread row, locked until the transaction ends: posts and dispatches of one thread take turns. */
export async function lockThread(db: Db, id: string): Promise<ThreadRow | null> {
  const { rows } = await db.query<ThreadRow>({ name: 'threads_lock', text: `SELECT ${THREAD_COLUMNS} FROM threads WHERE id = $1 FOR UPDATE`, values: [id] });
  return rows[0] ?? null;
}

/** Newest first, keyset-paginated on (created_at, id); one more row than asked says a next page exists. */
export async function listThreads(
  db: Db,
  filter: { owner: string; ownerId: string | null; archived?: boolean; before?: { createdAtMicros: string; id: string }; limit: number },
): Promise<(ThreadRow & { created_us: string })[]> {
  const values: unknown[] = [filter.owner, filter.ownerId];
  // By name and id: a deleted user's threads (owner_id now null) are not a newcomer's of the same name.
  const where = ['owner = $1', 'owner_id IS NOT DISTINCT FROM $2::uuid'];
  if (filter.archived !== undefined) where.push(filter.archived ? 'archived_at IS NOT NULL' : 'archived_at IS NULL');
  if (filter.before) {
    values.push(filter.before.createdAtMicros, filter.before.id);
    where.push(`(created_at, id) < (timestamptz 'epoch' + $${values.length - 1}::bigint * interval '1 microsecond', $${values.length}::uuid)`);
  }
  values.push(filter.limit + 1);
  const { rows } = await db.query<ThreadRow & { created_us: string }>(
    `SELECT ${THREAD_COLUMNS}, (extract(epoch FROM created_at) * 1000000)::bigint::text AS created_us
       FROM threads WHERE ${where.join(' AND ')}
      ORDER BY created_at DESC, id DESC LIMIT $${values.length}`,
    values,
  );
  return rows;
}

export async function updateThread(db: Db, id: string, patch: { title?: string | null; policy?: string; archived?: boolean }): Promise<ThreadRow | null> {
  const { rows } = await db.query<ThreadRow>({
    name: 'threads_update',
    text: `UPDATE threads SET
             title = CASE WHEN $2::boolean THEN $3::text ELSE title END,
             policy = COALESCE($4::text, policy),
             archived_at = CASE WHEN $5::boolean IS NULL THEN archived_at WHEN $5 THEN COALESCE(archived_at, now()) ELSE NULL END,
             updated_at = now()
           WHERE id = $1 RETURNING ${THREAD_COLUMNS}`,
    values: [id, patch.title !== undefined, patch.title ?? null, patch.policy ?? null, patch.archived ?? null],
  });
  return rows[0] ?? null;
}

/** Deletes the thread and (by cascade) its messages. */
export async function deleteThread(db: Db, id: string): Promise<boolean> {
  const { rowCount } = await db.query({ name: 'threads_delete', text: 'DELETE FROM threads WHERE id = $1', values: [id] });
  return (rowCount ?? 0) > 0;
}

/**
 * A run was submitted for every message up to `throughSeq`; the user messages it answers
 * point at it: those no run answered yet, and those of `unanswered` (a run that ended
 * without an answer: cancelled, failed), which this run answers instead.
 */
export async function markDispatched(db: Db, id: string, runId: string, throughSeq: number, unanswered: string | null = null): Promise<void> {
  await db.query({
    name: 'threads_mark_dispatched',
    text: `WITH t AS (
             UPDATE threads SET active_run_id = $2, dispatched_seq = $3, updated_at = now() WHERE id = $1 RETURNING id
           )
           UPDATE thread_messages SET run_id = $2
            WHERE thread_id = (SELECT id FROM t) AND role = 'user' AND (run_id IS NULL OR run_id = $4) AND seq <= $3`,
    values: [id, runId, throughSeq, unanswered],
  });
}

/** Whether run `runId` stored its answer in the thread. */
export async function answered(db: Db, id: string, runId: string): Promise<boolean> {
  const { rows } = await db.query({ name: 'threads_answered', text: 'SELECT 1 FROM thread_messages WHERE thread_id = $1 AND dedupe_key = $2', values: [id, `answer:${runId}`] });
  return rows.length > 0;
}

/** Gives up on the waiting messages (their run could not be planned); nothing waits any more. */
export async function markUnanswerable(db: Db, id: string, throughSeq: number): Promise<void> {
  await db.query({ name: 'threads_mark_unanswerable', text: 'UPDATE threads SET dispatched_seq = GREATEST(dispatched_seq, $2), updated_at = now() WHERE id = $1', values: [id, throughSeq] });
}

/** Threads with a message no run was submitted for (the dispatcher's backstop), oldest first. */
export async function pendingThreads(db: Db, limit: number): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>({
    name: 'threads_pending',
    text: 'SELECT id FROM threads WHERE last_user_seq > dispatched_seq AND archived_at IS NULL ORDER BY updated_at LIMIT $1',
    values: [limit],
  });
  return rows.map((r) => r.id);
}

/** Stores the summary of every message up to `throughSeq`, unless a summary reaching as far is stored already. */
export async function saveSummary(db: Db, id: string, throughSeq: number, text: string): Promise<boolean> {
  const { rowCount } = await db.query({
    name: 'threads_save_summary',
    text: 'UPDATE threads SET summary = $3, summary_through = $2, updated_at = now() WHERE id = $1 AND summary_through < $2',
    values: [id, throughSeq, text],
  });
  return (rowCount ?? 0) > 0;
}

/** Tells every instance (on commit) that a thread changed: a new message or a new answering run. */
export async function notifyThread(db: Db, notice: { threadId: string; owner: string; seq: number; runId?: string }): Promise<void> {
  await db.query({ name: 'threads_notify', text: `SELECT pg_notify('${THREADS_CHANNEL}', $1)`, values: [JSON.stringify(notice)] });
}

/** The thread run `runId` answers (or answered), if any. */
export async function threadOfRun(db: Db, runId: string): Promise<{ id: string; owner: string } | null> {
  const { rows } = await db.query<{ id: string; owner: string }>({ name: 'threads_of_run', text: 'SELECT id, owner FROM threads WHERE active_run_id = $1', values: [runId] });
  return rows[0] ?? null;
}

/** Message `seq` was taken as an escalation's answer but the run no longer waited: it waits for a run again. */
export async function reopenMessage(db: Db, id: string, seq: number): Promise<void> {
  await db.query({
    name: 'threads_reopen_message',
    text: `WITH t AS (UPDATE threads SET dispatched_seq = $2 - 1, updated_at = now() WHERE id = $1 AND dispatched_seq = $2 RETURNING id)
           UPDATE thread_messages SET run_id = NULL WHERE thread_id = (SELECT id FROM t) AND seq = $2`,
    values: [id, seq],
  });
}
