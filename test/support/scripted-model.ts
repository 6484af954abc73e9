/**
 * Model backends for tests and benchmarks that need no network: a scripted one
 * whose answers a test sets per request (by agent, schema, system prompt or user
 * prompt) and which records every call, and a zero-latency one for the benchmark.
 */
import type { ModelBackend, ModelRequest, ModelResponse } from '../../server/agents/model.js';
import { offlineAnswer } from '../../server/agents/offline-model.js';

export interface ScriptedCall {
  /** 0-based, in the order the calls reached the model. */
  n: number;
  /** The catalog agent whose system prompt opens the request, if a catalog was given. */
  agent: string | undefined;
  /** The response schema's name (e.g. "debate_verdict"), if any. */
  schema: string | undefined;
  system: string;
  prompt: string;
  request: ModelRequest;
}

/** Text, a value sent as JSON, an Error to throw, or a function of the call returning one of those. */
export type ScriptedAnswer = string | number | boolean | object | Error | ((call: ScriptedCall) => unknown);

export interface ScriptRule {
  agent?: string;
  schema?: string;
  system?: string | RegExp;
  prompt?: string | RegExp;
  answer: ScriptedAnswer;
  /** How many calls this rule answers; unlimited when unset. */
  times?: number;
}

export interface ScriptedModel extends ModelBackend {
  readonly calls: ScriptedCall[];
  /** Adds a rule; the first rule (in the order added) that matches and has uses left answers. */
  when(match: Omit<ScriptRule, 'answer'>, answer: ScriptedAnswer): ScriptedModel;
  /** Called before each answer (e.g. to abort the run at the n-th call). */
  onCall?: (call: ScriptedCall) => void;
}

const matches = (pattern: string | RegExp | undefined, text: string) =>
  pattern === undefined || (typeof pattern === 'string' ? text.includes(pattern) : pattern.test(text));

/**
 * A model backend that answers from a script. A call no rule matches gets
 * `fallback(call)`, or fails the step naming the agent and schema, so a test
 * never passes on an answer it did not choose.
 */
export function scriptedModel(options: {
  /** Names agents from their system prompt (the runner puts it first). */
  catalog?: ReadonlyMap<string, { name: string; systemPrompt: string }>;
  rules?: ScriptRule[];
  fallback?: (call: ScriptedCall) => unknown;
} = {}): ScriptedModel {
  const rules = (options.rules ?? []).map((r) => ({ ...r, left: r.times ?? Infinity }));
  // Longest prompt first, so an agent whose prompt extends another's is named right.
  const agents = [...(options.catalog?.values() ?? [])].sort((a, b) => b.systemPrompt.length - a.systemPrompt.length);
  const model: ScriptedModel = {
    name: 'openai',
    calls: [],
    when(match, answer) {
      rules.push({ ...match, answer, left: match.times ?? Infinity });
      return model;
    },
    async complete(request, call): Promise<ModelResponse> {
      call.signal.throwIfAborted();
      const system = request.messages.find((m) => m.role === 'system')?.content ?? '';
      const prompt = request.messages.findLast((m) => m.role === 'user')?.content ?? '';
      const scripted: ScriptedCall = {
        n: model.calls.length,
        agent: agents.find((a) => system === a.systemPrompt || system.startsWith(`${a.systemPrompt}\n\n`))?.name,
        schema: request.responseSchema?.name,
        system,
        prompt,
        request,
      };
      model.calls.push(scripted);
      model.onCall?.(scripted);
      const rule = rules.find(
        (r) =>
          r.left > 0 &&
          (r.agent === undefined || r.agent === scripted.agent) &&
          (r.schema === undefined || r.schema === scripted.schema) &&
          matches(r.system, system) &&
          matches(r.prompt, prompt),
      );
      let answer: unknown;
      if (rule) {
        rule.left--;
        answer = typeof rule.answer === 'function' ? await rule.answer(scripted) : rule.answer;
      } else if (options.fallback) {
        answer = await options.fallback(scripted);
      } else {
        throw new Error(`scripted model: no answer for agent ${scripted.agent ?? '?'}${scripted.schema ? ` (schema ${scripted.schema})` : ''}`);
      }
      // An abort during the answer wins, as it does for a real request.
      call.signal.throwIfAborted();
      if (answer instanceof Error) throw answer;
      const text = typeof answer === 'string' ? answer : JSON.stringify(answer);
      call.onToken?.(text);
      return { text, usage: { promptTokens: 10, completionTokens: 5 }, model: 'scripted', cached: false };
    },
  };
  return model;
}

/** A model with no latency: answers are precomputed per request shape, so only the engine is timed. */
export function zeroLatencyModel(): ModelBackend & { calls: number } {
  const answers = new Map<string, string>();
  const backend = {
    name: 'openai' as const,
    calls: 0,
    async complete(request: Parameters<ModelBackend['complete']>[0], call: Parameters<ModelBackend['complete']>[1]) {
      backend.calls++;
      const key = request.responseSchema ? JSON.stringify(request.responseSchema) : 'text';
      let text = answers.get(key);
      if (text === undefined) {
        // A passing verdict, so verification ends after one check like the other patterns' fixed shapes.
        text =
          request.responseSchema?.name === 'verification_verdict'
            ? '{"pass":true,"reasons":["meets every criterion"]}'
            : request.responseSchema
              ? offlineAnswer(request)
              : 'A short answer from a model with no latency.';
        answers.set(key, text);
      }
      call.onToken?.(text);
      return { text, usage: { promptTokens: 100, completionTokens: 20 }, model: 'bench-model', cached: false };
    },
  };
  return backend;
}
