import { sql } from 'drizzle-orm';
import { check, index, integer, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';

/** Drizzle view of migrations/0003_users.sql (the SQL file is the source of truth). */
export const users = pgTable(
  'users',
  {
    id: uuid('id').primaryKey(),
    username: text('username').notNull(),
    passwordHash: text('password_hash').notNull(),
    role: text('role', { enum: ['admin', 'operator', 'viewer'] }).notNull(),
    tokenVersion: integer('token_version').notNull().default(1),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  () => [
    // Written as PostgreSQL prints it back, for the drift check (server/db/schema-drift.test.ts).
    uniqueIndex('users_username_lower_idx').on(sql`lower(username)`),
    check('users_username_check', sql`username ~ '^[A-Za-z0-9_.-]{1,64}$'::text`),
    check('users_role_check', sql`role = ANY (ARRAY['admin'::text, 'operator'::text, 'viewer'::text])`),
  ],
);

export const loginAttempts = pgTable(
  'login_attempts',
  {
    key: text('key').primaryKey(),
    failures: integer('failures').notNull(),
    windowEndsAt: timestamp('window_ends_at', { withTimezone: true }).notNull(),
    lockedUntil: timestamp('locked_until', { withTimezone: true }),
  },
  (t) => [index('login_attempts_sweep_idx').on(t.windowEndsAt)],
);

export const revokedTokens = pgTable(
  'revoked_tokens',
  {
    jti: uuid('jti').primaryKey(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
  },
  (t) => [index('revoked_tokens_expires_idx').on(t.expiresAt)],
);

/** Drizzle view of migrations/0011_api_keys.sql. */
export const apiKeys = pgTable(
  'api_keys',
  {
    id: uuid('id').primaryKey(),
    name: text('name').notNull(),
    role: text('role', { enum: ['admin', 'operator', 'viewer'] }).notNull(),
    agents: text('agents').array(),
    secretHash: text('secret_hash').notNull(),
    createdBy: text('created_by').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true }),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
    revokedBy: text('revoked_by'),
  },
  () => [
    uniqueIndex('api_keys_name_lower_idx').on(sql`lower(name)`),
    check('api_keys_name_check', sql`name ~ '^[A-Za-z0-9_.-]{1,64}$'::text`),
    check('api_keys_role_check', sql`role = ANY (ARRAY['admin'::text, 'operator'::text, 'viewer'::text])`),
  ],
);
