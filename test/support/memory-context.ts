/**
 * A RunContext with its checkpoints in memory: the queue's contract (a stored key
 * returns its output without running again; the n-th awaitInput gets the n-th
 * answer; an aborted signal stops new steps) without PostgreSQL. Unit tests and the
 * pattern benchmark run patterns on it; the queue's own tests cover the durable one.
 */
import { AwaitingInput, type ClaimedRun, type RunContext, type StepHandle, type StepInfo, type StepResult } from '../../server/queue/types.js';

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
    agent: null,
    pattern: null,
    agents: null,
    options: null,
    input: '',
    attempts: 1,
    maxAttempts: 3,
    leaseToken: 'lease-1',
    inputAnswers: [],
    ...overrides,
  };
}

export function memoryContext(run: ClaimedRun = claimedRun(), options: { store?: CheckpointStore } = {}): MemoryContext {
  const store: CheckpointStore = options.store ?? new Map();
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
      const result = await fn({ index, token: () => undefined, signal: controller.signal });
      store.set(key, result.output);
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
      if (answered < run.inputAnswers.length) return run.inputAnswers[answered++];
      throw new AwaitingInput(question);
    },
  };
  return ctx;
}
