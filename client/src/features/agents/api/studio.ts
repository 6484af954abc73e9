/**
 * The Agent Studio API (docs/API.md, "Agent Studio") as query and mutation hooks.
 * Every change invalidates the studio's cache and the run form's catalog, so the
 * list, the editor and /agents all show the new state.
 */
import { useInfiniteQuery, useMutation, useQuery, useQueryClient, keepPreviousData } from '@tanstack/react-query';
import type { AgentSpecInput, SpecIssue } from '../../../../../shared/agent-spec.js';
import type { AgentDetail, AgentDiff, AgentInfo, AgentVersionInfo } from '../../../../../shared/catalog.js';
import { useApi } from '../../../lib/session.js';
import { catalogKeys } from './keys.js';

export const studioKeys = {
  all: ['studio'] as const,
  list: (q: string, tags: readonly string[], archived: string) => [...studioKeys.all, 'list', { q, tags: [...tags].sort(), archived }] as const,
  detail: (name: string) => [...studioKeys.all, 'agent', name] as const,
  versions: (name: string) => [...studioKeys.all, 'versions', name] as const,
  version: (name: string, v: number) => [...studioKeys.all, 'version', name, v] as const,
  diff: (name: string, from: string, to: string) => [...studioKeys.all, 'diff', name, from, to] as const,
};

export interface AgentPage {
  agents: AgentInfo[];
  total: number;
  nextCursor: string | null;
}

/** Page size of the list: one request fills a tall screen several times over. */
export const PAGE_SIZE = 100;

const enc = encodeURIComponent;

/** GET /api/agents with search, tags and cursor paging; pages arrive as the list scrolls. */
export function useAgentPages(query: { q: string; tags: readonly string[]; archived: 'exclude' | 'include' | 'only' }) {
  const api = useApi();
  return useInfiniteQuery({
    queryKey: studioKeys.list(query.q, query.tags, query.archived),
    initialPageParam: null as string | null,
    queryFn: ({ pageParam, signal }) => {
      const p = new URLSearchParams({ limit: String(PAGE_SIZE), archived: query.archived });
      if (query.q.trim()) p.set('q', query.q.trim());
      for (const t of query.tags) p.append('tag', t);
      if (pageParam) p.set('cursor', pageParam);
      return api.request<AgentPage>('GET', `/api/agents?${p.toString()}`, undefined, { signal });
    },
    getNextPageParam: (last) => last.nextCursor,
    // Typing a search keeps the last list on screen until the new one arrives.
    placeholderData: keepPreviousData,
  });
}

export function useAgentDetail(name: string) {
  const api = useApi();
  return useQuery({
    queryKey: studioKeys.detail(name),
    queryFn: async ({ signal }) => (await api.request<{ agent: AgentDetail }>('GET', `/api/agents/${enc(name)}`, undefined, { signal })).agent,
  });
}

export function useVersions(name: string) {
  const api = useApi();
  return useQuery({
    queryKey: studioKeys.versions(name),
    queryFn: async ({ signal }) => (await api.request<{ versions: AgentVersionInfo[] }>('GET', `/api/agents/${enc(name)}/versions?limit=200`, undefined, { signal })).versions,
  });
}

export function useVersion(name: string, version: number | null) {
  const api = useApi();
  return useQuery({
    queryKey: studioKeys.version(name, version ?? 0),
    enabled: version !== null,
    staleTime: Infinity, // versions never change
    queryFn: async ({ signal }) => (await api.request<{ version: AgentVersionInfo }>('GET', `/api/agents/${enc(name)}/versions/${version}`, undefined, { signal })).version,
  });
}

export function useDiff(name: string, from: string, to: string, enabled = true) {
  const api = useApi();
  return useQuery({
    queryKey: studioKeys.diff(name, from, to),
    enabled,
    queryFn: ({ signal }) => api.request<AgentDiff>('GET', `/api/agents/${enc(name)}/diff?from=${enc(from)}&to=${enc(to)}`, undefined, { signal }),
  });
}

/** POST /api/agents/validate: the checks only the server can make (ajv, tools that exist). */
export function useValidateSpec() {
  const api = useApi();
  return useMutation({
    mutationFn: (spec: unknown) => api.request<{ ok: boolean; issues: SpecIssue[] }>('POST', '/api/agents/validate', { spec }),
  });
}

function useInvalidateStudio() {
  const queryClient = useQueryClient();
  return (agent?: AgentDetail) => {
    if (agent) queryClient.setQueryData(studioKeys.detail(agent.name), agent);
    void queryClient.invalidateQueries({ queryKey: studioKeys.all });
    void queryClient.invalidateQueries({ queryKey: catalogKeys.agents });
  };
}

export function useCreateAgent() {
  const api = useApi();
  const done = useInvalidateStudio();
  return useMutation({
    mutationFn: async (body: { spec: AgentSpecInput; note?: string }) => (await api.request<{ agent: AgentDetail }>('POST', '/api/agents', body)).agent,
    onSuccess: (agent) => done(agent),
  });
}

export function useSaveDraft(name: string) {
  const api = useApi();
  const done = useInvalidateStudio();
  return useMutation({
    mutationFn: async (body: { spec: AgentSpecInput; revision: number }) => (await api.request<{ agent: AgentDetail }>('PUT', `/api/agents/${enc(name)}/draft`, body)).agent,
    onSuccess: (agent) => done(agent),
  });
}

export function usePublish(name: string) {
  const api = useApi();
  const done = useInvalidateStudio();
  return useMutation({
    mutationFn: (body: { note?: string; revision?: number }) => api.request<{ agent: AgentDetail; version: number }>('POST', `/api/agents/${enc(name)}/publish`, body),
    onSuccess: (r) => done(r.agent),
  });
}

export function useRollback(name: string) {
  const api = useApi();
  const done = useInvalidateStudio();
  return useMutation({
    mutationFn: (body: { version: number; note?: string }) => api.request<{ agent: AgentDetail; version: number }>('POST', `/api/agents/${enc(name)}/rollback`, body),
    onSuccess: (r) => done(r.agent),
  });
}

export function useArchive(name: string) {
  const api = useApi();
  const done = useInvalidateStudio();
  return useMutation({
    mutationFn: async (archive: boolean) => (await api.request<{ agent: AgentDetail }>('POST', `/api/agents/${enc(name)}/${archive ? 'archive' : 'unarchive'}`, {})).agent,
    onSuccess: (agent) => done(agent),
  });
}
