import { useQuery } from '@tanstack/react-query';
import type { CallbackDelivery } from '../../../../../shared/hooks.js';
import { runKeys } from '../../../lib/query-keys.js';
import { useApi } from '../../../lib/session.js';

/** The run's callback deliveries (GET /api/runs/:id/deliveries), refreshed while any is still due. */
export function useRunDeliveries(id: string, live: boolean) {
  const api = useApi();
  return useQuery({
    queryKey: [...runKeys.detail(id), 'deliveries'] as const,
    queryFn: async ({ signal }) => (await api.request<{ deliveries: CallbackDelivery[] }>('GET', `/api/runs/${encodeURIComponent(id)}/deliveries`, undefined, { signal })).deliveries,
    refetchInterval: (query) => (live || (query.state.data ?? []).some((d) => d.state === 'waiting' || d.state === 'pending') ? 3000 : false),
  });
}
