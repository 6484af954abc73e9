import { useMutation, useQueryClient } from '@tanstack/react-query';
import type { CreateRunRequest } from '../../../lib/api.js';
import { runKeys } from '../../../lib/query-keys.js';
import { useSession } from '../../../lib/session.js';

/** POST /api/runs. The new run goes straight into the cache its page reads. */
export function useCreateRun() {
  const { api } = useSession();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: CreateRunRequest) => api.createRun(body),
    onSuccess: (run) => {
      queryClient.setQueryData(runKeys.detail(run.id), run);
      void queryClient.invalidateQueries({ queryKey: runKeys.lists() });
    },
  });
}
