import express from 'express';
import type pg from 'pg';
import { z } from 'zod';
import { parse, unauthorized } from '../http/errors.js';
import { usageBy, type UsageTotals } from '../queue/reads.js';

const usageQuerySchema = z
  .object({
    since: z.iso.datetime({ offset: true }).optional(),
    until: z.iso.datetime({ offset: true }).optional(),
    owner: z.string().min(1).max(100).optional(),
  })
  .strict();

/** GET /usage: totals per agent, user and model. A non-admin sees only their own runs. */
export function createUsageRouter(deps: { pool: pg.Pool }): express.Router {
  const router = express.Router();
  router.get('/usage', async (req, res) => {
    const user = req.user;
    if (!user) throw unauthorized();
    const query = parse(usageQuerySchema, req.query, 'query');
    const owner = user.role === 'admin' ? (query.owner ?? null) : user.username;
    const filter = { owner, since: query.since ?? null, until: query.until ?? null };
    const [total, byAgent, byUser, byModel] = await Promise.all([
      usageBy(deps.pool, 'total', filter),
      usageBy(deps.pool, 'agent', filter),
      usageBy(deps.pool, 'owner', filter),
      usageBy(deps.pool, 'model', filter),
    ]);
    const strip = ({ key: _key, ...totals }: UsageTotals & { key: string | null }) => totals;
    res.json({
      scope: owner === null ? 'all' : 'user',
      owner,
      since: filter.since,
      until: filter.until,
      total: total[0] ? strip(total[0]) : { steps: 0, promptTokens: 0, completionTokens: 0, costUsd: 0, cachedRequests: 0 },
      byAgent: byAgent.map(({ key, ...t }) => ({ agent: key, ...t })),
      byUser: byUser.map(({ key, ...t }) => ({ user: key, ...t })),
      byModel: byModel.map(({ key, ...t }) => ({ model: key, ...t })),
    });
  });
  return router;
}
