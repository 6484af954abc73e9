import { z } from 'zod';

/**
 * How tools are declared in configuration (MCP_SERVERS, HTTP_TOOLS, or the agents
 * file): zod only, so the config module validates them at start-up without loading
 * the MCP SDK.
 */

/** When a call of a tool needs a person's approval (server/tools/types.ts needsApproval). */
export const approvalPolicySchema = z.enum(['never', 'always', 'when-destructive']);
export type ApprovalPolicy = z.infer<typeof approvalPolicySchema>;

const common = {
  name: z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'lowercase letters, digits, "_" and "-", starting with a letter, 32 at most'),
  /** Per call; the MCP SDK's own default is 60 s too. */
  timeoutMs: z.number().int().min(100).max(600_000).default(60_000),
  /** Overrides the default approval policy for every tool of this server, or per tool name. */
  approval: approvalPolicySchema.optional(),
  toolApprovals: z.record(z.string(), approvalPolicySchema).default({}),
};

export const mcpServerSpecSchema = z.discriminatedUnion('transport', [
  z.object({ ...common, transport: z.literal('http'), url: z.url({ protocol: /^https?$/ }), headers: z.record(z.string(), z.string()).default({}) }).strict(),
  z
    .object({
      ...common,
      transport: z.literal('stdio'),
      command: z.string().min(1),
      args: z.array(z.string()).default([]),
      env: z.record(z.string(), z.string()).default({}),
      cwd: z.string().optional(),
    })
    .strict(),
]);
export type McpServerSpec = z.infer<typeof mcpServerSpecSchema>;

/**
 * HTTP tools: an operator connects an agent to their own service by declaring it,
 * with no code. Arguments fill `{placeholders}` in the URL (URL-encoded); for any
 * method but GET and DELETE the arguments are also the JSON body. Header values may
 * name environment variables (`Bearer ${env:WEATHER_TOKEN}`) so secrets stay out of
 * the declaration.
 */
export const httpToolSpecSchema = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9_-]{0,47}$/, 'lowercase letters, digits, "_" and "-", starting with a letter, 48 at most'),
    description: z.string().min(1).max(1024),
    input: z
      .object({ type: z.literal('object'), properties: z.record(z.string(), z.unknown()).optional(), required: z.array(z.string()).optional() })
      .catchall(z.unknown())
      .default({ type: 'object', properties: {} }),
    url: z.string().min(1).max(2048),
    method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']).default('GET'),
    headers: z.record(z.string().regex(/^[A-Za-z0-9-]+$/), z.string().max(4096)).default({}),
    annotations: z.object({ readOnly: z.boolean().optional(), destructive: z.boolean().optional(), idempotent: z.boolean().optional() }).strict().default({}),
    approval: approvalPolicySchema.optional(),
    timeoutMs: z.number().int().min(100).max(300_000).default(10_000),
    maxResponseBytes: z.number().int().min(1024).max(10 * 1024 * 1024).default(256 * 1024),
  })
  .strict();

export type HttpToolSpec = z.infer<typeof httpToolSpecSchema>;
