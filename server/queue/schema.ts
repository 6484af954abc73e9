/**
 * Drizzle definitions of the queue's tables, matching migrations/0002_runs.sql
 * (the SQL file is what creates them; this is their typed description). The
 * queue's hot statements are hand-written SQL in ./sql/ because they are single
 * CTE statements (claim + event, fenced write + event) that a query builder
 * would split or obscure.
 */
import { sql } from 'drizzle-orm';
import { bigint, boolean, check, foreignKey, index, integer, jsonb, numeric, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
// A foreign key names the other part's table: a declaration, not a read of its data.
// eslint-disable-next-line no-restricted-imports
import { users } from '../auth/schema.js';
import { ownedTargetColumns } from '../db/columns.js';

export const runs = pgTable(
  'runs',
  {
    ...ownedTargetColumns,
    input: jsonb('input').notNull(),
    // The planner's frozen plan (migrations/0007_run_plan.sql): what the worker executes.
    plan: jsonb('plan').notNull(),
    planVersion: integer('plan_version').notNull(),
    status: text('status', { enum: ['queued', 'running', 'awaiting_input', 'succeeded', 'failed', 'cancelled'] })
      .notNull()
      .default('queued'),
    output: jsonb('output'),
    error: jsonb('error').$type<{ code: string; message: string }>(),
    priority: integer('priority').notNull().default(0),
    idempotencyKey: text('idempotency_key'),
    attempts: integer('attempts').notNull().default(0),
    maxAttempts: integer('max_attempts').notNull().default(3),
    runAt: timestamp('run_at', { withTimezone: true }).notNull().defaultNow(),
    leaseOwner: text('lease_owner'),
    leaseToken: uuid('lease_token'),
    leaseExpiresAt: timestamp('lease_expires_at', { withTimezone: true }),
    cancelRequested: boolean('cancel_requested').notNull().default(false),
    finishWaiters: boolean('finish_waiters').notNull().default(false),
    model: text('model'),
    offline: boolean('offline').notNull().default(false),
    promptTokens: bigint('prompt_tokens', { mode: 'number' }).notNull().default(0),
    completionTokens: bigint('completion_tokens', { mode: 'number' }).notNull().default(0),
    costUsd: numeric('cost_usd', { precision: 14, scale: 6 }).notNull().default('0'),
    cachedRequests: integer('cached_requests').notNull().default(0),
    pendingInput: jsonb('pending_input'),
    inputAnswers: jsonb('input_answers').$type<unknown[]>().notNull().default(sql`'[]'::jsonb`),
    lastSeq: integer('last_seq').notNull().default(0),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    startedAt: timestamp('started_at', { withTimezone: true }),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  // Predicates and checks are written as PostgreSQL prints them back (pg_get_indexdef,
  // pg_get_constraintdef), so the drift check (server/db/schema-drift.test.ts) compares like with like.
  (t) => [
    index('runs_claim_idx').on(t.priority.desc().nullsFirst(), t.runAt, t.createdAt).where(sql`(status = 'queued'::text)`),
    index('runs_lease_idx').on(t.leaseExpiresAt).where(sql`(status = 'running'::text)`),
    index('runs_list_idx').on(t.createdAt.desc().nullsFirst(), t.id.desc().nullsFirst()),
    index('runs_owner_list_idx').on(t.owner, t.createdAt.desc().nullsFirst(), t.id.desc().nullsFirst()),
    index('runs_owner_id_idx').on(t.ownerId),
    foreignKey({ name: 'runs_owner_id_fkey', columns: [t.ownerId], foreignColumns: [users.id] }).onDelete('set null'),
    index('runs_status_list_idx').on(t.status, t.createdAt.desc().nullsFirst(), t.id.desc().nullsFirst()),
    index('runs_finished_idx').on(t.finishedAt).where(sql`(finished_at IS NOT NULL)`),
    uniqueIndex('runs_idempotency_idx').on(t.owner, t.idempotencyKey).where(sql`(idempotency_key IS NOT NULL)`),
    check('runs_status_check', sql`status = ANY (ARRAY['queued'::text, 'running'::text, 'awaiting_input'::text, 'succeeded'::text, 'failed'::text, 'cancelled'::text])`),
    check('runs_check', sql`(agent IS NULL) <> (pattern IS NULL)`),
  ],
);

export const runSteps = pgTable(
  'run_steps',
  {
    runId: uuid('run_id').notNull(),
    key: text('key').notNull(),
    idx: integer('idx').notNull(),
    agent: text('agent'),
    status: text('status', { enum: ['running', 'succeeded', 'failed'] }).notNull(),
    output: jsonb('output'),
    meta: jsonb('meta').$type<Record<string, unknown>>(),
    model: text('model'),
    promptTokens: integer('prompt_tokens').notNull().default(0),
    completionTokens: integer('completion_tokens').notNull().default(0),
    costUsd: numeric('cost_usd', { precision: 14, scale: 6 }).notNull().default('0'),
    cached: boolean('cached').notNull().default(false),
    startedAt: timestamp('started_at', { withTimezone: true }),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
  },
  (t) => [
    primaryKey({ name: 'run_steps_pkey', columns: [t.runId, t.key] }),
    foreignKey({ name: 'run_steps_run_id_fkey', columns: [t.runId], foreignColumns: [runs.id] }).onDelete('cascade'),
    index('run_steps_order_idx').on(t.runId, t.idx),
    check('run_steps_status_check', sql`status = ANY (ARRAY['running'::text, 'succeeded'::text, 'failed'::text])`),
  ],
);

export const runEvents = pgTable(
  'run_events',
  {
    runId: uuid('run_id').notNull(),
    seq: integer('seq').notNull(),
    type: text('type').notNull(),
    data: jsonb('data').$type<Record<string, unknown>>().notNull().default(sql`'{}'::jsonb`),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ name: 'run_events_pkey', columns: [t.runId, t.seq] }),
    foreignKey({ name: 'run_events_run_id_fkey', columns: [t.runId], foreignColumns: [runs.id] }).onDelete('cascade'),
    // migrations/0005_run_events_at.sql: the hub's catch-up of the `runs` topic.
    index('run_events_at_idx').on(t.at, t.runId, t.seq),
  ],
);
