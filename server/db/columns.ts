import { jsonb, text, uuid } from 'drizzle-orm/pg-core';

/**
 * The columns a run and a thread share: who owns it and what it runs (one agent, or a
 * pattern over agents with its options). Spread into each table's drizzle description
 * (server/queue/schema.ts, server/threads/schema.ts), so the two stay alike.
 */
export const ownedTargetColumns = {
  id: uuid('id').primaryKey(),
  /** The stored spelling of the owner's name; `deleted:<user id>:<name>` once the user is deleted. */
  owner: text('owner').notNull(),
  /** The owner's users.id (null: the local admin, or a deleted user). */
  ownerId: uuid('owner_id'),
  agent: text('agent'),
  pattern: text('pattern'),
  agents: jsonb('agents').$type<string[]>(),
  options: jsonb('options').$type<Record<string, unknown>>(),
};
