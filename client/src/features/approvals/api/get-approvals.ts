import { useQuery } from '@tanstack/react-query';
import { approvalKeys } from '../../../lib/query-keys.js';
import { useApi } from '../../../lib/session.js';

/** Hub events refresh the list at once; the poll catches what the hub missed (it was down, a run of someone else an admin sees). */
const POLL_MS = 30_000;

/** GET /api/approvals: the pending tool requests the user may decide. */
export function useApprovals(options: { enabled?: boolean } = {}) {
  const api = useApi();
  return useQuery({
    queryKey: approvalKeys.all,
    queryFn: ({ signal }) => api.approvals(signal),
    enabled: options.enabled ?? true,
    refetchInterval: POLL_MS,
  });
}
