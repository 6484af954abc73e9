import type pg from 'pg';
import type { Role } from '../../../shared/protocol.js';

/** Sessions: what a token stands for now, logouts, and the notice that they changed (migrations/0003_users.sql), one named function each. */
type Queryable = pg.Pool | pg.PoolClient;

export interface SessionState {
  username: string;
  role: Role;
  tokenVersion: number;
  revoked: boolean;
}

/** Everything a request needs to trust a verified token, in one round trip: the user as it is now, and whether this token was logged out. */
export async function sessionState(db: Queryable, userId: string, jti: string): Promise<SessionState | undefined> {
  const { rows } = await db.query<SessionState>({
    name: 'auth_session_state',
    text: `SELECT u.username, u.role, u.token_version AS "tokenVersion",
                  EXISTS (SELECT 1 FROM revoked_tokens r WHERE r.jti = $2) AS revoked
           FROM users u WHERE u.id = $1`,
    values: [userId, jti],
  });
  return rows[0];
}

/** Every instance LISTENs here: a user's sessions changed (payload `{"u": <user id>}`), so hubs re-check that user's sockets. */
export const SESSION_CHANNEL = 'auth_sessions';

/** Inside a transaction the notification goes out at commit, never before the change is visible. */
export async function notifySessionChange(db: Queryable, userId: string): Promise<void> {
  await db.query({ name: 'auth_notify_session', text: 'SELECT pg_notify($1, $2)', values: [SESSION_CHANNEL, JSON.stringify({ u: userId })] });
}

export async function revokeToken(db: Queryable, jti: string, expiresAt: Date): Promise<void> {
  await db.query({
    name: 'auth_revoke_token',
    text: 'INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING',
    values: [jti, expiresAt],
  });
}

/** Drops revocations of tokens that have expired anyway. */
export async function sweepRevokedTokens(db: Queryable): Promise<void> {
  await db.query('DELETE FROM revoked_tokens WHERE expires_at < now()');
}
