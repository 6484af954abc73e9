import type { RunEventData, TypedRunEventType } from '../../shared/events.js';
import type { CreateRunBody, Run, RunEvent, RunStatus, QueueStats, Usage } from '../../shared/protocol.js';
import type { AuthUser } from '../auth/types.js';

/**
 * What the API shows of what a run was asked to do (docs/API.md). The queue stores
 * it for reading and never interprets it: what to execute is the plan.
 */
export type RunSummary = Pick<Run, 'agent' | 'pattern' | 'agents' | 'options' | 'input'>;

/**
 * A run's plan as the planner froze it at submit: opaque to the queue, which stores
 * it (runs.plan, runs.plan_version) and hands it back to the planner's execute().
 * The version lets a planner read plans an older release froze.
 */
export interface FrozenPlan {
  version: number;
  plan: unknown;
  summary: RunSummary;
  /** The model label stored on the run (e.g. "offline" or "gpt-4o-mini"). */
  model: string | null;
  offline: boolean;
  /**
   * Every agent the run may call (named, or referenced by the pattern's options). An actor
   * restricted to some agents (an API key) may submit the plan only when all are allowed;
   * a plan without the list is refused for such an actor.
   */
  agentNames?: readonly string[];
}

/** Who submits a run besides its owner: the HTTP route today; threads, triggers, schedules and evals tomorrow. */
export interface SubmitSource {
  via: 'http' | 'thread' | 'trigger' | 'schedule' | 'eval';
  /** Same key from the same owner names the same run (no second run). */
  idempotencyKey?: string | null;
  priority?: number;
  /** Someone will wait for the final status: the final write sends a NOTIFY. */
  awaitFinish?: boolean;
  /** Where to POST the run's outcome when it ends (registered with the run, before it exists). */
  callbackUrl?: string | null;
}

/**
 * Where runs' callbacks are registered (implemented by the webhooks part). The queue
 * registers a callback before it inserts the run, so no run that ends can lack it;
 * a registration whose run was never created is forgotten.
 */
export interface RunCallbacks {
  /** Throws ValidationError when the URL may not be called. */
  check(url: string): void;
  register(runId: string, url: string): Promise<void>;
  forget(runId: string): Promise<void>;
}

/** A run as the worker sees it when it claims one: the queue's own fields and the plan. */
export interface ClaimedRun {
  id: string;
  owner: string;
  plan: unknown;
  planVersion: number;
  attempts: number;
  maxAttempts: number;
  /** Fencing token of this attempt; every write checks it. */
  leaseToken: string;
  /** Answers a person gave, oldest first (router escalations etc.). */
  inputAnswers: unknown[];
  /** When the run was submitted and when this attempt claimed it (trace spans of the wait in the queue). */
  createdAt?: Date;
  claimedAt?: Date;
  /** Seq of this attempt's run.started: above 2, something happened before it (an earlier attempt). */
  startedSeq?: number;
}

export interface StepResult<T> {
  output: T;
  usage?: Usage;
  model?: string;
  meta?: Record<string, unknown>;
}

export interface StepHandle {
  readonly index: number;
  /** Streams a text delta to watchers (run.token); not stored. */
  token(delta: string): void;
  /**
   * Reports usage this step has already spent (a model call that answered). If
   * the step then fails, this is what is counted on the run; if it succeeds,
   * `StepResult.usage` is counted instead.
   */
  spent?(usage: Usage): void;
  readonly signal: AbortSignal;
}

/** What a step does: ask a model, run a tool (a side effect), or wait for a person. */
export type StepKind = 'model' | 'tool' | 'approval';

export interface StepInfo {
  agent: string | null;
  meta?: Record<string, unknown>;
  /** `tool` steps are stored and streamed as run.tool.called / run.tool.finished. Default `model`. */
  kind?: StepKind;
}

/**
 * What storage knows of a step. `started` means an earlier attempt wrote its intent
 * and never its outcome: it may or may not have happened.
 */
export type StepState = 'new' | 'started' | 'succeeded' | 'failed';

/** A question parked with the run that a person answers by id (tool approvals, unknown outcomes). */
export interface InputRequest {
  approvalId: string;
  /** `budget.exceeded`: a model call would pass a budget (server/budgets); `arguments` says which and by how much. */
  kind: 'tool.approval' | 'tool.unknown_outcome' | 'budget.exceeded';
  /** As declared (`mcp:files/write_file`) and as the model called it. */
  tool: string;
  toolName: string;
  arguments: unknown;
  agent: string | null;
  stepKey: string;
  annotations?: { readOnly: boolean; destructive: boolean; idempotent: boolean };
}

/** What the run parks on when it needs decisions: every open request at once. */
export interface DecisionsQuestion {
  kind: 'tool.approval' | 'tool.unknown_outcome' | 'budget.exceeded';
  requests: InputRequest[];
}

/** A person's answer to one InputRequest. */
export interface Decision {
  approvalId: string;
  /** approve/deny answer tool.approval; retry/record/fail answer tool.unknown_outcome. */
  decision: 'approve' | 'deny' | 'retry' | 'record' | 'fail';
  reason?: string;
  /** Approve with these arguments instead of the model's. */
  arguments?: Record<string, unknown>;
  /** With `record`: the result the tool is taken to have returned. */
  result?: unknown;
  by?: string;
  at?: string;
}

export function isDecision(value: unknown): value is Decision {
  return typeof value === 'object' && value !== null && typeof (value as { approvalId?: unknown }).approvalId === 'string' && typeof (value as { decision?: unknown }).decision === 'string';
}

/** Thrown by RunContext.awaitInput: the run parks in awaiting_input; no worker holds it. */
export class AwaitingInput extends Error {
  constructor(readonly question: unknown) {
    super('run is waiting for a person');
    this.name = 'AwaitingInput';
  }
}

/**
 * Errors a step reports. `retryable: false` fails the run at once (bad input,
 * invalid option); `retryAfterMs` asks the queue to wait at least that long.
 */
export class RunError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retryable = true,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'RunError';
  }
}

export interface RunContext {
  readonly run: ClaimedRun;
  /** Aborts on cancel, timeout, lost lease or shutdown. */
  readonly signal: AbortSignal;
  /**
   * Runs `fn` once per `key` across attempts and instances: a step already
   * checkpointed returns its stored output without calling `fn`.
   */
  step<T>(key: string, info: StepInfo, fn: (step: StepHandle) => Promise<StepResult<T>>): Promise<T>;
  /** Stores and publishes an event (fenced by the lease); its data has the shape shared/events.ts gives its type. */
  emit<T extends TypedRunEventType>(type: T, data: RunEventData<T>): Promise<void>;
  /**
   * Returns the person's answer for the n-th question of this run if one was
   * given; otherwise parks the run (throws AwaitingInput). Decisions (answers
   * with an approvalId) are not counted here.
   */
  awaitInput(question: unknown): unknown;
  /** What storage knows of step `key` (a step begun by an attempt that died is `started`). */
  stepState(key: string): Promise<StepState>;
  /** The decision a person gave on request `approvalId`, if any. */
  decision(approvalId: string): Decision | undefined;
}

export interface RunOutcome {
  output: unknown;
}

/** What the agents part gives the queue: planning at submit time and execution. */
export interface RunPlanner {
  /**
   * Validates a request and freezes what the run will do, before anything is written.
   * Throws ValidationError / NotFoundError (server/domain/errors.ts).
   */
  plan(body: CreateRunBody, actor: AuthUser): Promise<FrozenPlan>;
  /** Executes `ctx.run.plan` (of `ctx.run.planVersion`). */
  execute(ctx: RunContext): Promise<RunOutcome>;
  readonly offline: boolean;
}

/** Where the queue sends events for live delivery (implemented by the hub). */
export interface EventSink {
  /** A stored event (already has its seq). */
  event(event: RunEvent, owner: string): void;
  /** A token delta, not stored; `seq` is the last stored seq of the run. */
  token(runId: string, owner: string, seq: number, data: Record<string, unknown>): void;
  /** Queue-wide stats, about once a second. */
  queueStats(stats: QueueStats): void;
}

export type { RunStatus };
