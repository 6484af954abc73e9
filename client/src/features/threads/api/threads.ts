/** One TanStack Query hook per thread request (docs/API.md, "Threads"). */
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { Run } from '../../../../../shared/protocol.js';
import type { CreateThreadBody, Thread, ThreadMessage } from '../../../../../shared/threads.js';
import { runKeys, threadKeys } from '../../../lib/query-keys.js';
import { useApi } from '../../../lib/session.js';

export interface PostResult {
  message: ThreadMessage;
  run: Run | null;
  status: 'answering' | 'queued' | 'answered_escalation';
}

export function useThreads() {
  const api = useApi();
  return useQuery({
    queryKey: threadKeys.lists(),
    queryFn: async ({ signal }) => (await api.request<{ threads: Thread[]; nextCursor: string | null }>('GET', '/api/threads?limit=100', undefined, { signal })).threads,
  });
}

export function useThread(id: string) {
  const api = useApi();
  return useQuery({
    queryKey: threadKeys.detail(id),
    queryFn: async ({ signal }) => (await api.request<{ thread: Thread }>('GET', `/api/threads/${encodeURIComponent(id)}`, undefined, { signal })).thread,
  });
}

/** Every message of the thread, oldest first (a thread page reads them all; the server caps a page at 1,000). */
export function useThreadMessages(id: string) {
  const api = useApi();
  return useQuery({
    queryKey: threadKeys.messages(id),
    queryFn: async ({ signal }) => {
      const all: ThreadMessage[] = [];
      for (;;) {
        const after = all.at(-1)?.seq ?? 0;
        const page = (await api.request<{ messages: ThreadMessage[] }>('GET', `/api/threads/${encodeURIComponent(id)}/messages?after=${after}&limit=1000`, undefined, { signal })).messages;
        all.push(...page);
        if (page.length < 1000) return all;
      }
    },
  });
}

export function useCreateThread() {
  const api = useApi();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (body: CreateThreadBody) => (await api.request<{ thread: Thread }>('POST', '/api/threads', body)).thread,
    onSuccess: (thread) => {
      queryClient.setQueryData(threadKeys.detail(thread.id), thread);
      void queryClient.invalidateQueries({ queryKey: threadKeys.lists() });
    },
  });
}

export function usePostMessage(id: string) {
  const api = useApi();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (content: string) => api.request<PostResult>('POST', `/api/threads/${encodeURIComponent(id)}/messages`, { content }),
    onSuccess: (result) => {
      if (result.run) queryClient.setQueryData(runKeys.detail(result.run.id), result.run);
      void queryClient.invalidateQueries({ queryKey: threadKeys.messages(id) });
      void queryClient.invalidateQueries({ queryKey: threadKeys.detail(id) });
    },
  });
}

export function useRetryAnswer(id: string) {
  const api = useApi();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: () => api.request<{ run: Run | null }>('POST', `/api/threads/${encodeURIComponent(id)}/retry`),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: threadKeys.messages(id) });
      void queryClient.invalidateQueries({ queryKey: threadKeys.detail(id) });
    },
  });
}
