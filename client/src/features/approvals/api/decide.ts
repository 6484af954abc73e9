import { useMutation, useQueryClient } from '@tanstack/react-query';
import type { RunDecisionBody } from '../../../../../shared/protocol.js';
import { approvalKeys, runKeys } from '../../../lib/query-keys.js';
import { useApi } from '../../../lib/session.js';

/** POST /api/runs/:id/input with an approvalId: one decision; the answer is the run's new snapshot. */
export function useDecide(runId: string) {
  const api = useApi();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (decision: RunDecisionBody) => api.decide(runId, decision),
    onSuccess: (run) => queryClient.setQueryData(runKeys.detail(runId), run),
    // Decided or not (409: someone else was first), the list has changed.
    onSettled: () => queryClient.invalidateQueries({ queryKey: approvalKeys.all }),
  });
}
