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
import { executeThreadRun, THREAD_SUMMARIZER, threadRefSchema, threadSummarizerSpec, type Conversations, type ThreadRef } from './conversation.js';
export type { Conversations, ThreadRef } from './conversation.js';
import type { ToolRegistry } from '../tools/registry.js';
import { createAgentsRouter } from './routes.js';

export interface Agents extends Part, RunPlanner {
  /** Mounted under /api: GET /agents, GET /patterns, GET /usage. */
  router: express.Router;
  readonly catalog: ReadonlyMap<string, AgentSpec>;
  readonly patterns: ReadonlyMap<string, Pattern>;
  readonly llm: Llm;
  readonly runner: Runner;
  /**
   * Plans a run answering a thread (server/threads): the thread's agent or pattern, with a
   * reference to its messages as input (never the messages themselves).
   */
  planThread(spec: ThreadSpec, thread: ThreadRef): Promise<FrozenPlan>;
}

/** What answers a thread: an agent, or a pattern over agents with its options. */
export interface ThreadSpec {
  agent: string | null;
  pattern: string | null;
  agents: string[] | null;
  options: Record<string, unknown> | null;
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
 * Version 2: a run answering a thread, version 1 plus the thread reference. A release
 * that only reads version 1 refuses it rather than answer without the conversation.
 */
export const THREAD_PLAN_VERSION = 2;
const planV2Schema = planV1Schema.extend({ thread: threadRefSchema });

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
  /** Where thread runs read their conversation (server/threads); without it they fail. */
  conversations?: Conversations;
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
  // The thread summarizer is built in: runs can call it though the catalog does not list it.
  const runnable = catalog.has(THREAD_SUMMARIZER) ? catalog : new Map([...catalog, [THREAD_SUMMARIZER, threadSummarizerSpec]]);
  const runner = createRunner({ catalog: runnable, backend: llm, config, tools: deps.tools, limits });
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

  function modelOf(plan: PlanV1): string {
    if (offline) return 'offline';
    const names = plan.agent ? [plan.agent] : (plan.agents ?? []);
    const models = new Set(names.map((n) => catalog.get(n)).filter((a): a is AgentSpec => a !== undefined).map((a) => runner.modelOf(a)));
    const [only] = models;
    return models.size === 1 && only !== undefined ? only : config.openai.model;
  }

  /** The smallest recent-message budget among the plan's agents (THREAD_CONTEXT_TOKENS unless an agent says). */
  function threadBudget(plan: PlanV1): number {
    const names = plan.agent ? [plan.agent] : (plan.agents ?? []);
    const budgets = names.map((n) => catalog.get(n)?.threadContextTokens ?? config.threads.contextTokens);
    return budgets.length > 0 ? Math.min(...budgets) : config.threads.contextTokens;
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
      };
    },
    async planThread(spec: ThreadSpec, thread: ThreadRef): Promise<FrozenPlan> {
      const input = { thread: thread.id, throughSeq: thread.throughSeq };
      const body: CreateRunBody = spec.agent !== null ? { agent: spec.agent, input } : { pattern: spec.pattern ?? '', agents: spec.agents ?? undefined, options: spec.options ?? undefined, input };
      const plan = planOf(body);
      return {
        version: THREAD_PLAN_VERSION,
        plan: { ...plan, thread },
        summary: { agent: spec.agent, pattern: spec.pattern, agents: spec.agents, options: spec.options, input },
        model: modelOf(plan),
        offline,
      };
    },
    async execute(ctx: RunContext) {
      const { run } = ctx;
      if (run.planVersion !== PLAN_VERSION && run.planVersion !== THREAD_PLAN_VERSION) throw new RunError('unknown_plan_version', `plan version ${run.planVersion} is not one this release reads`, false);
      const parsed = (run.planVersion === THREAD_PLAN_VERSION ? planV2Schema : planV1Schema).safeParse(run.plan);
      if (!parsed.success) throw new RunError('invalid_plan', `the run's plan is malformed: ${parsed.error.issues[0]?.message ?? 'invalid'}`, false);
      const plan: PlanV1 & { thread?: ThreadRef } = parsed.data;
      const answer = async (task: string): Promise<unknown> => {
        if (plan.agent) return runner.call(ctx, { key: `agent:${plan.agent}`, agent: plan.agent, prompt: task, meta: { role: 'agent' } });
        const pattern = patterns.get(plan.pattern ?? '');
        if (!pattern) throw new RunError('unknown_pattern', `pattern "${plan.pattern}" does not exist`, false);
        return pattern.run({ ctx, runner, task, agents: plan.agents ?? [], options: plan.options ?? {} });
      };
      if (!plan.thread) return { output: await answer(inputText(plan.input)) };
      if (!deps.conversations) throw new RunError('no_threads', 'this instance was built without conversations', false);
      const output = await executeThreadRun(ctx, {
        conversations: deps.conversations,
        runner,
        budget: threadBudget(plan),
        summaryThreshold: config.threads.summaryThresholdTokens,
        thread: plan.thread,
        answer,
      });
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
