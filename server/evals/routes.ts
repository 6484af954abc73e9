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

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const datasetParam = z.string().min(1).max(100);

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
    if (!UUID.test(req.params.id)) throw notFound('experiment');
    res.json({ experiment: await service.getExperiment(req.params.id) });
  });
  return router;
}
