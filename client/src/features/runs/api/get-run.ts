import { useQuery } from '@tanstack/react-query';
import { isFinalStatus } from '../../../../../shared/protocol.js';
import { useApi } from '../../../lib/session.js';
import { runKeys } from '../../../lib/query-keys.js';

/**
 * One run's snapshot (GET /api/runs/:id). Hub events invalidate it; `poll` refetches
 * it on a timer for when the hub is out of reach.
 */
export function useRun(id: string, options: { poll?: boolean } = {}) {
  const api = useApi();
  return useQuery({
    queryKey: runKeys.detail(id),
    queryFn: ({ signal }) => api.run(id, signal),
    refetchInterval: (query) => (options.poll && query.state.data && !isFinalStatus(query.state.data.status) ? 2000 : false),
  });
}
