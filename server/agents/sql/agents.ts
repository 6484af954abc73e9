import type pg from 'pg';
import type { AgentSpec } from '../../../shared/agent-spec.js';

/** Anything that runs a statement: the pool (autocommit) or a client inside a transaction. */
export type Db = Pick<pg.ClientBase, 'query'>;

/** Every instance LISTENs here; the payload is the agent's name, or `*` after a bulk change (import, seed). */
export const AGENTS_CHANNEL = 'agentry_agents';

/** An agent with its published spec, as the in-memory catalog keeps it. */
export interface AgentRow {
  name: string;
  /** Creation order (bigserial; pg returns it as a string, cast in the select). */
  ordinal: number;
  draft: AgentSpec;
  draft_revision: number;
  published_version: number;
  published: AgentSpec;
  published_at: Date;
  published_by: string;
  archived_at: Date | null;
  created_by: string;
  created_at: Date;
  updated_at: Date;
}

export interface VersionRow {
  agent: string;
  version: number;
  spec: AgentSpec;
  note: string | null;
  created_by: string;
  created_at: Date;
}

const AGENT_SELECT = `SELECT a.name, a.ordinal::float8 AS ordinal, a.draft, a.draft_revision, a.published_version, v.spec AS published,
  v.created_at AS published_at, v.created_by AS published_by, a.archived_at, a.created_by, a.created_at, a.updated_at
  FROM agents a JOIN agent_versions v ON v.agent = a.name AND v.version = a.published_version`;

export async function allAgents(db: Db): Promise<AgentRow[]> {
  const { rows } = await db.query<AgentRow>(`${AGENT_SELECT} ORDER BY a.ordinal`);
  return rows;
}

export async function agentsNamed(db: Db, names: readonly string[]): Promise<AgentRow[]> {
  const { rows } = await db.query<AgentRow>(`${AGENT_SELECT} WHERE a.name = ANY($1::text[])`, [names]);
  return rows;
}

/** The row, locked until the transaction ends (every change to an agent takes it first). */
export async function lockAgent(db: Db, name: string): Promise<AgentRow | undefined> {
  const { rows } = await db.query<AgentRow>(`${AGENT_SELECT} WHERE a.name = $1 FOR UPDATE OF a`, [name]);
  return rows[0];
}

/** Serializes seeding and imports across instances: whoever holds it sees the others' rows. */
export async function lockCatalog(db: Db): Promise<void> {
  await db.query(`SELECT pg_advisory_xact_lock(hashtext('agentry_agents_catalog'))`);
}

export async function agentCount(db: Db): Promise<number> {
  const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM agents');
  return rows[0]?.n ?? 0;
}

/** A new agent whose draft is its version 1, published. */
export async function insertAgent(db: Db, spec: AgentSpec, by: string, note: string | null): Promise<void> {
  await db.query(
    `WITH a AS (
       INSERT INTO agents (name, draft, published_version, description, tags, created_by)
       VALUES ($1, $2::json, 1, $3, $4::text[], $5) RETURNING name
     )
     INSERT INTO agent_versions (agent, version, spec, note, created_by) SELECT name, 1, $2::json, $6, $5 FROM a`,
    [spec.name, JSON.stringify(spec), spec.description, spec.tags ?? [], by, note],
  );
}

/** Saves a draft if it is still at `revision`; the new revision, or null when someone saved first. */
export async function saveDraft(db: Db, name: string, spec: AgentSpec, revision: number): Promise<number | null> {
  const { rows } = await db.query<{ draft_revision: number }>(
    `UPDATE agents SET draft = $2::json, draft_revision = draft_revision + 1, updated_at = now()
      WHERE name = $1 AND draft_revision = $3 RETURNING draft_revision`,
    [name, JSON.stringify(spec), revision],
  );
  return rows[0]?.draft_revision ?? null;
}

/**
 * Appends version `max + 1` with `spec` and makes it the published one; with `draft`,
 * the draft becomes that spec too (its revision moves on). Run under lockAgent.
 */
export async function publishVersion(db: Db, name: string, spec: AgentSpec, by: string, note: string | null, draft: boolean): Promise<{ version: number; draft_revision: number }> {
  const { rows } = await db.query<{ version: number; draft_revision: number }>(
    `WITH v AS (
       INSERT INTO agent_versions (agent, version, spec, note, created_by)
       SELECT $1, coalesce(max(version), 0) + 1, $2::json, $4, $3 FROM agent_versions WHERE agent = $1
       RETURNING version
     )
     UPDATE agents a SET published_version = v.version, description = $5, tags = $6::text[], updated_at = now(),
       draft = CASE WHEN $7 THEN $2::json ELSE a.draft END,
       draft_revision = CASE WHEN $7 THEN a.draft_revision + 1 ELSE a.draft_revision END
     FROM v WHERE a.name = $1
     RETURNING v.version, a.draft_revision`,
    [name, JSON.stringify(spec), by, note, spec.description, spec.tags ?? [], draft],
  );
  const row = rows[0];
  if (!row) throw new Error(`agent "${name}" vanished while publishing`);
  return row;
}

export async function setArchived(db: Db, name: string, archived: boolean): Promise<void> {
  await db.query(`UPDATE agents SET archived_at = CASE WHEN $2 THEN coalesce(archived_at, now()) END, updated_at = now() WHERE name = $1`, [name, archived]);
}

/** Newest first; `before` pages back. */
export async function listVersions(db: Db, name: string, limit: number, before: number | null): Promise<VersionRow[]> {
  const { rows } = await db.query<VersionRow>(
    `SELECT agent, version, spec, note, created_by, created_at FROM agent_versions
      WHERE agent = $1 AND ($2::int IS NULL OR version < $2) ORDER BY version DESC LIMIT $3`,
    [name, before, limit],
  );
  return rows;
}

export async function versionsOf(db: Db, pins: readonly { agent: string; version: number }[]): Promise<VersionRow[]> {
  if (pins.length === 0) return [];
  const { rows } = await db.query<VersionRow>(
    `SELECT v.agent, v.version, v.spec, v.note, v.created_by, v.created_at
       FROM unnest($1::text[], $2::int[]) AS p(agent, version)
       JOIN agent_versions v ON v.agent = p.agent AND v.version = p.version`,
    [pins.map((p) => p.agent), pins.map((p) => p.version)],
  );
  return rows;
}

/** Delivered when the transaction commits, so no instance reloads before the change is visible. */
export async function notifyAgents(db: Db, payload: string): Promise<void> {
  await db.query('SELECT pg_notify($1, $2)', [AGENTS_CHANNEL, payload]);
}
