import type { AuditEntry } from '../../../shared/protocol.js';
import type { AuditDb, AuditRecord } from '../types.js';

export async function insertAudit(db: AuditDb, entry: AuditRecord): Promise<void> {
  await db.query({
    name: 'audit_insert',
    text: `INSERT INTO audit_log (actor, actor_id, action, target_type, target_id, detail) VALUES ($1, $2, $3, $4, $5, $6)`,
    values: [entry.actor.username, entry.actor.id ?? null, entry.action, entry.target.type, entry.target.id, JSON.stringify(entry.detail ?? {})],
  });
}

interface AuditRow {
  id: string;
  at: Date;
  actor: string;
  action: string;
  target_type: string;
  target_id: string;
  detail: Record<string, unknown>;
}

export async function listAudit(
  db: AuditDb,
  filter: { targetType?: string; targetId?: string; before?: number; limit: number },
): Promise<AuditEntry[]> {
  const where: string[] = [];
  const values: unknown[] = [];
  if (filter.targetType !== undefined) {
    values.push(filter.targetType);
    where.push(`target_type = $${values.length}`);
  }
  if (filter.targetId !== undefined) {
    values.push(filter.targetId);
    where.push(`target_id = $${values.length}`);
  }
  if (filter.before !== undefined) {
    values.push(filter.before);
    where.push(`id < $${values.length}`);
  }
  values.push(filter.limit);
  const { rows } = await db.query<AuditRow>(
    `SELECT id, at, actor, action, target_type, target_id, detail FROM audit_log
      ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT $${values.length}`,
    values,
  );
  return rows.map((r) => ({
    id: Number(r.id),
    at: r.at.toISOString(),
    actor: r.actor,
    action: r.action,
    targetType: r.target_type,
    targetId: r.target_id,
    detail: r.detail,
  }));
}
