import { useQuery } from '@tanstack/react-query';
import { useApi } from '../../../lib/session.js';
import { catalogKeys } from './keys.js';

/** GET /api/patterns, with each pattern's option schema for its form. */
export function usePatterns() {
  const api = useApi();
  return useQuery({ queryKey: catalogKeys.patterns, queryFn: ({ signal }) => api.patterns(signal), staleTime: Infinity });
}
