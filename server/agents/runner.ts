import { createHash } from 'node:crypto';
import type { Tracer } from '@opentelemetry/api';
import { checkJson, type JsonSchema } from '../../shared/json-schema.js';
import { runLimitsSchema, type Usage } from '../../shared/protocol.js';
import type { BudgetGate, RunLimits } from '../budgets/types.js';
import type { Config } from '../config/config.js';
import type { AgentRunner } from '../patterns/types.js';
import type { AgentCall } from '../patterns/types.js';
import { AwaitingInput, RunError, type RunContext } from '../queue/types.js';
import type { ToolRegistry } from '../tools/registry.js';
import type { Tool } from '../tools/types.js';
import type { AgentSpec } from './catalog.js';
import { createArgumentValidators, DEFAULT_LOOP_LIMITS, runAgentLoop, type LoopLimits } from './loop.js';
import type { CallOptions, ChatMessage, ModelBackend, ModelRequest, ModelResponse } from './model.js';
import { tracedBackend } from './tracing.js';

export type { AgentCall } from '../patterns/types.js';

/** The pattern engine's AgentRunner, plus what the agent system itself reads. */
export interface Runner extends AgentRunner {
  agent(name: string): AgentSpec;
  has(name: string): boolean;
  modelOf(agent: AgentSpec): string;
}

/** Cost in US dollars from the configured price table (dollars per million tokens). */
export function costOf(prices: Config['openai']['prices'], model: string, promptTokens: number, completionTokens: number): number {
  const price = prices[model] ?? prices[model.replace(/-\d{4}-\d{2}-\d{2}$/, '')];
  if (!price) return 0;
  return Math.round(((promptTokens * price.prompt + completionTokens * price.completion) / 1_000_000) * 1e6) / 1e6;
}

/** A run's limits as frozen in its plan (`limits`), or null. */
export function runLimitsOf(plan: unknown): RunLimits | null {
  const limits = runLimitsSchema.safeParse((plan as { limits?: unknown } | null)?.limits);
  return limits.success && limits.data ? { ...limits.data } : null;
}

/**
 * The most a call can spend: every byte of its prompt counted as a token (a token is at
 * least a byte for the tokenizers in use, plus a few per message) and its whole
 * max_tokens answer. Generous on purpose: the real usage replaces it after the call, and
 * a budget is never passed because an estimate was low.
 */
export function expectedSpend(prices: Config['openai']['prices'], request: ModelRequest): { tokens: number; costUsd: number } {
  let prompt = 16;
  for (const m of request.messages) {
    prompt += 8 + Buffer.byteLength(m.content);
    if (m.role === 'assistant' && m.toolCalls) prompt += Buffer.byteLength(JSON.stringify(m.toolCalls));
  }
  if (request.tools) prompt += Buffer.byteLength(JSON.stringify(request.tools));
  if (request.responseSchema) prompt += Buffer.byteLength(JSON.stringify(request.responseSchema));
  return { tokens: prompt + request.maxTokens, costUsd: costOf(prices, request.model, prompt, request.maxTokens) };
}

/** The id of the n-th budget question of a step: the same on every attempt (decisions are found by it). */
export function budgetApprovalId(runId: string, stepKey: string, n: number): string {
  return `ap_b${createHash('sha256').update(`${runId}\n${stepKey}\n${n}`).digest('base64url').slice(0, 16)}`;
}

export function parseStructured(agent: string, text: string, schema: JsonSchema): unknown {
  const unfenced = text.trim().replace(/^```(?:json)?\s*/i, '').replace(/\s*```$/, '');
  let value: unknown;
  try {
    value = JSON.parse(unfenced);
  } catch {
    throw new RunError('bad_output', `agent "${agent}" was asked for JSON but answered: ${text.slice(0, 200)}`, false);
  }
  const problem = checkJson(schema, value);
  if (problem) throw new RunError('bad_output', `agent "${agent}" answered JSON that does not match its schema (${problem})`, false);
  return value;
}

export function createRunner(deps: {
  catalog: ReadonlyMap<string, AgentSpec>;
  backend: ModelBackend;
  /** Resolves agents' `tools`; without it, agents answer in text only. */
  tools?: ToolRegistry;
  limits?: LoopLimits;
  config: Config;
  /** Shared compiled argument validators (one runner is built per run; the validators outlive it). */
  validatorFor?: ReturnType<typeof createArgumentValidators>;
  /** Spans for model and tool calls (server/agents/tracing.ts). */
  tracer?: Tracer;
  /** Prompt and answer text in model spans (OTEL_GENAI_CAPTURE_CONTENT). */
  captureContent?: boolean;
  /** Reserves each model call's cost before it and settles it after (server/budgets). */
  budgets?: BudgetGate;
}): Runner {
  const { catalog, config, budgets } = deps;
  const backend = deps.tracer ? tracedBackend(deps.backend, deps.tracer, deps.captureContent ?? false) : deps.backend;
  const offline = backend.name === 'offline';

  const agent = (name: string): AgentSpec => {
    const spec = catalog.get(name);
    if (!spec) throw new RunError('unknown_agent', `agent "${name}" is not in the catalog`, false);
    return spec;
  };
  const modelOf = (spec: AgentSpec) => (offline ? 'offline' : spec.model ?? config.openai.model);

  const limits = deps.limits ?? DEFAULT_LOOP_LIMITS;
  const validatorFor = deps.validatorFor ?? createArgumentValidators();
  const toolCallCounts = new WeakMap<RunContext, number>();

  const usageOf = (response: ModelResponse): Usage =>
    response.cached
      ? { promptTokens: 0, completionTokens: 0, costUsd: 0, cachedRequests: 1 }
      : {
          promptTokens: response.usage.promptTokens,
          completionTokens: response.usage.completionTokens,
          costUsd: costOf(config.openai.prices, response.model, response.usage.promptTokens, response.usage.completionTokens),
          cachedRequests: 0,
        };

  /**
   * The one place a model is called (both the single call and the agent loop's turns).
   * With budgets: the most the call can cost is reserved first, under the step key, so a
   * replayed step finds its reservation; a refused reservation parks the run on a
   * `budget.exceeded` request that a person answers (retry, maybe with higher run limits,
   * or fail) or that raising the budget answers (PUT /api/budgets).
   */
  async function complete(ctx: RunContext, stepKey: string, agentName: string, request: ModelRequest, options: CallOptions): Promise<ModelResponse> {
    if (!budgets) return backend.complete(request, options);
    let runLimits = runLimitsOf(ctx.run.plan);
    const need = expectedSpend(config.openai.prices, request);
    for (let n = 0; ; n++) {
      const approvalId = budgetApprovalId(ctx.run.id, stepKey, n);
      const decided = ctx.decision(approvalId);
      if (decided?.decision === 'fail') {
        throw new RunError('budget_exceeded', `a person failed the run: a model call of agent "${agentName}" would exceed its budget${decided.reason ? ` (${decided.reason})` : ''}`, false);
      }
      if (decided) {
        const raised = runLimitsSchema.safeParse(decided.arguments ?? {});
        if (raised.success) runLimits = { ...runLimits, ...raised.data };
        continue;
      }
      const result = await budgets.reserve({ runId: ctx.run.id, stepKey, owner: ctx.run.owner, agent: agentName, runLimits, costUsd: need.costUsd, tokens: need.tokens });
      if (result.ok) break;
      const e = result.exceeded;
      throw new AwaitingInput({
        kind: 'budget.exceeded',
        requests: [
          {
            approvalId,
            kind: 'budget.exceeded',
            tool: `budget:${e.scope}`,
            toolName: 'budget',
            arguments: { ...e, message: `${e.scope} ${e.scope === 'run' ? '' : `"${e.subject}" `}has spent $${e.spentUsd} and ${e.spentTokens} tokens (${e.reservedUsd > 0 || e.reservedTokens > 0 ? `$${e.reservedUsd} and ${e.reservedTokens} tokens held by calls in flight; ` : ''}limit ${e.limitUsd === null ? '' : `$${e.limitUsd}`}${e.limitUsd !== null && e.limitTokens !== null ? ' / ' : ''}${e.limitTokens === null ? '' : `${e.limitTokens} tokens`}); the next call needs up to $${e.needsUsd} and ${e.needsTokens} tokens` },
            agent: agentName,
            stepKey,
          },
        ],
      });
    }
    let response: ModelResponse;
    try {
      response = await backend.complete(request, options);
    } catch (error) {
      await budgets.release(ctx.run.id, stepKey);
      throw error;
    }
    const usage = usageOf(response);
    await budgets.settle(ctx.run.id, stepKey, { costUsd: usage.costUsd ?? 0, tokens: usage.promptTokens + usage.completionTokens });
    return response;
  }

  /** `run_agent`: another agent of the catalog as a tool, its steps checkpointed under the calling step. */
  function runAgentTool(ctx: RunContext, depth: number): Tool {
    const names = [...catalog.keys()];
    return {
      id: 'run_agent',
      name: 'run_agent',
      source: 'builtin',
      description: `Asks another agent and returns its answer. Agents: ${[...catalog.values()].map((a) => `${a.name} (${a.description})`).join('; ')}`.slice(0, 1024),
      inputSchema: {
        type: 'object',
        properties: { agent: { type: 'string', enum: names }, prompt: { type: 'string', minLength: 1, maxLength: 100_000 } },
        required: ['agent', 'prompt'],
        additionalProperties: false,
      },
      // Its own side effects are its tools' steps, each exactly once: calling it again replays them.
      annotations: { readOnly: false, destructive: false, idempotent: true },
      approval: 'never',
      timeoutMs: config.queue.jobTimeoutMs,
      async execute(args, toolCtx) {
        const name = String(args.agent);
        if (!catalog.has(name)) return { content: `there is no agent "${name}"`, isError: true };
        const key = toolCtx.idempotencyKey.slice(ctx.run.id.length + 1);
        const output = await callAgent(ctx, { key: `${key}/${name}`, agent: name, prompt: String(args.prompt), meta: { calledBy: 'run_agent', depth: depth + 1 } }, depth + 1);
        return { content: typeof output === 'string' ? output : JSON.stringify(output), isError: false, structured: output };
      },
    };
  }

  function toolsFor(ctx: RunContext, spec: AgentSpec, depth: number): Tool[] {
    const declared = spec.tools ?? [];
    if (declared.length === 0 || !deps.tools) return [];
    const tools = deps.tools.resolve(declared.filter((d) => d !== 'run_agent'));
    if (declared.includes('run_agent') && depth < limits.maxAgentDepth) tools.push(runAgentTool(ctx, depth));
    return tools;
  }

  async function callAgent(ctx: RunContext, call: AgentCall, depth: number): Promise<unknown> {
    const spec = agent(call.agent);
    const schema = call.schema ?? (spec.outputSchema ? { name: spec.name.replace(/[^a-zA-Z0-9_-]/g, '_'), schema: spec.outputSchema } : undefined);
    const system = [spec.systemPrompt];
    if (call.instructions) system.push(call.instructions);
    if (schema) system.push(`Answer with JSON only, matching this JSON Schema: ${JSON.stringify(schema.schema)}`);
    const messages: ChatMessage[] = [
      { role: 'system', content: system.join('\n\n') },
      { role: 'user', content: call.prompt },
    ];
    const model = modelOf(spec);
    const tools = toolsFor(ctx, spec, depth);
    if (tools.length > 0 || (spec.tools?.length ?? 0) > 0) {
      const finish = (text: string) => {
        const output = schema ? parseStructured(spec.name, text, schema.schema) : text;
        return output;
      };
      return runAgentLoop(
        ctx,
        {
          key: call.key,
          agent: spec.name,
          model,
          messages,
          temperature: spec.temperature,
          maxTokens: spec.maxTokens,
          responseSchema: schema,
          tools,
          maxTurns: spec.maxTurns ?? limits.maxTurns,
          meta: call.meta,
        },
        { backend, limits, usageOf, finish, validatorFor, toolCallCounts, complete, ...(deps.tracer ? { tracer: deps.tracer } : {}) },
      );
    }
    return ctx.step(call.key, { agent: spec.name, meta: { ...call.meta, model } }, async (step) => {
      const response: ModelResponse = await complete(
        ctx,
        call.key,
        spec.name,
        { model, messages, temperature: spec.temperature, maxTokens: spec.maxTokens, responseSchema: schema },
        { signal: step.signal, onToken: (delta) => step.token(delta), user: ctx.run.owner },
      );
      const usage = usageOf(response);
      // Spent even if the answer is then refused (bad JSON): the run pays for it.
      step.spent?.(usage);
      const output = schema ? parseStructured(spec.name, response.text, schema.schema) : response.text;
      return {
        output,
        usage,
        model: response.model,
        meta: {
          ...call.meta,
          model: response.model,
          ...(response.cached ? { cached: true, savedTokens: response.usage.promptTokens + response.usage.completionTokens } : {}),
          ...(response.estimatedUsage ? { estimatedUsage: true } : {}),
          ...call.resultMeta?.(output),
        },
      };
    });
  }

  return {
    agent,
    has: (name) => catalog.has(name),
    modelOf,
    call: (ctx, call) => callAgent(ctx, call, 0),
  };
}
