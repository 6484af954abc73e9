import type pg from 'pg';
import type { Role } from '../../../shared/protocol.js';

/** The API key statements (migrations/0011_api_keys.sql), one named function each. */
type Queryable = Pick<pg.ClientBase, 'query'>;

export interface ApiKeyRow {
  id: string;
  name: string;
  role: Role;
  agents: string[] | null;
  secretHash: string;
  createdBy: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
  revokedBy: string | null;
}

const COLUMNS = `id, name, role, agents, secret_hash AS "secretHash", created_by AS "createdBy", created_at AS "createdAt",
  last_used_at AS "lastUsedAt", revoked_at AS "revokedAt", revoked_by AS "revokedBy"`;

/** Inserts unless the name was ever used (in any case); undefined then. */
export async function insertApiKey(
  db: Queryable,
  key: { id: string; name: string; role: Role; agents: string[] | null; secretHash: string; createdBy: string },
): Promise<ApiKeyRow | undefined> {
  const { rows } = await db.query<ApiKeyRow>({
    name: 'auth_insert_api_key',
    text: `INSERT INTO api_keys (id, name, role, agents, secret_hash, created_by) VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT DO NOTHING RETURNING ${COLUMNS}`,
    values: [key.id, key.name, key.role, key.agents, key.secretHash, key.createdBy],
  });
  return rows[0];
}

export async function findApiKey(db: Queryable, id: string): Promise<ApiKeyRow | undefined> {
  const { rows } = await db.query<ApiKeyRow>({ name: 'auth_find_api_key', text: `SELECT ${COLUMNS} FROM api_keys WHERE id = $1`, values: [id] });
  return rows[0];
}

export async function listApiKeys(db: Queryable): Promise<ApiKeyRow[]> {
  const { rows } = await db.query<ApiKeyRow>({
    name: 'auth_list_api_keys',
    text: `SELECT ${COLUMNS} FROM api_keys ORDER BY revoked_at IS NOT NULL, lower(name)`,
  });
  return rows;
}

/** Revokes once: undefined when the key does not exist or was already revoked. */
export async function revokeApiKey(db: Queryable, id: string, by: string): Promise<ApiKeyRow | undefined> {
  const { rows } = await db.query<ApiKeyRow>({
    name: 'auth_revoke_api_key',
    text: `UPDATE api_keys SET revoked_at = now(), revoked_by = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING ${COLUMNS}`,
    values: [id, by],
  });
  return rows[0];
}

/** Last use of many keys in one statement; an older time never overwrites a newer one (another instance's). */
export async function touchApiKeys(db: Queryable, uses: { id: string; at: Date }[]): Promise<void> {
  if (uses.length === 0) return;
  await db.query({
    name: 'auth_touch_api_keys',
    text: `UPDATE api_keys k SET last_used_at = GREATEST(k.last_used_at, u.at)
           FROM unnest($1::uuid[], $2::timestamptz[]) AS u(id, at) WHERE k.id = u.id`,
    values: [uses.map((u) => u.id), uses.map((u) => u.at)],
  });
}
