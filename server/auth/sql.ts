import type pg from 'pg';
import type { Role } from '../../shared/protocol.js';

/** The auth module's statements, one named function each (migrations/0003_users.sql). */
export type Queryable = pg.Pool | pg.PoolClient;

export interface UserRow {
  id: string;
  username: string;
  passwordHash: string;
  role: Role;
  tokenVersion: number;
  createdAt: Date;
}

const USER_COLUMNS = 'id, username, password_hash AS "passwordHash", role, token_version AS "tokenVersion", created_at AS "createdAt"';

export async function findUser(db: Queryable, username: string): Promise<UserRow | undefined> {
  const { rows } = await db.query<UserRow>({
    name: 'auth_find_user',
    text: `SELECT ${USER_COLUMNS} FROM users WHERE lower(username) = lower($1)`,
    values: [username],
  });
  return rows[0];
}

/** Inserts unless the name is taken (in any case); returns the row or undefined. */
export async function insertUser(db: Queryable, user: { id: string; username: string; passwordHash: string; role: Role }): Promise<UserRow | undefined> {
  const { rows } = await db.query<UserRow>({
    name: 'auth_insert_user',
    text: `INSERT INTO users (id, username, password_hash, role) VALUES ($1, $2, $3, $4)
           ON CONFLICT DO NOTHING RETURNING ${USER_COLUMNS}`,
    values: [user.id, user.username, user.passwordHash, user.role],
  });
  return rows[0];
}

export async function listUsers(db: Queryable): Promise<UserRow[]> {
  const { rows } = await db.query<UserRow>({ name: 'auth_list_users', text: `SELECT ${USER_COLUMNS} FROM users ORDER BY lower(username)` });
  return rows;
}

export async function countAdmins(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: number }>({ name: 'auth_count_admins', text: "SELECT count(*)::int AS n FROM users WHERE role = 'admin'" });
  return rows[0]?.n ?? 0;
}

/** Locks every admin row: deciding "is this the last admin?" must not race another delete or demotion. */
export async function lockAdmins(db: pg.PoolClient): Promise<string[]> {
  const { rows } = await db.query<{ username: string }>("SELECT username FROM users WHERE role = 'admin' FOR UPDATE");
  return rows.map((r) => r.username);
}

/** A new password or role ends every session of the user (token_version + 1). */
export async function updateUser(db: Queryable, username: string, change: { passwordHash?: string; role?: Role }): Promise<UserRow | undefined> {
  const { rows } = await db.query<UserRow>({
    name: 'auth_update_user',
    text: `UPDATE users SET password_hash = COALESCE($2, password_hash), role = COALESCE($3, role),
             token_version = token_version + 1, updated_at = now()
           WHERE lower(username) = lower($1) RETURNING ${USER_COLUMNS}`,
    values: [username, change.passwordHash ?? null, change.role ?? null],
  });
  return rows[0];
}

/** Replaces a hash made with older scrypt parameters; sessions are untouched. */
export async function rehashPassword(db: Queryable, id: string, passwordHash: string): Promise<void> {
  await db.query({ name: 'auth_rehash', text: 'UPDATE users SET password_hash = $2 WHERE id = $1', values: [id, passwordHash] });
}

/** Ends every session of a user without changing anything else ("log out everywhere"). */
export async function bumpTokenVersion(db: Queryable, id: string): Promise<void> {
  await db.query({ name: 'auth_bump_version', text: 'UPDATE users SET token_version = token_version + 1, updated_at = now() WHERE id = $1', values: [id] });
}

export async function deleteUser(db: Queryable, username: string): Promise<UserRow | undefined> {
  const { rows } = await db.query<UserRow>({
    name: 'auth_delete_user',
    text: `DELETE FROM users WHERE lower(username) = lower($1) RETURNING ${USER_COLUMNS}`,
    values: [username],
  });
  return rows[0];
}

/**
 * A deleted user's runs keep their owner's id (now null: ON DELETE SET NULL) in the name
 * column as `deleted:<id>:<name>`: no username can contain ':', so an account created later
 * with the same name neither sees them (REST, WebSocket, usage) nor collides with their
 * idempotency keys. Runs in the same transaction as the DELETE.
 */
export async function retireOwnerName(db: Queryable, user: { id: string; username: string }): Promise<number> {
  const { rowCount } = await db.query({
    name: 'auth_retire_owner_name',
    text: `UPDATE runs SET owner = 'deleted:' || $1::text || ':' || owner WHERE owner = $2`,
    values: [user.id, user.username],
  });
  return rowCount ?? 0;
}

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

/** The latest lock among `keys` still in force, or undefined. */
export async function activeLock(db: Queryable, keys: string[]): Promise<Date | undefined> {
  const { rows } = await db.query<{ until: Date | null }>({
    name: 'auth_active_lock',
    text: 'SELECT max(locked_until) AS until FROM login_attempts WHERE key = ANY($1) AND locked_until > now()',
    values: [keys],
  });
  return rows[0]?.until ?? undefined;
}

/**
 * Counts one failure against `key` inside a window of `windowSeconds`; at
 * `maxFailures` the key locks for `lockSeconds` (while locked, no password is
 * checked, so no further failure is counted).
 * One statement, so instances racing on the same key each count.
 */
export async function recordFailure(db: Queryable, key: string, maxFailures: number, windowSeconds: number, lockSeconds: number): Promise<Date | undefined> {
  const { rows } = await db.query<{ locked_until: Date | null }>({
    name: 'auth_record_failure',
    text: `INSERT INTO login_attempts AS a (key, failures, window_ends_at, locked_until)
           VALUES ($1, 1, now() + make_interval(secs => $3),
                   CASE WHEN $2 <= 1 THEN now() + make_interval(secs => $4) END)
           ON CONFLICT (key) DO UPDATE SET
             failures = CASE WHEN a.window_ends_at <= now() THEN 1 ELSE a.failures + 1 END,
             window_ends_at = CASE WHEN a.window_ends_at <= now() THEN EXCLUDED.window_ends_at ELSE a.window_ends_at END,
             locked_until = CASE
               WHEN (CASE WHEN a.window_ends_at <= now() THEN 1 ELSE a.failures + 1 END) >= $2
                 THEN GREATEST(a.locked_until, now() + make_interval(secs => $4))
               ELSE a.locked_until END
           RETURNING CASE WHEN locked_until > now() THEN locked_until END AS locked_until`,
    values: [key, maxFailures, windowSeconds, lockSeconds],
  });
  return rows[0]?.locked_until ?? undefined;
}

export async function clearFailures(db: Queryable, key: string): Promise<void> {
  await db.query({ name: 'auth_clear_failures', text: 'DELETE FROM login_attempts WHERE key = $1', values: [key] });
}

/** Drops rows nothing reads any more: finished windows and locks, expired revocations. */
export async function sweepAuthState(db: Queryable): Promise<void> {
  await db.query("DELETE FROM login_attempts WHERE window_ends_at < now() AND (locked_until IS NULL OR locked_until < now())");
  await db.query('DELETE FROM revoked_tokens WHERE expires_at < now()');
}
