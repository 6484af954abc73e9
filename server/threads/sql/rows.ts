import type pg from 'pg';
import type { AuthUser } from '../../auth/types.js';
import type { Thread, ThreadMessage, ThreadMessageKind, ThreadMessageRole } from '../../../shared/threads.js';

/** A pool, or a client inside a transaction. */
export type Db = Pick<pg.Pool, 'query'> | pg.PoolClient;

/** NOTIFY channel: a thread got a message or a new answering run (payload: ThreadNotice JSON). */
export const THREADS_CHANNEL = 'agentry_threads';

/** A threads row as selected (THREAD_COLUMNS): the API's Thread fields, spelled as the columns are. */
export type ThreadRow = Pick<Thread, 'id' | 'owner' | 'agent' | 'pattern' | 'agents' | 'options' | 'title' | 'policy'> & {
  owner_id: string | null;
  last_seq: number;
  last_user_seq: number;
  dispatched_seq: number;
  active_run_id: string | null;
  summary: string | null;
  summary_through: number;
  archived_at: Date | null;
  created_at: Date;
  updated_at: Date;
};

export const THREAD_COLUMNS = `id, owner, owner_id, agent, pattern, agents, options, title, policy, last_seq, last_user_seq,
  dispatched_seq, active_run_id, summary, summary_through, archived_at, created_at, updated_at`;

export interface MessageRow {
  thread_id: string;
  seq: number;
  role: ThreadMessageRole;
  kind: ThreadMessageKind;
  content: string;
  run_id: string | null;
  author: string | null;
  created_at: Date;
}

export const MESSAGE_COLUMNS = 'thread_id, seq, role, kind, content, run_id, author, created_at';

export function toThread(row: ThreadRow): Thread {
  return {
    id: row.id,
    owner: row.owner,
    agent: row.agent,
    pattern: row.pattern,
    agents: row.agents,
    options: row.options,
    title: row.title,
    policy: row.policy,
    lastSeq: row.last_seq,
    activeRunId: row.active_run_id,
    summaryThrough: row.summary_through,
    summary: row.summary,
    archivedAt: row.archived_at?.toISOString() ?? null,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

export function toMessage(row: MessageRow): ThreadMessage {
  return {
    threadId: row.thread_id,
    seq: row.seq,
    role: row.role,
    kind: row.kind,
    content: row.content,
    runId: row.run_id,
    author: row.author,
    createdAt: row.created_at.toISOString(),
  };
}

/**
 * Who may see a thread: admins, and its owner by name *and* id. A deleted user's threads
 * keep their name but lose the id (ON DELETE SET NULL), so an account created later with
 * the same name does not see them (docs/SECURITY.md, "Deleted users").
 */
export function canSeeThread(user: AuthUser, thread: Pick<ThreadRow, 'owner' | 'owner_id'>): boolean {
  if (user.role === 'admin') return true;
  return user.username === thread.owner && (thread.owner_id ?? undefined) === user.id;
}
