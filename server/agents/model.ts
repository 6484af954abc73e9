import type { JsonSchema } from '../../shared/json-schema.js';

/** A tool call as the model made it: `arguments` is the JSON text it wrote (parsed and checked by the loop). */
export interface ToolCall {
  id: string;
  name: string;
  arguments: string;
}

export type ChatMessage =
  | { role: 'system' | 'user'; content: string }
  | { role: 'assistant'; content: string; toolCalls?: ToolCall[] }
  | { role: 'tool'; toolCallId: string; content: string };

/** A tool as offered to the model (OpenAI function calling). */
export interface ModelToolSpec {
  name: string;
  description: string;
  parameters: Record<string, unknown>;
}

/** One model call, everything that determines its answer (and so its cache key). */
export interface ModelRequest {
  model: string;
  messages: ChatMessage[];
  temperature: number;
  maxTokens: number;
  /** When set, the answer must be JSON matching this schema. */
  responseSchema?: { name: string; schema: JsonSchema };
  /** Tools the model may call instead of answering; it may call several at once. */
  tools?: ModelToolSpec[];
}

export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
}

export interface ModelResponse {
  text: string;
  usage: TokenUsage;
  /** The model that answered ("offline" for the built-in one). */
  model: string;
  cached: boolean;
  /** Token counts were estimated because the server reported none. */
  estimatedUsage?: boolean;
  /** The model asked for these tools to be run (its text, if any, is a preamble). */
  toolCalls?: ToolCall[];
}

export interface CallOptions {
  signal: AbortSignal;
  /** Receives text deltas as they stream. */
  onToken?: (delta: string) => void;
  /** The run owner, for the per-user rate-limit share. */
  user?: string;
}

/** Something that answers ModelRequests: the offline model or the OpenAI client. */
export interface ModelBackend {
  readonly name: 'offline' | 'openai';
  complete(request: ModelRequest, options: CallOptions): Promise<ModelResponse>;
}

/** Rough tokens for text (about four characters a token), for the offline model and servers that report none. */
export function estimateTokens(text: string): number {
  return text.length === 0 ? 0 : Math.max(1, Math.ceil(text.length / 4));
}

export function estimatePromptTokens(messages: readonly ChatMessage[]): number {
  return messages.reduce((sum, m) => sum + 4 + estimateTokens(m.content), 2);
}
