import { context, SpanKind, type Tracer } from '@opentelemetry/api';
import type express from 'express';
import type pg from 'pg';
import { z } from 'zod';
import { runLimitsSchema, type CreateRunBody } from '../../shared/protocol.js';
import type { BudgetGate } from '../budgets/types.js';
import type { Config } from '../config/config.js';
import { checkAgentSpec, type AgentSpec } from '../../shared/agent-spec.js';
import type { AuditLog } from '../audit/types.js';
import { NotFoundError, ValidationError } from '../domain/errors.js';
import type { Part } from '../lifecycle/part.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import { inputText } from '../patterns/input.js';
import { createPatternRegistry, type Pattern } from '../patterns/patterns.js';
import { selectRunEventsOfTypes } from '../queue/reads.js';
import { RunError, type FrozenPlan, type RunContext, type RunPlanner } from '../queue/types.js';
import { findDefaultAgentsFile, loadCatalog } from './catalog.js';
import { createLlm, type Llm } from './llm.js';
import type { OpenAiAttempt } from './openai-model.js';
import { createArgumentValidators } from './loop.js';
import { createRunner, type Runner } from './runner.js';
import type { AgentRunner } from '../patterns/types.js';
import { createAgentStore, type AgentsListener, type AgentStore, type Pin } from './store.js';
import { executeThreadRun, THREAD_SUMMARIZER, threadRefSchema, threadSummarizerSpec, type Conversations, type ThreadRef } from './conversation.js';
export type { Conversations, ThreadRef } from './conversation.js';
import type { ToolRegistry } from '../tools/registry.js';
import { createAgentsRouter } from './routes.js';
import { contextFromTraceparent, currentTraceparent, inSpan, recordWaits } from './tracing.js';

export interface Agents extends Part, RunPlanner {
  /** Mounted under /api: GET /agents, GET /patterns, GET /usage. */
  router: express.Router;
  /** The published specs of the agents that are not archived, as this instance knows them now. */
  readonly catalog: ReadonlyMap<string, AgentSpec>;
  /** Agents in PostgreSQL: drafts, versions, publish, import (server/agents/store.ts). */
  readonly store: AgentStore;
  readonly patterns: ReadonlyMap<string, Pattern>;
  readonly llm: Llm;
  /**
   * Calls agents as published now (evals' rubric judge). A run's own agents are pinned in
   * its plan; a judge call is a checkpointed step, so a replay reuses its verdict.
   */
  readonly runner: AgentRunner;
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

/** The events that tell what a run waited for between attempts (tracing.ts recordWaits). */
const WAIT_EVENTS = ['run.queued', 'run.started', 'run.awaiting_input', 'run.input_received', 'run.approval.decided', 'run.retrying', 'run.released'];

/** Longest input an agent accepts, in characters of text. */
const MAX_INPUT_CHARS = 100_000;

/**
 * Version 2 of the plan this planner freezes at submit (runs.plan): one agent, or a
 * pattern over agents with its options already parsed (defaults applied, so a later
 * change of a default does not change a queued run), and every agent the run may
 * call pinned (issue #14): `agentVersions` names a version number per agent, or
 * `draft` with the draft's spec frozen in `drafts` (a draft changes; a version never
 * does). Retries and resumes read the same versions whatever is published since.
 * Version 1 (no pins; migrations/0007_run_plan.sql backfilled older runs in it) runs
 * on the catalog as published when it executes.
 */
export const PLAN_VERSION = 2;
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
const planV2Schema = planV1Schema.extend({
  agentVersions: z.record(z.string(), z.union([z.number().int().min(1), z.literal('draft')])),
  drafts: z.record(z.string(), z.unknown()),
  /** A run answering a thread (server/threads): the messages it answers, by reference. */
  thread: threadRefSchema.optional(),
});
export type PlanV1 = z.infer<typeof planV1Schema>;
export type PlanV2 = z.infer<typeof planV2Schema>;

/**
 * The agent system: the catalog (agents in PostgreSQL, seeded on first start from
 * AGENTS_FILE or the shipped default, which is validated at construction so a bad
 * file stops start-up naming the agent and field), the model client, and the six
 * patterns. The queue's HTTP route calls plan() before submitRun, and a worker calls
 * execute() with the frozen plan.
 */
export function createAgents(deps: {
  config: Config;
  logger: Logger;
  pool: pg.Pool;
  metrics: Metrics;
  /** The database's LISTEN connection: edits made on any instance reach this one. */
  listener: AgentsListener;
  audit: AuditLog;
  /** Replaces the SDK call (benchmarks). */
  attempt?: OpenAiAttempt;
  /** The tools agents may be given (server/tools); without it agents answer in text only. */
  tools?: ToolRegistry;
  /** Spans of runs, model calls, tool calls and waits (server/telemetry makes it). */
  tracer?: Tracer;
  captureContent?: boolean;
  /** Budgets checked around every model call (server/budgets). */
  budgets?: BudgetGate;
  /** Where thread runs read their conversation (server/threads); without it they fail. */
  conversations?: Conversations;
}): Agents {
  const { config, logger, pool, metrics } = deps;
  const file = config.agents.file ?? findDefaultAgentsFile();
  const seedCatalog = loadCatalog(file);
  const patterns = createPatternRegistry();
  const llm = createLlm({ config, logger, pool, metrics, offlineDelayMs: config.openai.offlineDelayMs, attempt: deps.attempt });
  const limits = {
    maxTurns: config.tools.maxTurns,
    maxToolCalls: config.tools.maxToolCallsPerRun,
    maxToolOutputChars: config.tools.maxToolOutputChars,
    maxAgentDepth: config.tools.maxAgentDepth,
  };
  const checkToolsOf = (agent: string, tools: readonly string[]) => {
    if (tools.length === 0) return;
    if (!deps.tools) throw new Error(`agent "${agent}" declares tools, but no tools are configured`);
    deps.tools.check(agent, tools.filter((t) => t !== 'run_agent'));
  };
  // Every declaration in the file must name a tool that exists: a typo stops start-up naming the agent.
  const checkFileTools = () => {
    for (const spec of seedCatalog.values()) checkToolsOf(spec.name, spec.tools ?? []);
  };
  checkFileTools();
  const store = createAgentStore({ pool, listener: deps.listener, audit: deps.audit, logger: logger.child({ part: 'agents' }), checkTools: checkToolsOf });
  const validatorFor = createArgumentValidators();
  // The thread summarizer is built in: runs can call it though the catalog does not list it.
  const runnable = (catalog: ReadonlyMap<string, AgentSpec>) => (catalog.has(THREAD_SUMMARIZER) ? catalog : new Map([...catalog, [THREAD_SUMMARIZER, threadSummarizerSpec]]));
  const runnerFor = (catalog: ReadonlyMap<string, AgentSpec>): Runner => createRunner({ catalog: runnable(catalog), backend: llm, config, tools: deps.tools, limits, validatorFor, tracer: deps.tracer, captureContent: deps.captureContent, budgets: deps.budgets });
  const { tracer } = deps;
  const offline = llm.name === 'offline';
  const modelOfSpec = (spec: AgentSpec) => (offline ? 'offline' : spec.model ?? config.openai.model);
  let started = false;

  const router = createAgentsRouter({ pool, store, patterns, offline, defaultModel: config.openai.model, modelOf: modelOfSpec, defaultMaxTurns: config.tools.maxTurns });

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

  /** Pins every agent a plan names (`writer`, `writer@7`, `writer@draft`) and rewrites the names bare. */
  async function pinAgents(refs: { ref: string; field: string }[]): Promise<{ names: string[]; agentVersions: Record<string, Pin>; drafts: Record<string, AgentSpec>; specs: Map<string, AgentSpec> }> {
    const agentVersions: Record<string, Pin> = {};
    const drafts: Record<string, AgentSpec> = {};
    const specs = new Map<string, AgentSpec>();
    const names: string[] = [];
    for (const { ref, field } of refs) {
      const resolved = await store.resolve(ref, field);
      const earlier = agentVersions[resolved.name];
      if (earlier !== undefined && earlier !== resolved.pin) {
        throw new ValidationError(`body.${field}: agent "${resolved.name}" is already pinned to ${earlier === 'draft' ? 'its draft' : `version ${earlier}`} in this run`, [{ path: field, message: 'one version per agent per run' }]);
      }
      agentVersions[resolved.name] = resolved.pin;
      if (resolved.pin === 'draft') drafts[resolved.name] = resolved.spec;
      specs.set(resolved.name, resolved.spec);
      names.push(resolved.name);
    }
    // run_agent may call any agent, and lists them all in its description (part of the
    // prompt): a run that can use it pins the whole catalog as published now.
    if ([...specs.values()].some((s) => s.tools?.includes('run_agent'))) {
      for (const row of store.all()) {
        if (row.archived_at || agentVersions[row.name] !== undefined) continue;
        agentVersions[row.name] = row.published_version;
        specs.set(row.name, row.published);
      }
    }
    return { names, agentVersions, drafts, specs };
  }

  /** The plan of a valid request; throws ValidationError / NotFoundError / ConflictError naming the field. */
  async function planOf(body: CreateRunBody): Promise<{ plan: PlanV2; specs: Map<string, AgentSpec> }> {
    if (body.agent !== undefined) {
      if (body.options !== undefined && Object.keys(body.options).length > 0) {
        throw new ValidationError('body.options: options go with a pattern, not a single agent', [{ path: 'options', message: 'not allowed with "agent"' }]);
      }
      const pinned = await pinAgents([{ ref: body.agent, field: 'agent' }]);
      checkInput(body.input);
      return { plan: { agent: pinned.names[0]!, pattern: null, agents: null, options: null, input: body.input, agentVersions: pinned.agentVersions, drafts: pinned.drafts }, specs: pinned.specs };
    }
    const pattern = patterns.get(body.pattern ?? '');
    if (!pattern) throw new NotFoundError(`pattern "${body.pattern}"`);
    const agents = body.agents ?? [];
    const { min, max } = pattern.agents;
    if (agents.length < min || agents.length > max) {
      const want = min === max ? `exactly ${min}` : `${min} to ${max}`;
      throw new ValidationError(`body.agents: ${pattern.name} needs ${want} agents (${pattern.agents.description})`, [{ path: 'agents', message: `needs ${want} agents` }]);
    }
    const options = patternOptions(pattern, body.options);
    const refs = pattern.referencedAgents(options);
    const pinned = await pinAgents([...agents.map((ref, i) => ({ ref, field: `agents.${i}` })), ...refs.map((r) => ({ ref: r.agent, field: `options.${r.field}` }))]);
    refs.forEach((r, i) => {
      options[r.field] = pinned.names[agents.length + i];
    });
    checkInput(body.input);
    return {
      plan: { agent: null, pattern: pattern.name, agents: pinned.names.slice(0, agents.length), options, input: body.input, agentVersions: pinned.agentVersions, drafts: pinned.drafts },
      specs: pinned.specs,
    };
  }

  /** Every agent the plan may call: an API key restricted to agents is checked against it at submit. */
  function agentNamesOf(plan: PlanV1): string[] {
    if (plan.agent) return [plan.agent];
    const names = new Set(plan.agents ?? []);
    const pattern = patterns.get(plan.pattern ?? '');
    if (pattern) for (const ref of pattern.referencedAgents(plan.options ?? {})) names.add(ref.agent);
    return [...names];
  }

  function modelOf(plan: PlanV1, specs: ReadonlyMap<string, AgentSpec>): string {
    if (offline) return 'offline';
    const names = plan.agent ? [plan.agent] : (plan.agents ?? []);
    const models = new Set(names.map((n) => specs.get(n)).filter((a): a is AgentSpec => a !== undefined).map(modelOfSpec));
    const [only] = models;
    return models.size === 1 && only !== undefined ? only : config.openai.model;
  }

  /** The catalog a run executes with: its pinned versions (in name order, as run_agent lists them) and frozen drafts. */
  async function catalogOf(plan: PlanV2): Promise<Map<string, AgentSpec>> {
    const pins = Object.entries(plan.agentVersions)
      .filter((e): e is [string, number] => e[1] !== 'draft')
      .map(([agent, version]) => ({ agent, version }));
    let loaded: Map<string, AgentSpec>;
    try {
      loaded = await store.versions(pins);
    } catch (error) {
      if (error instanceof NotFoundError) throw new RunError('unknown_agent_version', error.message, false);
      throw error;
    }
    for (const [name, raw] of Object.entries(plan.drafts)) {
      const checked = checkAgentSpec(raw);
      if (!checked.ok) throw new RunError('invalid_plan', `the run's frozen draft of "${name}" is malformed: ${checked.issues[0]?.path}: ${checked.issues[0]?.message}`, false);
      loaded.set(name, checked.spec);
    }
    return new Map([...loaded.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  async function planFromRun(ctx: RunContext): Promise<{ plan: PlanV1; catalog: ReadonlyMap<string, AgentSpec> }> {
    const { run } = ctx;
    if (run.planVersion === 1) {
      const parsed = planV1Schema.safeParse(run.plan);
      if (!parsed.success) throw new RunError('invalid_plan', `the run's plan is malformed: ${parsed.error.issues[0]?.message ?? 'invalid'}`, false);
      return { plan: parsed.data, catalog: store.published() };
    }
    if (run.planVersion !== PLAN_VERSION) throw new RunError('unknown_plan_version', `plan version ${run.planVersion} is not one this release reads`, false);
    const parsed = planV2Schema.safeParse(run.plan);
    if (!parsed.success) throw new RunError('invalid_plan', `the run's plan is malformed: ${parsed.error.issues[0]?.message ?? 'invalid'}`, false);
    return { plan: parsed.data, catalog: await catalogOf(parsed.data) };
  }

  /** The smallest recent-message budget among the plan's agents (THREAD_CONTEXT_TOKENS unless an agent says). */
  function threadBudget(plan: PlanV1, catalog: ReadonlyMap<string, AgentSpec>): number {
    const names = plan.agent ? [plan.agent] : (plan.agents ?? []);
    const budgets = names.map((n) => catalog.get(n)?.threadContextTokens ?? config.threads.contextTokens);
    return budgets.length > 0 ? Math.min(...budgets) : config.threads.contextTokens;
  }

  async function executePlan(ctx: RunContext, plan: PlanV1 & { thread?: ThreadRef }, catalog: ReadonlyMap<string, AgentSpec>): Promise<{ output: unknown }> {
    const runner = runnerFor(catalog);
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
      budget: threadBudget(plan, catalog),
      summaryThreshold: config.threads.summaryThresholdTokens,
      thread: plan.thread,
      answer,
    });
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
    get catalog() {
      return store.published();
    },
    store,
    patterns,
    llm,
    runner: {
      call: (ctx, call) => runnerFor(store.published()).call(ctx, call),
      agent: (name) => runnerFor(store.published()).agent(name),
    },
    offline,
    async plan(body: CreateRunBody): Promise<FrozenPlan> {
      const traceparent = currentTraceparent();
      const planned = await planOf(body);
      const specs = planned.specs;
      const plan: PlanV2 = { ...planned.plan, ...(body.limits ? { limits: body.limits } : {}), ...(traceparent ? { traceparent } : {}) };
      return {
        version: PLAN_VERSION,
        plan,
        // What the API shows is what was asked (options as given, not with defaults applied),
        // with the agents' names bare: their versions are the run's agentVersions.
        summary: {
          agent: plan.agent,
          pattern: body.pattern ?? null,
          agents: plan.agents,
          options: givenOptions(body, plan),
          input: body.input,
        },
        model: modelOf(plan, specs),
        offline,
        agentNames: agentNamesOf(plan),
      };
    },
    async planThread(spec: ThreadSpec, thread: ThreadRef): Promise<FrozenPlan> {
      const input = { thread: thread.id, throughSeq: thread.throughSeq };
      const body: CreateRunBody = spec.agent !== null ? { agent: spec.agent, input } : { pattern: spec.pattern ?? '', agents: spec.agents ?? undefined, options: spec.options ?? undefined, input };
      const { plan, specs } = await planOf(body);
      return {
        version: PLAN_VERSION,
        plan: { ...plan, thread },
        summary: { agent: spec.agent, pattern: spec.pattern, agents: spec.agents, options: spec.options, input },
        model: modelOf(plan, specs),
        offline,
        agentNames: agentNamesOf(plan),
      };
    },
    async execute(ctx: RunContext) {
      const { run } = ctx;
      const { plan, catalog } = await planFromRun(ctx);
      if (!tracer) return executePlan(ctx, plan, catalog);
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
      return context.with(parent, () => inSpan(tracer, name, attributes, () => executePlan(ctx, plan, catalog), SpanKind.INTERNAL));
    },
    async start() {

      // Again now that MCP servers have listed their tools.
      checkFileTools();
      const seeded = await store.seed([...seedCatalog.values()]);
      await store.start();
      // A stored agent naming a tool that is gone is not a reason to refuse to start: its runs fail naming it.
      for (const row of store.all()) {
        try {
          checkToolsOf(row.name, row.published.tools ?? []);
        } catch (error) {
          logger.warn({ agent: row.name, err: error }, 'a published agent declares a tool that is not available');
        }
      }
      llm.start();
      started = true;
      logger.info({ agents: store.all().length, seeded, file, mode: llm.name, model: offline ? 'offline' : config.openai.model }, offline ? 'agents ready on the OFFLINE model (no OPENAI_API_KEY)' : 'agents ready');
    },
    async stop() {
      store.stop();
      llm.stop();
      started = false;
    },
    ready: () => started,
    health() {
      return { ...llm.health(), agents: store.published().size, patterns: patterns.size };
    },
  };

  /** The options as given, an agent named in them (`judge@3`) shown bare like the others. */
  function givenOptions(body: CreateRunBody, plan: PlanV2): Record<string, unknown> | null {
    if (!body.options) return null;
    const given: Record<string, unknown> = { ...body.options };
    const p = patterns.get(plan.pattern ?? '');
    for (const ref of p?.referencedAgents(plan.options) ?? []) {
      if (typeof given[ref.field] === 'string') given[ref.field] = plan.options?.[ref.field];
    }
    return given;
  }
}
