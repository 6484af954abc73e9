import type { RunStatus } from '../../../shared/protocol.js';

/** Cache keys of runs, shared by the features that read (runs) and create (agents) them; hub events invalidate by these prefixes. */
export const runKeys = {
  all: ['runs'] as const,
  lists: () => [...runKeys.all, 'list'] as const,
  list: (status: RunStatus | undefined) => [...runKeys.lists(), { status: status ?? null }] as const,
  detail: (id: string) => [...runKeys.all, 'detail', id] as const,
  events: (id: string) => [...runKeys.all, 'events', id] as const,
};

/** Pending tool requests (GET /api/approvals): the inbox and the nav badge read it; decisions and hub events invalidate it. */
export const approvalKeys = {
  all: ['approvals'] as const,
};

/** Conversations: the list, one thread, its messages; thread topic events invalidate them. */
export const threadKeys = {
  all: ['threads'] as const,
  lists: () => [...threadKeys.all, 'list'] as const,
  detail: (id: string) => [...threadKeys.all, 'detail', id] as const,
  messages: (id: string) => [...threadKeys.all, 'messages', id] as const,
};
