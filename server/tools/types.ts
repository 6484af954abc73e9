import type { ApprovalPolicy } from '../config/tool-specs.js';

/**
 * What an agent can be given to act with. Every tool, built-in, HTTP or MCP, looks
 * the same to the agent loop: a name the model calls it by, a JSON Schema for its
 * arguments, what it may do to the world (annotations), whether a person must
 * approve a call, and `execute`.
 */

// The policy is declared with the tool specs that configure it: one list for both.
export type { ApprovalPolicy } from '../config/tool-specs.js';

/** A JSON Schema object as sent to the model and checked against the arguments (full JSON Schema, not the output subset). */
export type ToolInputSchema = { type: 'object'; properties?: Record<string, unknown>; required?: string[]; [key: string]: unknown };

/** MCP's tool annotations, with the spec's defaults applied (a tool says nothing: it may write, destructively, and is not idempotent). */
export interface ToolAnnotations {
  readOnly: boolean;
  destructive: boolean;
  idempotent: boolean;
}

export type ToolSource = 'builtin' | 'http' | 'mcp';

export interface ToolCallContext {
  signal: AbortSignal;
  /** `<run id>:<step key>`: the same for every execution of one call, so a tool can apply it once. */
  idempotencyKey: string;
}

export interface ToolResult {
  /** What the model reads back (text; JSON is serialised). */
  content: string;
  /** The tool ran and reported a failure (the model sees it and may try something else). */
  isError: boolean;
  /** Structured result, when the tool gave one (stored with the receipt). */
  structured?: unknown;
}

export interface Tool {
  /** How it is declared on an agent: `current_time`, `http:weather`, `mcp:files/read_file`. */
  readonly id: string;
  /** How the model calls it (OpenAI function names: `^[A-Za-z0-9_-]{1,64}$`). */
  readonly name: string;
  readonly source: ToolSource;
  readonly description: string;
  readonly inputSchema: ToolInputSchema;
  readonly annotations: ToolAnnotations;
  readonly approval: ApprovalPolicy;
  readonly timeoutMs: number;
  execute(args: Record<string, unknown>, ctx: ToolCallContext): Promise<ToolResult>;
}

/** A call needs a person's approval under its tool's policy. */
export function needsApproval(tool: Pick<Tool, 'approval' | 'annotations'>): boolean {
  return tool.approval === 'always' || (tool.approval === 'when-destructive' && !tool.annotations.readOnly && tool.annotations.destructive);
}

/**
 * After a crash between a call's intent and its receipt nobody knows whether it ran:
 * only a tool that says running it twice is harmless may be run again unasked.
 */
export function safeToRepeat(tool: Pick<Tool, 'annotations'>): boolean {
  return tool.annotations.readOnly || tool.annotations.idempotent;
}

/** A tool failed to run at all (timeout, unreachable, refused): distinct from a result with isError. */
export class ToolError extends Error {
  constructor(
    readonly code: 'timeout' | 'unavailable' | 'bad_arguments' | 'refused' | 'failed' | 'too_large',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ToolError';
  }
}

/** OpenAI function names allow letters, digits, `_` and `-`, 64 at most. */
export function modelToolName(raw: string): string {
  const name = raw.replace(/[^A-Za-z0-9_-]/g, '_');
  return name.length <= 64 ? name : name.slice(0, 64);
}
