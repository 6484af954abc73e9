import type pg from 'pg';

type Db = Pick<pg.ClientBase, 'query'>;

export interface TriggerRow {
  id: string;
  name: string;
  owner: string;
  owner_id: string | null;
  owner_role: string;
  scheme: 'github' | 'slack' | 'standard';
  secret_enc: string;
  target: { agent?: string; pattern?: string; agents?: string[]; options?: Record<string, unknown> };
  input_template: unknown;
  callback_url: string | null;
  enabled: boolean;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = 'id, name, owner, owner_id, owner_role, scheme, secret_enc, target, input_template, callback_url, enabled, created_at, updated_at';

export async function insertTrigger(db: Db, t: Omit<TriggerRow, 'created_at' | 'updated_at'>): Promise<TriggerRow> {
  const { rows } = await db.query<TriggerRow>({
    text: `INSERT INTO triggers (id, name, owner, owner_id, owner_role, scheme, secret_enc, target, input_template, callback_url, enabled)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING ${COLUMNS}`,
    values: [t.id, t.name, t.owner, t.owner_id, t.owner_role, t.scheme, t.secret_enc, JSON.stringify(t.target), JSON.stringify(t.input_template), t.callback_url, t.enabled],
  });
  if (!rows[0]) throw new Error('insert into triggers returned no row');
  return rows[0];
}

export async function selectTrigger(db: Db, id: string): Promise<TriggerRow | undefined> {
  const { rows } = await db.query<TriggerRow>({ name: 'triggers_select', text: `SELECT ${COLUMNS} FROM triggers WHERE id = $1`, values: [id] });
  return rows[0];
}

export async function listTriggers(db: Db): Promise<TriggerRow[]> {
  const { rows } = await db.query<TriggerRow>({ name: 'triggers_list', text: `SELECT ${COLUMNS} FROM triggers ORDER BY created_at DESC, id LIMIT 1000` });
  return rows;
}

export async function setTriggerEnabled(db: Db, id: string, enabled: boolean): Promise<TriggerRow | undefined> {
  const { rows } = await db.query<TriggerRow>({ text: `UPDATE triggers SET enabled = $2, updated_at = now() WHERE id = $1 RETURNING ${COLUMNS}`, values: [id, enabled] });
  return rows[0];
}

export async function deleteTrigger(db: Db, id: string): Promise<boolean> {
  const { rowCount } = await db.query({ text: 'DELETE FROM triggers WHERE id = $1', values: [id] });
  return (rowCount ?? 0) > 0;
}
