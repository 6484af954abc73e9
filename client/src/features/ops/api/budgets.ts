import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { BudgetView, PutBudgetBody } from '../../../../../shared/protocol.js';
import { useApi } from '../../../lib/session.js';

export interface BudgetsResponse {
  day: string;
  defaults: { user: { usd: number | null; tokens: number | null }; agent: { usd: number | null; tokens: number | null } };
  budgets: BudgetView[];
}

const budgetKeys = { all: ['budgets'] as const };

/** GET /api/budgets (admins). */
export function useBudgets(enabled: boolean) {
  const api = useApi();
  return useQuery({
    queryKey: budgetKeys.all,
    queryFn: ({ signal }) => api.request<BudgetsResponse>('GET', '/api/budgets', undefined, { signal }),
    enabled,
    refetchInterval: enabled ? 10_000 : false,
  });
}

/** PUT /api/budgets: a raise resumes the runs parked on that budget (`resumed`). */
export function useSetBudget() {
  const api = useApi();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: PutBudgetBody) => api.request<{ resumed: number }>('PUT', '/api/budgets', body),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: budgetKeys.all }),
  });
}
