import type express from 'express';
import type pg from 'pg';
import { z } from 'zod';
import type { CreateRunBody } from '../../shared/protocol.js';
import type { Config } from '../config/config.js';
import { NotFoundError, ValidationError } from '../domain/errors.js';
import type { Part } from '../lifecycle/part.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import { inputText } from '../patterns/input.js';
import { createPatternRegistry, type Pattern } from '../patterns/patterns.js';
import { RunError, type FrozenPlan, type RunContext, type RunPlanner } from '../queue/types.js';
import { findDefaultAgentsFile, loadCatalog, type AgentSpec } from './catalog.js';
import { createLlm, type Llm } from './llm.js';
import type { OpenAiAttempt } from './openai-model.js';
import { createRunner, type Runner } from './runner.js';
import type { ToolRegistry } from '../tools/registry.js';
import { createAgentsRouter } from './routes.js';

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
 * Version 1 of the plan this planner freezes at submit (runs.plan): one agent, or a
 * pattern over agents with its options already parsed (defaults applied, so a later
 * change of a default does not change a queued run). migrations/0007_run_plan.sql
 * backfilled older runs in this shape from their columns.
 */
export const PLAN_VERSION = 1;
const planV1Schema = z.object({
  agent: z.string().nullable(),
  pattern: z.string().nullable(),
  agents: z.array(z.string()).nullable(),
  options: z.record(z.string(), z.unknown()).nullable(),
  input: z.unknown(),
});
export type PlanV1 = z.infer<typeof planV1Schema>;

/**
 * The agent system: the catalog (AGENTS_FILE or the shipped default, validated at
 * construction so a bad file stops start-up naming the agent and field), the model
 * client, and the six patterns. The queue's HTTP route calls plan() before submitRun,
 * and a worker calls execute() with the frozen plan.
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

  const router = createAgentsRouter({ pool, catalog, patterns, offline, defaultModel: config.openai.model, modelOf: (a) => runner.modelOf(a), defaultMaxTurns: config.tools.maxTurns });

  const requireAgent = (name: string, field: string) => {
    if (!catalog.has(name)) throw new NotFoundError(`agent "${name}"`, `agent "${name}" not found (${field})`);
  };

  function checkInput(input: unknown) {
    const text = inputText(input);
    if (text.trim().length === 0) throw new ValidationError('body.input: must not be empty', [{ path: 'input', message: 'must not be empty' }]);
    if (text.length > MAX_INPUT_CHARS) throw new ValidationError(`body.input: must be at most ${MAX_INPUT_CHARS} characters of text`, [{ path: 'input', message: 'too long' }]);
  }

  function patternOptions(pattern: Pattern, raw: unknown): Record<string, unknown> {
    const result = pattern.optionsSchema.safeParse(raw ?? {});
    if (!result.success) {
      const issues = result.error.issues.map((i) => ({ path: ['options', ...i.path].join('.'), message: i.message }));
      throw new ValidationError(`body.${issues[0]?.path ?? 'options'}: ${issues[0]?.message ?? 'invalid'}`, issues);
    }
    return result.data as Record<string, unknown>;
  }

  /** The plan of a valid request; throws ValidationError / NotFoundError naming the field. */
  function planOf(body: CreateRunBody): PlanV1 {
    if (body.agent !== undefined) {
      requireAgent(body.agent, 'agent');
      if (body.options !== undefined && Object.keys(body.options).length > 0) {
        throw new ValidationError('body.options: options go with a pattern, not a single agent', [{ path: 'options', message: 'not allowed with "agent"' }]);
      }
      checkInput(body.input);
      return { agent: body.agent, pattern: null, agents: null, options: null, input: body.input };
    }
    const pattern = patterns.get(body.pattern ?? '');
    if (!pattern) throw new NotFoundError(`pattern "${body.pattern}"`);
    const agents = body.agents ?? [];
    const { min, max } = pattern.agents;
    if (agents.length < min || agents.length > max) {
      const want = min === max ? `exactly ${min}` : `${min} to ${max}`;
      throw new ValidationError(`body.agents: ${pattern.name} needs ${want} agents (${pattern.agents.description})`, [{ path: 'agents', message: `needs ${want} agents` }]);
    }
    agents.forEach((name, i) => requireAgent(name, `agents.${i}`));
    const options = patternOptions(pattern, body.options);
    for (const ref of pattern.referencedAgents(options)) requireAgent(ref.agent, `options.${ref.field}`);
    checkInput(body.input);
    return { agent: null, pattern: pattern.name, agents: [...agents], options, input: body.input };
  }

  /** Every agent the plan may call: an API key restricted to agents is checked against it at submit. */
  function agentNamesOf(plan: PlanV1): string[] {
    if (plan.agent) return [plan.agent];
    const names = new Set(plan.agents ?? []);
    const pattern = patterns.get(plan.pattern ?? '');
    if (pattern) for (const ref of pattern.referencedAgents(plan.options ?? {})) names.add(ref.agent);
    return [...names];
  }

  function modelOf(plan: PlanV1): string {
    if (offline) return 'offline';
    const names = plan.agent ? [plan.agent] : (plan.agents ?? []);
    const models = new Set(names.map((n) => catalog.get(n)).filter((a): a is AgentSpec => a !== undefined).map((a) => runner.modelOf(a)));
    const [only] = models;
    return models.size === 1 && only !== undefined ? only : config.openai.model;
  }

  return {
    name: 'agents',
    healthKey: 'llm',
    router,
    catalog,
    patterns,
    llm,
    runner,
    offline,
    async plan(body: CreateRunBody): Promise<FrozenPlan> {
      const plan = planOf(body);
      return {
        version: PLAN_VERSION,
        plan,
        // What the API shows is what was asked (options as given, not with defaults applied).
        summary: { agent: body.agent ?? null, pattern: body.pattern ?? null, agents: body.agents ?? null, options: body.options ?? null, input: body.input },
        model: modelOf(plan),
        offline,
        agentNames: agentNamesOf(plan),
      };
    },
    async execute(ctx: RunContext) {
      const { run } = ctx;
      if (run.planVersion !== PLAN_VERSION) throw new RunError('unknown_plan_version', `plan version ${run.planVersion} is not one this release reads`, false);
      const parsed = planV1Schema.safeParse(run.plan);
      if (!parsed.success) throw new RunError('invalid_plan', `the run's plan is malformed: ${parsed.error.issues[0]?.message ?? 'invalid'}`, false);
      const plan = parsed.data;
      const task = inputText(plan.input);
      if (plan.agent) {
        const output = await runner.call(ctx, { key: `agent:${plan.agent}`, agent: plan.agent, prompt: task, meta: { role: 'agent' } });
        return { output };
      }
      const pattern = patterns.get(plan.pattern ?? '');
      if (!pattern) throw new RunError('unknown_pattern', `pattern "${plan.pattern}" does not exist`, false);
      const output = await pattern.run({ ctx, runner, task, agents: plan.agents ?? [], options: plan.options ?? {} });
      return { output };
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
