import type pg from 'pg';

/** A pool or a client inside the caller's transaction (so the entry commits with the change). */
export type AuditDb = Pick<pg.ClientBase, 'query'>;

export interface AuditRecord {
  /** The user (or API key) that made the change. */
  actor: { username: string; id?: string };
  /** `<target>.<verb>`, e.g. `agent.publish`, `api_key.revoke`. */
  action: string;
  target: { type: string; id: string };
  /** What changed; never secrets. */
  detail?: Record<string, unknown>;
}

/** What other parts use to log a change: pass their transaction client as `db`. */
export interface AuditLog {
  record(db: AuditDb, entry: AuditRecord): Promise<void>;
}
