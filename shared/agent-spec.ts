import { z } from 'zod';
import { jsonSchemaSchema, type JsonSchema } from './json-schema.js';

/**
 * THE schema of an agent (issue #14): the agents file (AGENTS_FILE), the database
 * (agent drafts and versions), `npm run agents -- import` and the Agent Studio API
 * all validate with it, and the browser builds its editor from it (the same zod
 * schema gives it live per-field errors). The server adds two checks a browser
 * cannot make: the output schema compiles with ajv, and every tool exists.
 */

export const AGENT_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]*$/;
export const DEFAULT_MAX_TOKENS = 2000;
export const DEFAULT_TEMPERATURE = 0.7;

export const agentNameSchema = z.string().min(1).max(64).regex(AGENT_NAME_PATTERN, 'lower-case letters, digits, "-" and "_" only');

export const agentSpecSchema = z
  .object({
    name: agentNameSchema,
    description: z.string().min(1).max(500),
    systemPrompt: z.string().min(1).max(20_000),
    /** Defaults to OPENAI_MODEL, so one variable switches the whole catalog. */
    model: z.string().min(1).max(100).optional(),
    temperature: z.number().min(0).max(2).default(DEFAULT_TEMPERATURE),
    maxTokens: z.number().int().min(1).max(128_000).default(DEFAULT_MAX_TOKENS),
    /** JSON Schema (the subset in shared/json-schema.ts) the answer must match; the agent then answers JSON. */
    outputSchema: jsonSchemaSchema.optional(),
    tags: z.array(z.string().min(1).max(40)).max(20).optional(),
    /** What the agent may call: `current_time`, `calculator`, `run_agent`, `http:<name>`, `mcp:<server>/<tool>` or `mcp:<server>/*`. */
    tools: z.array(z.string().min(1).max(200)).max(64).optional(),
    /** Model turns before the agent must have answered (tool use); default AGENT_MAX_TURNS. */
    maxTurns: z.number().int().min(1).max(100).optional(),
    /** In a thread: estimated tokens of recent messages this agent sees (default THREAD_CONTEXT_TOKENS). */
    threadContextTokens: z.number().int().min(100).max(1_000_000).optional(),
  })
  .strict();

/** A validated agent, defaults applied (temperature, maxTokens). */
export type AgentSpec = z.infer<typeof agentSpecSchema> & { outputSchema?: JsonSchema };
/** What a person writes: the defaults may be left out. */
export type AgentSpecInput = z.input<typeof agentSpecSchema>;

/** One problem with a spec, at its field's path (`temperature`, `outputSchema.properties.x.type`, `tools.2`). */
export interface SpecIssue {
  path: string;
  message: string;
}

/** The spec with defaults applied, or every problem with the path of its field. */
export function checkAgentSpec(raw: unknown): { ok: true; spec: AgentSpec } | { ok: false; issues: SpecIssue[] } {
  const result = agentSpecSchema.safeParse(raw);
  if (result.success) return { ok: true, spec: normalizeSpec(result.data as AgentSpec) };
  const issues = result.error.issues.map((i) => {
    // An unknown key has no path of its own: name the key, so the UI can point at it.
    const keys = i.code === 'unrecognized_keys' ? (i as { keys?: string[] }).keys : undefined;
    const path = i.path.map(String).join('.');
    return { path: keys?.length ? [path, keys.join(',')].filter(Boolean).join('.') : path, message: i.message };
  });
  return { ok: false, issues };
}

const KEY_ORDER = ['name', 'description', 'systemPrompt', 'model', 'temperature', 'maxTokens', 'outputSchema', 'tags', 'tools', 'maxTurns', 'threadContextTokens'] as const;

/**
 * One spelling of a spec: fields in a fixed order, empty optional lists dropped. Two
 * specs that mean the same are then equal as JSON, which is how import tells
 * "unchanged" from "updated" and publish tells an edited draft from the published one.
 */
export function normalizeSpec(spec: AgentSpec): AgentSpec {
  const out: Record<string, unknown> = {};
  for (const key of KEY_ORDER) {
    const value = spec[key];
    if (value === undefined) continue;
    if ((key === 'tags' || key === 'tools') && Array.isArray(value) && value.length === 0) continue;
    out[key] = value;
  }
  return out as AgentSpec;
}

/** Whether two validated specs say the same thing. */
export function sameSpec(a: AgentSpec, b: AgentSpec): boolean {
  return JSON.stringify(normalizeSpec(a)) === JSON.stringify(normalizeSpec(b));
}

/** The fields a spec has, in display order (for the diff and the editor). */
export const AGENT_SPEC_FIELDS = KEY_ORDER;
export type AgentSpecField = (typeof KEY_ORDER)[number];

/* ---- Agent Studio API (docs/API.md, "Agent Studio") ---- */

const note = z.string().trim().min(1).max(500);

/** GET /api/agents: no `limit` and no `cursor` lists every match (the original contract). */
export const agentsQuerySchema = z
  .object({
    /** Words that must all appear in the name, description, tags or model (case-insensitive). */
    q: z.string().max(200).optional(),
    /** Only agents with this tag; repeat, or separate with commas, for agents with every one of them. */
    tag: z.union([z.string().max(40), z.array(z.string().max(40)).max(20)]).optional(),
    archived: z.enum(['exclude', 'include', 'only']).default('exclude'),
    limit: z.coerce.number().int().min(1).max(500).optional(),
    cursor: z.string().max(200).optional(),
  })
  .strict();

export const createAgentBodySchema = z.object({ spec: z.unknown(), note: note.optional() }).strict();
export const saveDraftBodySchema = z.object({ spec: z.unknown(), revision: z.number().int().min(1) }).strict();
export const publishBodySchema = z.object({ note: note.optional(), revision: z.number().int().min(1).optional() }).strict();
export const rollbackBodySchema = z.object({ version: z.number().int().min(1), note: note.optional() }).strict();
export const validateBodySchema = z.object({ spec: z.unknown() }).strict();
export const versionsQuerySchema = z
  .object({ limit: z.coerce.number().int().min(1).max(200).default(50), before: z.coerce.number().int().min(1).optional() })
  .strict();
/** A side of a diff: a version number, `draft` or `published`. */
export const specRefSchema = z.union([z.literal('draft'), z.literal('published'), z.coerce.number().int().min(1)]);
export const diffQuerySchema = z.object({ from: specRefSchema.default('published'), to: specRefSchema.default('draft') }).strict();
