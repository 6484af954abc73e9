import { useQuery } from '@tanstack/react-query';
import { useApi } from '../../../lib/session.js';

export const healthKey = ['health'] as const;

/** GET /health (a 503 still answers, with the reason). `everyMs` refreshes it while shown. */
export function useHealth(options: { everyMs?: number; enabled?: boolean } = {}) {
  const api = useApi();
  return useQuery({
    queryKey: healthKey,
    queryFn: ({ signal }) => api.health(signal),
    refetchInterval: options.everyMs ?? false,
    enabled: options.enabled ?? true,
  });
}
