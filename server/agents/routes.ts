import express from 'express';
import type pg from 'pg';
import { z } from 'zod';
import { notFound, parse, unauthorized } from '../http/errors.js';
import { describeRoutes } from '../openapi/describe.js';
import { describePattern, type Pattern } from '../patterns/patterns.js';
import { usageBy, type UsageTotals } from '../queue/reads.js';
import type { AgentSpec } from './catalog.js';

const usageQuerySchema = z
  .object({
    since: z.iso.datetime({ offset: true }).optional(),
    until: z.iso.datetime({ offset: true }).optional(),
    owner: z.string().min(1).max(100).optional(),
  })
  .strict();

/** The agents part's routes under /api (docs/API.md): GET /agents, /agents/:name, /patterns, /usage. */
export function createAgentsRouter(deps: {
  pool: pg.Pool;
  catalog: ReadonlyMap<string, AgentSpec>;
  patterns: ReadonlyMap<string, Pattern>;
  offline: boolean;
  /** The configured model, shown when the catalog is not on the offline model. */
  defaultModel: string;
  /** AGENT_MAX_TURNS: an agent's turn limit when it sets none. */
  defaultMaxTurns: number;
  modelOf(agent: AgentSpec): string;
}): express.Router {
  const { catalog, patterns, offline } = deps;
  const publicAgent = (a: AgentSpec) => ({
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
  });
  // Both lists are fixed for the life of the process: serialize them once.
  const agentsBody = JSON.stringify({ agents: [...catalog.values()].map(publicAgent), offline, model: offline ? 'offline' : deps.defaultModel });
  const patternsBody = JSON.stringify({ patterns: [...patterns.values()].map(describePattern) });

  const router = express.Router();
  router.get('/agents', (_req, res) => {
    res.type('application/json').send(agentsBody);
  });
  router.get('/agents/:name', (req, res) => {
    const spec = catalog.get(req.params.name);
    if (!spec) throw notFound(`agent "${req.params.name}"`);
    res.json({ agent: publicAgent(spec) });
  });
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
    { method: 'get', path: '/agents', tags: ['agents'], summary: 'The agent catalog', responses: { 200: { description: '{agents, offline, model}' } } },
    { method: 'get', path: '/agents/:name', tags: ['agents'], summary: 'One agent', params: z.object({ name: z.string() }), responses: { 200: { description: '{agent}' }, 404: { description: 'no such agent' } } },
    { method: 'get', path: '/patterns', tags: ['agents'], summary: 'The collaboration patterns and their options', responses: { 200: { description: '{patterns}' } } },
    { method: 'get', path: '/usage', tags: ['agents'], summary: 'Token and cost totals per agent, user and model (your own runs unless admin)', query: usageQuerySchema, responses: { 200: { description: '{scope, owner, since, until, total, byAgent, byUser, byModel}' } } },
  ]);
  return router;
}
