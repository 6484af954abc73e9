import express from 'express';
import type pg from 'pg';
import { z } from 'zod';
import {
  agentsQuerySchema,
  createAgentBodySchema,
  diffQuerySchema,
  publishBodySchema,
  rollbackBodySchema,
  sameSpec,
  saveDraftBodySchema,
  validateBodySchema,
  versionsQuerySchema,
  type AgentSpec,
} from '../../shared/agent-spec.js';
import type { AgentDetail, AgentDiff, AgentInfo, AgentVersionInfo } from '../../shared/catalog.js';
import { ValidationError } from '../domain/errors.js';
import { badRequest, forbidden, notFound, parse, unauthorized } from '../http/errors.js';
import { describeRoutes } from '../openapi/describe.js';
import { describePattern, type Pattern } from '../patterns/patterns.js';
import { usageBy, type UsageTotals } from '../queue/reads.js';
import { diffSpecs } from './diff.js';
import type { Actor, AgentRow, AgentStore, VersionRow } from './store.js';

const usageQuerySchema = z
  .object({
    since: z.iso.datetime({ offset: true }).optional(),
    until: z.iso.datetime({ offset: true }).optional(),
    owner: z.string().min(1).max(100).optional(),
  })
  .strict();

/** Cursor of the agents list: the creation ordinal of the page's last agent, opaque to clients. */
const encodeCursor = (ordinal: number) => Buffer.from(`o${ordinal}`, 'utf8').toString('base64url');
const decodeCursor = (cursor: string): number => {
  const m = /^o(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m) throw badRequest('query.cursor: not a cursor this list gave out', [{ path: 'cursor', message: 'invalid cursor' }]);
  return Number(m[1]);
};

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** The `:version` of GET /agents/:name/versions/:version. */
export const agentVersionParam = z.coerce.number().int().min(1).max(1_000_000_000);
const nameParams = z.object({ name: z.string() });
const versionParams = z.object({ name: z.string(), version: agentVersionParam });

/**
 * The agents part's routes under /api (docs/API.md): the catalog and Agent Studio
 * (GET /agents, /agents/:name, versions, diff; edits for admins and operators),
 * /patterns and /usage.
 */
export function createAgentsRouter(deps: {
  pool: pg.Pool;
  store: AgentStore;
  patterns: ReadonlyMap<string, Pattern>;
  offline: boolean;
  /** The configured model, shown when the catalog is not on the offline model. */
  defaultModel: string;
  /** AGENT_MAX_TURNS: an agent's turn limit when it sets none. */
  defaultMaxTurns: number;
  modelOf(agent: AgentSpec): string;
}): express.Router {
  const { store, patterns, offline } = deps;
  // Rows are replaced on every change, never mutated: what is built from one is kept with it.
  const infos = new WeakMap<AgentRow, AgentInfo>();
  const publicAgent = (row: AgentRow): AgentInfo => {
    let info = infos.get(row);
    if (!info) {
      info = buildInfo(row);
      infos.set(row, info);
    }
    return info;
  };
  const buildInfo = (row: AgentRow): AgentInfo => {
    const a = row.published;
    return {
      name: a.name,
      description: a.description,
      model: deps.modelOf(a),
      offline,
      temperature: a.temperature,
      maxTokens: a.maxTokens,
      structured: a.outputSchema !== undefined,
      ...(a.outputSchema ? { outputSchema: a.outputSchema } : {}),
      systemPrompt: a.systemPrompt,
      tags: a.tags ?? [],
      tools: a.tools ?? [],
      maxTurns: a.maxTurns ?? deps.defaultMaxTurns,
      version: row.published_version,
      archived: row.archived_at !== null,
      draftRevision: row.draft_revision,
      draftChanged: !sameSpec(row.draft, row.published),
      updatedAt: row.updated_at.toISOString(),
    };
  };
  const detail = (row: AgentRow): AgentDetail => ({
    ...publicAgent(row),
    version: row.published_version,
    draft: row.draft,
    draftRevision: row.draft_revision,
    draftChanged: !sameSpec(row.draft, row.published),
    archived: row.archived_at !== null,
    archivedAt: iso(row.archived_at),
    createdBy: row.created_by,
    createdAt: row.created_at.toISOString(),
    publishedBy: row.published_by,
    publishedAt: row.published_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  });
  const versionInfo = (row: VersionRow, withSpec: boolean): AgentVersionInfo => ({
    agent: row.agent,
    version: row.version,
    note: row.note,
    createdBy: row.created_by,
    createdAt: row.created_at.toISOString(),
    published: store.get(row.agent)?.published_version === row.version,
    ...(withSpec ? { spec: row.spec } : {}),
  });
  // Search text per row, built once per version of the row.
  const haystacks = new WeakMap<AgentRow, string>();
  const haystack = (row: AgentRow) => {
    let text = haystacks.get(row);
    if (text === undefined) {
      const a = row.published;
      text = [a.name, a.description, ...(a.tags ?? []), deps.modelOf(a)].join('\n').toLowerCase();
      haystacks.set(row, text);
    }
    return text;
  };
  const patternsBody = JSON.stringify({ patterns: [...patterns.values()].map(describePattern) });
  const agentName = (req: express.Request) => {
    const name = String(req.params.name);
    if (!store.get(name)) throw notFound(`agent "${name}"`);
    return name;
  };
  /** Admins and operators edit agents; viewers read (checked here: the agents part does not import auth). */
  const editor = (req: express.Request): Actor => {
    const user = req.user;
    if (!user) throw unauthorized();
    if (user.role !== 'admin' && user.role !== 'operator') throw forbidden('editing agents needs the admin or operator role');
    return { username: user.username, ...(user.id ? { id: user.id } : {}) };
  };

  const router = express.Router();
  // The whole list (the original contract, what the runs form loads) is serialized once per catalog change.
  let fullList: { generation: number; body: string } | null = null;
  router.get('/agents', (req, res) => {
    if (Object.keys(req.query as object).length === 0) {
      const generation = store.generation();
      if (fullList?.generation !== generation) {
        const agents = store.all().filter((r) => r.archived_at === null);
        fullList = { generation, body: JSON.stringify({ agents: agents.map(publicAgent), offline, model: offline ? 'offline' : deps.defaultModel, total: agents.length, nextCursor: null }) };
      }
      res.type('application/json').send(fullList.body);
      return;
    }
    const query = parse(agentsQuerySchema, req.query, 'query');
    const words = (query.q ?? '').toLowerCase().split(/\s+/).filter(Boolean);
    const tags = (Array.isArray(query.tag) ? query.tag : query.tag ? [query.tag] : []).flatMap((t) => t.split(',')).map((t) => t.trim()).filter(Boolean);
    const matches = store.all().filter((row) => {
      const archived = row.archived_at !== null;
      if (query.archived === 'exclude' ? archived : query.archived === 'only' ? !archived : false) return false;
      if (tags.length > 0 && !tags.every((t) => row.published.tags?.includes(t))) return false;
      if (words.length > 0) {
        const text = haystack(row);
        if (!words.every((w) => text.includes(w))) return false;
      }
      return true;
    });
    const paged = query.limit !== undefined || query.cursor !== undefined;
    let page = matches;
    let nextCursor: string | null = null;
    if (paged) {
      const after = query.cursor === undefined ? null : decodeCursor(query.cursor);
      const start = after === null ? 0 : matches.findIndex((r) => r.ordinal > after);
      const limit = query.limit ?? 100;
      page = start < 0 ? [] : matches.slice(start, start + limit);
      const last = page.at(-1);
      nextCursor = last && start + limit < matches.length ? encodeCursor(last.ordinal) : null;
    }
    res.json({ agents: page.map(publicAgent), offline, model: offline ? 'offline' : deps.defaultModel, total: matches.length, nextCursor });
  });
  router.get('/agents/:name', (req, res) => {
    res.json({ agent: detail(store.get(agentName(req))!) });
  });
  router.get('/agents/:name/versions', async (req, res) => {
    const name = agentName(req);
    const query = parse(versionsQuerySchema, req.query, 'query');
    const rows = await store.listVersions(name, query.limit, query.before ?? null);
    const last = rows.at(-1);
    res.json({ versions: rows.map((r) => versionInfo(r, false)), nextBefore: rows.length === query.limit && last && last.version > 1 ? last.version : null });
  });
  router.get('/agents/:name/versions/:version', async (req, res) => {
    const name = agentName(req);
    const version = parse(agentVersionParam, req.params.version, 'version');
    res.json({ version: versionInfo(await store.version(name, version), true) });
  });
  router.get('/agents/:name/diff', async (req, res) => {
    const name = agentName(req);
    const query = parse(diffQuerySchema, req.query, 'query');
    const side = async (ref: 'draft' | 'published' | number) => {
      const row = store.get(name)!;
      if (ref === 'draft') return { info: { ref: 'draft' as const, revision: row.draft_revision }, spec: row.draft };
      const version = ref === 'published' ? row.published_version : ref;
      return { info: { ref: version }, spec: (await store.version(name, version)).spec };
    };
    const [from, to] = await Promise.all([side(query.from), side(query.to)]);
    const body: AgentDiff = { agent: name, from: from.info, to: to.info, changes: diffSpecs(from.spec, to.spec) };
    res.json(body);
  });

  router.post('/agents/validate', (req, res) => {
    const body = parse(validateBodySchema, req.body);
    try {
      const spec = store.check(body.spec);
      res.json({ ok: true, spec, issues: [] });
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      res.json({ ok: false, issues: error.details ?? [] });
    }
  });
  router.post('/agents', async (req, res) => {
    const actor = editor(req);
    const body = parse(createAgentBodySchema, req.body);
    const row = await store.create(body.spec, actor, body.note ?? null);
    res.status(201).json({ agent: detail(row) });
  });
  router.put('/agents/:name/draft', async (req, res) => {
    const actor = editor(req);
    const name = agentName(req);
    const body = parse(saveDraftBodySchema, req.body);
    res.json({ agent: detail(await store.saveDraft(name, body.spec, body.revision, actor)) });
  });
  router.post('/agents/:name/publish', async (req, res) => {
    const actor = editor(req);
    const name = agentName(req);
    const body = parse(publishBodySchema, req.body ?? {});
    const row = await store.publish(name, actor, { note: body.note ?? null, ...(body.revision !== undefined ? { revision: body.revision } : {}) });
    res.json({ agent: detail(row), version: row.published_version });
  });
  router.post('/agents/:name/rollback', async (req, res) => {
    const actor = editor(req);
    const name = agentName(req);
    const body = parse(rollbackBodySchema, req.body);
    const row = await store.rollback(name, body.version, actor, body.note ?? null);
    res.json({ agent: detail(row), version: row.published_version });
  });
  for (const [verb, archived] of [['archive', true], ['unarchive', false]] as const) {
    router.post(`/agents/:name/${verb}`, async (req, res) => {
      const actor = editor(req);
      const name = agentName(req);
      res.json({ agent: detail(await store.setArchived(name, archived, actor)) });
    });
  }
  router.get('/patterns', (_req, res) => {
    res.type('application/json').send(patternsBody);
  });

  /** GET /usage: totals per agent, user and model. A non-admin sees only their own runs. */
  router.get('/usage', async (req, res) => {
    const user = req.user;
    if (!user) throw unauthorized();
    const query = parse(usageQuerySchema, req.query, 'query');
    const owner = user.role === 'admin' ? (query.owner ?? null) : user.username;
    const filter = { owner, since: query.since ?? null, until: query.until ?? null };
    const [total, byAgent, byUser, byModel] = await Promise.all([
      usageBy(deps.pool, 'total', filter),
      usageBy(deps.pool, 'agent', filter),
      usageBy(deps.pool, 'owner', filter),
      usageBy(deps.pool, 'model', filter),
    ]);
    const strip = ({ key: _key, ...totals }: UsageTotals & { key: string | null }) => totals;
    res.json({
      scope: owner === null ? 'all' : 'user',
      owner,
      since: filter.since,
      until: filter.until,
      total: total[0] ? strip(total[0]) : { steps: 0, promptTokens: 0, completionTokens: 0, costUsd: 0, cachedRequests: 0 },
      byAgent: byAgent.map(({ key, ...t }) => ({ agent: key, ...t })),
      byUser: byUser.map(({ key, ...t }) => ({ user: key, ...t })),
      byModel: byModel.map(({ key, ...t }) => ({ model: key, ...t })),
    });
  });
  describeRoutes(router, [
    {
      method: 'get',
      path: '/agents',
      tags: ['agents'],
      summary: 'The agent catalog (search, tags, archived; paged with limit/cursor)',
      query: agentsQuerySchema,
      responses: { 200: { description: '{agents, offline, model, total, nextCursor}' } },
    },
    { method: 'get', path: '/agents/:name', tags: ['agents'], summary: 'One agent, with its draft', params: nameParams, responses: { 200: { description: '{agent}' }, 404: { description: 'no such agent' } } },
    {
      method: 'get',
      path: '/agents/:name/versions',
      tags: ['agents'],
      summary: "An agent's published versions, newest first",
      params: nameParams,
      query: versionsQuerySchema,
      responses: { 200: { description: '{versions, nextBefore}' }, 404: { description: 'no such agent' } },
    },
    {
      method: 'get',
      path: '/agents/:name/versions/:version',
      tags: ['agents'],
      summary: 'One published version, with its spec',
      params: versionParams,
      responses: { 200: { description: '{version}' }, 400: { description: 'the version is not a positive integer' }, 404: { description: 'no such agent or version' } },
    },
    {
      method: 'get',
      path: '/agents/:name/diff',
      tags: ['agents'],
      summary: 'Field-by-field changes between two versions, the draft or the published spec',
      params: nameParams,
      query: diffQuerySchema,
      responses: { 200: { description: '{agent, from, to, changes}' }, 404: { description: 'no such agent or version' } },
    },
    {
      method: 'post',
      path: '/agents/validate',
      tags: ['agents'],
      summary: 'Check a spec without saving it',
      body: validateBodySchema,
      responses: { 200: { description: '{ok: true, spec, issues: []} or {ok: false, issues}' } },
    },
    {
      method: 'post',
      path: '/agents',
      tags: ['agents'],
      roles: ['operator'],
      summary: 'Create an agent: its spec becomes version 1, published',
      body: createAgentBodySchema,
      responses: { 201: { description: '{agent}' }, 403: { description: 'a viewer' }, 409: { description: 'an agent of that name exists' } },
    },
    {
      method: 'put',
      path: '/agents/:name/draft',
      tags: ['agents'],
      roles: ['operator'],
      summary: "Save an agent's draft (revision: the draft revision it edits)",
      params: nameParams,
      body: saveDraftBodySchema,
      responses: { 200: { description: '{agent}' }, 403: { description: 'a viewer' }, 404: { description: 'no such agent' }, 409: { description: 'the draft changed since that revision, or the agent is archived' } },
    },
    {
      method: 'post',
      path: '/agents/:name/publish',
      tags: ['agents'],
      roles: ['operator'],
      summary: 'Publish the draft as a new version',
      params: nameParams,
      body: publishBodySchema,
      responses: { 200: { description: '{agent, version}' }, 403: { description: 'a viewer' }, 404: { description: 'no such agent' }, 409: { description: 'the draft changed since that revision, nothing to publish, or the agent is archived' } },
    },
    {
      method: 'post',
      path: '/agents/:name/rollback',
      tags: ['agents'],
      roles: ['operator'],
      summary: 'Publish an earlier version again, as a new version',
      params: nameParams,
      body: rollbackBodySchema,
      responses: {
        200: { description: '{agent, version}' },
        403: { description: 'a viewer' },
        404: { description: 'no such agent or version' },
        409: { description: 'that version is the published one, or the agent is archived' },
      },
    },
    { method: 'post', path: '/agents/:name/archive', tags: ['agents'], roles: ['operator'], summary: 'Archive an agent (new runs refused; listed only on request)', params: nameParams, responses: { 200: { description: '{agent}' }, 403: { description: 'a viewer' }, 404: { description: 'no such agent' } } },
    { method: 'post', path: '/agents/:name/unarchive', tags: ['agents'], roles: ['operator'], summary: 'Bring an archived agent back', params: nameParams, responses: { 200: { description: '{agent}' }, 403: { description: 'a viewer' }, 404: { description: 'no such agent' } } },
    { method: 'get', path: '/patterns', tags: ['agents'], summary: 'The collaboration patterns and their options', responses: { 200: { description: '{patterns}' } } },
    { method: 'get', path: '/usage', tags: ['agents'], summary: 'Token and cost totals per agent, user and model (your own runs unless admin)', query: usageQuerySchema, responses: { 200: { description: '{scope, owner, since, until, total, byAgent, byUser, byModel}' } } },
  ]);
  return router;
}
