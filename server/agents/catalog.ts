import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { jsonSchemaSchema, type JsonSchema } from '../../shared/json-schema.js';
import { httpToolSpecSchema, mcpServerSpecSchema, type HttpToolSpec, type McpServerSpec } from '../config/tool-specs.js';

export const DEFAULT_MAX_TOKENS = 2000;

export const agentSchema = z
  .object({
    name: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[a-z0-9][a-z0-9_-]*$/, 'lower-case letters, digits, "-" and "_" only'),
    description: z.string().min(1).max(500),
    systemPrompt: z.string().min(1).max(20_000),
    /** Defaults to OPENAI_MODEL, so one variable switches the whole catalog. */
    model: z.string().min(1).max(100).optional(),
    temperature: z.number().min(0).max(2).default(0.7),
    maxTokens: z.number().int().min(1).max(128_000).default(DEFAULT_MAX_TOKENS),
    /** JSON Schema (subset) the answer must match; the agent then answers JSON. */
    outputSchema: jsonSchemaSchema.optional(),
    tags: z.array(z.string().min(1).max(40)).max(20).optional(),
    /** What the agent may call: `current_time`, `calculator`, `run_agent`, `http:<name>`, `mcp:<server>/<tool>` or `mcp:<server>/*`. */
    tools: z.array(z.string().min(1).max(200)).max(64).optional(),
    /** Model turns before the agent must have answered (tool use); default 10. */
    maxTurns: z.number().int().min(1).max(100).optional(),
    /** In a thread: estimated tokens of recent messages this agent sees (default THREAD_CONTEXT_TOKENS). */
    threadContextTokens: z.number().int().min(100).max(1_000_000).optional(),
  })
  .strict();

export type AgentSpec = z.infer<typeof agentSchema> & { outputSchema?: JsonSchema };

const fileSchema = z
  .object({
    agents: z.array(z.unknown()).min(1, 'must list at least one agent'),
    /** Tool declarations an agents file may carry beside the agents (validated by loadCatalogTools). */
    mcpServers: z.array(z.unknown()).optional(),
    httpTools: z.array(z.unknown()).optional(),
  })
  .strict();

/** A bad agents file: the message names the file, the agent and the field. */
export class CatalogError extends Error {
  constructor(
    readonly file: string,
    readonly agent: string | null,
    readonly field: string | null,
    readonly problem: string,
  ) {
    super(`Invalid agents file ${file}: ${agent ? `agent "${agent}"` : 'file'}${field ? ` field "${field}"` : ''}: ${problem}`);
    this.name = 'CatalogError';
  }
}

/** Finds the shipped catalog whether running from `server/` (tsx) or `dist/server/server/` (built). */
export function findDefaultAgentsFile(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'server', 'agents', 'agents.default.json');
    if (existsSync(candidate) && existsSync(path.join(dir, 'package.json'))) return candidate;
    dir = path.dirname(dir);
  }
  return path.resolve('server/agents/agents.default.json');
}

/** Validates a parsed catalog; `file` only labels errors. */
export function parseCatalog(raw: unknown, file: string): Map<string, AgentSpec> {
  const outer = fileSchema.safeParse(raw);
  if (!outer.success) {
    const issue = outer.error.issues[0];
    throw new CatalogError(file, null, issue?.path.join('.') || null, issue?.message ?? 'must be {"agents": [...]}');
  }
  const agents = new Map<string, AgentSpec>();
  outer.data.agents.forEach((entry, index) => {
    const label =
      typeof entry === 'object' && entry !== null && typeof (entry as { name?: unknown }).name === 'string'
        ? (entry as { name: string }).name
        : `#${index + 1}`;
    const result = agentSchema.safeParse(entry);
    if (!result.success) {
      const issue = result.error.issues[0];
      const field = issue?.path.length ? issue.path.join('.') : issue?.code === 'unrecognized_keys' ? (issue as { keys?: string[] }).keys?.join(', ') ?? null : null;
      throw new CatalogError(file, label, field, issue?.message ?? 'is invalid');
    }
    if (agents.has(result.data.name)) throw new CatalogError(file, result.data.name, 'name', 'is used by more than one agent');
    agents.set(result.data.name, result.data as AgentSpec);
  });
  return agents;
}

/** Reads and validates the agents file (AGENTS_FILE or the shipped default). */
export function loadCatalog(file = findDefaultAgentsFile()): Map<string, AgentSpec> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new CatalogError(file, null, null, `cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new CatalogError(file, null, null, `is not valid JSON (${(error as Error).message})`);
  }
  return parseCatalog(raw, file);
}

/** The MCP servers and HTTP tools an agents file declares beside its agents. */
export function loadCatalogTools(file: string): { mcpServers: McpServerSpec[]; httpTools: HttpToolSpec[] } {
  const raw = JSON.parse(readFileSync(file, 'utf8')) as { mcpServers?: unknown; httpTools?: unknown };
  const parse = <T>(key: string, list: unknown, schema: z.ZodType<T>): T[] => {
    const result = z.array(schema).safeParse(list ?? []);
    if (!result.success) {
      const issue = result.error.issues[0];
      throw new CatalogError(file, null, `${key}${issue?.path.length ? `.${issue.path.join('.')}` : ''}`, issue?.message ?? 'is invalid');
    }
    return result.data;
  };
  return { mcpServers: parse('mcpServers', raw.mcpServers, mcpServerSpecSchema), httpTools: parse('httpTools', raw.httpTools, httpToolSpecSchema) };
}
