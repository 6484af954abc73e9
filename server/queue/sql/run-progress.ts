import type pg from 'pg';
import type { RunStatus } from '../../../shared/protocol.js';

/*
 * Reads for parts that run work inside a run and report on it (server/evals), reached
 * through server/queue/reads.ts.
 */

export interface StepTotals {
  steps: number;
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
  /** From the first step's start to the last step's finish (0 with no finished step). */
  spanMs: number;
}

/** Usage and time of the steps of `runId` whose key starts with `keyPrefix` (stored values, so the same on every replay). */
export async function selectStepTotals(db: pg.Pool, runId: string, keyPrefix: string): Promise<StepTotals> {
  const { rows } = await db.query<{ steps: number; prompt_tokens: string; completion_tokens: string; cost_usd: string; span_ms: number | null }>({
    name: 'queue_select_step_totals',
    text: `SELECT count(*)::int AS steps, coalesce(sum(prompt_tokens), 0) AS prompt_tokens, coalesce(sum(completion_tokens), 0) AS completion_tokens,
                  coalesce(sum(cost_usd), 0) AS cost_usd,
                  round(extract(epoch FROM max(finished_at) - min(started_at)) * 1000)::int AS span_ms
             FROM run_steps WHERE run_id = $1 AND starts_with(key, $2)`,
    values: [runId, keyPrefix],
  });
  const row = rows[0];
  return {
    steps: row?.steps ?? 0,
    promptTokens: Number(row?.prompt_tokens ?? 0),
    completionTokens: Number(row?.completion_tokens ?? 0),
    costUsd: Number(row?.cost_usd ?? 0),
    spanMs: Math.max(0, row?.span_ms ?? 0),
  };
}

export interface RunState {
  status: RunStatus;
  error: { code: string; message: string } | null;
  finishedAt: Date | null;
}

/** Status of each of `runIds` that still exists. */
export async function selectRunStates(db: pg.Pool, runIds: string[]): Promise<Map<string, RunState>> {
  if (runIds.length === 0) return new Map();
  const { rows } = await db.query<{ id: string; status: RunStatus; error: RunState['error']; finished_at: Date | null }>({
    name: 'queue_select_run_states',
    text: 'SELECT id, status, error, finished_at FROM runs WHERE id = ANY($1::uuid[])',
    values: [runIds],
  });
  return new Map(rows.map((r) => [r.id, { status: r.status, error: r.error, finishedAt: r.finished_at }]));
}
