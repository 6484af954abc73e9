import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef } from 'react';
import type { RunEvent } from '../../../../../shared/protocol.js';
import { useTopic } from '../../../lib/live.js';
import { approvalKeys } from '../../../lib/query-keys.js';

/** Lifecycle events that add or remove pending requests. */
const CHANGES = new Set(['run.approval.requested', 'run.approval.decided', 'run.awaiting_input', 'run.cancelled', 'run.failed', 'run.succeeded', 'run.started']);

/** At most one refetch per this long: a run parking on five requests sends six events. */
const REFRESH_MS = 250;

/** The `runs` topic keeps the approvals list (inbox and nav badge) current while `enabled`. */
export function useApprovalsLive(enabled = true): void {
  const queryClient = useQueryClient();
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(timer.current), []);
  useTopic(enabled ? 'runs' : null, (event: RunEvent) => {
    if (!CHANGES.has(event.type)) return;
    timer.current ??= setTimeout(() => {
      timer.current = undefined;
      void queryClient.invalidateQueries({ queryKey: approvalKeys.all });
    }, REFRESH_MS);
  });
}
