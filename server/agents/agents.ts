import { context, SpanKind, type Tracer } from '@opentelemetry/api';
import type express from 'express';
import type pg from 'pg';
import { z } from 'zod';
import { runLimitsSchema, type CreateRunBody } from '../../shared/protocol.js';
import type { BudgetGate } from '../budgets/types.js';
import type { Config } from '../config/config.js';
import { NotFoundError, ValidationError } from '../domain/errors.js';
import type { Part } from '../lifecycle/part.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import { inputText } from '../patterns/input.js';
import { createPatternRegistry, type Pattern } from '../patterns/patterns.js';
import { selectRunEventsOfTypes } from '../queue/reads.js';
import { RunError, type FrozenPlan, type RunContext, type RunPlanner } from '../queue/types.js';
import { findDefaultAgentsFile, loadCatalog, type AgentSpec } from './catalog.js';
import { createLlm, type Llm } from './llm.js';
import type { OpenAiAttempt } from './openai-model.js';
import { createRunner, type Runner } from './runner.js';
import type { ToolRegistry } from '../tools/registry.js';
import { createAgentsRouter } from './routes.js';
import { contextFromTraceparent, currentTraceparent, inSpan, recordWaits } from './tracing.js';

export interface Agents extends Part, RunPlanner {
  /** Mounted under /api: GET /agents, GET /patterns, GET /usage. */
  router: express.Router;
  readonly catalog: ReadonlyMap<string, AgentSpec>;
  readonly patterns: ReadonlyMap<string, Pattern>;
  readonly llm: Llm;
  readonly runner: Runner;
}

/** The events that tell what a run waited for between attempts (tracing.ts recordWaits). */
const WAIT_EVENTS = ['run.queued', 'run.started', 'run.awaiting_input', 'run.input_received', 'run.approval.decided', 'run.retrying', 'run.released'];

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
  /** The run's own spending limits (server/budgets); absent: none. */
  limits: runLimitsSchema.optional(),
  /**
   * The W3C trace context of the request that submitted the run: every attempt, on any
   * instance, continues that trace. Kept in the plan rather than a queue column: the
   * queue stays unaware of tracing, and the plan is already what every attempt reads.
   */
  traceparent: z.string().max(100).optional(),
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
  /** Spans of runs, model calls, tool calls and waits (server/telemetry makes it). */
  tracer?: Tracer;
  captureContent?: boolean;
  /** Budgets checked around every model call (server/budgets). */
  budgets?: BudgetGate;
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
  const runner = createRunner({ catalog, backend: llm, config, tools: deps.tools, limits, tracer: deps.tracer, captureContent: deps.captureContent, budgets: deps.budgets });
  const { tracer } = deps;
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

  async function executePlan(ctx: RunContext, plan: PlanV1): Promise<{ output: unknown }> {
    const task = inputText(plan.input);
    if (plan.agent) {
      const output = await runner.call(ctx, { key: `agent:${plan.agent}`, agent: plan.agent, prompt: task, meta: { role: 'agent' } });
      return { output };
    }
    const pattern = patterns.get(plan.pattern ?? '');
    if (!pattern) throw new RunError('unknown_pattern', `pattern "${plan.pattern}" does not exist`, false);
    const output = await pattern.run({ ctx, runner, task, agents: plan.agents ?? [], options: plan.options ?? {} });
    return { output };
  }

  /** The wait in the queue before this attempt, and the wait for a person if one just ended. */
  async function traceWaits(ctx: RunContext, parent: ReturnType<typeof contextFromTraceparent>): Promise<void> {
    if (!tracer || !ctx.run.claimedAt) return;
    // Only the first attempt of a run has nothing before it but run.queued (seq 1, run.started seq 2).
    if ((ctx.run.startedSeq ?? 2) <= 2) {
      if (ctx.run.createdAt) recordWaits(tracer, parent, [], ctx.run.claimedAt, ctx.run.createdAt);
      return;
    }
    const events = await selectRunEventsOfTypes(pool, ctx.run.id, WAIT_EVENTS, 200);
    recordWaits(tracer, parent, events, ctx.run.claimedAt, ctx.run.createdAt);
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
      const traceparent = currentTraceparent();
      const plan: PlanV1 = { ...planOf(body), ...(body.limits ? { limits: body.limits } : {}), ...(traceparent ? { traceparent } : {}) };
      return {
        version: PLAN_VERSION,
        plan,
        // What the API shows is what was asked (options as given, not with defaults applied).
        summary: { agent: body.agent ?? null, pattern: body.pattern ?? null, agents: body.agents ?? null, options: body.options ?? null, input: body.input },
        model: modelOf(plan),
        offline,
      };
    },
    async execute(ctx: RunContext) {
      const { run } = ctx;
      if (run.planVersion !== PLAN_VERSION) throw new RunError('unknown_plan_version', `plan version ${run.planVersion} is not one this release reads`, false);
      const parsed = planV1Schema.safeParse(run.plan);
      if (!parsed.success) throw new RunError('invalid_plan', `the run's plan is malformed: ${parsed.error.issues[0]?.message ?? 'invalid'}`, false);
      const plan = parsed.data;
      if (!tracer) return executePlan(ctx, plan);
      // Each attempt is a span of the submitting request's trace, wherever it runs.
      const parent = contextFromTraceparent(plan.traceparent);
      await traceWaits(ctx, parent).catch((error: unknown) => logger.debug({ err: error, runId: run.id }, 'could not trace the waits before this attempt'));
      const name = plan.agent ? `invoke_agent ${plan.agent}` : `invoke_workflow ${plan.pattern}`;
      const attributes = {
        'gen_ai.operation.name': plan.agent ? 'invoke_agent' : 'invoke_workflow',
        ...(plan.agent ? { 'gen_ai.agent.name': plan.agent } : { 'agentry.pattern': plan.pattern ?? '' }),
        'agentry.run.id': run.id,
        'agentry.run.attempt': run.attempts,
        'agentry.run.owner': run.owner,
      };
      return context.with(parent, () => inSpan(tracer, name, attributes, () => executePlan(ctx, plan), SpanKind.INTERNAL));
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
