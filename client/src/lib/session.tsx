/**
 * Who is using the app. The server keeps the session in an httpOnly cookie; the page
 * only remembers the user's name and role (for the header) between reloads.
 */
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import type { PublicUser } from '../../../shared/protocol.js';
import { ApiError, createApi, type Api } from './api.js';

const USER_KEY = 'agentry.user';

export type SessionState =
  | { status: 'loading' }
  | { status: 'error'; message: string }
  | { status: 'signedOut'; reason?: string }
  | { status: 'signedIn'; user: PublicUser | null; authEnabled: boolean };

interface SessionValue {
  api: Api;
  session: SessionState;
  login(username: string, password: string): Promise<void>;
  logout(): Promise<void>;
  /** The hub closed the socket with 4401: back to sign-in, unless the cookie holds a newer session. */
  sessionEnded(): void;
  retry(): void;
}

const SessionContext = createContext<SessionValue | null>(null);

function storedUser(): PublicUser | null {
  try {
    const raw = window.localStorage.getItem(USER_KEY);
    if (!raw) return null;
    const parsed = JSON.parse(raw) as Partial<PublicUser>;
    return typeof parsed.username === 'string' && typeof parsed.role === 'string' ? (parsed as PublicUser) : null;
  } catch {
    return null;
  }
}

function storeUser(user: PublicUser | null): void {
  try {
    if (user) window.localStorage.setItem(USER_KEY, JSON.stringify({ username: user.username, role: user.role }));
    else window.localStorage.removeItem(USER_KEY);
  } catch {
    // Private mode without storage: the header just shows less.
  }
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<SessionState>({ status: 'loading' });
  const [attempt, setAttempt] = useState(0);
  const sessionRef = useRef(session);
  sessionRef.current = session;

  const api = useMemo(
    () =>
      createApi({
        onUnauthorized: () => {
          const s = sessionRef.current;
          if (s.status === 'signedIn' && !s.authEnabled) return;
          storeUser(null);
          setSession({ status: 'signedOut', reason: s.status === 'signedIn' ? 'Your session has ended. Sign in again to continue.' : undefined });
        },
      }),
    [],
  );

  useEffect(() => {
    const controller = new AbortController();
    api.me(controller.signal).then(
      (me) => {
        if (me.known) {
          storeUser(me.authEnabled ? me.user : null);
          setSession({ status: 'signedIn', user: me.user, authEnabled: me.authEnabled });
          return;
        }
        // Without /api/auth/me, a remembered sign-in is the only hint that auth is on.
        const remembered = storedUser();
        setSession(remembered ? { status: 'signedIn', user: remembered, authEnabled: true } : { status: 'signedIn', user: null, authEnabled: false });
      },
      (error: unknown) => {
        if (controller.signal.aborted) return;
        if (error instanceof ApiError && error.status === 401) setSession({ status: 'signedOut' });
        else setSession({ status: 'error', message: error instanceof Error ? error.message : String(error) });
      },
    );
    return () => controller.abort();
  }, [api, attempt]);

  const login = useCallback(
    async (username: string, password: string) => {
      const res = await api.login(username, password);
      storeUser(res.user);
      setSession({ status: 'signedIn', user: res.user, authEnabled: true });
    },
    [api],
  );

  const logout = useCallback(async () => {
    await api.logout();
    storeUser(null);
    setSession({ status: 'signedOut' });
  }, [api]);

  const sessionEnded = useCallback(() => {
    const s = sessionRef.current;
    if (s.status !== 'signedIn' || !s.authEnabled) return;
    // The socket's token is over, but the cookie may already hold a newer one (changing one's own
    // password answers a fresh cookie). A 401 signs out through onUnauthorized; a success starts
    // over, with a new socket on the new cookie.
    api.me().then(
      () => {
        setSession({ status: 'loading' });
        setAttempt((n) => n + 1);
      },
      (error: unknown) => {
        if (error instanceof ApiError && error.status === 401) return;
        storeUser(null);
        setSession({ status: 'signedOut', reason: 'Your session has ended. Sign in again to continue.' });
      },
    );
  }, [api]);

  const retry = useCallback(() => {
    setSession({ status: 'loading' });
    setAttempt((n) => n + 1);
  }, []);

  const value = useMemo(() => ({ api, session, login, logout, sessionEnded, retry }), [api, session, login, logout, sessionEnded, retry]);
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionValue {
  const value = useContext(SessionContext);
  if (!value) throw new Error('useSession outside SessionProvider');
  return value;
}

export function useApi(): Api {
  return useSession().api;
}
