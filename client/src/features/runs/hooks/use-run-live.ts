import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useReducer, useState } from 'react';
import type { RunEvent } from '../../../../../shared/protocol.js';
import { useConnectionState, useTopic } from '../../../lib/live.js';
import { useRunEventsPoll } from '../api/get-run-events.js';
import { runKeys } from '../../../lib/query-keys.js';
import { applyEvent, emptyLiveState, type LiveRunState } from '../lib/run-timeline.js';

/**
 * Follows one run: replays every stored event from the start, then streams; each
 * stored event invalidates the run's cached snapshot (a refetch in flight is
 * replaced, so the last answer is at least as new as the last event). Tokens only
 * feed the timeline. Without the hub the stored events are polled instead.
 */
export function useRunLive(id: string, options: { finished: boolean }): { live: LiveRunState; connected: boolean; notFound: boolean } {
  const queryClient = useQueryClient();
  const [live, dispatch] = useReducer(applyEvent, emptyLiveState);
  const [notFound, setNotFound] = useState(false);
  const connection = useConnectionState();

  useTopic(
    `run:${id}`,
    (event: RunEvent) => {
      dispatch(event);
      if (event.type !== 'run.token') void queryClient.invalidateQueries({ queryKey: runKeys.detail(id) });
    },
    { after: 0, onError: (e) => (e.code === 'not_found' ? setNotFound(true) : undefined) },
  );

  const polling = connection !== 'open' && !options.finished;
  const polled = useRunEventsPoll(id, live.lastSeq, polling);
  useEffect(() => {
    if (!polled.data?.length) return;
    polled.data.forEach(dispatch);
    void queryClient.invalidateQueries({ queryKey: runKeys.detail(id) });
  }, [polled.data, queryClient, id]);

  return { live, connected: connection === 'open', notFound };
}
