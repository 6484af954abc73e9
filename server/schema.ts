/**
 * Every table, as drizzle-orm sees it. The SQL files in migrations/ create them; each
 * part keeps the definitions of its own tables beside its SQL, and this file (at the
 * composition level, like app.ts) gathers them for the drift check and drizzle-kit.
 */
export * from './agents/schema.js';
export * from './audit/schema.js';
export * from './auth/schema.js';
export * from './db/schema.js';
export * from './evals/schema.js';
export * from './queue/schema.js';
export * from './budgets/schema.js';
export * from './schedules/schema.js';
export * from './triggers/schema.js';
export * from './webhooks/schema.js';
export * from './threads/schema.js';
