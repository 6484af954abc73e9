/**
 * Drizzle definitions of the agents part's tables, matching migrations/0004_llm.sql
 * (the SQL file creates them; this is their typed description). The statements
 * themselves are small named SQL functions beside their users (cache.ts,
 * rate-limiter.ts, usage.ts); the rate limit's slot-taking is a PL/pgSQL function
 * so it is one round trip under an advisory lock.
 */
import { sql } from 'drizzle-orm';
import { bigserial, check, foreignKey, index, integer, json, jsonb, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';
import type { AgentSpec } from '../../shared/agent-spec.js';

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

/** Agents and their immutable versions (migrations/0009_agent_versions.sql; Agent Studio, issue #14). */
export const agents = pgTable(
  'agents',
  {
    name: text('name').primaryKey(),
    ordinal: bigserial('ordinal', { mode: 'number' }).notNull(),
    draft: json('draft').notNull().$type<AgentSpec>(),
    draftRevision: integer('draft_revision').notNull().default(1),
    publishedVersion: integer('published_version').notNull(),
    description: text('description').notNull(),
    tags: text('tags').array().notNull(),
    archivedAt: timestamp('archived_at', { withTimezone: true }),
    createdBy: text('created_by').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index('agents_tags_idx').using('gin', t.tags),
    // Written as PostgreSQL prints them back, for the drift check (server/db/schema-drift.test.ts).
    check('agents_name_check', sql`(name ~ '^[a-z0-9][a-z0-9_-]*$'::text) AND (length(name) <= 64)`),
    check('agents_draft_revision_check', sql`draft_revision >= 1`),
    check('agents_published_version_check', sql`published_version >= 1`),
  ],
);

export const agentVersions = pgTable(
  'agent_versions',
  {
    agent: text('agent').notNull(),
    version: integer('version').notNull(),
    spec: json('spec').notNull().$type<AgentSpec>(),
    note: text('note'),
    createdBy: text('created_by').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ name: 'agent_versions_pkey', columns: [t.agent, t.version] }),
    foreignKey({ name: 'agent_versions_agent_fkey', columns: [t.agent], foreignColumns: [agents.name] }),
    check('agent_versions_version_check', sql`version >= 1`),
  ],
);
