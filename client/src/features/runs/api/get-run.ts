import { useQuery } from '@tanstack/react-query';
import { isFinalStatus } from '../../../../../shared/protocol.js';
import { useApi } from '../../../lib/session.js';
import { runKeys } from '../../../lib/query-keys.js';

/**
 * One run's snapshot (GET /api/runs/:id). Hub events invalidate it; `poll` refetches
 * it on a timer for when the hub is out of reach. A refresh that failed (the server
 * was busy when the last event came) is tried again on the same timer: no later event
 * may come to trigger it, and the page would keep a stale status.
 */
export function useRun(id: string, options: { poll?: boolean } = {}) {
  const api = useApi();
  return useQuery({
    queryKey: runKeys.detail(id),
    queryFn: ({ signal }) => api.run(id, signal),
    refetchInterval: (query) =>
      query.state.data && !isFinalStatus(query.state.data.status) && (options.poll || query.state.status === 'error') ? 2000 : false,
  });
}
