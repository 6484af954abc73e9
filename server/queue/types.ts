import type { CreateRunBody, RunEvent, RunStatus, QueueStats, Usage } from '../../shared/protocol.js';
import type { AuthUser } from '../auth/types.js';

/** What a run is asked to do, and for whom. */
export interface RunSpec {
  id: string;
  owner: string;
  agent: string | null;
  pattern: string | null;
  agents: string[] | null;
  options: Record<string, unknown> | null;
  input: unknown;
}

/** A run as the worker sees it when it claims one. */
export interface ClaimedRun extends RunSpec {
  attempts: number;
  maxAttempts: number;
  /** Fencing token of this attempt; every write checks it. */
  leaseToken: string;
  /** Answers a person gave, oldest first (router escalations etc.). */
  inputAnswers: unknown[];
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

export interface StepInfo {
  agent: string | null;
  meta?: Record<string, unknown>;
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
  /** Stores and publishes an event (fenced by the lease). */
  emit(type: string, data: Record<string, unknown>): Promise<void>;
  /**
   * Returns the person's answer for the n-th question of this run if one was
   * given; otherwise parks the run (throws AwaitingInput).
   */
  awaitInput(question: unknown): unknown;
}

export interface RunOutcome {
  output: unknown;
}

/** What the agents part gives the queue: validation at submit time and execution. */
export interface RunPlanner {
  /** Throws HttpError (404 unknown agent/pattern, 400 bad options) before anything is written. */
  validate(body: CreateRunBody, user: AuthUser): void;
  execute(ctx: RunContext): Promise<RunOutcome>;
  /** The model label stored on new runs (e.g. "offline" or "gpt-4o-mini"). */
  modelFor(body: CreateRunBody): string;
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
