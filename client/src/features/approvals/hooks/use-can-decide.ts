import { useSession } from '../../../lib/session.js';

/** Operators and admins decide; viewers only look. Without authentication everyone is the local admin. */
export function useCanDecide(): boolean {
  const { session } = useSession();
  return session.status === 'signedIn' && (session.user?.role ?? 'admin') !== 'viewer';
}
