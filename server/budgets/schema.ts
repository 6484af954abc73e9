import { sql } from 'drizzle-orm';
import { bigint, check, foreignKey, index, jsonb, numeric, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';
// A foreign key names the queue's table: a declaration, not a read of its data (as queue/schema.ts names users).
// eslint-disable-next-line no-restricted-imports
import { runs } from '../queue/schema.js';

/** Drizzle view of migrations/0015_traces_budgets.sql (the SQL file is the source of truth). */
export const budgets = pgTable(
  'budgets',
  {
    scope: text('scope', { enum: ['user', 'agent'] }).notNull(),
    subject: text('subject').notNull(),
    dailyUsd: numeric('daily_usd', { precision: 14, scale: 6 }),
    dailyTokens: bigint('daily_tokens', { mode: 'number' }),
    updatedBy: text('updated_by').notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ name: 'budgets_pkey', columns: [t.scope, t.subject] }),
    check('budgets_scope_check', sql`scope = ANY (ARRAY['user'::text, 'agent'::text])`),
    check('budgets_daily_usd_check', sql`daily_usd >= (0)::numeric`),
    check('budgets_daily_tokens_check', sql`daily_tokens >= 0`),
  ],
);

export const budgetLedger = pgTable(
  'budget_ledger',
  {
    scope: text('scope', { enum: ['user', 'agent', 'run'] }).notNull(),
    subject: text('subject').notNull(),
    period: text('period').notNull(),
    spentUsd: numeric('spent_usd', { precision: 14, scale: 6 }).notNull().default('0'),
    reservedUsd: numeric('reserved_usd', { precision: 14, scale: 6 }).notNull().default('0'),
    spentTokens: bigint('spent_tokens', { mode: 'number' }).notNull().default(0),
    reservedTokens: bigint('reserved_tokens', { mode: 'number' }).notNull().default(0),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ name: 'budget_ledger_pkey', columns: [t.scope, t.subject, t.period] }),
    check('budget_ledger_scope_check', sql`scope = ANY (ARRAY['user'::text, 'agent'::text, 'run'::text])`),
    check('budget_ledger_reserved_check', sql`(reserved_usd >= (0)::numeric) AND (reserved_tokens >= 0)`),
  ],
);

export const budgetReservations = pgTable(
  'budget_reservations',
  {
    runId: uuid('run_id').notNull(),
    stepKey: text('step_key').notNull(),
    entries: jsonb('entries').$type<{ scope: string; subject: string; period: string }[]>().notNull(),
    amountUsd: numeric('amount_usd', { precision: 14, scale: 6 }).notNull(),
    amountTokens: bigint('amount_tokens', { mode: 'number' }).notNull(),
    status: text('status', { enum: ['reserved', 'settled', 'released'] }).notNull().default('reserved'),
    spentUsd: numeric('spent_usd', { precision: 14, scale: 6 }),
    spentTokens: bigint('spent_tokens', { mode: 'number' }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    settledAt: timestamp('settled_at', { withTimezone: true }),
  },
  (t) => [
    primaryKey({ name: 'budget_reservations_pkey', columns: [t.runId, t.stepKey] }),
    foreignKey({ name: 'budget_reservations_run_id_fkey', columns: [t.runId], foreignColumns: [runs.id] }).onDelete('cascade'),
    check('budget_reservations_status_check', sql`status = ANY (ARRAY['reserved'::text, 'settled'::text, 'released'::text])`),
    index('budget_reservations_open_idx').on(t.createdAt).where(sql`(status = 'reserved'::text)`),
  ],
);
