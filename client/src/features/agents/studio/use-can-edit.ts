import { useSession } from '../../../lib/session.js';

/** Admins and operators edit agents; viewers read (docs/API.md, "Agent Studio"). Without authentication everyone is the local admin. */
export function useCanEdit(): boolean {
  const { session } = useSession();
  return session.status === 'signedIn' && (session.user?.role ?? 'admin') !== 'viewer';
}
