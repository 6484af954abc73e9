import { sql } from 'drizzle-orm';
import { boolean, check, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

/** Drizzle view of migrations/0012_triggers_webhooks.sql (inbound part; the SQL file is the source of truth). */
export const triggers = pgTable(
  'triggers',
  {
    id: uuid('id').primaryKey(),
    name: text('name').notNull(),
    owner: text('owner').notNull(),
    ownerId: uuid('owner_id'),
    ownerRole: text('owner_role').notNull(),
    scheme: text('scheme').notNull(),
    secretEnc: text('secret_enc').notNull(),
    target: jsonb('target').notNull(),
    inputTemplate: jsonb('input_template').notNull(),
    callbackUrl: text('callback_url'),
    enabled: boolean('enabled').notNull().default(true),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  () => [check('triggers_scheme_check', sql`scheme = ANY (ARRAY['github'::text, 'slack'::text, 'standard'::text])`)],
);
