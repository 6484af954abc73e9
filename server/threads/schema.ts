/**
 * Drizzle definitions of the threads part's tables, matching migrations/0014_threads.sql
 * (the SQL file creates them; this is their typed description). Statements are small
 * named functions in ./sql/.
 */
import { sql } from 'drizzle-orm';
import { check, foreignKey, index, integer, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
// A foreign key names the other part's table: a declaration, not a read of its data.
// eslint-disable-next-line no-restricted-imports
import { users } from '../auth/schema.js';
import { ownedTargetColumns } from '../db/columns.js';

export const threads = pgTable(
  'threads',
  {
    ...ownedTargetColumns,
    title: text('title'),
    policy: text('policy', { enum: ['enqueue', 'reject', 'interrupt'] }).notNull().default('enqueue'),
    lastSeq: integer('last_seq').notNull().default(0),
    lastUserSeq: integer('last_user_seq').notNull().default(0),
    dispatchedSeq: integer('dispatched_seq').notNull().default(0),
    activeRunId: uuid('active_run_id'),
    summary: text('summary'),
    summaryThrough: integer('summary_through').notNull().default(0),
    archivedAt: timestamp('archived_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  // Written as PostgreSQL prints them back, for the drift check (server/db/schema-drift.test.ts).
  (t) => [
    index('threads_owner_list_idx').on(t.owner, t.createdAt.desc().nullsFirst(), t.id.desc().nullsFirst()),
    index('threads_owner_id_idx').on(t.ownerId),
    index('threads_active_run_idx').on(t.activeRunId).where(sql`(active_run_id IS NOT NULL)`),
    index('threads_pending_idx').on(t.updatedAt).where(sql`(last_user_seq > dispatched_seq)`),
    foreignKey({ name: 'threads_owner_id_fkey', columns: [t.ownerId], foreignColumns: [users.id] }).onDelete('set null'),
    check('threads_policy_check', sql`policy = ANY (ARRAY['enqueue'::text, 'reject'::text, 'interrupt'::text])`),
    check('threads_check', sql`(agent IS NULL) <> (pattern IS NULL)`),
  ],
);

export const threadMessages = pgTable(
  'thread_messages',
  {
    threadId: uuid('thread_id').notNull(),
    seq: integer('seq').notNull(),
    role: text('role', { enum: ['user', 'assistant', 'system'] }).notNull(),
    kind: text('kind', { enum: ['message', 'escalation', 'error'] }).notNull().default('message'),
    content: text('content').notNull(),
    runId: uuid('run_id'),
    author: text('author'),
    dedupeKey: text('dedupe_key'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ name: 'thread_messages_pkey', columns: [t.threadId, t.seq] }),
    foreignKey({ name: 'thread_messages_thread_id_fkey', columns: [t.threadId], foreignColumns: [threads.id] }).onDelete('cascade'),
    uniqueIndex('thread_messages_dedupe_idx').on(t.threadId, t.dedupeKey).where(sql`(dedupe_key IS NOT NULL)`),
    index('thread_messages_run_idx').on(t.runId).where(sql`(run_id IS NOT NULL)`),
    check('thread_messages_role_check', sql`role = ANY (ARRAY['user'::text, 'assistant'::text, 'system'::text])`),
    check('thread_messages_kind_check', sql`kind = ANY (ARRAY['message'::text, 'escalation'::text, 'error'::text])`),
  ],
);
