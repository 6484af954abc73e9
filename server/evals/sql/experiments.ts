import type pg from 'pg';
import type { CaseResult, ExperimentStatus, ExperimentSummary } from '../../../shared/evals.js';
import type { CaseRecord } from '../types.js';

type Db = Pick<pg.ClientBase, 'query'>;

export interface NewExperiment {
  id: string;
  datasetId: string;
  agent: string | null;
  pattern: string | null;
  agents: string[] | null;
  options: Record<string, unknown> | null;
  version: string | null;
  concurrency: number;
  caseCount: number;
  createdBy: string;
}

export async function insertExperiment(db: Db, e: NewExperiment): Promise<void> {
  await db.query(
    `INSERT INTO eval_experiments (id, dataset_id, agent, pattern, agents, options, version, concurrency, case_count, created_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [e.id, e.datasetId, e.agent, e.pattern, e.agents === null ? null : JSON.stringify(e.agents), e.options === null ? null : JSON.stringify(e.options), e.version, e.concurrency, e.caseCount, e.createdBy],
  );
}

export async function setExperimentRun(db: Db, id: string, runId: string): Promise<void> {
  await db.query('UPDATE eval_experiments SET run_id = $2 WHERE id = $1', [id, runId]);
}

export async function deleteExperiment(db: Db, id: string): Promise<void> {
  await db.query('DELETE FROM eval_experiments WHERE id = $1', [id]);
}

/** Written by the run once every case has its result: the status outlives the run (retention). */
export async function finishExperiment(db: Db, id: string, status: 'succeeded'): Promise<void> {
  await db.query('UPDATE eval_experiments SET status = $2, finished_at = coalesce(finished_at, now()) WHERE id = $1', [id, status]);
}

/** One result per experiment and case; a replay writes the same row again. */
export async function upsertResult(db: Db, experimentId: string, caseId: string, r: CaseRecord): Promise<void> {
  await db.query(
    `INSERT INTO eval_results (experiment_id, case_id, passed, score, output, reason, error, prompt_tokens, completion_tokens, cost_usd, latency_ms)
     VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7::jsonb, $8, $9, $10, $11)
     ON CONFLICT (experiment_id, case_id) DO UPDATE SET passed = excluded.passed, score = excluded.score, output = excluded.output,
       reason = excluded.reason, error = excluded.error, prompt_tokens = excluded.prompt_tokens, completion_tokens = excluded.completion_tokens,
       cost_usd = excluded.cost_usd, latency_ms = excluded.latency_ms`,
    [experimentId, caseId, r.passed, r.score, JSON.stringify(r.output ?? null), r.reason, r.error === null ? null : JSON.stringify(r.error), r.promptTokens, r.completionTokens, r.costUsd, r.latencyMs],
  );
}

interface SummaryRow {
  id: string;
  dataset_id: string;
  dataset: string;
  run_id: string | null;
  status: string | null;
  agent: string | null;
  pattern: string | null;
  agents: string[] | null;
  version: string | null;
  concurrency: number;
  case_count: number;
  created_by: string;
  created_at: Date;
  finished_at: Date | null;
  done: number;
  passed: number;
  mean_score: number | null;
  prompt_tokens: string;
  completion_tokens: string;
  cost_usd: string;
  p95_latency_ms: number | null;
}

/** The experiment's row and its aggregates; `status` and `finishedAt` come from the run when it still exists (the caller fills them). */
export type StoredSummary = Omit<ExperimentSummary, 'status'> & { storedStatus: ExperimentStatus | null };

const toSummary = (r: SummaryRow): StoredSummary => ({
  id: r.id,
  datasetId: r.dataset_id,
  dataset: r.dataset,
  runId: r.run_id,
  storedStatus: r.status as ExperimentStatus | null,
  agent: r.agent,
  pattern: r.pattern,
  agents: r.agents,
  version: r.version,
  concurrency: r.concurrency,
  caseCount: r.case_count,
  done: r.done,
  passed: r.passed,
  passRate: r.case_count === 0 ? 0 : Math.round((r.passed / r.case_count) * 10_000) / 10_000,
  meanScore: r.mean_score === null ? null : Math.round(r.mean_score * 10_000) / 10_000,
  promptTokens: Number(r.prompt_tokens),
  completionTokens: Number(r.completion_tokens),
  costUsd: Number(r.cost_usd),
  p95LatencyMs: r.p95_latency_ms === null ? null : Math.round(r.p95_latency_ms),
  createdBy: r.created_by,
  createdAt: r.created_at.toISOString(),
  finishedAt: r.finished_at?.toISOString() ?? null,
});

const SUMMARY = `SELECT e.id, e.dataset_id, d.name AS dataset, e.run_id, e.status, e.agent, e.pattern, e.agents, e.version, e.concurrency,
       e.case_count, e.created_by, e.created_at, e.finished_at,
       coalesce(r.done, 0) AS done, coalesce(r.passed, 0) AS passed, r.mean_score,
       coalesce(r.prompt_tokens, 0) AS prompt_tokens, coalesce(r.completion_tokens, 0) AS completion_tokens,
       coalesce(r.cost_usd, 0) AS cost_usd, r.p95_latency_ms
  FROM eval_experiments e
  JOIN eval_datasets d ON d.id = e.dataset_id
  LEFT JOIN LATERAL (
    SELECT count(*)::int AS done, (count(*) FILTER (WHERE passed))::int AS passed, avg(score) AS mean_score,
           sum(prompt_tokens) AS prompt_tokens, sum(completion_tokens) AS completion_tokens, sum(cost_usd) AS cost_usd,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95_latency_ms
      FROM eval_results WHERE experiment_id = e.id
  ) r ON true`;

/** Newest first, optionally of one dataset and/or one agent. */
export async function listExperiments(db: Db, filter: { datasetId?: string; agent?: string; limit: number }): Promise<StoredSummary[]> {
  const where: string[] = [];
  const values: unknown[] = [];
  if (filter.datasetId !== undefined) {
    values.push(filter.datasetId);
    where.push(`e.dataset_id = $${values.length}`);
  }
  if (filter.agent !== undefined) {
    values.push(filter.agent);
    where.push(`e.agent = $${values.length}`);
  }
  values.push(filter.limit);
  const { rows } = await db.query<SummaryRow>(`${SUMMARY} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY e.created_at DESC, e.id DESC LIMIT $${values.length}`, values);
  return rows.map(toSummary);
}

export async function findExperiment(db: Db, id: string): Promise<StoredSummary | null> {
  const { rows } = await db.query<SummaryRow>(`${SUMMARY} WHERE e.id = $1`, [id]);
  return rows[0] ? toSummary(rows[0]) : null;
}

/** A result as selected: what the API returns, spelled as the columns are. */
type ResultRow = Pick<CaseResult, 'input' | 'expectation' | 'passed' | 'score' | 'output' | 'reason' | 'error'> & {
  case_id: string;
  idx: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_usd: string;
  latency_ms: number;
};

/** The results of an experiment in case order (cases without a result yet are left out). */
export async function listResults(db: Db, experimentId: string): Promise<CaseResult[]> {
  const { rows } = await db.query<ResultRow>(
    `SELECT r.case_id, c.idx, c.input, c.expectation, r.passed, r.score, r.output, r.reason, r.error, r.prompt_tokens, r.completion_tokens, r.cost_usd, r.latency_ms
       FROM eval_results r JOIN eval_cases c ON c.id = r.case_id
      WHERE r.experiment_id = $1 ORDER BY c.idx`,
    [experimentId],
  );
  return rows.map((r) => ({
    caseId: r.case_id,
    index: r.idx,
    input: r.input,
    expectation: r.expectation,
    passed: r.passed,
    score: r.score,
    output: r.output,
    reason: r.reason,
    error: r.error,
    promptTokens: r.prompt_tokens,
    completionTokens: r.completion_tokens,
    costUsd: Number(r.cost_usd),
    latencyMs: r.latency_ms,
  }));
}
