/**
 * What each run event carries (docs/API.md section 3, `Event`), one type per event type,
 * as the server writes them today (server/queue: worker.ts, context.ts, sql/*.ts). A
 * client parses the `data` of an event with `parseRunEvent` and then switches on `type`
 * without guessing field names.
 *
 * The schemas are loose: a field the server adds later passes through, and an event
 * whose data does not match (an older server, a new type) parses to null rather than
 * throwing, so a viewer can skip it. They use zod/mini because the browser bundles them
 * and the full zod would weigh more than the page that uses them.
 */
import * as z from 'zod/mini';
import type { RunEvent } from './protocol.js';

const usage = z.looseObject({
  promptTokens: z.number(),
  completionTokens: z.number(),
  costUsd: z.optional(z.number()),
  cachedRequests: z.optional(z.number()),
});

const runError = z.looseObject({ code: z.string(), message: z.string() });
const meta = z.record(z.string(), z.unknown());

/** Every event data schema, by event type. */
export const runEventDataSchemas = {
  'run.queued': z.looseObject({ priority: z.optional(z.number()) }),
  /** A worker claimed the run: attempt n (a resume after an answer or a hand-over is a new claim too). */
  'run.started': z.looseObject({ attempt: z.number(), instance: z.optional(z.string()) }),
  'run.step.started': z.looseObject({
    index: z.number(),
    key: z.optional(z.string()),
    agent: z.nullable(z.string()),
    meta: z.optional(meta),
  }),
  /** A text delta of a running step; not stored, carries the seq of the last stored event. */
  'run.token': z.looseObject({ index: z.number(), key: z.optional(z.string()), delta: z.string() }),
  'run.step.finished': z.looseObject({
    index: z.number(),
    key: z.optional(z.string()),
    agent: z.nullable(z.string()),
    status: z.enum(['succeeded', 'failed']),
    /** Succeeded steps: the step's output (text or JSON). */
    output: z.optional(z.unknown()),
    /** Failed steps: why. */
    error: z.optional(z.looseObject({ message: z.string() })),
    usage: z.optional(usage),
    model: z.optional(z.string()),
    meta: z.optional(meta),
  }),
  /** A tool call's intent, stored before it runs (meta: tool, toolName, source, arguments, approvalId, annotations, kind "tool"). */
  'run.tool.called': z.looseObject({
    index: z.number(),
    key: z.optional(z.string()),
    agent: z.nullable(z.string()),
    meta: z.optional(meta),
  }),
  /**
   * Its receipt. `output`: content, isError, how ("executed", "repeated" after a crash,
   * "recorded" by a person, "denied"), durationMs, structured, truncated.
   */
  'run.tool.finished': z.looseObject({
    index: z.number(),
    key: z.optional(z.string()),
    agent: z.nullable(z.string()),
    status: z.enum(['succeeded', 'failed']),
    output: z.optional(
      z.looseObject({
        content: z.string(),
        isError: z.boolean(),
        how: z.enum(['executed', 'repeated', 'recorded', 'denied', 'invalid']),
        durationMs: z.optional(z.number()),
        truncated: z.optional(z.boolean()),
        structured: z.optional(z.unknown()),
      }),
    ),
    error: z.optional(z.looseObject({ message: z.string() })),
    meta: z.optional(meta),
  }),
  /** A call waits for a person (`kind` tool.approval), one event per approval id. */
  'run.approval.requested': z.looseObject({
    approvalId: z.string(),
    kind: z.enum(['tool.approval', 'tool.unknown_outcome', 'budget.exceeded']),
    tool: z.string(),
    toolName: z.string(),
    arguments: z.unknown(),
    agent: z.nullable(z.string()),
    stepKey: z.string(),
  }),
  /** A person decided one request; `remaining` requests still wait (0: the run resumes). */
  'run.approval.decided': z.looseObject({
    approvalId: z.string(),
    kind: z.enum(['tool.approval', 'tool.unknown_outcome', 'budget.exceeded']),
    tool: z.string(),
    decision: z.enum(['approve', 'deny', 'retry', 'record', 'fail']),
    reason: z.optional(z.string()),
    by: z.nullable(z.string()),
    remaining: z.number(),
  }),
  'run.retrying': z.looseObject({
    attempt: z.number(),
    maxAttempts: z.number(),
    delayMs: z.number(),
    error: runError,
  }),
  /** The run parked for a person; `question` is what the pattern asked (text or an object). */
  'run.awaiting_input': z.looseObject({ question: z.unknown() }),
  'run.input_received': z.looseObject({ answer: z.unknown(), by: z.optional(z.string()), index: z.optional(z.number()) }),
  'run.cancel_requested': z.looseObject({ by: z.optional(z.string()) }),
  /** The worker let go without finishing (shutdown, lost lease); the run is queued again. */
  'run.released': z.looseObject({ reason: z.optional(z.string()), instance: z.optional(z.nullable(z.string())) }),
  'run.succeeded': z.looseObject({ output: z.unknown(), attempt: z.optional(z.number()) }),
  /** From the worker (`attempt`) or from the lease sweeper (`reason`). */
  'run.failed': z.looseObject({ error: z.nullable(runError), attempt: z.optional(z.number()), reason: z.optional(z.string()) }),
  /** From a cancel of a run not running (`by`), the worker (`attempt`) or the sweeper (`reason`). */
  'run.cancelled': z.looseObject({
    by: z.optional(z.string()),
    attempt: z.optional(z.number()),
    reason: z.optional(z.string()),
    instance: z.optional(z.nullable(z.string())),
  }),
} as const;

type Schemas = typeof runEventDataSchemas;
export type TypedRunEventType = keyof Schemas;
export type RunEventData<T extends TypedRunEventType> = z.infer<Schemas[T]>;

/** One run event with the data its type carries: a discriminated union on `type`. */
export type TypedRunEvent = {
  [T in TypedRunEventType]: { seq: number; runId: string; type: T; data: RunEventData<T>; at: string };
}[TypedRunEventType];

/** An event's type and data before it is stored (no seq, run or time yet): what server code writes. */
export type RunEventBody = { [T in TypedRunEventType]: { type: T; data: RunEventData<T> } }[TypedRunEventType];

export type TypedEventOf<T extends TypedRunEventType> = Extract<TypedRunEvent, { type: T }>;

/** Types the `runs` topic carries: a run's lifecycle, not its steps or tokens. */
export const RUN_LIFECYCLE_TYPES = [
  'run.queued',
  'run.started',
  'run.retrying',
  'run.awaiting_input',
  'run.input_received',
  'run.approval.requested',
  'run.approval.decided',
  'run.cancel_requested',
  'run.released',
  'run.succeeded',
  'run.failed',
  'run.cancelled',
] as const satisfies readonly TypedRunEventType[];

export function isTypedRunEventType(type: string): type is TypedRunEventType {
  return Object.prototype.hasOwnProperty.call(runEventDataSchemas, type);
}

/** The event with typed data, or null for a type this client does not know or data it cannot read. */
export function parseRunEvent(event: RunEvent): TypedRunEvent | null {
  if (!isTypedRunEventType(event.type)) return null;
  const parsed = z.safeParse(runEventDataSchemas[event.type] as z.ZodMiniType, event.data ?? {});
  if (!parsed.success) return null;
  return { seq: event.seq, runId: event.runId, type: event.type, data: parsed.data, at: event.at } as TypedRunEvent;
}

/**
 * The question of `run.awaiting_input` (also the run's `pendingInput`). The router
 * pattern asks `router.choice`: pick one of the candidates; other patterns may ask in
 * plain text.
 */
export const routerQuestionSchema = z.looseObject({
  kind: z.literal('router.choice'),
  question: z.string(),
  request: z.optional(z.string()),
  candidates: z.array(z.looseObject({ name: z.string(), description: z.optional(z.string()) })),
  suggestion: z.optional(z.looseObject({ agent: z.string(), confidence: z.number(), reason: z.optional(z.string()) })),
  answerWith: z.optional(z.string()),
});
export type RouterQuestion = z.infer<typeof routerQuestionSchema>;

export interface ReadQuestion {
  text: string;
  choices: { name: string; description?: string }[];
  suggestion?: { agent: string; confidence: number; reason?: string };
}

/** What to show a person for a question: its text, and the choices if it offers some. */
export function readQuestion(question: unknown): ReadQuestion {
  if (typeof question === 'string') return { text: question, choices: [] };
  const router = z.safeParse(routerQuestionSchema, question);
  if (router.success) return { text: router.data.question, choices: router.data.candidates, suggestion: router.data.suggestion };
  if (question === null || question === undefined) return { text: 'The run needs an answer from a person to continue.', choices: [] };
  return { text: JSON.stringify(question, null, 2), choices: [] };
}
