import type pg from 'pg';
import type { Conversations } from '../agents/conversation.js';
import { withTransaction } from '../db/transaction.js';
import { appendMessage, messagesBackwards, type NewMessage } from './sql/messages.js';
import type { MessageRow, ThreadRow } from './sql/rows.js';
import { lockThread, notifyThread, saveSummary } from './sql/threads.js';


/**
 * Appends a message with the thread locked (seqs in commit order) and tells every
 * instance on commit. `guard` sees the locked row: returning false writes nothing.
 */
export async function appendLocked(pool: pg.Pool, message: NewMessage, guard: (thread: ThreadRow) => boolean = () => true): Promise<MessageRow | null> {
  return withTransaction(pool, async (client) => {
    const thread = await lockThread(client, message.threadId);
    if (!thread || !guard(thread)) return null;
    const row = await appendMessage(client, message);
    if (row) await notifyThread(client, { threadId: thread.id, owner: thread.owner, seq: row.seq });
    return row;
  });
}

/** The threads part's side of the agents' Conversations interface: how a run reads and writes its thread. */
export function createConversationStore(pool: pg.Pool): Conversations {
  return {
    async read(threadId, after, through, limit) {
      // FOR SHARE waits for a transaction that holds the thread (the post that submitted this
      // run commits its message after the run exists): the messages read next are all there.
      const { rows } = await pool.query<Pick<ThreadRow, 'summary' | 'summary_through'>>({
        name: 'threads_read_summary',
        text: 'SELECT summary, summary_through FROM threads WHERE id = $1 FOR SHARE',
        values: [threadId],
      });
      const head = rows[0];
      if (!head) return null;
      const messages = await messagesBackwards(pool, threadId, after, through, limit);
      return { summary: head.summary, summaryThrough: head.summary_through, messages: messages.map((m) => ({ seq: m.seq, role: m.role, kind: m.kind, content: m.content })) };
    },
    async saveSummary(threadId, throughSeq, text) {
      await saveSummary(pool, threadId, throughSeq, text);
    },
    async append(threadId, runId, message) {
      const key = message.key;
      // Only the thread's answering run writes to it: a cancelled or superseded one is refused.
      const row = await appendLocked(pool, { threadId, role: message.role, kind: message.kind, content: message.content, runId, author: null, dedupeKey: key }, (t) => t.active_run_id === runId);
      if (row) return row.seq;
      const { rows } = await pool.query<{ seq: number }>({ name: 'threads_seq_of_key', text: 'SELECT seq FROM thread_messages WHERE thread_id = $1 AND dedupe_key = $2', values: [threadId, key] });
      return rows[0]?.seq ?? null;
    },
  };
}
