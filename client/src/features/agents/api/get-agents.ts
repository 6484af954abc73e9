import { useQuery } from '@tanstack/react-query';
import { useApi } from '../../../lib/session.js';
import { catalogKeys } from './keys.js';

/** GET /api/agents. */
export function useAgents() {
  const api = useApi();
  return useQuery({ queryKey: catalogKeys.agents, queryFn: ({ signal }) => api.agents(signal), staleTime: Infinity });
}
