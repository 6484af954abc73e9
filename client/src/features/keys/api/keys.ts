import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { ApiKey, CreateApiKeyBody, CreatedApiKey } from '../../../../../shared/protocol.js';
import { useApi } from '../../../lib/session.js';

export const apiKeyKeys = { all: ['api-keys'] as const };

/** GET /api/keys (admins): every key, revoked ones last; never a secret. */
export function useApiKeys() {
  const api = useApi();
  return useQuery({
    queryKey: apiKeyKeys.all,
    queryFn: async ({ signal }) => (await api.request<{ keys: ApiKey[] }>('GET', '/api/keys', undefined, { signal })).keys,
  });
}

/** POST /api/keys: the answer holds the secret, shown once and kept nowhere else. */
export function useCreateApiKey() {
  const api = useApi();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: CreateApiKeyBody) => api.request<CreatedApiKey>('POST', '/api/keys', body),
    onSettled: () => queryClient.invalidateQueries({ queryKey: apiKeyKeys.all }),
  });
}

/** DELETE /api/keys/:id: refused at once on every instance. */
export function useRevokeApiKey() {
  const api = useApi();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => api.request<{ key: ApiKey }>('DELETE', `/api/keys/${encodeURIComponent(id)}`),
    onSettled: () => queryClient.invalidateQueries({ queryKey: apiKeyKeys.all }),
  });
}
