import { randomUUID } from 'node:crypto';
import type express from 'express';
import type pg from 'pg';
import type {
  CaseResult,
  Dataset,
  EvalCase,
  EvalCaseInput,
  Experiment,
  ExperimentSummary,
} from '../../shared/evals.js';
import { MAX_CASES_PER_DATASET } from '../../shared/evals.js';
import type { CreateRunBody } from '../../shared/protocol.js';
import type { AuditLog } from '../audit/types.js';
import type { AuthUser } from '../auth/types.js';
import type { Config } from '../config/config.js';
import { withTransaction } from '../db/transaction.js';
import { ConflictError, NotFoundError, ValidationError } from '../domain/errors.js';
import type { Part } from '../lifecycle/part.js';
import type { Logger } from '../log.js';
import { selectRunStates } from '../queue/reads.js';
import type { FrozenPlan, RunPlanner } from '../queue/types.js';
import { createExperimentRunner } from './experiment-run.js';
import { schemaValidator } from './judgement.js';
import { createEvalsRouter, type EvalsService } from './routes.js';
import { findDataset, insertCases, insertDataset, listCases, listDatasets } from './sql/datasets.js';
import { deleteExperiment, findExperiment, insertExperiment, listExperiments, listResults, setExperimentRun, type StoredSummary } from './sql/experiments.js';
import { EXPERIMENT_PLAN_VERSION, isExperimentPlan, type EvalsWiring, type ExperimentPlan } from './types.js';

export interface Evals extends Part, EvalsService {
  /** Mounted under /api: /datasets…, /experiments… (docs/API.md, "Evaluations"). */
  readonly router: express.Router;
  /**
   * The planner the queue runs with: experiment runs here, every other plan to the agents
   * planner it wraps (plan() is the agents planner's: experiments are not created by POST /api/runs).
   */
  readonly planner: RunPlanner;
}

/**
 * The version the planner pinned for `agent` when its plan says (a plan with
 * `agentVersions`, once agents are versioned), so an experiment run on "the published
 * version" still records which one that was. The plan is the agents planner's: only read.
 */
function pinnedVersion(plan: unknown, agent: string): string | null {
  const versions = (plan as { agentVersions?: unknown } | null)?.agentVersions;
  if (typeof versions !== 'object' || versions === null) return null;
  const pinned = (versions as Record<string, unknown>)[agent];
  return typeof pinned === 'number' || pinned === 'draft' ? String(pinned) : null;
}

/** Cases an experiment may run (its plan freezes them all into the run). */
export const MAX_CASES_PER_EXPERIMENT = MAX_CASES_PER_DATASET;

/**
 * Evaluations: datasets of cases and experiments. An experiment is one run of the queue
 * (submitRun, `via: 'eval'`) whose plan lists every case already planned by the agents
 * planner; this part's planner executes it case by case, each case's steps checkpointed
 * under `case:<id>`, and stores one result per case (docs/AGENTS.md, "Evaluate").
 */
export function createEvals(deps: { config: Config; logger: Logger; pool: pg.Pool; audit: AuditLog; wiring: EvalsWiring }): Evals {
  const { config, pool, audit, wiring } = deps;
  const logger = deps.logger.child({ part: 'evals' });
  const runner = createExperimentRunner({ pool, logger, wiring });

  const planner: RunPlanner = {
    get offline() {
      return wiring.planner.offline;
    },
    plan: (body, actor) => wiring.planner.plan(body, actor),
    execute: (ctx) => (isExperimentPlan(ctx.run.plan) ? runner.execute(ctx) : wiring.planner.execute(ctx)),
  };

  function checkCases(cases: EvalCaseInput[], path: string) {
    cases.forEach((c, i) => {
      if (c.expectation.kind !== 'json_schema') return;
      try {
        schemaValidator(c.expectation.schema);
      } catch (error) {
        const where = `${path}.${i}.expectation.schema`;
        throw new ValidationError(`body.${where}: not a JSON Schema (${(error as Error).message})`, [{ path: where, message: 'not a JSON Schema' }]);
      }
    });
  }


  const actorOf = (user: AuthUser) => ({ username: user.username, ...(user.id ? { id: user.id } : {}) });

  async function requireDataset(idOrName: string): Promise<Dataset> {
    const dataset = await findDataset(pool, idOrName);
    if (!dataset) throw new NotFoundError(`dataset "${idOrName}"`);
    return dataset;
  }

  async function withStatus(summaries: StoredSummary[]): Promise<ExperimentSummary[]> {
    const states = await selectRunStates(pool, summaries.flatMap((s) => (s.runId ? [s.runId] : [])));
    return summaries.map(({ storedStatus, ...s }) => {
      const run = s.runId ? states.get(s.runId) : undefined;
      // No run id yet: the run is being submitted (a moment after the row is written).
      const status = run?.status ?? storedStatus ?? (s.runId === null ? 'queued' : 'unknown');
      return { ...s, status, finishedAt: run?.finishedAt?.toISOString() ?? s.finishedAt };
    });
  }

  /** The run body of one case: what POST /api/runs would get for it. */
  function caseBody(target: { agent?: string; pattern?: string; agents?: string[]; options?: Record<string, unknown> }, version: string | undefined, caseInput: unknown): CreateRunBody {
    const input = caseInput as CreateRunBody['input'];
    if (target.agent !== undefined) return { agent: version ? `${target.agent}@${version}` : target.agent, input };
    return { pattern: target.pattern, ...(target.agents ? { agents: target.agents } : {}), ...(target.options ? { options: target.options } : {}), input };
  }

  async function getExperiment(id: string): Promise<Experiment> {
    const stored = await findExperiment(pool, id);
    if (!stored) throw new NotFoundError(`experiment "${id}"`);
    const [summary] = await withStatus([stored]);
    return { ...summary!, results: await listResults(pool, id) };
  }

  const evals: Evals = {
    name: 'evals',
    planner,
    router: createEvalsRouter({
      createDataset: (actor, body) => evals.createDataset(actor, body),
      addCases: (actor, dataset, body) => evals.addCases(actor, dataset, body),
      listDatasets: () => evals.listDatasets(),
      getDataset: (id) => evals.getDataset(id),
      createExperiment: (actor, body) => evals.createExperiment(actor, body),
      listExperiments: (query) => evals.listExperiments(query),
      getExperiment: (id) => evals.getExperiment(id),
      compare: (a, b) => evals.compare(a, b),
    }),
    async createDataset(actor, body) {
      checkCases(body.cases, 'cases');
      const id = randomUUID();
      return withTransaction(pool, async (client) => {
        if (!(await insertDataset(client, { id, name: body.name, description: body.description, target: body.target, createdBy: actor.username }))) {
          throw new ConflictError(`a dataset named "${body.name}" already exists`);
        }
        const cases = body.cases.length ? await insertCases(client, id, body.cases.map((c) => ({ id: randomUUID(), ...c }))) : [];
        await audit.record(client, { actor: actorOf(actor), action: 'dataset.create', target: { type: 'dataset', id }, detail: { name: body.name, target: body.target, cases: cases.length } });
        const dataset = await findDataset(client, id);
        return { ...dataset!, cases };
      });
    },
    async addCases(actor, idOrName, body) {
      checkCases(body.cases, 'cases');
      return withTransaction(pool, async (client) => {
        // The row lock orders concurrent additions: each appends after the other's last index.
        const dataset = await findDataset(client, idOrName, true);
        if (!dataset) throw new NotFoundError(`dataset "${idOrName}"`);
        if (dataset.caseCount + body.cases.length > MAX_CASES_PER_DATASET) {
          throw new ValidationError(`body.cases: a dataset holds at most ${MAX_CASES_PER_DATASET} cases (it has ${dataset.caseCount})`, [{ path: 'cases', message: 'too many cases' }]);
        }
        const cases = await insertCases(client, dataset.id, body.cases.map((c) => ({ id: randomUUID(), ...c })));
        await audit.record(client, { actor: actorOf(actor), action: 'dataset.add_cases', target: { type: 'dataset', id: dataset.id }, detail: { name: dataset.name, cases: cases.length } });
        return cases;
      });
    },
    listDatasets: () => listDatasets(pool),
    async getDataset(idOrName) {
      const dataset = await requireDataset(idOrName);
      return { ...dataset, cases: await listCases(pool, dataset.id) };
    },
    async createExperiment(actor, body) {
      const dataset = await requireDataset(body.dataset);
      const cases = await listCases(pool, dataset.id);
      if (cases.length === 0) throw new ValidationError(`body.dataset: dataset "${dataset.name}" has no cases`, [{ path: 'dataset', message: 'no cases' }]);
      if (cases.length > MAX_CASES_PER_EXPERIMENT) throw new ValidationError(`body.dataset: an experiment runs at most ${MAX_CASES_PER_EXPERIMENT} cases`, [{ path: 'dataset', message: 'too many cases' }]);
      const target = body.agent !== undefined ? { agent: body.agent } : body.pattern !== undefined ? { pattern: body.pattern, agents: body.agents, options: body.options } : dataset.target;
      if (body.version !== undefined && target.agent === undefined) {
        throw new ValidationError('body.version: a version names an agent\'s version; the dataset is for a pattern', [{ path: 'version', message: 'needs an agent' }]);
      }
      // Every case planned now, as POST /api/runs would: the run executes these frozen plans.
      const planned: { id: string; frozen: FrozenPlan; expectation: EvalCase['expectation'] }[] = [];
      for (const c of cases) {
        try {
          planned.push({ id: c.id, frozen: await wiring.planner.plan(caseBody(target, body.version, c.input), actor), expectation: c.expectation });
        } catch (error) {
          if (error instanceof ValidationError) throw new ValidationError(`case ${c.index}: ${error.message}`, error.details);
          throw error;
        }
      }
      // Every judge a rubric case names must exist now, not fail case after case later.
      for (const judge of new Set(cases.flatMap((c) => (c.expectation.kind === 'rubric' ? [c.expectation.judge ?? config.evals.judgeAgent] : [])))) {
        try {
          wiring.judge.agent(judge);
        } catch {
          throw new NotFoundError(`judge agent "${judge}"`);
        }
      }
      const id = randomUUID();
      const plan: ExperimentPlan = {
        kind: 'experiment',
        experimentId: id,
        concurrency: body.concurrency,
        judge: config.evals.judgeAgent,
        cases: planned.map((p) => ({ id: p.id, planVersion: p.frozen.version, plan: p.frozen.plan, expectation: p.expectation })),
      };
      const first = planned[0]!.frozen;
      const label = target.agent !== undefined ? (body.version ? `${target.agent}@${body.version}` : target.agent) : null;
      const version = body.version ?? (target.agent !== undefined ? pinnedVersion(first.plan, target.agent) : null);
      // The row first: the run may start (on any instance) as soon as it is submitted, and its
      // results refer to it. The audit entry commits with the run id, once the run exists.
      await insertExperiment(pool, {
        id,
        datasetId: dataset.id,
        agent: target.agent ?? null,
        pattern: target.pattern ?? null,
        agents: target.agents ?? null,
        options: target.options ?? null,
        version,
        concurrency: body.concurrency,
        caseCount: cases.length,
        createdBy: actor.username,
      });
      let runId: string;
      try {
        const submitted = await wiring.submitRun(
          {
            version: EXPERIMENT_PLAN_VERSION,
            plan,
            // The agent's name bare, as the agents planner shows it; the version is the experiment's.
            summary: { agent: target.agent ?? null, pattern: target.pattern ?? null, agents: target.agents ?? null, options: target.options ?? null, input: { experiment: id, dataset: dataset.name, cases: cases.length } },
            model: first.model,
            offline: first.offline,
          },
          actor,
          { via: 'eval', idempotencyKey: `experiment:${id}` },
        );
        runId = submitted.run.id;
      } catch (error) {
        // No run, no experiment: nothing half-made stays behind.
        await deleteExperiment(pool, id).catch((e: unknown) => logger.warn({ err: e, experimentId: id }, 'could not remove an experiment whose run was refused'));
        throw error;
      }
      await withTransaction(pool, async (client) => {
        await setExperimentRun(client, id, runId);
        await audit.record(client, {
          actor: actorOf(actor),
          action: 'experiment.create',
          target: { type: 'experiment', id },
          detail: { dataset: dataset.name, agent: label, pattern: target.pattern ?? null, cases: cases.length, concurrency: body.concurrency, runId },
        });
      });
      logger.info({ experimentId: id, runId, dataset: dataset.name, cases: cases.length }, 'experiment submitted');
      const [summary] = await withStatus([(await findExperiment(pool, id))!]);
      return summary!;
    },
    async listExperiments(query) {
      let datasetId: string | undefined;
      if (query.dataset !== undefined) datasetId = (await requireDataset(query.dataset)).id;
      return withStatus(await listExperiments(pool, { datasetId, agent: query.agent, limit: query.limit }));
    },
    getExperiment,
    async compare(a, b) {
      const [left, right] = await Promise.all([getExperiment(a), getExperiment(b)]);
      if (left.datasetId !== right.datasetId) throw new ValidationError('query: the two experiments ran different datasets', [{ path: 'b', message: 'another dataset' }]);
      const byCase = (results: CaseResult[]) => new Map(results.map((r) => [r.caseId, r]));
      const ra = byCase(left.results);
      const rb = byCase(right.results);
      const cases = (await listCases(pool, left.datasetId)).map((c) => {
        const x = ra.get(c.id) ?? null;
        const y = rb.get(c.id) ?? null;
        const change = !x || !y ? 'missing' : x.passed === y.passed ? 'same' : y.passed ? 'fixed' : 'regressed';
        return { caseId: c.id, index: c.index, input: c.input, expectation: c.expectation, a: x, b: y, change } as const;
      });
      const { results: _a, ...sa } = left;
      const { results: _b, ...sb } = right;
      return { a: sa, b: sb, cases, fixed: cases.filter((c) => c.change === 'fixed').length, regressed: cases.filter((c) => c.change === 'regressed').length };
    },
  };
  return evals;
}
