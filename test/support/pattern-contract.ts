/**
 * What every pattern owes the queue, as unit tests: the same step keys on every
 * attempt, a resumed attempt that calls the model only for steps not yet
 * checkpointed and ends with the same output, an aborted run that calls the model
 * no more, and model errors that reach the queue as thrown (code, retryability).
 * Call it inside a pattern's describe().
 */
import { expect, it } from 'vitest';
import type { Pattern } from '../../server/patterns/types.js';
import { RunError } from '../../server/queue/types.js';
import { patternEngine } from './pattern-engine.js';
import type { ScriptRule } from './scripted-model.js';

export interface ContractCase {
  pattern: Pattern;
  agents: readonly string[];
  options?: Record<string, unknown>;
  task?: string;
  inputAnswers?: unknown[];
  /**
   * Rules for a run that succeeds. Each engine gets them afresh, and a resumed run's
   * calls come in another order, so a rule must answer from the request (agent,
   * schema, prompt), never from how many calls came before.
   */
  rules?: ScriptRule[];
  /** Model calls a full run makes (pins the shape of the run). */
  calls: number;
}

export function patternContract(c: ContractCase): void {
  const engine = () => patternEngine(c.pattern, c.rules);
  const args = { agents: c.agents, options: c.options, task: c.task, inputAnswers: c.inputAnswers };

  it('names the same steps in the same order on every run', async () => {
    const first = await engine().run(args);
    const second = await engine().run(args);
    expect(first.error).toBeUndefined();
    const keys = first.ctx.records.map((r) => r.key);
    expect(keys).toHaveLength(c.calls);
    expect(new Set(keys).size).toBe(keys.length);
    expect(second.ctx.records.map((r) => [r.key, r.index, r.agent])).toEqual(first.ctx.records.map((r) => [r.key, r.index, r.agent]));
    expect(second.output).toEqual(first.output);
  });

  it('resumed after a crash at any step, calls the model only for the steps not done and ends the same', async () => {
    const full = await engine().run(args);
    expect(full.error).toBeUndefined();
    // k = calls: a run that already finished, re-executed, calls the model zero times.
    for (let k = 0; k <= c.calls; k++) {
      const store = new Map<string, unknown>();
      const crashing = engine();
      crashing.model.onCall = (call) => {
        if (call.n === k) throw new Error(`crash at call ${k}`);
      };
      const crashed = await crashing.run({ ...args, store });
      if (k < c.calls) expect((crashed.error as Error)?.message, `crash at call ${k}`).toBe(`crash at call ${k}`);
      const done = new Set(store.keys());

      const resuming = engine();
      const resumed = await resuming.run({ ...args, store });
      expect(resumed.error, `resume after call ${k}`).toBeUndefined();
      expect(resumed.output, `resume after call ${k}`).toEqual(full.output);
      const ran = resumed.ctx.records.filter((r) => !r.resumed).map((r) => r.key);
      expect(ran.filter((key) => done.has(key)), `steps redone after call ${k}`).toEqual([]);
      expect(resuming.model.calls, `model calls after call ${k}`).toHaveLength(c.calls - done.size);
      expect(resumed.ctx.records.map((r) => r.key)).toEqual(full.ctx.records.map((r) => r.key));
    }
  });

  it('stops calling the model once the run is aborted', async () => {
    for (let k = 0; k < c.calls; k++) {
      const e = engine();
      const reason = new Error(`cancelled at call ${k}`);
      let callsAtAbort = -1;
      const { ctx, error } = await e.run({
        ...args,
        prepare: (ctx) => {
          e.model.onCall = (call) => {
            if (call.n !== k) return;
            ctx.abort(reason);
            callsAtAbort = e.model.calls.length;
          };
        },
      });
      expect(error, `abort at call ${k}`).toBe(reason);
      expect(e.model.calls, `abort at call ${k}`).toHaveLength(callsAtAbort);
      // The call in flight when the abort came is not checkpointed as done.
      expect(ctx.steps, `abort at call ${k}`).toBeLessThanOrEqual(k);
    }
  });

  it('passes a model error through unchanged (code, retryability, retry-after)', async () => {
    for (let k = 0; k < c.calls; k++) {
      const e = engine();
      const failure = new RunError('rate_limited', `model refused call ${k}`, true, 1234);
      e.model.onCall = (call) => {
        if (call.n === k) throw failure;
      };
      const { error } = await e.run(args);
      expect(error, `error at call ${k}`).toBe(failure);
    }
  });
}
