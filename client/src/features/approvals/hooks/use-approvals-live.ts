import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef } from 'react';
import type { PendingApproval, RunEvent } from '../../../../../shared/protocol.js';
import { useTopic } from '../../../lib/live.js';
import { approvalKeys } from '../../../lib/query-keys.js';

/** Events that add or remove pending requests of any run. */
const ALWAYS = new Set(['run.approval.requested', 'run.approval.decided', 'run.awaiting_input']);
/** Events that end a run: they matter only for a run that has requests listed (a parked run cancelled). */
const ENDS = new Set(['run.cancelled', 'run.failed', 'run.succeeded']);

/** At most one refetch per this long: a run parking on five requests sends six events. */
const REFRESH_MS = 250;

/**
 * The `runs` topic keeps the approvals list (inbox and nav badge) current while
 * `enabled`. Only events that can change the list refetch it, so a busy queue does
 * not make every open page ask for it a few times a second.
 */
export function useApprovalsLive(enabled = true): void {
  const queryClient = useQueryClient();
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(timer.current), []);
  useTopic(enabled ? 'runs' : null, (event: RunEvent) => {
    if (!ALWAYS.has(event.type)) {
      if (!ENDS.has(event.type)) return;
      const listed = queryClient.getQueryData<PendingApproval[]>(approvalKeys.all);
      if (!listed?.some((a) => a.runId === event.runId)) return;
    }
    timer.current ??= setTimeout(() => {
      timer.current = undefined;
      void queryClient.invalidateQueries({ queryKey: approvalKeys.all });
    }, REFRESH_MS);
  });
}
