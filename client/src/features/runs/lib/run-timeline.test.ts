import { describe, expect, it } from 'vitest';
import type { Run, RunEvent } from '../../../../../shared/protocol.js';
import { applyEvent, buildTimeline, emptyLiveState, type LiveRunState, type NoteItem, type StepItem } from './run-timeline.js';

const RUN_ID = '11111111-1111-4111-8111-111111111111';
let at = 0;
const ev = (seq: number, type: string, data: Record<string, unknown> = {}): RunEvent => ({ seq, runId: RUN_ID, type, data, at: new Date(1_700_000_000_000 + at++ * 1000).toISOString() });

function run(overrides: Partial<Run> = {}): Run {
  return {
    id: RUN_ID,
    status: 'running',
    agent: null,
    pattern: 'debate',
    agents: ['a', 'b'],
    options: null,
    input: 'q',
    output: null,
    error: null,
    attempts: 1,
    maxAttempts: 3,
    priority: 0,
    model: 'offline',
    offline: true,
    owner: 'admin',
    idempotencyKey: null,
    usage: { promptTokens: 0, completionTokens: 0 },
    steps: [],
    pendingInput: null,
    createdAt: '2026-01-01T00:00:00.000Z',
    startedAt: '2026-01-01T00:00:01.000Z',
    finishedAt: null,
    updatedAt: '2026-01-01T00:00:01.000Z',
    ...overrides,
  };
}

const fold = (events: RunEvent[], state: LiveRunState = emptyLiveState) => events.reduce(applyEvent, state);
const steps = (items: ReturnType<typeof buildTimeline>) => items.filter((i): i is StepItem => i.kind === 'step');
const notes = (items: ReturnType<typeof buildTimeline>, kind: NoteItem['kind']) => items.filter((i): i is NoteItem => i.kind === kind);

describe('run timeline', () => {
  it('streams token deltas into the running step and drops repeated stored events', () => {
    const started = ev(3, 'run.step.started', { index: 0, key: 'k0', agent: 'a', meta: { round: 1 } });
    const state = fold([ev(1, 'run.queued', { priority: 0 }), ev(2, 'run.started', { attempt: 1, instance: 'i1' }), started, started, ev(3, 'run.token', { index: 0, key: 'k0', delta: 'Hel' }), ev(3, 'run.token', { index: 0, key: 'k0', delta: 'lo' })]);
    expect(state.events.map((e) => e.seq)).toEqual([1, 2, 3]);
    const [step] = steps(buildTimeline(run(), state));
    expect(step).toMatchObject({ index: 0, agent: 'a', status: 'running', text: 'Hello', streaming: true, meta: { round: 1 } });
  });

  it('shows the stored output once a step finishes, whatever streamed before', () => {
    const state = fold([ev(1, 'run.started', { attempt: 1 }), ev(2, 'run.step.started', { index: 0, agent: 'a' }), ev(2, 'run.token', { index: 0, delta: 'par' }), ev(3, 'run.step.finished', { index: 0, agent: 'a', status: 'succeeded', output: 'full answer', meta: { verdict: 'pass' } })]);
    const [step] = steps(buildTimeline(run(), state));
    expect(step).toMatchObject({ status: 'succeeded', text: 'full answer', streaming: false, meta: { verdict: 'pass' } });
  });

  it('prefers the snapshot for steps and still lists steps no event announced, in index order', () => {
    const snapshot = run({
      steps: [
        { index: 1, agent: 'b', status: 'succeeded', output: 'two' },
        { index: 0, agent: 'a', status: 'succeeded', output: 'one' },
      ],
    });
    const items = buildTimeline(snapshot, fold([ev(1, 'run.started', { attempt: 1 })]));
    expect(steps(items).map((s) => [s.index, s.text])).toEqual([
      [0, 'one'],
      [1, 'two'],
    ]);
  });

  it('a restarted step streams from the beginning again', () => {
    const state = fold([
      ev(1, 'run.started', { attempt: 1 }),
      ev(2, 'run.step.started', { index: 0, agent: 'a' }),
      ev(2, 'run.token', { index: 0, delta: 'old ' }),
      ev(3, 'run.retrying', { attempt: 1, maxAttempts: 3, delayMs: 1500, error: { code: 'llm_timeout', message: 'model timed out' } }),
      ev(4, 'run.started', { attempt: 2 }),
      ev(5, 'run.step.started', { index: 0, agent: 'a' }),
      ev(5, 'run.token', { index: 0, delta: 'new' }),
    ]);
    const items = buildTimeline(run(), state);
    expect(steps(items)[0]!.text).toBe('new');
    const retry = items.find((i) => i.kind === 'retry');
    expect(retry).toMatchObject({ title: 'Attempt 1 failed; retrying', detail: 'model timed out (llm_timeout) · next try in 1.5 s' });
    expect(items.find((i) => i.kind === 'started')).toMatchObject({ title: 'Attempt 2 started' });
  });

  it('records the question, the answer and the resume of an escalated run', () => {
    const state = fold([
      ev(1, 'run.started', { attempt: 1 }),
      ev(2, 'run.awaiting_input', { question: { kind: 'router.choice', question: 'Who should handle this?', candidates: [{ name: 'a' }] } }),
      ev(3, 'run.input_received', { answer: 'a', by: 'alice' }),
      ev(4, 'run.started', { attempt: 1 }),
    ]);
    const kinds = buildTimeline(run(), state).map((i) => (i.kind === 'step' ? 'step' : `${i.kind}:${i.title}`));
    expect(kinds).toEqual(['question:Asked a person', 'answer:alice answered', 'started:Resumed']);
  });

  it('stops streaming once the run is final, and reports failures with their message', () => {
    const state = fold([ev(1, 'run.started', { attempt: 1 }), ev(2, 'run.step.started', { index: 0, agent: 'a' }), ev(3, 'run.failed', { error: { code: 'bad_output', message: 'judge named nobody' }, attempt: 1 })]);
    const items = buildTimeline(run({ status: 'failed', error: { code: 'bad_output', message: 'judge named nobody' } }), state);
    expect(steps(items)[0]!.streaming).toBe(false);
    expect(items.find((i) => i.kind === 'error')).toMatchObject({ detail: 'judge named nobody (bad_output)' });
  });

  it('reads each field where the server puts it: a failed step shows its error, a guessed delta name is not text', () => {
    const state = fold([
      ev(1, 'run.started', { attempt: 1, instance: 'i1' }),
      ev(2, 'run.step.started', { index: 0, key: 'k0', agent: 'a' }),
      // Not what the server sends: a client that guessed `text` would stream it.
      ev(2, 'run.token', { index: 0, text: 'guessed' }),
      ev(3, 'run.step.finished', { index: 0, key: 'k0', agent: 'a', status: 'failed', error: { message: 'model refused' } }),
      // An event type this client does not know is skipped but still moves the position.
      ev(4, 'run.something_new', { x: 1 }),
    ]);
    expect(state.lastSeq).toBe(4);
    expect(state.streams).toEqual({});
    const [step] = steps(buildTimeline(run(), state));
    expect(step).toMatchObject({ status: 'failed', output: { error: { message: 'model refused' } } });
  });
});

describe('run timeline: tool calls and approvals', () => {
  const toolMeta = (args: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    kind: 'tool',
    tool: 'send_notification',
    toolName: 'send_notification',
    source: 'builtin',
    arguments: args,
    approvalId: 'ap_x',
    annotations: { readOnly: false, idempotent: false, destructive: false },
    ...extra,
  });
  // The events of a run with two parallel approvals, one denied and one approved (as the server writes them).
  const parked = [
    ev(1, 'run.started', { attempt: 1 }),
    ev(2, 'run.step.started', { index: 0, agent: 'assistant', meta: { role: 'agent', turn: 0 } }),
    ev(3, 'run.step.finished', {
      index: 0,
      agent: 'assistant',
      status: 'succeeded',
      output: { text: '', toolCalls: [{ id: 'c0', name: 'send_notification', arguments: '{"message":"a"}' }, { id: 'c1', name: 'send_notification', arguments: '{"message":"b"}' }] },
      meta: { role: 'agent', turn: 0, toolCalls: ['send_notification', 'send_notification'] },
    }),
    ev(4, 'run.approval.requested', { approvalId: 'ap_a', kind: 'tool.approval', tool: 'send_notification', toolName: 'send_notification', arguments: { message: 'a' }, agent: 'assistant', stepKey: 'k:c0' }),
    ev(5, 'run.approval.requested', { approvalId: 'ap_b', kind: 'tool.approval', tool: 'send_notification', toolName: 'send_notification', arguments: { message: 'b' }, agent: 'assistant', stepKey: 'k:c1' }),
    ev(6, 'run.awaiting_input', { question: { kind: 'tool.approval', requests: [] } }),
  ];
  const decided = [
    ev(7, 'run.approval.decided', { approvalId: 'ap_a', kind: 'tool.approval', tool: 'send_notification', decision: 'deny', reason: 'no', by: 'admin', remaining: 1 }),
    ev(8, 'run.approval.decided', { approvalId: 'ap_b', kind: 'tool.approval', tool: 'send_notification', decision: 'approve', by: 'admin', remaining: 0 }),
    ev(9, 'run.started', { attempt: 1 }),
    ev(10, 'run.tool.called', { index: 1, key: 'k:c0', agent: 'assistant', meta: toolMeta({ message: 'a' }) }),
    ev(11, 'run.tool.finished', { index: 1, key: 'k:c0', agent: 'assistant', status: 'succeeded', output: { how: 'denied', content: 'denied by a person: no. The tool was not run.', isError: true }, meta: toolMeta({ message: 'a' }) }),
    ev(12, 'run.tool.called', { index: 2, key: 'k:c1', agent: 'assistant', meta: toolMeta({ message: 'b' }, { approvedBy: 'admin' }) }),
  ];

  it('shows one note per approval request, not the raw question, then who decided what', () => {
    const items = buildTimeline(run({ status: 'awaiting_input', pattern: null, agent: 'assistant' }), fold(parked));
    expect(items.filter((i) => i.kind === 'question')).toEqual([]);
    expect(notes(items, 'approval').map((i) => [i.title, i.value])).toEqual([
      ['send_notification waits for approval', { message: 'a' }],
      ['send_notification waits for approval', { message: 'b' }],
    ]);
    // The model turn that asked has no text, only the calls it asked for; it is not a tool card.
    expect(steps(items)).toMatchObject([{ index: 0, text: '', tool: null }]);

    const after = buildTimeline(run({ status: 'running', pattern: null, agent: 'assistant' }), fold([...parked, ...decided]));
    expect(notes(after, 'decision').map((i) => [i.title, i.detail])).toEqual([
      ['admin denied send_notification', '“no” · 1 more to decide'],
      ['admin approved send_notification', undefined],
    ]);
    expect(after.find((i) => i.kind === 'started')).toMatchObject({ title: 'Resumed' });
  });

  it('makes tool steps tool calls: pending until the receipt, then how it came about', () => {
    const items = buildTimeline(run({ status: 'running', pattern: null, agent: 'assistant' }), fold([...parked, ...decided]));
    const [, denied, pending] = steps(items);
    if (!denied) throw new Error('expected a denied step');
    expect(denied.tool).toEqual({
      tool: 'send_notification',
      toolName: 'send_notification',
      source: 'builtin',
      arguments: { message: 'a' },
      content: 'denied by a person: no. The tool was not run.',
      isError: true,
      how: 'denied',
      durationMs: null,
      truncated: false,
      approvedBy: null,
    });
    expect(pending).toMatchObject({ status: 'running', streaming: false, tool: { content: null, how: null, approvedBy: 'admin', arguments: { message: 'b' } } });
  });

  it('reads tool calls from the stored steps alone (history trimmed) and prefers the snapshot', () => {
    const snapshot = run({
      status: 'succeeded',
      pattern: null,
      agent: 'assistant',
      steps: [
        { index: 0, agent: 'assistant', status: 'succeeded', output: { text: 'It is 4.', toolCalls: [] }, meta: { role: 'agent' } },
        {
          index: 1,
          agent: 'assistant',
          status: 'succeeded',
          output: { how: 'repeated', content: '4', isError: false, durationMs: 12, truncated: true },
          meta: { kind: 'tool', tool: 'calculator', toolName: 'calculator', source: 'builtin', arguments: { expression: '2+2' } },
        },
        { index: 2, agent: 'assistant', status: 'failed', output: { error: { message: 'tool timed out' } }, meta: { kind: 'tool', tool: 'shop__charge', toolName: 'charge', source: 'mcp' } },
      ],
    });
    const [, repeated, failed] = steps(buildTimeline(snapshot, emptyLiveState));
    if (!repeated || !failed) throw new Error('expected three steps');
    expect(repeated.tool).toMatchObject({ toolName: 'calculator', how: 'repeated', content: '4', durationMs: 12, truncated: true, isError: false });
    expect(repeated.text).toBe('4');
    expect(failed.tool).toMatchObject({ tool: 'shop__charge', toolName: 'charge', content: 'tool timed out', isError: true, how: null });
  });

  it('an executed receipt carries its duration from the event', () => {
    const state = fold([
      ...parked,
      ...decided,
      ev(13, 'run.tool.finished', { index: 2, key: 'k:c1', agent: 'assistant', status: 'succeeded', output: { how: 'executed', content: 'sent to #general', isError: false, durationMs: 3, structured: { sent: true } }, meta: toolMeta({ message: 'b' }) }),
    ]);
    const [, , executed] = steps(buildTimeline(run({ status: 'running', pattern: null, agent: 'assistant' }), state));
    expect(executed).toMatchObject({ status: 'succeeded', text: 'sent to #general', tool: { how: 'executed', durationMs: 3, isError: false } });
  });

  it('notes an unknown outcome from the question itself (it has no approval.requested event)', () => {
    const question = {
      kind: 'tool.unknown_outcome',
      requests: [{ approvalId: 'ap_c_u', kind: 'tool.unknown_outcome', tool: 'shop__charge', toolName: 'charge', arguments: { amount: 5 }, agent: 'assistant', stepKey: 'k:c0' }],
    };
    const state = fold([
      ev(1, 'run.started', { attempt: 1 }),
      ev(2, 'run.tool.called', { index: 1, agent: 'assistant', meta: { kind: 'tool', tool: 'shop__charge', toolName: 'charge', arguments: { amount: 5 } } }),
      ev(3, 'run.released', { reason: 'shutdown' }),
      ev(4, 'run.started', { attempt: 1 }),
      ev(5, 'run.awaiting_input', { question }),
    ]);
    const items = buildTimeline(run({ status: 'awaiting_input', pattern: null, agent: 'assistant', pendingInput: question }), state);
    expect(notes(items, 'approval').map((i) => [i.title, i.value])).toEqual([['Outcome of charge unknown: a person decides', { amount: 5 }]]);
    expect(notes(items, 'question')).toEqual([]);
    // The call has an intent and no receipt.
    expect(steps(items)[0]).toMatchObject({ status: 'running', tool: { toolName: 'charge', content: null, how: null } });
    const decided = fold([ev(6, 'run.approval.decided', { approvalId: 'ap_c_u', kind: 'tool.unknown_outcome', tool: 'shop__charge', decision: 'record', by: 'olga', remaining: 0 })], state);
    expect(notes(buildTimeline(run({ status: 'queued', pattern: null, agent: 'assistant' }), decided), 'decision').map((i) => i.title)).toEqual(['olga recorded a result for charge']);
  });
});
