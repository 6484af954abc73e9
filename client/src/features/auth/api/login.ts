import { useMutation } from '@tanstack/react-query';
import { useSession } from '../../../lib/session.js';

/** POST /api/auth/login through the session, which then holds the signed-in user. */
export function useLogin() {
  const { login } = useSession();
  return useMutation({ mutationFn: ({ username, password }: { username: string; password: string }) => login(username, password) });
}
