import { useQuery } from '@tanstack/react-query';
import type { RunTrace } from '../../../../../shared/protocol.js';
import { runKeys } from '../../../lib/query-keys.js';
import { useApi } from '../../../lib/session.js';

/** The run's waterfall (GET /api/runs/:id/trace), refreshed while the run is not finished. */
export function useRunTrace(id: string, live: boolean) {
  const api = useApi();
  return useQuery({
    queryKey: [...runKeys.detail(id), 'trace'] as const,
    queryFn: async ({ signal }) => (await api.request<{ trace: RunTrace }>('GET', `/api/runs/${encodeURIComponent(id)}/trace`, undefined, { signal })).trace,
    refetchInterval: live ? 2000 : false,
  });
}
