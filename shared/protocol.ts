/**
 * The public protocol (docs/API.md sections 3 and 4), defined once and imported by
 * the server, the browser client and the tests. Schemas validate what crosses a
 * boundary; the types are inferred from them.
 */
import { z } from 'zod';

export const RUN_STATUSES = ['queued', 'running', 'awaiting_input', 'succeeded', 'failed', 'cancelled'] as const;
export const FINAL_STATUSES = ['succeeded', 'failed', 'cancelled'] as const;
export const runStatusSchema = z.enum(RUN_STATUSES);
export type RunStatus = z.infer<typeof runStatusSchema>;
export type FinalStatus = (typeof FINAL_STATUSES)[number];
export const isFinalStatus = (status: RunStatus): status is FinalStatus =>
  (FINAL_STATUSES as readonly string[]).includes(status);

export const ROLES = ['admin', 'operator', 'viewer'] as const;
export const roleSchema = z.enum(ROLES);
export type Role = z.infer<typeof roleSchema>;

export const PATTERN_NAMES = ['sequential', 'parallel', 'debate', 'verification', 'expert-panel', 'router'] as const;
export type PatternName = (typeof PATTERN_NAMES)[number];

export interface ApiError {
  error: { code: string; message: string; details?: unknown };
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  /** US dollars, from the configured price table. */
  costUsd?: number;
  cachedRequests?: number;
}

export interface RunStep {
  index: number;
  key?: string;
  agent: string | null;
  status: 'running' | 'succeeded' | 'failed';
  output: unknown;
  /** Pattern-specific detail: round, role, verdict, router choice and confidence. */
  meta?: Record<string, unknown>;
  usage?: Usage;
  startedAt?: string | null;
  finishedAt?: string | null;
}

export interface RunError {
  code: string;
  message: string;
}

export interface Run {
  id: string;
  status: RunStatus;
  agent: string | null;
  pattern: string | null;
  agents: string[] | null;
  options: Record<string, unknown> | null;
  input: unknown;
  output: unknown;
  error: RunError | null;
  attempts: number;
  maxAttempts: number;
  priority: number;
  model: string | null;
  offline: boolean;
  owner: string;
  idempotencyKey: string | null;
  usage: Usage;
  steps: RunStep[];
  /** The exact version of every agent the run may call, pinned at submit (`draft` for a frozen draft); absent on runs from before versions. */
  agentVersions?: Record<string, number | 'draft'>;
  /** For `awaiting_input`: what the person is asked. */
  pendingInput: unknown;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  updatedAt: string;
}

export const EVENT_TYPES = [
  'run.queued',
  'run.started',
  'run.step.started',
  'run.token',
  'run.step.finished',
  'run.tool.called',
  'run.tool.finished',
  'run.approval.requested',
  'run.approval.decided',
  'run.retrying',
  'run.awaiting_input',
  'run.input_received',
  'run.cancel_requested',
  'run.released',
  'run.succeeded',
  'run.failed',
  'run.cancelled',
] as const;
export type RunEventType = (typeof EVENT_TYPES)[number];

export interface RunEvent {
  /** 1, 2, 3… per run. `run.token` events carry the seq of the last stored event (they are not stored). */
  seq: number;
  runId: string;
  type: RunEventType | string;
  data: Record<string, unknown>;
  at: string;
}

export interface QueueStats {
  queued: number;
  running: number;
  awaitingInput: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  oldestQueuedAgeSeconds: number | null;
  runsPerSecond: number;
  p95DurationSeconds: number | null;
  wsClients?: number;
  llmTokensPerMinute?: number;
  at: string;
}

// ---------------------------------------------------------------- HTTP bodies

const jsonValue: z.ZodType<unknown> = z.unknown();

/** A run's own spending limits (docs/API.md "Budgets"): frozen in its plan at submit. */
export const runLimitsSchema = z
  .object({
    maxCostUsd: z.number().positive().max(1_000_000).optional(),
    maxTokens: z.number().int().positive().max(1_000_000_000).optional(),
  })
  .strict();
export type RunLimitsBody = z.infer<typeof runLimitsSchema>;

export const createRunSchema = z
  .object({
    agent: z.string().min(1).max(100).optional(),
    pattern: z.string().min(1).max(100).optional(),
    agents: z.array(z.string().min(1).max(100)).min(1).max(20).optional(),
    input: jsonValue.refine((v) => v !== undefined, 'input is required'),
    options: z.record(z.string(), z.unknown()).optional(),
    priority: z.number().int().min(-1000).max(1000).optional(),
    idempotencyKey: z.string().min(1).max(200).optional(),
    /** POSTed a signed Standard Webhooks message when the run ends (docs/API.md, "Callbacks"). */
    callbackUrl: z.url({ protocol: /^https?$/ }).max(2048).optional(),
    limits: runLimitsSchema.optional(),
  })
  .strict()
  .refine((b) => (b.agent === undefined) !== (b.pattern === undefined), {
    message: 'give exactly one of "agent" or "pattern"',
    path: ['agent'],
  })
  .refine((b) => b.pattern !== undefined || b.agents === undefined, {
    message: '"agents" goes with "pattern"',
    path: ['agents'],
  });
export type CreateRunBody = z.infer<typeof createRunSchema>;

export const runInputSchema = z.object({ answer: jsonValue.refine((v) => v !== undefined, 'answer is required') }).strict();

/**
 * A decision on one request of a run parked on decisions: approve or deny a tool
 * call (`tool.approval`), or say what to do with a call whose outcome is unknown
 * after a crash (`tool.unknown_outcome`: retry it, record its result, fail the run).
 */
export const runDecisionSchema = z
  .object({
    approvalId: z.string().regex(/^ap_[A-Za-z0-9_-]{1,40}$/, 'not an approval id'),
    decision: z.enum(['approve', 'deny', 'retry', 'record', 'fail']),
    reason: z.string().max(2000).optional(),
    /** With approve: run the tool with these arguments instead of the model's. */
    arguments: z.record(z.string(), jsonValue).optional(),
    /** With record: the result the tool is taken to have returned. */
    result: jsonValue.optional(),
  })
  .strict();
export type RunDecisionBody = z.infer<typeof runDecisionSchema>;

/** PUT /api/budgets: one daily budget; null removes that limit, both null remove the budget. */
export const putBudgetSchema = z
  .object({
    scope: z.enum(['user', 'agent']),
    subject: z.string().min(1).max(200),
    dailyUsd: z.number().nonnegative().max(1_000_000).nullable(),
    dailyTokens: z.number().int().nonnegative().max(1_000_000_000_000).nullable(),
  })
  .strict();
export type PutBudgetBody = z.infer<typeof putBudgetSchema>;

export const spendQuerySchema = z.object({ days: z.coerce.number().int().min(1).max(90).default(14) }).strict();

/** A daily budget with today's ledger (GET /api/budgets). */
export interface BudgetView {
  scope: 'user' | 'agent';
  subject: string;
  dailyUsd: number | null;
  dailyTokens: number | null;
  /** Where the limits come from: a stored budget or the BUDGET_* defaults. */
  source: 'budget' | 'default';
  updatedBy: string | null;
  updatedAt: string | null;
  today: { spentUsd: number; spentTokens: number; reservedUsd: number; reservedTokens: number };
}

/** One bar of the spend chart (GET /api/budgets/spend): a user's or agent's UTC day. */
export interface SpendDay {
  day: string;
  key: string;
  costUsd: number;
  tokens: number;
  steps: number;
}

/** One bar of a run's waterfall (GET /api/runs/:id/trace), built from its stored events. */
export interface TraceSpan {
  id: string;
  parentId: string | null;
  kind: 'run' | 'attempt' | 'queue' | 'wait' | 'model' | 'tool';
  name: string;
  start: string;
  /** null: still going. */
  end: string | null;
  durationMs: number | null;
  status: 'ok' | 'error' | 'running' | 'waiting' | 'interrupted' | 'cancelled';
  attributes: Record<string, string | number | boolean>;
}

export interface RunTrace {
  runId: string;
  start: string;
  end: string | null;
  /** Up to now while the run is not final. */
  durationMs: number | null;
  attempts: number;
  totals: { promptTokens: number; completionTokens: number; costUsd: number };
  spans: TraceSpan[];
}

/** One pending request in GET /api/approvals. */
export interface PendingApproval {
  approvalId: string;
  kind: 'tool.approval' | 'tool.unknown_outcome' | 'budget.exceeded';
  runId: string;
  owner: string;
  agent: string | null;
  tool: string;
  toolName: string;
  arguments: unknown;
  annotations?: { readOnly: boolean; destructive: boolean; idempotent: boolean };
  since: string;
}

export const listRunsQuerySchema = z
  .object({
    status: runStatusSchema.optional(),
    limit: z.coerce.number().int().min(1).max(100).default(20),
    cursor: z.string().max(200).optional(),
    owner: z.string().max(100).optional(),
  })
  .strict();

export const eventsQuerySchema = z
  .object({
    // seq is a PostgreSQL integer: a larger `after` would be an error there, not an empty page.
    after: z.coerce.number().int().min(0).max(2147483647).default(0),
    limit: z.coerce.number().int().min(1).max(10000).default(1000),
  })
  .strict();

export const loginSchema = z
  .object({ username: z.string().min(1).max(100), password: z.string().min(1).max(1000) })
  .strict();

export const createUserSchema = z
  .object({
    username: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[a-zA-Z0-9_.-]+$/, 'letters, digits, "_", "." and "-" only'),
    password: z.string().min(8, 'at least 8 characters').max(1000),
    role: roleSchema,
  })
  .strict();

export interface PublicUser {
  username: string;
  role: Role;
  createdAt?: string;
}

export interface LoginResponse {
  token: string;
  expiresAt: string;
  user: PublicUser;
}

// ---------------------------------------------------------------- WebSocket frames

export const TOPIC_PATTERN = /^(runs|queue|run:[0-9a-fA-F-]{36}|thread:[0-9a-fA-F-]{36})$/;
export const topicSchema = z.string().max(100).regex(TOPIC_PATTERN, 'topic must be "runs", "queue", "run:<id>" or "thread:<id>"');

export const clientFrameSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('subscribe'), topic: topicSchema, after: z.number().int().min(0).optional() }),
  z.object({ type: z.literal('unsubscribe'), topic: topicSchema }),
  z.object({ type: z.literal('ping') }),
]);
export type ClientFrame = z.infer<typeof clientFrameSchema>;

export type QueueStatsEvent = { type: 'queue.stats'; data: QueueStats };

export type ServerFrame =
  | { type: 'subscribed'; topic: string }
  | { type: 'unsubscribed'; topic: string }
  | { type: 'pong' }
  | { type: 'event'; topic: string; event: RunEvent | QueueStatsEvent }
  | { type: 'error'; code: string; message: string; topic?: string };

/** Close codes a client can act on. */
export const WS_CLOSE = {
  normal: 1000,
  goingAway: 1001,
  policy: 1008,
  tooBig: 1009,
  serviceRestart: 1012,
  tryAgainLater: 1013,
  /** Application code: the client could not keep up; reconnect and resume with `after`. */
  slowConsumer: 4008,
  unauthorized: 4401,
} as const;

/** GET /api/audit: newest first; `before` is the id of the last entry of the previous page. */
export const auditQuerySchema = z
  .object({
    targetType: z.string().regex(/^[a-z_]{1,40}$/).optional(),
    targetId: z.string().min(1).max(200).optional(),
    before: z.coerce.number().int().positive().optional(),
    limit: z.coerce.number().int().min(1).max(200).default(50),
  })
  .strict();
export type AuditQuery = z.infer<typeof auditQuerySchema>;

export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  action: string;
  targetType: string;
  targetId: string;
  detail: Record<string, unknown>;
}

// ---------------------------------------------------------------- API keys

/** POST /api/keys. `agents` absent or null: the key may run any agent. */
export const createApiKeySchema = z
  .object({
    name: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[a-zA-Z0-9_.-]+$/, 'letters, digits, "_", "." and "-" only'),
    role: roleSchema,
    agents: z.array(z.string().min(1).max(100)).min(1).max(100).nullable().optional(),
  })
  .strict();
export type CreateApiKeyBody = z.infer<typeof createApiKeySchema>;

export interface ApiKey {
  id: string;
  name: string;
  role: Role;
  /** Null: any agent. */
  agents: string[] | null;
  /** The principal the key acts as: runs it starts are owned by `key:<name>`. */
  principal: string;
  createdBy: string;
  createdAt: string;
  /** Up to a minute behind (last use is written in batches). */
  lastUsedAt: string | null;
  revokedAt: string | null;
  revokedBy: string | null;
}

/** The answer to POST /api/keys: the only time the secret is shown. */
export interface CreatedApiKey {
  key: ApiKey;
  secret: string;
}
