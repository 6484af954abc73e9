/**
 * The tables that belong to no part: rate-limit counters and the migration log. Each
 * part keeps the drizzle definitions of its own tables beside its SQL; server/schema.ts
 * gathers them all (db/ imports no part).
 */
import { index, integer, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/** Rate-limit counters shared by every instance (UNLOGGED; migrations/0001_foundation.sql). */
export const rateLimits = pgTable(
  'rate_limits',
  {
    key: text('key').primaryKey(),
    hits: integer('hits').notNull(),
    resetAt: timestamp('reset_at', { withTimezone: true }).notNull(),
  },
  (t) => [index('rate_limits_reset_at_idx').on(t.resetAt)],
);

/** Which migration files have been applied (created by server/db/migrate.ts itself). */
export const schemaMigrations = pgTable('schema_migrations', {
  name: text('name').primaryKey(),
  appliedAt: timestamp('applied_at', { withTimezone: true }).notNull().defaultNow(),
});
