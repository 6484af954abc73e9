import { sql } from 'drizzle-orm';
import { bigserial, check, foreignKey, index, integer, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

/** Drizzle view of migrations/0012_triggers_webhooks.sql (outbound part; the SQL file is the source of truth). */
export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    runId: uuid('run_id').primaryKey(),
    url: text('url').notNull(),
    state: text('state').notNull().default('waiting'),
    attempts: integer('attempts').notNull().default(0),
    payload: jsonb('payload'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    readyAt: timestamp('ready_at', { withTimezone: true }),
    nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true }),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
    lastError: text('last_error'),
  },
  (t) => [
    index('webhook_deliveries_due_idx').on(t.nextAttemptAt).where(sql`(state = 'pending'::text)`),
    index('webhook_deliveries_waiting_idx').on(t.createdAt).where(sql`(state = 'waiting'::text)`),
    check('webhook_deliveries_state_check', sql`state = ANY (ARRAY['waiting'::text, 'pending'::text, 'delivered'::text, 'failed'::text])`),
  ],
);

export const webhookAttempts = pgTable(
  'webhook_attempts',
  {
    id: bigserial('id', { mode: 'bigint' }).primaryKey(),
    runId: uuid('run_id').notNull(),
    attempt: integer('attempt').notNull(),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
    statusCode: integer('status_code'),
    error: text('error'),
    durationMs: integer('duration_ms').notNull(),
  },
  (t) => [
    index('webhook_attempts_run_idx').on(t.runId, t.id),
    foreignKey({ name: 'webhook_attempts_run_id_fkey', columns: [t.runId], foreignColumns: [webhookDeliveries.runId] }).onDelete('cascade'),
  ],
);

export const webhookSettings = pgTable(
  'webhook_settings',
  {
    id: integer('id').primaryKey(),
    signingSecret: text('signing_secret').notNull(),
    encryptionKey: text('encryption_key').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  () => [check('webhook_settings_single_check', sql`id = 1`)],
);
