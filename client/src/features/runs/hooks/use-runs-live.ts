import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef } from 'react';
import type { RunEvent } from '../../../../../shared/protocol.js';
import { useTopic } from '../../../lib/live.js';
import { runKeys } from '../../../lib/query-keys.js';

/** At most one list refresh per this long, however many runs change at once. */
const LIST_REFRESH_MS = 250;

/**
 * The `runs` topic (every run's lifecycle) keeps the cached lists and run snapshots
 * current: a run's snapshot is invalidated by its event, and the lists (every loaded
 * page) are refetched at most every LIST_REFRESH_MS, so a burst of new runs costs one
 * refetch, and the last refetch starts after the last event.
 */
export function useRunsLive(): void {
  const queryClient = useQueryClient();
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(timer.current), []);

  useTopic('runs', (event: RunEvent) => {
    if (event.type === 'run.token' || !event.runId) return;
    void queryClient.invalidateQueries({ queryKey: runKeys.detail(event.runId), refetchType: 'active' });
    timer.current ??= setTimeout(() => {
      timer.current = undefined;
      void queryClient.invalidateQueries({ queryKey: runKeys.lists() });
    }, LIST_REFRESH_MS);
  });
}
