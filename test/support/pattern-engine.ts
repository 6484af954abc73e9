/**
 * The pattern engine without a database: a small catalog, the real agent runner
 * (prompts, schema parsing, usage), a scripted model and an in-memory RunContext.
 * Unit tests run a pattern through it in milliseconds.
 */
import { createHash } from 'node:crypto';
import { parseCatalog } from '../../server/agents/catalog.js';
import { offlineAnswer } from '../../server/agents/offline-model.js';
import { createRunner, type Runner } from '../../server/agents/runner.js';
import { loadConfig } from '../../server/config/config.js';
import type { Pattern } from '../../server/patterns/types.js';
import { claimedRun, memoryContext, type CheckpointStore, type MemoryContext } from './memory-context.js';
import { scriptedModel, type ScriptedCall, type ScriptedModel, type ScriptRule } from './scripted-model.js';

/** Plain-text agents with distinct prompts (the scripted model names agents by them). */
const AGENTS = [
  ['researcher', 'Finds facts and sources.'],
  ['writer', 'Writes clear prose.'],
  ['editor', 'Tightens and corrects drafts.'],
  ['critic', 'Argues the weaknesses of a position.'],
  ['analyst', 'Weighs evidence and trade-offs.'],
  ['planner', 'Turns goals into steps.'],
  ['summarizer', 'Merges several answers into one.'],
  ['judge', 'Decides which debater made the stronger case.'],
  ['verifier', 'Checks an answer against criteria.'],
  ['moderator', 'Synthesizes an expert panel.'],
  ['classifier', 'Routes a request to the best agent.'],
] as const;

export const catalog = parseCatalog(
  { agents: AGENTS.map(([name, description]) => ({ name, description, systemPrompt: `You are the ${name}. ${description}` })) },
  'test/support/pattern-engine.ts',
);

const config = loadConfig({ NODE_ENV: 'test', OPENAI_API_KEY: 'sk-unit', LOG_LEVEL: 'silent' });

/**
 * What an unscripted call answers: text that depends only on the request (so a
 * resumed run, whose calls come in another order, gets the same answers), or for a
 * schema a valid value from the offline model, which is also a function of the request.
 */
export function defaultAnswer(call: ScriptedCall): string {
  if (call.request.responseSchema) return offlineAnswer(call.request);
  const digest = createHash('sha256').update(`${call.system}\n${call.prompt}`).digest('hex').slice(0, 8);
  return `${call.agent ?? 'unknown'} answer ${digest}`;
}

export interface Engine {
  model: ScriptedModel;
  runner: Runner;
  /** Runs the pattern in a fresh context (sharing `store` to resume) and returns the context with the outcome. */
  run(args: {
    agents: readonly string[];
    options?: Record<string, unknown>;
    task?: string;
    store?: CheckpointStore;
    inputAnswers?: unknown[];
    /** Called with the context before the run starts (e.g. to abort it from the model). */
    prepare?: (ctx: MemoryContext) => void;
  }): Promise<{ ctx: MemoryContext; output?: unknown; error?: unknown }>;
}

/** A fresh model and runner for `pattern`; `rules` script the model before any fallback. */
export function patternEngine(pattern: Pattern, rules: ScriptRule[] = []): Engine {
  const model = scriptedModel({ catalog, rules, fallback: defaultAnswer });
  const runner = createRunner({ catalog, backend: model, config });
  return {
    model,
    runner,
    async run({ agents, options = {}, task = 'How should a small town cut traffic?', store, inputAnswers = [], prepare }) {
      const ctx = memoryContext(claimedRun({ plan: { agent: null, pattern: pattern.name, agents: [...agents], options, input: task }, inputAnswers }), { store });
      prepare?.(ctx);
      try {
        return { ctx, output: await pattern.run({ ctx, runner, task, agents, options }) };
      } catch (error) {
        return { ctx, error };
      }
    },
  };
}
