import express, { type Request } from 'express';
import { z } from 'zod';
import {
  addCasesSchema,
  compareQuerySchema,
  createDatasetSchema,
  createExperimentSchema,
  listExperimentsQuerySchema,
  type AddCasesBody,
  type Comparison,
  type CreateDatasetBody,
  type CreateExperimentBody,
  type Dataset,
  type EvalCase,
  type Experiment,
  type ExperimentSummary,
  type ListExperimentsQuery,
} from '../../shared/evals.js';
import { requireRole } from '../auth/roles.js';
import type { AuthUser } from '../auth/types.js';
import { notFound, parse, unauthorized } from '../http/errors.js';
import { describeRoutes } from '../openapi/describe.js';

/** What the routes call: the evals part's functions (server/evals/evals.ts). */
export interface EvalsService {
  createDataset(actor: AuthUser, body: CreateDatasetBody): Promise<Dataset & { cases: EvalCase[] }>;
  addCases(actor: AuthUser, dataset: string, body: AddCasesBody): Promise<EvalCase[]>;
  listDatasets(): Promise<Dataset[]>;
  getDataset(idOrName: string): Promise<Dataset & { cases: EvalCase[] }>;
  createExperiment(actor: AuthUser, body: CreateExperimentBody): Promise<ExperimentSummary>;
  listExperiments(query: ListExperimentsQuery): Promise<ExperimentSummary[]>;
  getExperiment(id: string): Promise<Experiment>;
  compare(a: string, b: string): Promise<Comparison>;
}

/** `:id` of a dataset: its id or its name. */
export const datasetParam = z.string().min(1).max(100);
/** `:id` of an experiment; anything else is answered 404, not 400 (it names no experiment). */
export const experimentParam = z.string().regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/);

/** Datasets and experiments under /api (docs/API.md, "Evaluations"): operators and admins write, everyone signed in reads. */
export function createEvalsRouter(service: EvalsService): express.Router {
  const router = express.Router();
  const userOf = (req: Request): AuthUser => {
    if (!req.user) throw unauthorized();
    return req.user;
  };

  router.post('/datasets', requireRole('operator'), async (req, res) => {
    const dataset = await service.createDataset(userOf(req), parse(createDatasetSchema, req.body));
    res.status(201).json({ dataset });
  });
  router.get('/datasets', async (_req, res) => {
    res.json({ datasets: await service.listDatasets() });
  });
  router.get('/datasets/:id', async (req, res) => {
    res.json({ dataset: await service.getDataset(parse(datasetParam, req.params.id, 'path.id')) });
  });
  router.post('/datasets/:id/cases', requireRole('operator'), async (req, res) => {
    const cases = await service.addCases(userOf(req), parse(datasetParam, req.params.id, 'path.id'), parse(addCasesSchema, req.body));
    res.status(201).json({ cases });
  });

  router.post('/experiments', requireRole('operator'), async (req, res) => {
    const experiment = await service.createExperiment(userOf(req), parse(createExperimentSchema, req.body));
    res.status(202).json({ experiment });
  });
  router.get('/experiments', async (req, res) => {
    res.json({ experiments: await service.listExperiments(parse(listExperimentsQuerySchema, req.query, 'query')) });
  });
  // Before /experiments/:id, which would take "compare" for an id.
  router.get('/experiments/compare', async (req, res) => {
    const { a, b } = parse(compareQuerySchema, req.query, 'query');
    res.json({ comparison: await service.compare(a, b) });
  });
  router.get('/experiments/:id', async (req, res) => {
    const id = experimentParam.safeParse(req.params.id);
    if (!id.success) throw notFound('experiment');
    res.json({ experiment: await service.getExperiment(id.data) });
  });

  const tags = ['evals'];
  const datasetParams = z.object({ id: datasetParam });
  describeRoutes(router, [
    {
      method: 'post',
      path: '/datasets',
      tags,
      roles: ['operator'],
      summary: 'Create a dataset of cases for an agent or a pattern',
      body: createDatasetSchema,
      responses: { 201: { description: '{dataset} with its cases' }, 403: { description: 'a viewer' }, 409: { description: 'a dataset of that name exists' } },
    },
    { method: 'get', path: '/datasets', tags, summary: 'Every dataset (without its cases)', responses: { 200: { description: '{datasets}' } } },
    { method: 'get', path: '/datasets/:id', tags, summary: 'One dataset, by id or name, with its cases', params: datasetParams, responses: { 200: { description: '{dataset}' }, 404: { description: 'no such dataset' } } },
    {
      method: 'post',
      path: '/datasets/:id/cases',
      tags,
      roles: ['operator'],
      summary: 'Add cases to a dataset',
      params: datasetParams,
      body: addCasesSchema,
      responses: { 201: { description: '{cases}: the cases added' }, 403: { description: 'a viewer' }, 404: { description: 'no such dataset' } },
    },
    {
      method: 'post',
      path: '/experiments',
      tags,
      roles: ['operator'],
      summary: "Run a dataset's cases (as one queued run) by its target, or by the agent, version or pattern given",
      body: createExperimentSchema,
      responses: { 202: { description: '{experiment}: queued' }, 403: { description: 'a viewer' }, 404: { description: 'no such dataset, agent, pattern or judge' } },
    },
    { method: 'get', path: '/experiments', tags, summary: 'Experiments, newest first', query: listExperimentsQuerySchema, responses: { 200: { description: '{experiments}' } } },
    {
      method: 'get',
      path: '/experiments/compare',
      tags,
      summary: 'Two experiments of one dataset side by side, case by case',
      query: compareQuerySchema,
      responses: { 200: { description: '{comparison}' }, 404: { description: 'no such experiment' } },
    },
    {
      method: 'get',
      path: '/experiments/:id',
      tags,
      summary: 'One experiment with its per-case results',
      params: z.object({ id: experimentParam }),
      responses: { 200: { description: '{experiment}' }, 404: { description: 'no such experiment' } },
    },
  ]);
  return router;
}
