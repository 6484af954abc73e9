import type { JsonSchema } from '../../shared/json-schema.js';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** One model call, everything that determines its answer (and so its cache key). */
export interface ModelRequest {
  model: string;
  messages: ChatMessage[];
  temperature: number;
  maxTokens: number;
  /** When set, the answer must be JSON matching this schema. */
  responseSchema?: { name: string; schema: JsonSchema };
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
