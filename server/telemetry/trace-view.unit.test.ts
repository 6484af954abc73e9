import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../../shared/protocol.js';
import { assembleTrace } from './trace-view.js';

let seq = 0;
const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
const e = (type: string, s: number, data: Record<string, unknown> = {}): RunEvent => ({ seq: ++seq, runId: 'r', type, data, at: t(s) });

describe('assembleTrace', () => {
  it('lays out attempts, queue waits, a wait for a person, model and tool calls, and totals', () => {
    seq = 0;
    const events = [
      e('run.queued', 0),
      e('run.started', 1, { attempt: 1, instance: 'a' }),
      e('run.step.started', 1, { key: 'agent:x#t0', agent: 'x', meta: { model: 'gpt-4o-mini' } }),
      e('run.step.finished', 3, { key: 'agent:x#t0', status: 'failed', usage: { promptTokens: 10, completionTokens: 0, costUsd: 0.001 } }),
      e('run.retrying', 3, { attempt: 1 }),
      e('run.started', 5, { attempt: 2, instance: 'b' }),
      e('run.step.started', 5, { key: 'agent:x#t0', agent: 'x', meta: { model: 'gpt-4o-mini' } }),
      e('run.step.finished', 6, { key: 'agent:x#t0', status: 'succeeded', model: 'gpt-4o-mini-2024-07-18', usage: { promptTokens: 10, completionTokens: 5, costUsd: 0.002 } }),
      e('run.tool.called', 6, { key: 'agent:x#t0:c1', agent: 'x', meta: { kind: 'tool', tool: 'mcp:files/write', toolName: 'write' } }),
      e('run.awaiting_input', 7, { question: { kind: 'tool.approval' } }),
      e('run.approval.decided', 20, { remaining: 1 }),
      e('run.approval.decided', 30, { remaining: 0, by: 'ops' }),
      e('run.started', 31, { attempt: 2, instance: 'a' }),
      e('run.succeeded', 32),
    ];
    const trace = assembleTrace('r', events);
    const view = trace.spans.map((s) => [s.kind, s.name, s.status, s.durationMs, s.parentId]);
    expect(view).toEqual([
      ['run', 'run r', 'ok', 32_000, null],
      ['queue', 'queue.wait', 'ok', 1000, 'run'],
      ['attempt', 'attempt 1', 'error', 2000, 'run'],
      ['model', 'chat gpt-4o-mini', 'error', 2000, 'attempt:1'],
      ['queue', 'queue.wait', 'ok', 2000, 'run'],
      ['attempt', 'attempt 2', 'waiting', 2000, 'run'],
      ['model', 'chat gpt-4o-mini-2024-07-18', 'ok', 1000, 'attempt:2'],
      ['tool', 'execute_tool write', 'interrupted', 1000, 'attempt:2'],
      ['wait', 'await_input tool.approval', 'ok', 23_000, 'run'],
      ['queue', 'queue.wait', 'ok', 1000, 'run'],
      ['attempt', 'attempt 2', 'ok', 1000, 'run'],
    ]);
    expect(trace.spans.find((s) => s.kind === 'wait')!.attributes.answeredBy).toBe('ops');
    expect(trace.spans.filter((s) => s.kind === 'queue').map((s) => s.attributes.reason)).toEqual(['run.queued', 'run.retrying', 'run.approval.decided']);
    expect(trace.attempts).toBe(3);
    expect(trace.totals).toEqual({ promptTokens: 20, completionTokens: 5, costUsd: 0.003 });
  });

  it('leaves a live run open: a running attempt and its call have no end', () => {
    seq = 0;
    const trace = assembleTrace('r', [e('run.queued', 0), e('run.started', 1), e('run.step.started', 2, { key: 'k' })], new Date(t(10)));
    expect(trace.end).toBeNull();
    expect(trace.durationMs).toBe(10_000);
    expect(trace.spans.filter((s) => s.end === null).map((s) => s.kind)).toEqual(['run', 'attempt', 'model']);
  });
});
