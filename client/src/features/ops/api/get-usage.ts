import { useQuery } from '@tanstack/react-query';
import { useApi } from '../../../lib/session.js';

interface UsageTotals {
  total?: { promptTokens?: number; completionTokens?: number };
}

/** Tokens used in the last minute (GET /api/usage?since=), refreshed every `everyMs` while enabled. */
export function useTokensLastMinute(options: { everyMs: number; enabled: boolean }) {
  const api = useApi();
  return useQuery({
    queryKey: ['usage', 'last-minute'],
    queryFn: async ({ signal }) => {
      const since = new Date(Date.now() - 60_000).toISOString();
      const u = await api.request<UsageTotals>('GET', `/api/usage?since=${encodeURIComponent(since)}`, undefined, { signal });
      return { t: Date.now(), v: (u.total?.promptTokens ?? 0) + (u.total?.completionTokens ?? 0) };
    },
    enabled: options.enabled,
    refetchInterval: options.enabled ? options.everyMs : false,
    retry: false,
  });
}
