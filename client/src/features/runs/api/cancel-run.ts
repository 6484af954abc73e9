import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useApi } from '../../../lib/session.js';
import { runKeys } from '../../../lib/query-keys.js';

/** POST /api/runs/:id/cancel; the answer is the run's new snapshot. */
export function useCancelRun(id: string) {
  const api = useApi();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: () => api.cancelRun(id),
    onSuccess: (run) => queryClient.setQueryData(runKeys.detail(id), run),
  });
}
