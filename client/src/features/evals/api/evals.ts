/**
 * Evaluations (docs/API.md, "Evaluations") as query and mutation hooks. Experiments
 * are polled while any of them is unfinished: their progress is rows the experiment's
 * run writes, not hub events.
 */
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { Comparison, CreateDatasetBody, Dataset, EvalCase, Experiment, ExperimentSummary } from '../../../../../shared/evals.js';
import { isFinalStatus } from '../../../../../shared/protocol.js';
import { useApi } from '../../../lib/session.js';

export const evalKeys = {
  all: ['evals'] as const,
  datasets: () => [...evalKeys.all, 'datasets'] as const,
  dataset: (name: string) => [...evalKeys.all, 'dataset', name] as const,
  experiments: (dataset: string) => [...evalKeys.all, 'experiments', dataset] as const,
  experiment: (id: string) => [...evalKeys.all, 'experiment', id] as const,
  compare: (a: string, b: string) => [...evalKeys.all, 'compare', a, b] as const,
};

const enc = encodeURIComponent;
/** How often unfinished experiments are asked for their progress. */
const PROGRESS_MS = 1000;

export const experimentFinished = (e: Pick<ExperimentSummary, 'status'>) => e.status === 'unknown' || isFinalStatus(e.status);

export function useDatasets() {
  const api = useApi();
  return useQuery({ queryKey: evalKeys.datasets(), queryFn: async ({ signal }) => (await api.request<{ datasets: Dataset[] }>('GET', '/api/datasets', undefined, { signal })).datasets });
}

export function useDataset(name: string) {
  const api = useApi();
  return useQuery({
    queryKey: evalKeys.dataset(name),
    queryFn: async ({ signal }) => (await api.request<{ dataset: Dataset & { cases: EvalCase[] } }>('GET', `/api/datasets/${enc(name)}`, undefined, { signal })).dataset,
  });
}

export function useExperiments(dataset: string) {
  const api = useApi();
  return useQuery({
    queryKey: evalKeys.experiments(dataset),
    queryFn: async ({ signal }) => (await api.request<{ experiments: ExperimentSummary[] }>('GET', `/api/experiments?dataset=${enc(dataset)}&limit=200`, undefined, { signal })).experiments,
    refetchInterval: (q) => (q.state.data?.some((e) => !experimentFinished(e)) ? PROGRESS_MS : false),
  });
}

export function useExperiment(id: string | null) {
  const api = useApi();
  return useQuery({
    queryKey: evalKeys.experiment(id ?? ''),
    enabled: Boolean(id),
    queryFn: async ({ signal }) => (await api.request<{ experiment: Experiment }>('GET', `/api/experiments/${enc(id ?? '')}`, undefined, { signal })).experiment,
    refetchInterval: (q) => (q.state.data && !experimentFinished(q.state.data) ? PROGRESS_MS : false),
  });
}

export function useComparison(a: string, b: string) {
  const api = useApi();
  return useQuery({
    queryKey: evalKeys.compare(a, b),
    enabled: Boolean(a && b && a !== b),
    queryFn: async ({ signal }) => (await api.request<{ comparison: Comparison }>('GET', `/api/experiments/compare?a=${enc(a)}&b=${enc(b)}`, undefined, { signal })).comparison,
  });
}

export function useCreateDataset() {
  const api = useApi();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (body: CreateDatasetBody) => (await api.request<{ dataset: Dataset }>('POST', '/api/datasets', body)).dataset,
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: evalKeys.all }),
  });
}

export function useStartExperiment(dataset: string) {
  const api = useApi();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (body: { version?: string; concurrency?: number }) => (await api.request<{ experiment: ExperimentSummary }>('POST', '/api/experiments', { dataset, ...body })).experiment,
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: evalKeys.experiments(dataset) }),
  });
}
