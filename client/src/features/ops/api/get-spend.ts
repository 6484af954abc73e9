import { useQuery } from '@tanstack/react-query';
import type { SpendDay } from '../../../../../shared/protocol.js';
import { useApi } from '../../../lib/session.js';

export interface Spend {
  since: string;
  days: number;
  byAgent: SpendDay[];
  byUser: SpendDay[];
}

/** Spend per agent and per user per UTC day (GET /api/budgets/spend): everyone's for admins, one's own otherwise. */
export function useSpend(days: number) {
  const api = useApi();
  return useQuery({
    queryKey: ['spend', days],
    queryFn: ({ signal }) => api.request<Spend>('GET', `/api/budgets/spend?days=${days}`, undefined, { signal }),
    refetchInterval: 60_000,
  });
}
