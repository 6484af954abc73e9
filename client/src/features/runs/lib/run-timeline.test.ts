import { describe, expect, it } from 'vitest';
import type { Run, RunEvent } from '../../../../../shared/protocol.js';
import { applyEvent, buildTimeline, emptyLiveState, type LiveRunState, type StepItem } from './run-timeline.js';

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
    expect(steps(items)[0].text).toBe('new');
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
    expect(steps(items)[0].streaming).toBe(false);
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
