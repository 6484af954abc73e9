import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { CreateScheduleBody, Schedule, UpdateScheduleBody } from '../../../../../shared/hooks.js';
import { useApi } from '../../../lib/session.js';

export const scheduleKeys = { all: ['schedules'] as const };

/** GET /api/schedules (admins), refreshed every 10 s so next fire times stay current. */
export function useSchedules() {
  const api = useApi();
  return useQuery({
    queryKey: scheduleKeys.all,
    queryFn: async ({ signal }) => (await api.request<{ schedules: Schedule[] }>('GET', '/api/schedules', undefined, { signal })).schedules,
    refetchInterval: 10_000,
  });
}

export function useCreateSchedule() {
  const api = useApi();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (body: CreateScheduleBody) => (await api.request<{ schedule: Schedule }>('POST', '/api/schedules', body)).schedule,
    onSettled: () => queryClient.invalidateQueries({ queryKey: scheduleKeys.all }),
  });
}

export function useUpdateSchedule() {
  const api = useApi();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async ({ id, body }: { id: string; body: UpdateScheduleBody }) => (await api.request<{ schedule: Schedule }>('PATCH', `/api/schedules/${id}`, body)).schedule,
    onSettled: () => queryClient.invalidateQueries({ queryKey: scheduleKeys.all }),
  });
}

export function useDeleteSchedule() {
  const api = useApi();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (id: string) => {
      await api.request<unknown>('DELETE', `/api/schedules/${id}`);
    },
    onSettled: () => queryClient.invalidateQueries({ queryKey: scheduleKeys.all }),
  });
}
