import { context, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../shared/protocol.js';
import { contextFromTraceparent, currentTraceparent, recordWaits } from './tracing.js';

const exporter = new InMemorySpanExporter();
const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
const tracer = provider.getTracer('test');
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
afterAll(() => provider.shutdown());

const event = (seq: number, type: string, at: string, data: Record<string, unknown> = {}): RunEvent => ({ seq, runId: 'r', type, data, at });

describe('trace context in the plan', () => {
  it('round-trips the current span as a W3C traceparent, and nothing outside a span', () => {
    expect(currentTraceparent()).toBeUndefined();
    const span = tracer.startSpan('request');
    const inside = context.with(trace.setSpan(ROOT_CONTEXT, span), () => currentTraceparent());
    span.end();
    expect(inside).toBe(`00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`);
    const parent = trace.getSpanContext(contextFromTraceparent(inside))!;
    expect(parent).toMatchObject({ traceId: span.spanContext().traceId, spanId: span.spanContext().spanId, isRemote: true });
    expect(trace.getSpanContext(contextFromTraceparent('garbage'))).toBeUndefined();
  });
});

describe('recordWaits', () => {
  it('a resumed attempt gets the wait for the person that just ended and its wait in the queue', () => {
    exporter.reset();
    const parent = contextFromTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
    const events = [
      event(1, 'run.queued', '2026-01-01T00:00:00.000Z'),
      event(2, 'run.started', '2026-01-01T00:00:01.000Z'),
      event(5, 'run.awaiting_input', '2026-01-01T00:00:02.000Z', { question: { kind: 'budget.exceeded' } }),
      event(6, 'run.approval.decided', '2026-01-01T00:01:02.000Z', { remaining: 0 }),
      event(7, 'run.started', '2026-01-01T00:01:03.000Z'),
    ];
    recordWaits(tracer, parent, events, new Date('2026-01-01T00:01:03.000Z'), new Date('2026-01-01T00:00:00.000Z'));
    const spans = exporter.getFinishedSpans();
    const wait = spans.find((s) => s.name === 'await_input budget.exceeded')!;
    expect(wait.spanContext().traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(wait.parentSpanContext?.spanId).toBe('00f067aa0ba902b7');
    expect(wait.duration).toEqual([60, 0]);
    const queued = spans.find((s) => s.name === 'queue.wait')!;
    expect(queued.attributes['agentry.queue.reason']).toBe('run.approval.decided');
    expect(queued.duration).toEqual([1, 0]);
  });
});
