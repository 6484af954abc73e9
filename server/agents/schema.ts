/**
 * Drizzle definitions of the agents part's tables, matching migrations/0004_llm.sql
 * (the SQL file creates them; this is their typed description). The statements
 * themselves are small named SQL functions beside their users (cache.ts,
 * rate-limiter.ts, usage.ts); the rate limit's slot-taking is a PL/pgSQL function
 * so it is one round trip under an advisory lock.
 */
import { sql } from 'drizzle-orm';
import { bigserial, index, integer, jsonb, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

export const llmCache = pgTable(
  'llm_cache',
  {
    key: text('key').primaryKey(),
    model: text('model').notNull(),
    response: jsonb('response').notNull().$type<{ text: string; model: string; usage: { promptTokens: number; completionTokens: number } }>(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    hits: integer('hits').notNull().default(0),
  },
  (t) => [index('llm_cache_expires_idx').on(t.expiresAt)],
);

export const llmRateSlots = pgTable(
  'llm_rate_slots',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    scope: text('scope').notNull(),
    takenAt: timestamp('taken_at', { withTimezone: true }).notNull().default(sql`clock_timestamp()`),
  },
  (t) => [index('llm_rate_slots_scope_idx').on(t.scope, t.takenAt)],
);
