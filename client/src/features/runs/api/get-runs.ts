import { useInfiniteQuery } from '@tanstack/react-query';
import type { RunStatus } from '../../../../../shared/protocol.js';
import { useApi } from '../../../lib/session.js';
import { runKeys } from '../../../lib/query-keys.js';

export const RUNS_PAGE_SIZE = 25;

/** Runs newest first, a cursor page at a time (GET /api/runs). */
export function useRuns(status: RunStatus | undefined) {
  const api = useApi();
  return useInfiniteQuery({
    queryKey: runKeys.list(status),
    queryFn: ({ pageParam, signal }) => api.runs({ status, cursor: pageParam, limit: RUNS_PAGE_SIZE }, signal),
    initialPageParam: null as string | null,
    getNextPageParam: (page) => page.nextCursor,
  });
}
