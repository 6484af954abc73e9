/**
 * Evaluations (docs/API.md, "Evaluations"): datasets of cases, experiments that run
 * an agent or a pattern over a dataset through the queue, and their results. The
 * server validates with these schemas; the client and the `npm run eval` CLI read
 * the types.
 */
import { z } from 'zod';
import { RUN_STATUSES } from './protocol.js';

const name = z.string().min(1).max(100);
const jsonValue = z.unknown().refine((v) => v !== undefined, 'is required');

/** Longest regex, rubric or JSON Schema text a case may carry. */
export const MAX_EXPECTATION_CHARS = 20_000;

/**
 * What a case's output must satisfy. Text outputs are compared as they are; a JSON
 * output (a structured agent) is compared as its JSON text, except by `json_schema`,
 * which validates the value (a text output is parsed as JSON first).
 */
export const expectationSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('exact'), value: z.string().max(MAX_EXPECTATION_CHARS), trim: z.boolean().default(true) }).strict(),
  z.object({ kind: z.literal('contains'), value: z.string().min(1).max(MAX_EXPECTATION_CHARS), ignoreCase: z.boolean().default(false) }).strict(),
  z
    .object({ kind: z.literal('regex'), value: z.string().min(1).max(MAX_EXPECTATION_CHARS), flags: z.string().regex(/^[imsu]*$/, 'flags may only be i, m, s, u').default('') })
    .strict()
    .refine(
      (e) => {
        try {
          new RegExp(e.value, e.flags);
          return true;
        } catch {
          return false;
        }
      },
      { message: 'not a valid regular expression', path: ['value'] },
    ),
  z.object({ kind: z.literal('json_schema'), schema: z.record(z.string(), z.unknown()) }).strict(),
  z
    .object({
      kind: z.literal('rubric'),
      rubric: z.string().min(1).max(MAX_EXPECTATION_CHARS),
      /** The agent that judges; default EVAL_JUDGE_AGENT. */
      judge: name.optional(),
      /** Lowest score (0..1) that passes. */
      threshold: z.number().min(0).max(1).default(0.7),
    })
    .strict(),
]);
export type Expectation = z.infer<typeof expectationSchema>;
export type ExpectationKind = Expectation['kind'];

/** What a dataset's cases are for: one agent, or a pattern over agents. */
export const evalTargetSchema = z
  .object({
    agent: name.optional(),
    pattern: name.optional(),
    agents: z.array(name).min(1).max(20).optional(),
    options: z.record(z.string(), z.unknown()).optional(),
  })
  .strict()
  .refine((t) => (t.agent === undefined) !== (t.pattern === undefined), { message: 'give exactly one of "agent" or "pattern"', path: ['agent'] })
  .refine((t) => t.pattern !== undefined || (t.agents === undefined && t.options === undefined), { message: '"agents" and "options" go with "pattern"', path: ['agents'] });
export type EvalTarget = z.infer<typeof evalTargetSchema>;

export const evalCaseInputSchema = z.object({ input: jsonValue, expectation: expectationSchema }).strict();
export type EvalCaseInput = z.infer<typeof evalCaseInputSchema>;

export const MAX_CASES_PER_REQUEST = 500;
export const MAX_CASES_PER_DATASET = 2_000;

export const createDatasetSchema = z
  .object({
    name: z.string().min(1).max(100).regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, ".", "_" and "-", starting with a letter or digit'),
    description: z.string().max(2000).default(''),
    target: evalTargetSchema,
    cases: z.array(evalCaseInputSchema).max(MAX_CASES_PER_REQUEST).default([]),
  })
  .strict();
export type CreateDatasetBody = z.infer<typeof createDatasetSchema>;

export const addCasesSchema = z.object({ cases: z.array(evalCaseInputSchema).min(1).max(MAX_CASES_PER_REQUEST) }).strict();
export type AddCasesBody = z.infer<typeof addCasesSchema>;

export const MAX_EXPERIMENT_CONCURRENCY = 16;

/**
 * An experiment: the dataset's cases run by its target, or by the agent or pattern given
 * here; `version` ("7", "draft") is passed to the planner as `agent@version`.
 */
export const createExperimentSchema = z
  .object({
    /** The dataset's id or name. */
    dataset: name,
    agent: name.optional(),
    pattern: name.optional(),
    agents: z.array(name).min(1).max(20).optional(),
    options: z.record(z.string(), z.unknown()).optional(),
    version: z.string().regex(/^(draft|[1-9]\d{0,8})$/, 'a version number or "draft"').optional(),
    /** Cases in flight at once inside the run. */
    concurrency: z.number().int().min(1).max(MAX_EXPERIMENT_CONCURRENCY).default(4),
  })
  .strict()
  .refine((b) => b.agent === undefined || b.pattern === undefined, { message: 'give at most one of "agent" or "pattern"', path: ['agent'] })
  .refine((b) => b.pattern !== undefined || (b.agents === undefined && b.options === undefined), { message: '"agents" and "options" go with "pattern"', path: ['agents'] })
  .refine((b) => b.version === undefined || b.pattern === undefined, { message: 'a version names an agent\'s version; it does not go with "pattern"', path: ['version'] });
export type CreateExperimentBody = z.infer<typeof createExperimentSchema>;

// Case-insensitive by its classes, not an /i flag: JSON Schema patterns (the OpenAPI document) carry no flags.
const uuid = z.string().regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, 'not an id');

export const listExperimentsQuerySchema = z
  .object({
    /** The dataset's id or name. */
    dataset: name.optional(),
    agent: name.optional(),
    limit: z.coerce.number().int().min(1).max(200).default(50),
  })
  .strict();
export type ListExperimentsQuery = z.infer<typeof listExperimentsQuerySchema>;

export const compareQuerySchema = z.object({ a: uuid, b: uuid }).strict();

export const experimentStatusSchema = z.enum([...RUN_STATUSES, 'unknown']);
export type ExperimentStatus = z.infer<typeof experimentStatusSchema>;

export interface EvalCase {
  id: string;
  index: number;
  input: unknown;
  expectation: Expectation;
  createdAt: string;
}

export interface Dataset {
  id: string;
  name: string;
  description: string;
  target: EvalTarget;
  caseCount: number;
  createdBy: string;
  createdAt: string;
}

export interface CaseResult {
  caseId: string;
  index: number;
  input: unknown;
  expectation: Expectation;
  passed: boolean;
  /** 0..1: 1 or 0 for exact, contains, regex and json_schema; the judge's score for a rubric. */
  score: number;
  output: unknown;
  /** Why it failed, when the expectation or the call says. */
  reason: string | null;
  error: { code: string; message: string } | null;
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
  latencyMs: number;
}

export interface ExperimentSummary {
  id: string;
  datasetId: string;
  dataset: string;
  runId: string | null;
  status: ExperimentStatus;
  agent: string | null;
  pattern: string | null;
  agents: string[] | null;
  version: string | null;
  concurrency: number;
  caseCount: number;
  /** Cases with a result so far. */
  done: number;
  passed: number;
  /** passed / caseCount (a case without a result counts as not passed). */
  passRate: number;
  meanScore: number | null;
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
  p95LatencyMs: number | null;
  createdBy: string;
  createdAt: string;
  finishedAt: string | null;
}

export interface Experiment extends ExperimentSummary {
  results: CaseResult[];
}

export interface ComparedCase {
  caseId: string;
  index: number;
  input: unknown;
  expectation: Expectation;
  a: CaseResult | null;
  b: CaseResult | null;
  /** `fixed`: failed in a, passes in b; `regressed`: the reverse. */
  change: 'fixed' | 'regressed' | 'same' | 'missing';
}

export interface Comparison {
  a: ExperimentSummary;
  b: ExperimentSummary;
  cases: ComparedCase[];
  fixed: number;
  regressed: number;
}

/*
 * The rubric judge: the prompt the judge agent receives and the JSON it answers. The
 * offline model (server/agents/offline-model.ts) recognises the schema by its name and
 * scores deterministically, so rubric cases are reproducible with no API key.
 */
export const RUBRIC_JUDGEMENT = 'rubric_judgement';
export const rubricJudgementJsonSchema = {
  type: 'object' as const,
  properties: {
    score: { type: 'number' as const, minimum: 0, maximum: 1, description: 'How well the answer meets the rubric, 0 (not at all) to 1 (fully).' },
    reason: { type: 'string' as const, description: 'One or two sentences on why.' },
  },
  required: ['score', 'reason'],
};
export const RUBRIC_INSTRUCTIONS =
  'You are grading an answer against a rubric. Judge only what the rubric asks. Score from 0 (does not meet it at all) to 1 (meets it fully), and give the reason in one or two sentences.';
const RUBRIC_HEAD = 'Rubric:\n';
const ANSWER_HEAD = '\n\nAnswer to grade:\n';

export function rubricPrompt(rubric: string, answer: string): string {
  return `${RUBRIC_HEAD}${rubric}${ANSWER_HEAD}${answer}`;
}

/** The rubric and the answer of a prompt rubricPrompt() wrote, or null. */
export function parseRubricPrompt(prompt: string): { rubric: string; answer: string } | null {
  if (!prompt.startsWith(RUBRIC_HEAD)) return null;
  const at = prompt.indexOf(ANSWER_HEAD);
  if (at < 0) return null;
  return { rubric: prompt.slice(RUBRIC_HEAD.length, at), answer: prompt.slice(at + ANSWER_HEAD.length) };
}
