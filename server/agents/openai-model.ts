import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import type { Logger } from '../log.js';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { toStrictSchema } from '../../shared/json-schema.js';
import { estimatePromptTokens, estimateTokens, type CallOptions, type ChatMessage, type ModelRequest, type ModelResponse, type ToolCall } from './model.js';

/** Why one HTTP attempt failed, in the terms the retry policy and the breaker care about. */
export type FailureKind = 'rate_limited' | 'server' | 'connection' | 'timeout' | 'malformed' | 'rejected' | 'aborted';

export class LlmFailure extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
    readonly status?: number,
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'LlmFailure';
  }
}

/** Retry-After (seconds or HTTP date) or OpenAI's retry-after-ms, in milliseconds. */
export function parseRetryAfter(headers: Headers | undefined, now = Date.now()): number | undefined {
  if (!headers) return undefined;
  const ms = headers.get('retry-after-ms');
  if (ms && Number.isFinite(Number(ms))) return Math.max(0, Number(ms));
  const value = headers.get('retry-after');
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Math.max(0, Number(value) * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export function classify(error: unknown, signal: AbortSignal, timeout: AbortSignal): LlmFailure {
  if (error instanceof LlmFailure) return error;
  if (signal.aborted) return new LlmFailure('aborted', 'the model call was cancelled', undefined, undefined, { cause: error });
  if (timeout.aborted || error instanceof APIConnectionTimeoutError) {
    return new LlmFailure('timeout', 'the model API did not answer in time', undefined, undefined, { cause: error });
  }
  if (error instanceof APIUserAbortError) return new LlmFailure('aborted', 'the model call was cancelled', undefined, undefined, { cause: error });
  if (error instanceof APIConnectionError) {
    return new LlmFailure('connection', `cannot reach the model API: ${error.message}`, undefined, undefined, { cause: error });
  }
  if (error instanceof APIError) {
    const status = error.status;
    const detail = error.message.replace(/\s+/g, ' ').slice(0, 300);
    if (status === 429) return new LlmFailure('rate_limited', `the model API is rate limiting us: ${detail}`, status, parseRetryAfter(error.headers));
    if (status === undefined) {
      // An error event inside the stream (no HTTP status): the server broke off mid-answer.
      return new LlmFailure('malformed', `the model API broke off the answer: ${detail}`, undefined, undefined, { cause: error });
    }
    if (status === 408 || status === 409 || status >= 500) {
      return new LlmFailure('server', `the model API failed (${status}): ${detail}`, status, parseRetryAfter(error.headers), { cause: error });
    }
    return new LlmFailure('rejected', `the model API rejected the request (${status}): ${detail}`, status, undefined, { cause: error });
  }
  if (error instanceof SyntaxError || (error instanceof Error && /JSON|stream|SSE|event/i.test(error.message))) {
    return new LlmFailure('malformed', `the model API sent a malformed stream: ${error.message}`, undefined, undefined, { cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof TypeError || /ECONN|EPIPE|socket|terminated|network/i.test(message)) {
    return new LlmFailure('connection', `the connection to the model API failed: ${message}`, undefined, undefined, { cause: error });
  }
  return new LlmFailure('malformed', `unexpected answer from the model API: ${message}`, undefined, undefined, { cause: error });
}

export interface OpenAiBackendOptions {
  apiKey: string;
  baseUrl?: string;
  timeoutMs: number;
  /** The SDK's own diagnostics (e.g. an unparsable stream line) go here instead of the console. */
  logger?: Logger;
}

function sdkLogger(logger: Logger) {
  const child = logger.child({ component: 'openai-sdk' });
  const at =
    (level: 'debug' | 'info' | 'warn') =>
    (message: string, ...rest: unknown[]) =>
      child[level]({ detail: rest.map((r) => (typeof r === 'string' ? r.slice(0, 500) : r)) }, message);
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('warn') };
}

function toOpenAiMessage(message: ChatMessage): ChatCompletionMessageParam {
  if (message.role === 'tool') return { role: 'tool', tool_call_id: message.toolCallId, content: message.content };
  if (message.role === 'assistant' && message.toolCalls?.length) {
    return {
      role: 'assistant',
      content: message.content.length > 0 ? message.content : null,
      tool_calls: message.toolCalls.map((call) => ({ id: call.id, type: 'function' as const, function: { name: call.name, arguments: call.arguments } })),
    };
  }
  return { role: message.role, content: message.content };
}

/**
 * Tool calls arrive in pieces: the first delta of a call carries its index, id and
 * name, later ones only the index and more of the arguments' JSON text.
 */
export function assembleToolCalls() {
  const calls = new Map<number, ToolCall>();
  return {
    add(deltas: readonly { index: number; id?: string; function?: { name?: string; arguments?: string } }[] | undefined): void {
      for (const delta of deltas ?? []) {
        const call = calls.get(delta.index) ?? { id: '', name: '', arguments: '' };
        if (delta.id) call.id = delta.id;
        if (delta.function?.name) call.name += delta.function.name;
        if (delta.function?.arguments) call.arguments += delta.function.arguments;
        calls.set(delta.index, call);
      }
    },
    done(): ToolCall[] {
      const list = [...calls.entries()].sort(([a], [b]) => a - b).map(([, call]) => call);
      const broken = list.find((call) => call.id === '' || call.name === '');
      if (broken) throw new LlmFailure('malformed', 'the model API sent a tool call without an id or a name');
      return list;
    },
  };
}

/** One streamed chat completion over the SDK: no retries here (the caller owns the policy). */
export function createOpenAiAttempt(options: OpenAiBackendOptions) {
  const client = new OpenAI({
    apiKey: options.apiKey,
    baseURL: options.baseUrl,
    maxRetries: 0,
    timeout: options.timeoutMs,
    ...(options.logger ? { logger: sdkLogger(options.logger), logLevel: 'warn' as const } : {}),
  });

  return async function attempt(request: ModelRequest, call: CallOptions): Promise<ModelResponse> {
    // The SDK's timeout covers only the wait for headers; this one covers the whole stream.
    const timeout = AbortSignal.timeout(options.timeoutMs);
    const signal = AbortSignal.any([call.signal, timeout]);
    try {
      const stream = await client.chat.completions.create(
        {
          model: request.model,
          messages: request.messages.map(toOpenAiMessage),
          ...(request.tools?.length
            ? {
                tools: request.tools.map((tool) => ({ type: 'function' as const, function: { name: tool.name, description: tool.description, parameters: tool.parameters } })),
                parallel_tool_calls: true,
              }
            : {}),
          temperature: request.temperature,
          max_tokens: request.maxTokens,
          stream: true,
          stream_options: { include_usage: true },
          ...(request.responseSchema
            ? {
                response_format: {
                  type: 'json_schema' as const,
                  json_schema: { name: request.responseSchema.name, schema: toStrictSchema(request.responseSchema.schema), strict: true },
                },
              }
            : {}),
        },
        { signal },
      );
      let text = '';
      let model = request.model;
      let usage: ModelResponse['usage'] | undefined;
      let finish: string | null | undefined;
      const toolCalls = assembleToolCalls();
      for await (const chunk of stream) {
        if (chunk.model) model = chunk.model;
        const choice = chunk.choices?.[0];
        const delta = choice?.delta?.content;
        if (delta) {
          text += delta;
          call.onToken?.(delta);
        }
        toolCalls.add(choice?.delta?.tool_calls);
        if (choice?.finish_reason) finish = choice.finish_reason;
        if (chunk.usage) usage = { promptTokens: chunk.usage.prompt_tokens, completionTokens: chunk.usage.completion_tokens };
      }
      signal.throwIfAborted();
      if (finish === undefined && usage === undefined) {
        throw new LlmFailure('malformed', 'the model API ended the stream without finishing the answer');
      }
      const calls = toolCalls.done();
      return {
        text,
        model,
        cached: false,
        usage: usage ?? { promptTokens: estimatePromptTokens(request.messages), completionTokens: estimateTokens(text + calls.map((c) => c.name + c.arguments).join('')) },
        ...(usage ? {} : { estimatedUsage: true }),
        ...(calls.length > 0 ? { toolCalls: calls } : {}),
      };
    } catch (error) {
      throw classify(error, call.signal, timeout);
    }
  };
}

export type OpenAiAttempt = ReturnType<typeof createOpenAiAttempt>;
