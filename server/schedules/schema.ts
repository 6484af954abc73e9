import { sql } from 'drizzle-orm';
import { boolean, check, foreignKey, index, jsonb, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';

/** Drizzle view of migrations/0013_schedules.sql (the SQL file is the source of truth). */
export const schedules = pgTable(
  'schedules',
  {
    id: uuid('id').primaryKey(),
    name: text('name').notNull(),
    owner: text('owner').notNull(),
    ownerId: uuid('owner_id'),
    ownerRole: text('owner_role').notNull(),
    cron: text('cron').notNull(),
    timezone: text('timezone').notNull().default('UTC'),
    request: jsonb('request').notNull(),
    missedPolicy: text('missed_policy').notNull().default('skip'),
    enabled: boolean('enabled').notNull().default(true),
    checkedThrough: timestamp('checked_through', { withTimezone: true }).notNull().defaultNow(),
    nextFireAt: timestamp('next_fire_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index('schedules_next_fire_idx').on(t.nextFireAt).where(sql`enabled`),
    check('schedules_missed_policy_check', sql`missed_policy = ANY (ARRAY['skip'::text, 'run-once'::text])`),
  ],
);

export const scheduleFires = pgTable(
  'schedule_fires',
  {
    scheduleId: uuid('schedule_id').notNull(),
    fireAt: timestamp('fire_at', { withTimezone: true }).notNull(),
    missed: boolean('missed').notNull().default(false),
    runId: uuid('run_id'),
    error: text('error'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    foreignKey({ name: 'schedule_fires_schedule_id_fkey', columns: [t.scheduleId], foreignColumns: [schedules.id] }).onDelete('cascade'),
    primaryKey({ name: 'schedule_fires_pkey', columns: [t.scheduleId, t.fireAt] }),
    index('schedule_fires_unsubmitted_idx').on(t.createdAt).where(sql`((run_id IS NULL) AND (error IS NULL))`),
  ],
);
