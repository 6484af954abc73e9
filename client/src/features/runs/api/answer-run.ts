import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useApi } from '../../../lib/session.js';
import { runKeys } from '../../../lib/query-keys.js';

/** POST /api/runs/:id/input for a run awaiting a person's answer. */
export function useAnswerRun(id: string) {
  const api = useApi();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (answer: unknown) => api.answerRun(id, answer),
    onSuccess: (run) => queryClient.setQueryData(runKeys.detail(id), run),
  });
}
