import { z } from 'zod';
import { WS_CLOSE } from '../../shared/protocol.js';
import type { Auth, AuthUser } from '../auth/types.js';
import type { Logger } from '../log.js';
import type { Connection } from './connection.js';

/** A session check that failed (database away) is tried again this much later. */
const RECHECK_RETRY_MS = 1000;
/** How long a session notification is remembered for sockets still completing their handshake. */
const NOTICE_MEMORY_MS = 10_000;
const sessionNoticeSchema = z.object({ u: z.string().min(1).max(100) });

/**
 * A socket lives no longer than its session: it closes with 4401 at the token's
 * expiry, when a subscribe finds the session over, and when an `auth_sessions`
 * notification (logout, password or role change, deleted user; from any
 * instance) leads to a check that finds it over. A role change applies at once.
 */
export function createSessionGuard(deps: {
  auth: Auth;
  log: Logger;
  /** Every open socket of this hub. */
  connections(): Iterable<Connection>;
  /** The socket's user changed: re-authorize its run topics; answers the topics it lost. */
  userChanged(conn: Connection): string[];
}) {
  const { auth, log } = deps;
  const recheckPending = new Set<string>();
  let recheckTimer: NodeJS.Timeout | undefined;
  let stopped = false;
  /** User id → when its last session notification arrived (for upgrades in flight meanwhile). */
  const sessionNotices = new Map<string, number>();

  function endSession(conn: Connection, why: 'expired' | 'revoked'): void {
    if (conn.closing) return;
    log.info({ user: conn.user.username, why }, 'WebSocket session ended');
    conn.close(WS_CLOSE.unauthorized, why === 'expired' ? 'token expired; sign in again' : 'session ended; sign in again');
  }

  /** Applies a check's answer; false when the socket is (now) closing. */
  function applySession(conn: Connection, user: AuthUser | null): boolean {
    if (conn.closing) return false;
    if (!user) {
      endSession(conn, 'revoked');
      return false;
    }
    if (user.role !== conn.user.role || user.username !== conn.user.username) {
      conn.user = user;
      // `runs` is filtered per event with the current role; run topics are checked now.
      for (const name of deps.userChanged(conn)) conn.error('not_found', 'run not found', name);
    }
    return true;
  }

  /** Checks sockets' sessions against the database now (one query per token). */
  async function recheck(list: Iterable<Connection>): Promise<void> {
    const answers = new Map<string, Promise<AuthUser | null>>();
    for (const conn of list) {
      // A session token is checked by its jti, an API key by its id.
      const { claims, apiKeyId, userId } = conn.session;
      const checkKey = claims?.jti ?? apiKeyId;
      if (conn.closing || !checkKey || !userId) continue;
      let answer = answers.get(checkKey);
      if (!answer) {
        answer = auth.revalidate(conn.session, { fresh: true });
        answers.set(checkKey, answer);
      }
      try {
        applySession(conn, await answer);
      } catch (error) {
        log.warn({ err: error, user: conn.user.username }, 'could not check a WebSocket session; trying again');
        recheckLater(userId);
      }
    }
  }

  function recheckUser(userId: string): Promise<void> {
    return recheck([...deps.connections()].filter((c) => c.session.userId === userId));
  }

  function recheckLater(userId: string): void {
    recheckPending.add(userId);
    if (recheckTimer || stopped) return;
    recheckTimer = setTimeout(() => {
      recheckTimer = undefined;
      const ids = [...recheckPending];
      recheckPending.clear();
      for (const id of ids) void recheckUser(id);
    }, RECHECK_RETRY_MS);
    recheckTimer.unref();
  }

  return {
    endSession,
    applySession,
    recheck,
    /** Checks the session before a subscribe; false (after telling the client) when it may not go on. */
    async checkBeforeSubscribe(conn: Connection, topic: string): Promise<boolean> {
      let user: AuthUser | null;
      try {
        user = await auth.revalidate(conn.session);
      } catch (error) {
        log.warn({ err: error, user: conn.user.username }, 'could not check a WebSocket session');
        conn.error('unavailable', 'could not check the session; try again', topic);
        return false;
      }
      return applySession(conn, user) && conn.open;
    },
    /** A new socket: ends it at its token's expiry; checks again if its session changed during the handshake. */
    adopt(conn: Connection, checkedAt: number): void {
      const { session } = conn;
      if (session.expiresAt) conn.expireAt(session.expiresAt, () => endSession(conn, 'expired'));
      // The session changed while the handshake was under way: the check at the upgrade may predate it.
      const noticed = session.userId === null ? undefined : sessionNotices.get(session.userId);
      if (noticed !== undefined && noticed >= checkedAt) void recheck([conn]);
    },
    /** An `auth_sessions` notification (any instance): checks that user's sockets. */
    onNotification(payload: string): void {
      let raw: unknown;
      try {
        raw = JSON.parse(payload);
      } catch {
        raw = undefined;
      }
      const parsed = sessionNoticeSchema.safeParse(raw);
      if (!parsed.success) {
        log.warn({ bytes: payload.length }, 'ignored a malformed session notification');
        return;
      }
      const userId = parsed.data.u;
      const now = Date.now();
      for (const [id, at] of sessionNotices) if (now - at > NOTICE_MEMORY_MS) sessionNotices.delete(id);
      sessionNotices.set(userId, now);
      void recheckUser(userId);
    },
    start(): void {
      stopped = false;
    },
    stop(): void {
      stopped = true;
      clearTimeout(recheckTimer);
      recheckTimer = undefined;
      recheckPending.clear();
    },
  };
}

export type SessionGuard = ReturnType<typeof createSessionGuard>;
