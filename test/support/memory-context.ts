/**
 * A RunContext with its checkpoints in memory: the queue's contract (a stored key
 * returns its output without running again; the n-th awaitInput gets the n-th
 * answer; an aborted signal stops new steps) without PostgreSQL. Unit tests and the
 * pattern benchmark run patterns on it; the queue's own tests cover the durable one.
 */
import { AwaitingInput, isDecision, type ClaimedRun, type RunContext, type StepHandle, type StepInfo, type StepResult } from '../../server/queue/types.js';

/** Checkpointed outputs by step key. Pass the same store to a second context to resume a run. */
export type CheckpointStore = Map<string, unknown>;

export interface StepRecord {
  key: string;
  index: number;
  agent: string | null;
  /** The step's meta merged with its result meta (what the timeline would show). */
  meta?: Record<string, unknown>;
  /** Served from the store: the step's function did not run. */
  resumed: boolean;
}

export interface MemoryContext extends RunContext {
  /** Steps whose function ran (not the ones served from the store). */
  steps: number;
  /** Every step() call in call order, including those served from the store. */
  readonly records: StepRecord[];
  readonly store: CheckpointStore;
  readonly events: { type: string; data: Record<string, unknown> }[];
  /** Questions passed to awaitInput, answered or not. */
  readonly questions: unknown[];
  /** Aborts the signal, as a cancel, timeout or lost lease would. */
  abort(reason?: unknown): void;
}

/** A claimed run with neutral defaults; tests override what matters to them. */
export function claimedRun(overrides: Partial<ClaimedRun> = {}): ClaimedRun {
  return {
    id: 'run-1',
    owner: 'tester',
    plan: null,
    planVersion: 1,
    attempts: 1,
    maxAttempts: 3,
    leaseToken: 'lease-1',
    inputAnswers: [],
    ...overrides,
  };
}

/**
 * `started`: keys whose intent was written by an attempt that died before the outcome
 * (shared between contexts like `store`); a step that begins adds its key, one that
 * finishes removes it, so a test can resume from any point.
 */
export function memoryContext(run: ClaimedRun = claimedRun(), options: { store?: CheckpointStore; started?: Set<string> } = {}): MemoryContext {
  const store: CheckpointStore = options.store ?? new Map();
  const started = options.started ?? new Set<string>();
  const answers = run.inputAnswers.filter((a) => !isDecision(a));
  const controller = new AbortController();
  let stepCalls = 0;
  let answered = 0;
  const ctx: MemoryContext = {
    run,
    signal: controller.signal,
    steps: 0,
    records: [],
    store,
    events: [],
    questions: [],
    abort(reason) {
      controller.abort(reason);
    },
    async step<T>(key: string, info: StepInfo, fn: (step: StepHandle) => Promise<StepResult<T>>): Promise<T> {
      // Like the durable context: the n-th step() call has index n, and a checkpoint wins over an abort.
      const index = stepCalls++;
      if (store.has(key)) {
        ctx.records.push({ key, index, agent: info.agent, meta: info.meta, resumed: true });
        return store.get(key) as T;
      }
      controller.signal.throwIfAborted();
      // Recorded when called, not when done, so concurrent branches keep their call order.
      const record: StepRecord = { key, index, agent: info.agent, meta: info.meta, resumed: false };
      ctx.records.push(record);
      started.add(key);
      const result = await fn({ index, token: () => undefined, signal: controller.signal });
      store.set(key, result.output);
      started.delete(key);
      ctx.steps++;
      if (result.meta) record.meta = { ...info.meta, ...result.meta };
      return result.output;
    },
    async emit(type, data) {
      controller.signal.throwIfAborted();
      ctx.events.push({ type, data });
    },
    awaitInput(question) {
      ctx.questions.push(question);
      if (answered < answers.length) return answers[answered++];
      throw new AwaitingInput(question);
    },
    async stepState(key) {
      return store.has(key) ? 'succeeded' : started.has(key) ? 'started' : 'new';
    },
    decision(approvalId) {
      return run.inputAnswers.find((a) => isDecision(a) && a.approvalId === approvalId) as ReturnType<RunContext['decision']>;
    },
  };
  return ctx;
}
