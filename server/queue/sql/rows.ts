import type { Table } from 'drizzle-orm';
import type pg from 'pg';
import type { Run, RunEvent, RunStep } from '../../../shared/protocol.js';
import type { runs } from '../schema.js';

/** Anything that runs a statement: the pool (autocommit) or a checked-out client. */
export type Db = pg.Pool | pg.PoolClient;

/**
 * A table's row as hand-written SQL returns it: the SQL column names (snake_case)
 * with the types drizzle infers from server/queue/schema.ts, so a column changed
 * there changes every statement's row type.
 */
type Columns<T extends Table> = T['_']['columns'];
export type SqlRow<T extends Table> = {
  [K in keyof Columns<T> as Columns<T>[K]['_']['name']]: T['$inferSelect'][K & keyof T['$inferSelect']];
};

/** Columns every statement that hands a run back selects (see RUN_COLUMNS); numerics cast to numbers. */
export type RunRow = Omit<
  SqlRow<typeof runs>,
  'run_at' | 'lease_owner' | 'lease_expires_at' | 'cancel_requested' | 'finish_waiters' | 'cost_usd'
> & { cost_usd: number };

/** bigint and numeric come back as strings from pg; cast them where they are read. */
export const RUN_COLUMNS = `id, owner, agent, pattern, agents, options, input, plan, plan_version, status, output, error, priority,
  idempotency_key, attempts, max_attempts, model, offline, prompt_tokens::float8 AS prompt_tokens,
  completion_tokens::float8 AS completion_tokens, cost_usd::float8 AS cost_usd, cached_requests,
  pending_input, input_answers, last_seq, lease_token, created_at, started_at, finished_at, updated_at`;

export interface StepRow {
  run_id: string;
  key: string;
  idx: number;
  agent: string | null;
  status: 'running' | 'succeeded' | 'failed';
  output: unknown;
  meta: Record<string, unknown> | null;
  model: string | null;
  prompt_tokens: number;
  completion_tokens: number;
  cost_usd: number;
  cached: boolean;
  started_at: Date | null;
  finished_at: Date | null;
}

export const STEP_COLUMNS = `run_id, key, idx, agent, status, output, meta, model, prompt_tokens, completion_tokens,
  cost_usd::float8 AS cost_usd, cached, started_at, finished_at`;

export interface EventRow {
  run_id: string;
  seq: number;
  type: string;
  data: Record<string, unknown>;
  at: Date;
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export function toStep(row: StepRow): RunStep {
  return {
    index: row.idx,
    key: row.key,
    agent: row.agent,
    status: row.status,
    output: row.output ?? null,
    ...(row.meta ? { meta: row.meta } : {}),
    usage: {
      promptTokens: row.prompt_tokens,
      completionTokens: row.completion_tokens,
      costUsd: row.cost_usd,
      cachedRequests: row.cached ? 1 : 0,
    },
    ...(row.model ? { model: row.model } : {}),
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
  };
}

/** The public Run (shared/protocol.ts) from its row and its steps in index order. */
export function toRun(row: RunRow, steps: StepRow[]): Run {
  return {
    id: row.id,
    status: row.status,
    agent: row.agent,
    pattern: row.pattern,
    agents: row.agents,
    options: row.options,
    input: row.input as Run['input'],
    output: row.output ?? null,
    error: row.error ? { code: row.error.code, message: row.error.message } : null,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    priority: row.priority,
    model: row.model,
    offline: row.offline,
    owner: row.owner,
    idempotencyKey: row.idempotency_key,
    usage: {
      promptTokens: row.prompt_tokens,
      completionTokens: row.completion_tokens,
      costUsd: row.cost_usd,
      cachedRequests: row.cached_requests,
    },
    steps: steps.map(toStep),
    ...agentVersionsOf(row.plan),
    pendingInput: row.pending_input ?? null,
    createdAt: row.created_at.toISOString(),
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
    updatedAt: row.updated_at.toISOString(),
  };
}

/**
 * The versions a run pinned (issue #14): the planner freezes them into the plan as
 * `agentVersions`; the queue only shows them, the rest of the plan stays opaque to it.
 */
function agentVersionsOf(plan: unknown): { agentVersions?: Record<string, number | 'draft'> } {
  const pins = (plan as { agentVersions?: unknown } | null)?.agentVersions;
  return pins && typeof pins === 'object' && !Array.isArray(pins) ? { agentVersions: pins as Record<string, number | 'draft'> } : {};
}

export function toEvent(row: EventRow): RunEvent {
  return { seq: row.seq, runId: row.run_id, type: row.type, data: row.data, at: row.at.toISOString() };
}

/** NOTIFY channels: new work to claim, a cancel for whoever runs it, a run reached a final status. */
export const CHANNELS = {
  work: 'agentry_runs_work',
  cancel: 'agentry_runs_cancel',
  done: 'agentry_runs_done',
} as const;
