import type pg from 'pg';
import { RUBRIC_INSTRUCTIONS, RUBRIC_JUDGEMENT, rubricJudgementJsonSchema, rubricPrompt } from '../../shared/evals.js';
import { DomainError } from '../domain/errors.js';
import type { Logger } from '../log.js';
import { selectStepTotals } from '../queue/reads.js';
import { RunError, type RunContext, type RunOutcome } from '../queue/types.js';
import { findExperiment, finishExperiment, upsertResult } from './sql/experiments.js';
import { judgeOutput, outputText, type Verdict } from './judgement.js';
import { EXPERIMENT_PLAN_VERSION, experimentPlanSchema, type CaseRecord, type EvalsWiring, type ExperimentPlan } from './types.js';

type PlannedCase = ExperimentPlan['cases'][number];

/**
 * The context a case's own plan runs in: the experiment run's context with every step key
 * under `case:<id>/`, so two cases (and two attempts of one case) never share a checkpoint,
 * and a run id of its own for what the agents part derives from it (tool idempotency keys,
 * approval ids), so two cases calling the same tool with the same step key stay distinct.
 */
function caseContext(ctx: RunContext, c: PlannedCase): RunContext {
  const prefix = `case:${c.id}/`;
  return {
    run: { ...ctx.run, id: `${ctx.run.id}/case:${c.id}`, plan: c.plan, planVersion: c.planVersion },
    signal: ctx.signal,
    step: (key, info, fn) => ctx.step(`${prefix}${key}`, { ...info, meta: { ...info.meta, evalCase: c.id } }, fn),
    emit: (type, data) => ctx.emit(type, data),
    awaitInput: (question) => ctx.awaitInput(question),
    stepState: (key) => ctx.stepState(`${prefix}${key}`),
    decision: (approvalId) => ctx.decision(approvalId),
  };
}

/**
 * A refusal that is the case's answer, not a reason to retry the run: a non-retryable
 * RunError (an answer that is not the JSON asked for, too many turns, an agent that no longer
 * exists) or a domain error. Anything else (a model outage, a lost lease, a cancel, a
 * question for a person) is thrown on, so the run retries, stops or parks like any run.
 */
function caseFailure(error: unknown): { code: string; message: string } | null {
  if (error instanceof RunError && !error.retryable) return { code: error.code, message: error.message };
  if (error instanceof DomainError) return { code: error.code, message: error.message };
  return null;
}

export function createExperimentRunner(deps: { pool: pg.Pool; logger: Logger; wiring: EvalsWiring }) {
  const { pool, wiring } = deps;

  async function judgeRubric(ctx: RunContext, c: PlannedCase, judge: string, output: unknown): Promise<Verdict> {
    const expectation = c.expectation;
    if (expectation.kind !== 'rubric') return judgeOutput(expectation, output);
    const answer = await wiring.judge.call(ctx, {
      key: `case:${c.id}:judge`,
      agent: judge,
      prompt: rubricPrompt(expectation.rubric, outputText(output)),
      instructions: RUBRIC_INSTRUCTIONS,
      schema: { name: RUBRIC_JUDGEMENT, schema: rubricJudgementJsonSchema },
      meta: { role: 'eval.judge', evalCase: c.id },
    });
    const { score, reason } = answer as { score: number; reason: string };
    const clamped = Math.min(1, Math.max(0, Number.isFinite(score) ? score : 0));
    return { passed: clamped >= expectation.threshold, score: clamped, reason };
  }

  /** One case: its plan (steps `case:<id>/…`), its judgement (`case:<id>:judge`), its result (`case:<id>:result`). */
  async function runCase(ctx: RunContext, plan: ExperimentPlan, c: PlannedCase): Promise<void> {
    const resultKey = `case:${c.id}:result`;
    // Finished on an earlier attempt: nothing to run, call or write again.
    if ((await ctx.stepState(resultKey)) === 'succeeded') return;
    let output: unknown = null;
    let error: { code: string; message: string } | null = null;
    let verdict: Verdict;
    try {
      output = (await wiring.planner.execute(caseContext(ctx, c))).output;
    } catch (e) {
      error = caseFailure(e);
      if (!error) throw e;
    }
    if (error) {
      verdict = { passed: false, score: 0, reason: error.message };
    } else {
      try {
        verdict = await judgeRubric(ctx, c, c.expectation.kind === 'rubric' ? (c.expectation.judge ?? plan.judge) : plan.judge, output);
      } catch (e) {
        const failure = caseFailure(e);
        if (!failure) throw e;
        error = { code: `judge_${failure.code}`, message: `the judge failed: ${failure.message}` };
        verdict = { passed: false, score: 0, reason: error.message };
      }
    }
    await ctx.step(resultKey, { agent: null, meta: { role: 'eval.result', evalCase: c.id } }, async () => {
      // What the case's steps stored: the same numbers on every replay.
      const totals = await selectStepTotals(pool, ctx.run.id, `case:${c.id}/`);
      const record: CaseRecord = {
        passed: verdict.passed,
        score: verdict.score,
        output,
        reason: verdict.reason,
        error,
        promptTokens: totals.promptTokens,
        completionTokens: totals.completionTokens,
        costUsd: totals.costUsd,
        latencyMs: totals.spanMs,
      };
      // Derived only from checkpoints, so writing it again (a replay, or a lost attempt that
      // wrote before its lease was swept) stores the same row.
      await upsertResult(pool, plan.experimentId, c.id, record);
      return { output: { passed: record.passed, score: record.score } };
    });
  }

  /** Executes an experiment run: at most `concurrency` cases in flight, each checkpointed. */
  async function execute(ctx: RunContext): Promise<RunOutcome> {
    if (ctx.run.planVersion !== EXPERIMENT_PLAN_VERSION) throw new RunError('unknown_plan_version', `experiment plan version ${ctx.run.planVersion} is not one this release reads`, false);
    const parsed = experimentPlanSchema.safeParse(ctx.run.plan);
    if (!parsed.success) throw new RunError('invalid_plan', `the experiment's plan is malformed: ${parsed.error.issues[0]?.message ?? 'invalid'}`, false);
    const plan = parsed.data;
    let next = 0;
    let failed: { error: unknown } | null = null;
    const lane = async () => {
      // After the first error no new case starts; the ones in flight finish (and checkpoint).
      while (failed === null && next < plan.cases.length) {
        const c = plan.cases[next++]!;
        try {
          await runCase(ctx, plan, c);
        } catch (error) {
          failed ??= { error };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(plan.concurrency, plan.cases.length) }, lane));
    if (failed !== null) throw (failed as { error: unknown }).error;
    const summary = await ctx.step('experiment:finish', { agent: null, meta: { role: 'eval.summary' } }, async () => {
      await finishExperiment(pool, plan.experimentId, 'succeeded');
      const totals = await findExperiment(pool, plan.experimentId);
      return { output: { experimentId: plan.experimentId, cases: plan.cases.length, passed: totals?.passed ?? 0, passRate: totals?.passRate ?? 0, costUsd: totals?.costUsd ?? 0 } };
    });
    return { output: summary };
  }

  return { execute };
}
