import express from 'express';
import type pg from 'pg';
import { z } from 'zod';
import { parse, unauthorized } from '../http/errors.js';

const usageQuerySchema = z
  .object({
    since: z.iso.datetime({ offset: true }).optional(),
    until: z.iso.datetime({ offset: true }).optional(),
    owner: z.string().min(1).max(100).optional(),
  })
  .strict();

interface UsageRow {
  key: string | null;
  steps: string;
  prompt_tokens: string;
  completion_tokens: string;
  cost_usd: string;
  cached_requests: string;
}

export interface UsageTotals {
  steps: number;
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
  cachedRequests: number;
}

const GROUPS = {
  agent: 's.agent',
  owner: 'r.owner',
  model: 's.model',
  total: 'NULL::text',
} as const;

/**
 * Token and cost totals from completed steps, grouped by agent, user or model.
 * `owner` null means every user (admins only).
 */
export async function usageBy(
  pool: pg.Pool,
  group: keyof typeof GROUPS,
  filter: { owner: string | null; since: string | null; until: string | null },
): Promise<(UsageTotals & { key: string | null })[]> {
  const { rows } = await pool.query<UsageRow>({
    name: `usage_by_${group}`,
    text: `SELECT ${GROUPS[group]} AS key, count(*) AS steps,
                  coalesce(sum(s.prompt_tokens), 0) AS prompt_tokens,
                  coalesce(sum(s.completion_tokens), 0) AS completion_tokens,
                  coalesce(sum(s.cost_usd), 0) AS cost_usd,
                  count(*) FILTER (WHERE s.cached) AS cached_requests
             FROM run_steps s JOIN runs r ON r.id = s.run_id
            WHERE s.status = 'succeeded'
              AND ($1::text IS NULL OR r.owner = $1)
              AND ($2::timestamptz IS NULL OR s.finished_at >= $2)
              AND ($3::timestamptz IS NULL OR s.finished_at < $3)
            GROUP BY 1
            ORDER BY sum(s.cost_usd) DESC NULLS LAST, sum(s.prompt_tokens + s.completion_tokens) DESC NULLS LAST`,
    values: [filter.owner, filter.since, filter.until],
  });
  return rows.map((r) => ({
    key: r.key,
    steps: Number(r.steps),
    promptTokens: Number(r.prompt_tokens),
    completionTokens: Number(r.completion_tokens),
    costUsd: Number(r.cost_usd),
    cachedRequests: Number(r.cached_requests),
  }));
}

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
