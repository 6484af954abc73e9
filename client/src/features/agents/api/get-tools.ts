import { useQuery } from '@tanstack/react-query';
import { useApi } from '../../../lib/session.js';
import { catalogKeys } from './keys.js';

/** GET /api/tools: what each tool does, for the agents' tool lists. */
export function useTools() {
  const api = useApi();
  return useQuery({ queryKey: catalogKeys.tools, queryFn: ({ signal }) => api.tools(signal), staleTime: Infinity });
}
