/** Statements on thread_messages: each message is stored once, with the next seq of its thread. */
import { MESSAGE_COLUMNS, type Db, type MessageRow } from './rows.js';

export interface NewMessage {
  threadId: string;
  role: 'user' | 'assistant' | 'system';
  kind: 'message' | 'escalation' | 'error';
  content: string;
  runId: string | null;
  author: string | null;
  dedupeKey: string | null;
}

/**
 * Appends a message with the thread's next seq, in one statement. Call it with the thread
 * row locked (lockThread) so seqs are handed out in commit order. A message whose
 * dedupe key is stored already is not added again: returns null.
 */
export async function appendMessage(db: Db, m: NewMessage): Promise<MessageRow | null> {
  const { rows } = await db.query<MessageRow>({
    name: 'threads_append_message',
    text: `WITH t AS (
             UPDATE threads SET last_seq = last_seq + 1, updated_at = now(),
                    last_user_seq = CASE WHEN $2 = 'user' THEN last_seq + 1 ELSE last_user_seq END
              WHERE id = $1
                AND ($7::text IS NULL OR NOT EXISTS (SELECT 1 FROM thread_messages WHERE thread_id = $1 AND dedupe_key = $7))
             RETURNING id, last_seq
           )
           INSERT INTO thread_messages (thread_id, seq, role, kind, content, run_id, author, dedupe_key)
           SELECT t.id, t.last_seq, $2, $3, $4, $5, $6, $7 FROM t
           RETURNING ${MESSAGE_COLUMNS}`,
    values: [m.threadId, m.role, m.kind, m.content, m.runId, m.author, m.dedupeKey],
  });
  return rows[0] ?? null;
}

export async function messagesAfter(db: Db, threadId: string, after: number, limit: number): Promise<MessageRow[]> {
  const { rows } = await db.query<MessageRow>({
    name: 'threads_messages_after',
    text: `SELECT ${MESSAGE_COLUMNS} FROM thread_messages WHERE thread_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
    values: [threadId, after, limit],
  });
  return rows;
}

/** Messages with from < seq <= through, newest first, at most `limit` (what a run's context reads). */
export async function messagesBackwards(db: Db, threadId: string, from: number, through: number, limit: number): Promise<MessageRow[]> {
  const { rows } = await db.query<MessageRow>({
    name: 'threads_messages_backwards',
    text: `SELECT ${MESSAGE_COLUMNS} FROM thread_messages WHERE thread_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq DESC LIMIT $4`,
    values: [threadId, from, through, limit],
  });
  return rows;
}

export async function findByDedupeKey(db: Db, threadId: string, key: string): Promise<MessageRow | null> {
  const { rows } = await db.query<MessageRow>({
    name: 'threads_find_dedupe',
    text: `SELECT ${MESSAGE_COLUMNS} FROM thread_messages WHERE thread_id = $1 AND dedupe_key = $2`,
    values: [threadId, key],
  });
  return rows[0] ?? null;
}
