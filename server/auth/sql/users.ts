import type pg from 'pg';
import type { Role } from '../../../shared/protocol.js';

/** Users: accounts, their password hashes and token versions (migrations/0003_users.sql), one named function each. */
type Queryable = pg.Pool | pg.PoolClient;

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
