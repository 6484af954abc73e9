import type { Usage } from '../../shared/protocol.js';
import type { Config } from '../config/config.js';
import { RunError, type RunContext } from '../queue/types.js';
import type { AgentSpec } from './catalog.js';
import { checkJson, type JsonSchema } from './json-schema.js';
import type { ChatMessage, ModelBackend, ModelResponse } from './model.js';

/** What a pattern asks of one agent: one checkpointed model call. */
export interface AgentCall {
  /** Stable across attempts (e.g. `debate:r2:1:critic`): a stored step is never called again. */
  key: string;
  agent: string;
  /** The user message. */
  prompt: string;
  /** Added to the agent's system prompt for its role in the pattern. */
  instructions?: string;
  /** Overrides the agent's own output schema (verdicts, router choices). */
  schema?: { name: string; schema: JsonSchema };
  /** Shown on the step in the timeline (round, role…); merged with `resultMeta`. */
  meta?: Record<string, unknown>;
  /** Extra meta computed from the output (verdict, choice) once the call is done. */
  resultMeta?: (output: unknown) => Record<string, unknown>;
}

export interface Runner {
  /** Runs one agent as a checkpointed step and returns its output (text, or parsed JSON). */
  call(ctx: RunContext, call: AgentCall): Promise<unknown>;
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
  config: Config;
}): Runner {
  const { catalog, backend, config } = deps;
  const offline = backend.name === 'offline';

  const agent = (name: string): AgentSpec => {
    const spec = catalog.get(name);
    if (!spec) throw new RunError('unknown_agent', `agent "${name}" is not in the catalog`, false);
    return spec;
  };
  const modelOf = (spec: AgentSpec) => (offline ? 'offline' : spec.model ?? config.openai.model);

  return {
    agent,
    has: (name) => catalog.has(name),
    modelOf,
    async call(ctx, call) {
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
      return ctx.step(call.key, { agent: spec.name, meta: { ...call.meta, model } }, async (step) => {
        const response: ModelResponse = await backend.complete(
          { model, messages, temperature: spec.temperature, maxTokens: spec.maxTokens, responseSchema: schema },
          { signal: step.signal, onToken: (delta) => step.token(delta), user: ctx.run.owner },
        );
        const usage: Usage = response.cached
          ? { promptTokens: 0, completionTokens: 0, costUsd: 0, cachedRequests: 1 }
          : {
              promptTokens: response.usage.promptTokens,
              completionTokens: response.usage.completionTokens,
              costUsd: costOf(config.openai.prices, response.model, response.usage.promptTokens, response.usage.completionTokens),
              cachedRequests: 0,
            };
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
    },
  };
}
