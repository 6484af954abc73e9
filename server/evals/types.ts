import { z } from 'zod';
import { expectationSchema, type CaseResult, type Expectation } from '../../shared/evals.js';
import type { AgentRunner } from '../patterns/types.js';
import type { SubmitRun } from '../queue/submit.js';
import type { RunPlanner } from '../queue/types.js';

/**
 * What the evals part needs from the others, wired by server/app.ts: the agents part's
 * planner (plan each case, execute it) and runner (the rubric judge), and the queue's
 * submitRun (an experiment is one run).
 */
export interface EvalsWiring {
  /** Plans and executes what a case asks, exactly as POST /api/runs would. */
  planner: RunPlanner;
  /** Calls the judge agent of a rubric case as a checkpointed step. */
  judge: AgentRunner;
  /** The queue's submitRun; a function because the queue is built after this part (it runs through `evals.planner`). */
  submitRun: SubmitRun;
}

/** Version of the experiment plan this release freezes and reads (runs.plan_version of an experiment run). */
export const EXPERIMENT_PLAN_VERSION = 1;

/**
 * An experiment run's plan: every case already planned by the agents planner at submit
 * (a case runs the plan it froze then, whatever the catalog says later), with its expectation.
 */
export const experimentPlanSchema = z.object({
  kind: z.literal('experiment'),
  experimentId: z.string(),
  concurrency: z.number().int().min(1),
  judge: z.string(),
  cases: z.array(
    z.object({
      id: z.string(),
      planVersion: z.number().int(),
      plan: z.unknown(),
      expectation: expectationSchema,
    }),
  ),
});
export type ExperimentPlan = z.infer<typeof experimentPlanSchema>;

/** Whether a stored plan is an experiment's (the agents planner's plans have no `kind`). */
export function isExperimentPlan(plan: unknown): boolean {
  return typeof plan === 'object' && plan !== null && (plan as { kind?: unknown }).kind === 'experiment';
}

/** What one case ended with, as stored in eval_results: a result without the case it ran. */
export type CaseRecord = Omit<CaseResult, 'caseId' | 'index' | 'input' | 'expectation'>;

export type { Expectation };
