import { z } from 'zod';
import type { JsonSchema } from '../../shared/json-schema.js';
import type { PatternName } from '../../shared/protocol.js';
import { RunError, type RunContext } from '../queue/types.js';

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

/**
 * What patterns need from the agent system; server/agents/runner.ts implements it.
 * Declared here, not there, because agents import patterns to plan runs: patterns
 * importing agents back made the two a cycle (eslint.config.js keeps it out).
 */
export interface AgentRunner {
  /** Runs one agent as a checkpointed step and returns its output (text, or parsed JSON). */
  call(ctx: RunContext, call: AgentCall): Promise<unknown>;
  /** The catalog entry (the router shows candidates' descriptions); throws RunError unknown_agent. */
  agent(name: string): { readonly name: string; readonly description: string };
}

export interface PatternArgs<O> {
  ctx: RunContext;
  runner: AgentRunner;
  /** The run's input as text. */
  task: string;
  /** The agents the run names, in order. */
  agents: readonly string[];
  options: O;
}

/** A collaboration pattern: how several agents' checkpointed calls combine into one run. */
export interface Pattern {
  readonly name: PatternName;
  readonly description: string;
  /** How many agents `agents` lists, and what they do. */
  readonly agents: { min: number; max: number; description: string };
  readonly optionsSchema: z.ZodType;
  /** Parses options (applying defaults); throws the zod error when invalid. */
  parseOptions(raw: unknown): unknown;
  /** Agent names the options refer to (judge, aggregator…), checked at submit. */
  referencedAgents(options: unknown): { field: string; agent: string }[];
  run(args: PatternArgs<unknown>): Promise<unknown>;
}

const agentName = z.string().min(1).max(64);

/** The options agentOption made: definePattern finds them in a pattern's options to list its referenced agents. */
const agentOptions = new WeakSet<z.ZodType>();

/**
 * An option naming an agent the pattern calls besides `agents` (a judge, a moderator…).
 * Declaring it here is what makes submit check and pin that agent, so a pattern cannot
 * name one in its options and forget to list it. Without `defaultAgent` the role is optional.
 */
export function agentOption(description: string): z.ZodOptional<typeof agentName>;
export function agentOption(description: string, defaultAgent: string): z.ZodDefault<typeof agentName>;
export function agentOption(description: string, defaultAgent?: string): z.ZodType {
  const option = (defaultAgent === undefined ? agentName.optional() : agentName.default(defaultAgent)).describe(description);
  agentOptions.add(option);
  return option;
}

/** The agents a pattern's options name, through the fields agentOption declared. */
function agentFields(options: z.ZodType): string[] {
  if (!(options instanceof z.ZodObject)) return [];
  return Object.entries(options.shape as Record<string, z.ZodType>)
    .filter(([, field]) => agentOptions.has(field))
    .map(([name]) => name);
}

export function definePattern<S extends z.ZodType>(def: {
  name: PatternName;
  description: string;
  agents: { min: number; max: number; description: string };
  options: S;
  run(args: PatternArgs<z.infer<S>>): Promise<unknown>;
}): Pattern {
  const parseOptions = (raw: unknown): z.infer<S> => def.options.parse(raw ?? {});
  const fields = agentFields(def.options);
  return {
    name: def.name,
    description: def.description,
    agents: def.agents,
    optionsSchema: def.options,
    parseOptions,
    referencedAgents: (options) =>
      fields.flatMap((field) => {
        const agent = (options as Record<string, unknown>)[field];
        return typeof agent === 'string' ? [{ field, agent }] : [];
      }),
    run(args) {
      let options: z.infer<S>;
      try {
        options = parseOptions(args.options);
      } catch (error) {
        throw new RunError('invalid_options', `options for ${def.name}: ${(error as Error).message}`, false);
      }
      return def.run({ ...args, options });
    },
  };
}

/**
 * Like Promise.all, but waits for every call to settle first, so branches that
 * succeed are checkpointed even when a sibling fails and a retry redoes only the failed ones.
 */
export async function settleAll<T>(calls: Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(calls);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}
