import { context, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, TraceFlags, type Context, type Span, type Tracer } from '@opentelemetry/api';
import type { RunEvent } from '../../shared/protocol.js';
import type { ModelBackend, ModelResponse } from './model.js';

/**
 * The agent system's spans, with the OpenTelemetry GenAI conventions: `chat <model>` per
 * model call, `execute_tool <name>` per tool call, `invoke_agent` / `invoke_workflow` per
 * attempt of a run, the wait in the queue and each wait for a person. The trace a run
 * continues is frozen in its plan at submit (the request's span), so every attempt on
 * every instance joins the same trace.
 */

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The W3C `traceparent` of the span current now (the HTTP request at submit), or undefined. */
export function currentTraceparent(): string | undefined {
  const span = trace.getSpanContext(context.active());
  if (!span || !trace.isSpanContextValid(span)) return undefined;
  return `00-${span.traceId}-${span.spanId}-0${(span.traceFlags & TraceFlags.SAMPLED).toString(16)}`;
}

/** The remote parent a stored `traceparent` names; the root context when there is none. */
export function contextFromTraceparent(traceparent: string | undefined): Context {
  const match = traceparent ? TRACEPARENT.exec(traceparent) : null;
  if (!match) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, { traceId: match[1]!, spanId: match[2]!, traceFlags: Number.parseInt(match[3]!, 16), isRemote: true });
}

export function failSpan(span: Span, error: unknown): void {
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
  span.setAttribute('error.type', error instanceof Error ? error.name : 'error');
}

/** Runs `fn` inside a new active span that ends (with the error, if any) when `fn` settles. */
export function inSpan<T>(tracer: Tracer, name: string, attributes: Record<string, string | number | boolean>, fn: (span: Span) => Promise<T>, kind = SpanKind.INTERNAL): Promise<T> {
  return tracer.startActiveSpan(name, { kind, attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (error) {
      // A run parking for a person is not an error of this span.
      if (!(error instanceof Error && error.name === 'AwaitingInput')) failSpan(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}

/** Why the model stopped, in the GenAI convention's words (the backends report no more than this). */
function finishReasons(response: ModelResponse): string[] {
  return [response.toolCalls && response.toolCalls.length > 0 ? 'tool_calls' : 'stop'];
}

/** The backend with a `chat <model>` client span around every call. */
export function tracedBackend(backend: ModelBackend, tracer: Tracer, captureContent: boolean): ModelBackend {
  const provider = backend.name === 'openai' ? 'openai' : 'agentry.offline';
  return {
    name: backend.name,
    complete(request, options) {
      const attributes: Record<string, string | number | boolean> = {
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': provider,
        'gen_ai.request.model': request.model,
        'gen_ai.request.max_tokens': request.maxTokens,
        'gen_ai.request.temperature': request.temperature,
      };
      // Prompts may hold what users would not want in a tracing vendor: only when asked for.
      if (captureContent) attributes['gen_ai.input.messages'] = JSON.stringify(request.messages.map((m) => ({ role: m.role, content: m.content })));
      return inSpan(
        tracer,
        `chat ${request.model}`,
        attributes,
        async (span) => {
          const response = await backend.complete(request, options);
          span.setAttributes({
            'gen_ai.response.model': response.model,
            'gen_ai.usage.input_tokens': response.usage.promptTokens,
            'gen_ai.usage.output_tokens': response.usage.completionTokens,
            'gen_ai.response.finish_reasons': finishReasons(response),
            ...(response.cached ? { 'agentry.cache.hit': true } : {}),
          });
          if (captureContent) {
            span.setAttribute('gen_ai.output.messages', JSON.stringify([{ role: 'assistant', content: response.text, ...(response.toolCalls?.length ? { tool_calls: response.toolCalls.map((c) => ({ id: c.id, name: c.name })) } : {}) }]));
          }
          return response;
        },
        SpanKind.CLIENT,
      );
    },
  };
}

/**
 * Spans for what happened between two attempts, from the run's stored events: the wait for
 * a person that ended just before this attempt (awaiting_input → the answer) and the wait
 * in the queue (from the event that queued the run again to this attempt's claim).
 */
export function recordWaits(tracer: Tracer, parent: Context, events: readonly RunEvent[], claimedAt: Date, firstQueuedAt: Date | undefined): void {
  const started = events.filter((e) => e.type === 'run.started');
  const previousStart = started.length >= 2 ? started[started.length - 2]!.seq : 0;
  const since = events.filter((e) => e.seq > previousStart && e.type !== 'run.started');
  const parked = since.find((e) => e.type === 'run.awaiting_input');
  const answers = since.filter((e) => e.type === 'run.input_received' || e.type === 'run.approval.decided');
  const answered = answers[answers.length - 1];
  if (parked && answered) {
    const kind = typeof parked.data.kind === 'string' ? parked.data.kind : typeof (parked.data.question as { kind?: unknown } | undefined)?.kind === 'string' ? String((parked.data.question as { kind: string }).kind) : 'input';
    tracer.startSpan(`await_input ${kind}`, { startTime: new Date(parked.at), attributes: { 'agentry.wait.kind': kind, 'agentry.wait.answers': answers.length } }, parent).end(new Date(answered.at));
  }
  const requeued = [...since].reverse().find((e) => ['run.input_received', 'run.approval.decided', 'run.retrying', 'run.released', 'run.queued'].includes(e.type));
  const from = requeued ? new Date(requeued.at) : firstQueuedAt;
  if (from) tracer.startSpan('queue.wait', { startTime: from, attributes: { 'agentry.queue.reason': requeued?.type ?? 'run.queued' } }, parent).end(claimedAt);
}
