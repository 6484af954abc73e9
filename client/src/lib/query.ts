/**
 * The one data layer: TanStack Query's cache holds every server answer the pages show,
 * and live hub events update or invalidate it (each feature's hooks/). Each request is
 * a small hook in its feature's api/ folder.
 */
import { QueryClient } from '@tanstack/react-query';
import { ApiError } from './api.js';

/** A 4xx is an answer (not found, forbidden, invalid): asking again gives the same one. */
function retry(failureCount: number, error: unknown): boolean {
  if (error instanceof ApiError && error.status >= 400 && error.status < 500) return false;
  return failureCount < 2;
}

export function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: { retry, staleTime: 0, refetchOnWindowFocus: true },
      mutations: { retry: false },
    },
  });
}
