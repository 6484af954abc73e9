import { Ajv } from 'ajv';
import type pg from 'pg';
import { checkAgentSpec, sameSpec, type AgentSpec, type SpecIssue } from '../../shared/agent-spec.js';
import type { AuditLog } from '../audit/types.js';
import { withTransaction } from '../db/transaction.js';
import { ConflictError, NotFoundError, ValidationError } from '../domain/errors.js';
import type { Logger } from '../log.js';
import * as sql from './sql/agents.js';
import type { AgentRow, VersionRow } from './sql/agents.js';

export type { AgentRow, VersionRow } from './sql/agents.js';

/** Who makes a change: a user, or `system` (the seed) / `cli:<user>` (import). */
export interface Actor {
  username: string;
  id?: string;
}

/** The slice of the database's LISTEN connection the store needs (server/db/listener.ts). */
export interface AgentsListener {
  listen(channel: string, handler: (payload: string) => void): () => void;
  on(event: 'reconnected', fn: () => void): void;
  off(event: 'reconnected', fn: () => void): void;
}

/** What a run pins an agent to: a version number, or the draft (frozen into the plan). */
export type Pin = number | 'draft';

export interface ResolvedAgent {
  name: string;
  pin: Pin;
  spec: AgentSpec;
}

export type ImportOutcome = 'created' | 'updated' | 'unchanged';

export interface AgentStore {
  /** Loads the catalog and subscribes to changes. */
  start(): Promise<void>;
  stop(): void;
  /** The live catalog (published specs) in creation order, archived agents included; updated within a second of any change on any instance. */
  all(): readonly AgentRow[];
  /** Changes whenever the catalog this instance holds changes (for caches built from all()). */
  generation(): number;
  get(name: string): AgentRow | undefined;
  /** The published specs of the agents that are not archived. */
  published(): ReadonlyMap<string, AgentSpec>;
  /** `writer`, `writer@7`, `writer@draft` (or `@published`): the spec a new run would use; refuses archived agents. */
  resolve(ref: string, field: string): Promise<ResolvedAgent>;
  /** The specs of exact versions (immutable, cached); throws NotFoundError for a version that does not exist. */
  versions(pins: readonly { agent: string; version: number }[]): Promise<Map<string, AgentSpec>>;
  version(name: string, version: number): Promise<VersionRow>;
  listVersions(name: string, limit: number, before: number | null): Promise<VersionRow[]>;
  /** Validates a spec as an edit would: the shared schema, ajv on the output schema, and the tools. */
  check(raw: unknown): AgentSpec;

  create(raw: unknown, actor: Actor, note?: string | null): Promise<AgentRow>;
  saveDraft(name: string, raw: unknown, revision: number, actor: Actor): Promise<AgentRow>;
  publish(name: string, actor: Actor, options: { note?: string | null; revision?: number }): Promise<AgentRow>;
  rollback(name: string, version: number, actor: Actor, note?: string | null): Promise<AgentRow>;
  setArchived(name: string, archived: boolean, actor: Actor): Promise<AgentRow>;
  /** Creates or publishes each agent whose spec differs; one transaction, idempotent. */
  importCatalog(specs: readonly AgentSpec[], actor: Actor): Promise<{ name: string; outcome: ImportOutcome; version: number }[]>;
  /** Seeds from the file's agents when the table is empty; concurrent instances seed once. The number seeded. */
  seed(specs: readonly AgentSpec[]): Promise<number>;
}

const VERSION_CACHE_MAX = 5000;
const SYSTEM: Actor = { username: 'system' };

function issuesError(issues: SpecIssue[], where = 'spec'): ValidationError {
  const first = issues[0];
  return new ValidationError(`${where}${first?.path ? `.${first.path}` : ''}: ${first?.message ?? 'is invalid'}`, issues);
}

/** `name`, `name@7`, `name@draft`, `name@published`. */
export function parseAgentRef(ref: string): { name: string; pin: Pin | 'published' } | null {
  const m = /^([^@]+)(?:@(draft|published|[1-9][0-9]{0,8}))?$/.exec(ref);
  if (!m) return null;
  const pin = m[2];
  return { name: m[1]!, pin: pin === undefined || pin === 'published' ? 'published' : pin === 'draft' ? 'draft' : Number(pin) };
}

/**
 * Agents in PostgreSQL (issue #14): a draft and immutable numbered versions per agent.
 * Every instance keeps the catalog in memory and reloads an agent when a NOTIFY on
 * `agentry_agents` says it changed (sent inside the changing transaction, so it
 * arrives only once the change is visible); after a LISTEN reconnect, everything.
 * Each change writes its audit entry in the same transaction.
 */
export function createAgentStore(deps: {
  pool: pg.Pool;
  listener: AgentsListener;
  audit: AuditLog;
  logger: Logger;
  /** Throws (with a message naming the tool) when a declaration names no tool. */
  checkTools(agent: string, tools: readonly string[]): void;
}): AgentStore {
  const { pool, audit, logger } = deps;
  let rows = new Map<string, AgentRow>();
  let publishedMap: Map<string, AgentSpec> | null = null;
  let sorted: AgentRow[] | null = null;
  const versionCache = new Map<string, AgentSpec>();
  let unlisten: (() => void) | undefined;
  // Reloads are serialized: a full reload and a single agent's must not interleave out of order.
  let chain: Promise<void> = Promise.resolve();
  const ajv = new Ajv({ strict: true, allErrors: false, validateFormats: false });

  let gen = 0;
  const changed = () => {
    gen++;
    publishedMap = null;
    sorted = null;
  };

  function reload(names: readonly string[] | '*'): Promise<void> {
    const next = chain.then(async () => {
      if (names === '*') {
        rows = new Map((await sql.allAgents(pool)).map((r) => [r.name, r]));
      } else {
        const fresh = await sql.agentsNamed(pool, names);
        for (const name of names) rows.delete(name);
        for (const row of fresh) rows.set(row.name, row);
      }
      changed();
    });
    chain = next.catch((error: unknown) => logger.error({ err: error }, 'agents: reloading the catalog failed'));
    return next;
  }

  const onNotify = (payload: string) => {
    void reload(payload === '*' ? '*' : [payload]).catch(() => undefined);
  };
  const onReconnected = () => {
    // Notifications may have been missed while the connection was down.
    void reload('*').catch(() => undefined);
  };


  function check(raw: unknown): AgentSpec {
    const result = checkAgentSpec(raw);
    if (!result.ok) throw issuesError(result.issues);
    const spec = result.spec;
    if (spec.outputSchema) {
      try {
        ajv.compile(spec.outputSchema);
      } catch (error) {
        throw issuesError([{ path: 'outputSchema', message: `is not a valid JSON Schema: ${(error as Error).message}` }]);
      }
    }
    if (spec.tools?.length) {
      try {
        deps.checkTools(spec.name, spec.tools);
      } catch (error) {
        const message = (error as Error).message.replace(/^agent "[^"]*": /, '');
        const index = spec.tools.findIndex((t) => message.includes(`"${t}"`) || message.includes(`"${t.replace(/^mcp:([^/]+)\/.*$/, '$1')}"`));
        throw issuesError([{ path: index >= 0 ? `tools.${index}` : 'tools', message }]);
      }
    }
    return spec;
  }

  async function mustLock(client: pg.PoolClient, name: string): Promise<AgentRow> {
    const row = await sql.lockAgent(client, name);
    if (!row) throw new NotFoundError(`agent "${name}"`);
    return row;
  }

  const notArchived = (row: AgentRow, what: string) => {
    if (row.archived_at) throw new ConflictError(`agent "${row.name}" is archived: unarchive it to ${what}`);
  };

  /** After our own commit: read it back at once (read-your-writes here; NOTIFY tells the others). */
  async function fresh(name: string): Promise<AgentRow> {
    await reload([name]);
    const row = rows.get(name);
    if (!row) throw new NotFoundError(`agent "${name}"`);
    return row;
  }

  function remember(agent: string, version: number, spec: AgentSpec) {
    if (versionCache.size >= VERSION_CACHE_MAX) versionCache.delete(versionCache.keys().next().value as string);
    versionCache.set(`${agent}@${version}`, spec);
  }

  async function versions(pins: readonly { agent: string; version: number }[]): Promise<Map<string, AgentSpec>> {
    const out = new Map<string, AgentSpec>();
    const missing: { agent: string; version: number }[] = [];
    for (const pin of pins) {
      const row = rows.get(pin.agent);
      const cached = versionCache.get(`${pin.agent}@${pin.version}`) ?? (row?.published_version === pin.version ? row.published : undefined);
      if (cached) out.set(pin.agent, cached);
      else missing.push(pin);
    }
    for (const row of await sql.versionsOf(pool, missing)) {
      remember(row.agent, row.version, row.spec);
      out.set(row.agent, row.spec);
    }
    const absent = pins.find((p) => !out.has(p.agent));
    if (absent) throw new NotFoundError(`agent "${absent.agent}" version ${absent.version}`);
    return out;
  }

  return {
    async start() {
      unlisten = deps.listener.listen(sql.AGENTS_CHANNEL, onNotify);
      deps.listener.on('reconnected', onReconnected);
      await reload('*');
    },
    stop() {
      unlisten?.();
      unlisten = undefined;
      deps.listener.off('reconnected', onReconnected);
    },
    all() {
      sorted ??= [...rows.values()].sort((a, b) => a.ordinal - b.ordinal);
      return sorted;
    },
    generation: () => gen,
    get: (name) => rows.get(name),
    published() {
      publishedMap ??= new Map(
        [...rows.values()]
          .filter((r) => !r.archived_at)
          .sort((a, b) => a.ordinal - b.ordinal)
          .map((r) => [r.name, r.published]),
      );
      return publishedMap;
    },
    async resolve(ref, field) {
      const parsed = parseAgentRef(ref);
      const row = parsed ? rows.get(parsed.name) : undefined;
      if (!parsed || !row) throw new NotFoundError(`agent "${ref}"`, `agent "${ref}" not found (${field})`);
      if (row.archived_at) throw new ConflictError(`agent "${row.name}" is archived: new runs may not use it (${field})`);
      if (parsed.pin === 'published') return { name: row.name, pin: row.published_version, spec: row.published };
      if (parsed.pin === 'draft') return { name: row.name, pin: 'draft', spec: row.draft };
      const pin = parsed.pin;
      if (pin > row.published_version && !versionCache.has(`${row.name}@${pin}`)) {
        // This instance may not have heard of a version published a moment ago elsewhere.
        await reload([row.name]);
      }
      try {
        const spec = (await versions([{ agent: row.name, version: pin }])).get(row.name)!;
        return { name: row.name, pin, spec };
      } catch (error) {
        if (error instanceof NotFoundError) throw new NotFoundError(`agent "${ref}"`, `agent "${row.name}" has no version ${pin} (${field})`);
        throw error;
      }
    },
    versions,
    async version(name, version) {
      if (!rows.has(name)) throw new NotFoundError(`agent "${name}"`);
      const [row] = await sql.versionsOf(pool, [{ agent: name, version }]);
      if (!row) throw new NotFoundError(`agent "${name}" version ${version}`);
      return row;
    },
    async listVersions(name, limit, before) {
      if (!rows.has(name)) {
        await reload([name]);
        if (!rows.has(name)) throw new NotFoundError(`agent "${name}"`);
      }
      return sql.listVersions(pool, name, limit, before);
    },
    check,

    async create(raw, actor, note = null) {
      const spec = check(raw);
      await withTransaction(pool, async (client) => {
        if (await sql.lockAgent(client, spec.name)) throw new ConflictError(`agent "${spec.name}" already exists`);
        try {
          await sql.insertAgent(client, spec, actor.username, note);
        } catch (error) {
          if ((error as { code?: string }).code === '23505') throw new ConflictError(`agent "${spec.name}" already exists`);
          throw error;
        }
        await audit.record(client, { actor, action: 'agent.create', target: { type: 'agent', id: spec.name }, detail: { version: 1, ...(note ? { note } : {}) } });
        await sql.notifyAgents(client, spec.name);
      });
      return fresh(spec.name);
    },

    async saveDraft(name, raw, revision, actor) {
      const spec = check(raw);
      if (spec.name !== name) throw issuesError([{ path: 'name', message: `must stay "${name}" (an agent cannot be renamed)` }]);
      await withTransaction(pool, async (client) => {
        const row = await mustLock(client, name);
        notArchived(row, 'edit it');
        const saved = await sql.saveDraft(client, name, spec, revision);
        if (saved === null) {
          throw new ConflictError(`the draft of "${name}" was saved by someone else (revision ${row.draft_revision}, yours ${revision}): reload it and apply your change again`);
        }
        await audit.record(client, { actor, action: 'agent.draft.update', target: { type: 'agent', id: name }, detail: { revision: saved } });
        await sql.notifyAgents(client, name);
      });
      return fresh(name);
    },

    async publish(name, actor, options) {
      await withTransaction(pool, async (client) => {
        const row = await mustLock(client, name);
        notArchived(row, 'publish it');
        if (options.revision !== undefined && options.revision !== row.draft_revision) {
          throw new ConflictError(`the draft of "${name}" is at revision ${row.draft_revision}, not ${options.revision}: review it before publishing`);
        }
        if (sameSpec(row.draft, row.published)) throw new ConflictError(`the draft of "${name}" is the same as the published version ${row.published_version}: nothing to publish`);
        const { version } = await sql.publishVersion(client, name, row.draft, actor.username, options.note ?? null, false);
        await audit.record(client, { actor, action: 'agent.publish', target: { type: 'agent', id: name }, detail: { version, revision: row.draft_revision, ...(options.note ? { note: options.note } : {}) } });
        await sql.notifyAgents(client, name);
      });
      return fresh(name);
    },

    async rollback(name, version, actor, note = null) {
      await withTransaction(pool, async (client) => {
        const row = await mustLock(client, name);
        notArchived(row, 'roll it back');
        const [old] = await sql.versionsOf(client, [{ agent: name, version }]);
        if (!old) throw new NotFoundError(`agent "${name}" version ${version}`);
        if (version === row.published_version) throw new ConflictError(`version ${version} of "${name}" is the published one already`);
        // The draft follows unless it holds edits nobody has published yet.
        const draftFollows = sameSpec(row.draft, row.published);
        const published = await sql.publishVersion(client, name, old.spec, actor.username, note ?? `rollback to version ${version}`, draftFollows);
        await audit.record(client, { actor, action: 'agent.rollback', target: { type: 'agent', id: name }, detail: { from: row.published_version, to: version, version: published.version } });
        await sql.notifyAgents(client, name);
      });
      return fresh(name);
    },

    async setArchived(name, archived, actor) {
      await withTransaction(pool, async (client) => {
        const row = await mustLock(client, name);
        if (Boolean(row.archived_at) === archived) return;
        await sql.setArchived(client, name, archived);
        await audit.record(client, { actor, action: archived ? 'agent.archive' : 'agent.unarchive', target: { type: 'agent', id: name } });
        await sql.notifyAgents(client, name);
      });
      return fresh(name);
    },

    async importCatalog(specs, actor) {
      const checked = specs.map((s) => {
        try {
          return check(s);
        } catch (error) {
          if (error instanceof ValidationError) throw new ValidationError(`agent "${s.name}": ${error.message}`, error.details);
          throw error;
        }
      });
      const report = await withTransaction(pool, async (client) => {
        await sql.lockCatalog(client);
        const out: { name: string; outcome: ImportOutcome; version: number }[] = [];
        for (const spec of checked) {
          const row = await sql.lockAgent(client, spec.name);
          if (!row) {
            await sql.insertAgent(client, spec, actor.username, 'imported');
            await audit.record(client, { actor, action: 'agent.create', target: { type: 'agent', id: spec.name }, detail: { version: 1, via: 'import' } });
            out.push({ name: spec.name, outcome: 'created', version: 1 });
          } else if (sameSpec(row.published, spec)) {
            out.push({ name: spec.name, outcome: 'unchanged', version: row.published_version });
          } else {
            const { version } = await sql.publishVersion(client, spec.name, spec, actor.username, 'imported', sameSpec(row.draft, row.published));
            await audit.record(client, { actor, action: 'agent.publish', target: { type: 'agent', id: spec.name }, detail: { version, via: 'import' } });
            out.push({ name: spec.name, outcome: 'updated', version });
          }
        }
        if (out.some((o) => o.outcome !== 'unchanged')) await sql.notifyAgents(client, '*');
        return out;
      });
      await reload('*');
      return report;
    },

    async seed(specs) {
      const seeded = await withTransaction(pool, async (client) => {
        // Instances starting together queue here; the first seeds, the others find rows.
        await sql.lockCatalog(client);
        if ((await sql.agentCount(client)) > 0) return 0;
        for (const spec of specs) await sql.insertAgent(client, spec, SYSTEM.username, 'seeded from AGENTS_FILE');
        // One entry for the seed: each agent's history starts at its version 1, noted "seeded".
        await audit.record(client, { actor: SYSTEM, action: 'catalog.seed', target: { type: 'catalog', id: 'agents' }, detail: { agents: specs.map((s) => s.name) } });
        await sql.notifyAgents(client, '*');
        return specs.length;
      });
      return seeded;
    },
  };
}
