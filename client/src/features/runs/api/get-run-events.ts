import { useQuery } from '@tanstack/react-query';
import { useRef } from 'react';
import { useApi } from '../../../lib/session.js';
import { runKeys } from '../../../lib/query-keys.js';

/**
 * Stored events after the last one seen (GET /api/runs/:id/events), polled while
 * `enabled`: the run page's way to keep moving without the hub.
 */
export function useRunEventsPoll(id: string, lastSeq: number, enabled: boolean) {
  const api = useApi();
  // The position moves with every event; it must not make a new cache entry each time.
  const after = useRef(lastSeq);
  after.current = lastSeq;
  return useQuery({
    queryKey: runKeys.events(id),
    queryFn: ({ signal }) => api.events(id, after.current, signal),
    enabled,
    refetchInterval: enabled ? 2000 : false,
    gcTime: 0,
  });
}
