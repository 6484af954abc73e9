import type express from 'express';
import type pg from 'pg';
import type { Part } from '../lifecycle/part.js';
import type { Logger } from '../log.js';
import { auditRoutes } from './routes.js';
import { insertAudit } from './sql/audit.js';
import type { AuditLog } from './types.js';

export interface Audit extends Part, AuditLog {
  readonly router: express.Router;
}

/**
 * The audit part: an append-only log of configuration changes. Parts write entries
 * through `record(client, …)` inside their own transaction; admins read them at
 * GET /api/audit.
 */
export function createAudit(deps: { pool: pg.Pool; logger: Logger }): Audit {
  const logger = deps.logger.child({ part: 'audit' });
  return {
    name: 'audit',
    router: auditRoutes(deps.pool),
    async record(db, entry) {
      await insertAudit(db, entry);
      logger.info({ actor: entry.actor.username, action: entry.action, target: entry.target }, 'audit');
    },
  };
}
