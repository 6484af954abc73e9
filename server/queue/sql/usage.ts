import type pg from 'pg';

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

export interface DailyUsage extends UsageTotals {
  key: string | null;
  /** UTC day, YYYY-MM-DD. */
  day: string;
}

/**
 * Spend per agent or per user per UTC day (the ops page's chart), from steps that
 * finished since `since`, succeeded or failed: a failed step's tokens were paid for too.
 */
export async function usageByDay(pool: pg.Pool, group: 'agent' | 'owner', filter: { owner: string | null; since: string }): Promise<DailyUsage[]> {
  const { rows } = await pool.query<UsageRow & { day: string }>({
    name: `usage_by_day_${group}`,
    text: `SELECT ${GROUPS[group]} AS key, to_char(s.finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, count(*) AS steps,
                  coalesce(sum(s.prompt_tokens), 0) AS prompt_tokens,
                  coalesce(sum(s.completion_tokens), 0) AS completion_tokens,
                  coalesce(sum(s.cost_usd), 0) AS cost_usd,
                  count(*) FILTER (WHERE s.cached) AS cached_requests
             FROM run_steps s JOIN runs r ON r.id = s.run_id
            WHERE s.finished_at >= $2::timestamptz AND s.status IN ('succeeded', 'failed')
              AND ($1::text IS NULL OR r.owner = $1)
            GROUP BY 1, 2
            ORDER BY 2, 1`,
    values: [filter.owner, filter.since],
  });
  return rows.map((r) => ({
    key: r.key,
    day: r.day,
    steps: Number(r.steps),
    promptTokens: Number(r.prompt_tokens),
    completionTokens: Number(r.completion_tokens),
    costUsd: Number(r.cost_usd),
    cachedRequests: Number(r.cached_requests),
  }));
}
