import type pg from 'pg';
import { NotFoundError } from '../domain/errors.js';

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

/**
 * Deletes one configured thing and logs `<type>.delete`, both on the caller's transaction
 * client so they commit together. `remove` answers whether a row went: none did when a
 * concurrent request deleted it first, which is NotFound and logs nothing.
 */
export async function removeAudited(db: AuditDb, audit: AuditLog, change: Pick<AuditRecord, 'actor' | 'target'>, remove: () => Promise<boolean>): Promise<void> {
  if (!(await remove())) throw new NotFoundError(change.target.type);
  await audit.record(db, { actor: change.actor, action: `${change.target.type}.delete`, target: change.target });
}
