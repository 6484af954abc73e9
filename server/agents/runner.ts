import { checkJson, type JsonSchema } from '../../shared/json-schema.js';
import type { Usage } from '../../shared/protocol.js';
import type { Config } from '../config/config.js';
import type { AgentRunner } from '../patterns/types.js';
import type { AgentCall } from '../patterns/types.js';
import { RunError, type RunContext } from '../queue/types.js';
import type { ToolRegistry } from '../tools/registry.js';
import type { Tool } from '../tools/types.js';
import type { AgentSpec } from './catalog.js';
import { createArgumentValidators, DEFAULT_LOOP_LIMITS, runAgentLoop, type LoopLimits } from './loop.js';
import type { ChatMessage, ModelBackend, ModelResponse } from './model.js';

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
}): Runner {
  const { catalog, backend, config } = deps;
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
        { backend, limits, usageOf, finish, validatorFor, toolCallCounts },
      );
    }
    return ctx.step(call.key, { agent: spec.name, meta: { ...call.meta, model } }, async (step) => {
      const response: ModelResponse = await backend.complete(
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
