import type { RunEventData, TypedRunEventType } from '../../shared/events.js';
import type { RunEvent, Usage } from '../../shared/protocol.js';
import type { Logger } from '../log.js';
import { LeaseLost } from './retry.js';
import type { Db, StepRow } from './sql/rows.js';
import { appendEvent, finishStep, loadSteps, startStep, type Fence, type WrittenEvent } from './sql/worker-writes.js';
import { AwaitingInput, isDecision, type ClaimedRun, type EventSink, type RunContext, type StepHandle, type StepInfo, type StepResult } from './types.js';

/** One attempt's view of its run, as the worker tracks it. */
export interface AttemptState {
  readonly run: ClaimedRun;
  readonly fence: Fence;
  readonly signal: AbortSignal;
  /** Last stored seq this worker knows of (run.token frames carry it). */
  lastSeq: number;
  /** Set when a fenced write found the lease gone: nothing more is written. */
  lost: boolean;
}

/**
 * The RunContext a planner's execute() receives. Every write goes through a
 * fenced statement (sql/worker-writes.ts); a write that finds the lease gone
 * marks the attempt lost and throws LeaseLost, which ends execute().
 */
export function createRunContext(deps: { db: Db; sink: EventSink; logger: Logger; attempt: AttemptState }): RunContext {
  const { db, sink, logger, attempt } = deps;
  const { run } = attempt;
  let checkpoints: Promise<Map<string, StepRow>> | undefined;
  let stepCalls = 0;
  let questions = 0;
  // Answers to awaitInput() in order; decisions are looked up by id instead.
  const answers = run.inputAnswers.filter((a) => !isDecision(a));
  const loadCheckpoints = () => (checkpoints ??= loadSteps(db, [run.id]).then((rows) => new Map(rows.map((r) => [r.key, r]))));

  const publish = <T extends TypedRunEventType>(written: WrittenEvent, type: T, data: RunEventData<T>) => {
    attempt.lastSeq = Math.max(attempt.lastSeq, written.seq);
    const event: RunEvent = { seq: written.seq, runId: run.id, type, data, at: written.at.toISOString() };
    try {
      sink.event(event, run.owner);
    } catch (error) {
      logger.warn({ err: error, runId: run.id }, 'event sink failed');
    }
  };

  const fenced = (written: WrittenEvent | null): WrittenEvent => {
    if (written) return written;
    attempt.lost = true;
    throw new LeaseLost(run.id);
  };

  const throwIfAborted = () => {
    if (attempt.lost) throw new LeaseLost(run.id);
    attempt.signal.throwIfAborted();
  };

  return {
    run,
    signal: attempt.signal,
    async emit(type, data) {
      throwIfAborted();
      const written = fenced(await appendEvent(db, attempt.fence, type, data));
      publish(written, type, data);
    },
    async step<T>(key: string, info: StepInfo, fn: (step: StepHandle) => Promise<StepResult<T>>): Promise<T> {
      // The n-th step() call of a deterministic planner names the same step on every attempt.
      const callIndex = stepCalls++;
      const done = (await loadCheckpoints()).get(key);
      if (done?.status === 'succeeded') return done.output as T;
      throwIfAborted();
      const index = done?.idx ?? callIndex;
      const kind = info.kind ?? 'model';
      // A tool step's start is its intent and its finish its receipt: named for what they are.
      const [startedType, finishedType] = kind === 'tool' ? (['run.tool.called', 'run.tool.finished'] as const) : (['run.step.started', 'run.step.finished'] as const);
      const meta = kind === 'model' ? (info.meta ?? null) : { ...info.meta, kind };
      const startData = { index, key, agent: info.agent, ...(meta ? { meta } : {}) };
      publish(fenced(await startStep(db, attempt.fence, { key, index, agent: info.agent, meta, startedType }, startData)), startedType, startData);
      let spent: Usage | null = null;
      const handle: StepHandle = {
        index,
        signal: attempt.signal,
        spent(usage) {
          spent = {
            promptTokens: (spent?.promptTokens ?? 0) + usage.promptTokens,
            completionTokens: (spent?.completionTokens ?? 0) + usage.completionTokens,
            costUsd: (spent?.costUsd ?? 0) + (usage.costUsd ?? 0),
            cachedRequests: (spent?.cachedRequests ?? 0) + (usage.cachedRequests ?? 0),
          };
        },
        token(delta) {
          if (attempt.lost || attempt.signal.aborted) return;
          try {
            sink.token(run.id, run.owner, attempt.lastSeq, { index, key, delta });
          } catch (error) {
            logger.warn({ err: error, runId: run.id }, 'token sink failed');
          }
        },
      };
      let result: StepResult<T>;
      try {
        result = await fn(handle);
      } catch (error) {
        // A step that parks the run (a nested agent waiting for a person) has not failed: it resumes.
        if (!attempt.lost && !(error instanceof LeaseLost) && !(error instanceof AwaitingInput)) {
          const failure = { message: error instanceof Error ? error.message : String(error) };
          // Tokens a failed step spent are paid for all the same: they count on the run.
          const usage = spent as Usage | null;
          const data = { index, key, agent: info.agent, status: 'failed' as const, error: failure, ...(usage ? { usage } : {}) };
          try {
            const written = await finishStep(db, attempt.fence, { key, index, agent: info.agent, meta, finishedType, status: 'failed', output: { error: failure }, model: null, usage }, data);
            if (written) publish(written, finishedType, data);
          } catch (writeError) {
            logger.warn({ err: writeError, runId: run.id }, 'could not record the failed step');
          }
        }
        throw error;
      }
      const usage: Usage | null = result.usage ?? null;
      const stepMeta = result.meta ? { ...(meta ?? {}), ...result.meta } : meta;
      const data = {
        index,
        key,
        agent: info.agent,
        status: 'succeeded' as const,
        output: result.output ?? null,
        ...(usage ? { usage } : {}),
        ...(result.model ? { model: result.model } : {}),
        ...(stepMeta ? { meta: stepMeta } : {}),
      };
      const written = fenced(
        await finishStep(db, attempt.fence, { key, index, agent: info.agent, meta: stepMeta, finishedType, status: 'succeeded', output: result.output, model: result.model ?? null, usage }, data),
      );
      // A tool step's output is the loop's receipt (shared/events.ts `run.tool.finished`); this
      // generic layer cannot see its shape, which the loop types and events.test.ts checks.
      publish(written, finishedType, data as RunEventData<typeof finishedType>);
      return result.output;
    },
    awaitInput(question) {
      const n = questions++;
      if (n < answers.length) return answers[n];
      throw new AwaitingInput(question);
    },
    async stepState(key) {
      const row = (await loadCheckpoints()).get(key);
      if (!row) return 'new';
      return row.status === 'running' ? 'started' : row.status;
    },
    decision(approvalId) {
      return run.inputAnswers.find((a) => isDecision(a) && a.approvalId === approvalId) as ReturnType<RunContext['decision']>;
    },
  };
}
