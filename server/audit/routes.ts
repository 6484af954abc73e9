import express from 'express';
import type pg from 'pg';
import { auditQuerySchema } from '../../shared/protocol.js';
import { forbidden, parse } from '../http/errors.js';
import { describeRoutes } from '../openapi/describe.js';
import { listAudit } from './sql/audit.js';

/** GET /api/audit: admins read who changed what, newest first. */
export function auditRoutes(pool: pg.Pool): express.Router {
  const router = express.Router();
  router.get('/audit', async (req, res) => {
    // Checked here rather than with auth's requireRole: every part may import audit, so
    // audit imports no part.
    if (req.user?.role !== 'admin') throw forbidden('this needs the admin role');
    const query = parse(auditQuerySchema, req.query, 'query');
    const entries = await listAudit(pool, query);
    const last = entries.at(-1);
    res.json({ entries, nextBefore: entries.length === query.limit && last ? last.id : null });
  });
  describeRoutes(router, [
    { method: 'get', path: '/audit', tags: ['audit'], roles: [], summary: 'Who changed what, newest first', query: auditQuerySchema, responses: { 200: { description: '{entries, nextBefore}' }, 403: { description: 'not an admin' } } },
  ]);
  return router;
}
