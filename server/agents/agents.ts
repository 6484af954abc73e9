import express from 'express';
import type pg from 'pg';
import type { CreateRunBody } from '../../shared/protocol.js';
import type { Config } from '../config/config.js';
import { badRequest, HttpError, notFound } from '../http/errors.js';
import type { Part } from '../lifecycle/part.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import { inputText } from '../patterns/input.js';
import { createPatternRegistry, describePattern, type Pattern } from '../patterns/patterns.js';
import { RunError, type RunContext, type RunPlanner } from '../queue/types.js';
import { findDefaultAgentsFile, loadCatalog, type AgentSpec } from './catalog.js';
import { createLlm, type Llm } from './llm.js';
import type { OpenAiAttempt } from './openai-model.js';
import { createRunner, type Runner } from './runner.js';
import type { ToolRegistry } from '../tools/registry.js';
import { createUsageRouter } from './usage.js';

export interface Agents extends Part, RunPlanner {
  /** Mounted under /api: GET /agents, GET /patterns, GET /usage. */
  router: express.Router;
  readonly catalog: ReadonlyMap<string, AgentSpec>;
  readonly patterns: ReadonlyMap<string, Pattern>;
  readonly llm: Llm;
  readonly runner: Runner;
}

/** Longest input an agent accepts, in characters of text. */
const MAX_INPUT_CHARS = 100_000;

/**
 * The agent system: the catalog (AGENTS_FILE or the shipped default, validated at
 * construction so a bad file stops start-up naming the agent and field), the model
 * client, and the six patterns. The queue calls validate() at submit and execute()
 * on a worker.
 */
export function createAgents(deps: {
  config: Config;
  logger: Logger;
  pool: pg.Pool;
  metrics: Metrics;
  /** Replaces the SDK call (benchmarks). */
  attempt?: OpenAiAttempt;
  /** The tools agents may be given (server/tools); without it agents answer in text only. */
  tools?: ToolRegistry;
}): Agents {
  const { config, logger, pool, metrics } = deps;
  const file = config.agents.file ?? findDefaultAgentsFile();
  const catalog = loadCatalog(file);
  const patterns = createPatternRegistry();
  const llm = createLlm({ config, logger, pool, metrics, offlineDelayMs: config.openai.offlineDelayMs, attempt: deps.attempt });
  const limits = {
    maxTurns: config.tools.maxTurns,
    maxToolCalls: config.tools.maxToolCallsPerRun,
    maxToolOutputChars: config.tools.maxToolOutputChars,
    maxAgentDepth: config.tools.maxAgentDepth,
  };
  // Every declaration must name a tool that exists: a typo stops start-up naming the agent.
  const checkTools = () => {
    for (const spec of catalog.values()) {
      if (!spec.tools?.length) continue;
      if (!deps.tools) throw new Error(`agent "${spec.name}" declares tools, but no tools are configured`);
      deps.tools.check(spec.name, spec.tools.filter((t) => t !== 'run_agent'));
    }
  };
  checkTools();
  const runner = createRunner({ catalog, backend: llm, config, tools: deps.tools, limits });
  const offline = llm.name === 'offline';
  let started = false;

  const publicAgent = (a: AgentSpec) => ({
    name: a.name,
    description: a.description,
    model: runner.modelOf(a),
    offline,
    temperature: a.temperature,
    maxTokens: a.maxTokens,
    structured: a.outputSchema !== undefined,
    ...(a.outputSchema ? { outputSchema: a.outputSchema } : {}),
    systemPrompt: a.systemPrompt,
    tags: a.tags ?? [],
    tools: a.tools ?? [],
    maxTurns: a.maxTurns ?? config.tools.maxTurns,
  });
  // Both lists are fixed for the life of the process: serialize them once.
  const agentsBody = JSON.stringify({ agents: [...catalog.values()].map(publicAgent), offline, model: offline ? 'offline' : config.openai.model });
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
  router.use(createUsageRouter({ pool }));

  const requireAgent = (name: string, field: string) => {
    if (!catalog.has(name)) throw new HttpError(404, 'not_found', `agent "${name}" not found (${field})`);
  };

  function checkInput(input: unknown) {
    const text = inputText(input);
    if (text.trim().length === 0) throw badRequest('body.input: must not be empty', [{ path: 'input', message: 'must not be empty' }]);
    if (text.length > MAX_INPUT_CHARS) throw badRequest(`body.input: must be at most ${MAX_INPUT_CHARS} characters of text`, [{ path: 'input', message: 'too long' }]);
  }

  function patternOptions(pattern: Pattern, raw: unknown): unknown {
    const result = pattern.optionsSchema.safeParse(raw ?? {});
    if (!result.success) {
      const issues = result.error.issues.map((i) => ({ path: ['options', ...i.path].join('.'), message: i.message }));
      throw badRequest(`body.${issues[0]?.path ?? 'options'}: ${issues[0]?.message ?? 'invalid'}`, issues);
    }
    return result.data;
  }

  return {
    name: 'agents',
    router,
    catalog,
    patterns,
    llm,
    runner,
    offline,
    validate(body: CreateRunBody) {
      if (body.agent !== undefined) {
        requireAgent(body.agent, 'agent');
        if (body.options !== undefined && Object.keys(body.options).length > 0) {
          throw badRequest('body.options: options go with a pattern, not a single agent', [{ path: 'options', message: 'not allowed with "agent"' }]);
        }
        checkInput(body.input);
        return;
      }
      const pattern = patterns.get(body.pattern ?? '');
      if (!pattern) throw notFound(`pattern "${body.pattern}"`);
      const agents = body.agents ?? [];
      const { min, max } = pattern.agents;
      if (agents.length < min || agents.length > max) {
        const want = min === max ? `exactly ${min}` : `${min} to ${max}`;
        throw badRequest(`body.agents: ${pattern.name} needs ${want} agents (${pattern.agents.description})`, [{ path: 'agents', message: `needs ${want} agents` }]);
      }
      agents.forEach((name, i) => requireAgent(name, `agents.${i}`));
      const options = patternOptions(pattern, body.options);
      for (const ref of pattern.referencedAgents(options)) requireAgent(ref.agent, `options.${ref.field}`);
      checkInput(body.input);
    },
    async execute(ctx: RunContext) {
      const { run } = ctx;
      const task = inputText(run.input);
      if (run.agent) {
        const output = await runner.call(ctx, { key: `agent:${run.agent}`, agent: run.agent, prompt: task, meta: { role: 'agent' } });
        return { output };
      }
      const pattern = patterns.get(run.pattern ?? '');
      if (!pattern) throw new RunError('unknown_pattern', `pattern "${run.pattern}" does not exist`, false);
      const output = await pattern.run({ ctx, runner, task, agents: run.agents ?? [], options: run.options ?? {} });
      return { output };
    },
    modelFor(body: CreateRunBody) {
      if (offline) return 'offline';
      const names = body.agent ? [body.agent] : (body.agents ?? []);
      const models = new Set(names.map((n) => catalog.get(n)).filter((a): a is AgentSpec => a !== undefined).map((a) => runner.modelOf(a)));
      return models.size === 1 ? [...models][0] : config.openai.model;
    },
    async start() {
      // Again now that MCP servers have listed their tools.
      checkTools();
      llm.start();
      started = true;
      logger.info({ agents: catalog.size, file, mode: llm.name, model: offline ? 'offline' : config.openai.model }, offline ? 'agents ready on the OFFLINE model (no OPENAI_API_KEY)' : 'agents ready');
    },
    async stop() {
      llm.stop();
      started = false;
    },
    ready: () => started,
    health() {
      return { ...llm.health(), agents: catalog.size, patterns: patterns.size };
    },
  };
}
