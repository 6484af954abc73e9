/**
 * The run view's model: stored events (replayed, then live) plus token deltas, folded
 * over the latest Run snapshot into one ordered timeline. Pure, so it is tested
 * without a browser.
 */
import type { Run, RunEvent, RunStep, Usage } from '../../../shared/protocol.js';

export interface LiveRunState {
  /** Stored events by seq, without duplicates, in order. */
  events: RunEvent[];
  /** Text streamed so far per step index (token events; never stored). */
  streams: Record<number, string>;
  lastSeq: number;
}

export const emptyLiveState: LiveRunState = { events: [], streams: {}, lastSeq: 0 };

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** Event data names the step as index, step or stepIndex depending on the event. */
export function stepIndexOf(data: Record<string, unknown>): number | undefined {
  const step = data.step;
  if (step && typeof step === 'object') return num((step as Record<string, unknown>).index);
  return num(data.index) ?? num(step) ?? num(data.stepIndex);
}

function deltaOf(data: Record<string, unknown>): string {
  return str(data.delta) ?? str(data.text) ?? str(data.token) ?? str(data.content) ?? '';
}

export function applyEvent(state: LiveRunState, event: RunEvent): LiveRunState {
  if (event.type === 'run.token') {
    const index = stepIndexOf(event.data) ?? -1;
    const delta = deltaOf(event.data);
    if (!delta) return state;
    return { ...state, streams: { ...state.streams, [index]: (state.streams[index] ?? '') + delta } };
  }
  if (event.seq <= state.lastSeq && state.events.some((e) => e.seq === event.seq)) return state;
  const events = event.seq > state.lastSeq ? [...state.events, event] : [...state.events, event].sort((a, b) => a.seq - b.seq);
  let streams = state.streams;
  if (event.type === 'run.step.started') {
    // A step that starts again (a retry) streams from the beginning.
    const index = stepIndexOf(event.data);
    if (index !== undefined && streams[index] !== undefined) {
      streams = { ...streams };
      delete streams[index];
    }
  }
  return { events, streams, lastSeq: Math.max(state.lastSeq, event.seq) };
}

export interface StepItem {
  kind: 'step';
  key: string;
  index: number;
  agent: string | null;
  status: RunStep['status'];
  output: unknown;
  /** What to show as text: the output's text, or what streamed so far. */
  text: string | null;
  streaming: boolean;
  meta: Record<string, unknown>;
  usage?: Usage;
  startedAt?: string | null;
  finishedAt?: string | null;
}

export interface NoteItem {
  kind: 'retry' | 'question' | 'answer' | 'error' | 'cancel' | 'released' | 'started';
  key: string;
  seq: number;
  at: string;
  title: string;
  detail?: string;
  value?: unknown;
}

export type TimelineItem = StepItem | NoteItem;

/** The readable text of an output: a string, or the text field of an object. */
export function outputText(output: unknown): string | null {
  if (typeof output === 'string') return output;
  if (output && typeof output === 'object' && !Array.isArray(output)) {
    const rec = output as Record<string, unknown>;
    for (const k of ['text', 'content', 'answer', 'output', 'message', 'summary']) if (typeof rec[k] === 'string') return rec[k] as string;
  }
  return null;
}

function errorMessage(data: Record<string, unknown>): string | undefined {
  const err = data.error;
  if (err && typeof err === 'object') {
    const e = err as Record<string, unknown>;
    const msg = str(e.message);
    const code = str(e.code);
    return msg ? (code ? `${msg} (${code})` : msg) : code;
  }
  return str(err) ?? str(data.message) ?? str(data.reason);
}

function questionText(q: unknown): string {
  if (typeof q === 'string') return q;
  if (q && typeof q === 'object') {
    const rec = q as Record<string, unknown>;
    const text = str(rec.question) ?? str(rec.prompt) ?? str(rec.message) ?? str(rec.text);
    if (text) return text;
  }
  return JSON.stringify(q);
}

export function buildTimeline(run: Run | null, live: LiveRunState): TimelineItem[] {
  const items: TimelineItem[] = [];
  const stepAt = new Map<number, StepItem>();
  const snapshot = new Map<number, RunStep>((run?.steps ?? []).map((s) => [s.index, s]));
  let attempts = 0;

  const stepFrom = (index: number, data: Record<string, unknown>): StepItem => {
    const snap = snapshot.get(index);
    const meta = { ...(data.meta && typeof data.meta === 'object' ? (data.meta as Record<string, unknown>) : {}), ...(snap?.meta ?? {}) };
    return {
      kind: 'step',
      key: `step-${index}`,
      index,
      agent: snap?.agent ?? str(data.agent) ?? null,
      status: snap?.status ?? 'running',
      output: snap?.output ?? null,
      text: null,
      streaming: false,
      meta,
      usage: snap?.usage,
      startedAt: snap?.startedAt ?? str(data.at) ?? null,
      finishedAt: snap?.finishedAt ?? null,
    };
  };

  let previous: string | undefined;
  for (const e of live.events) {
    const d = e.data ?? {};
    const before = previous;
    previous = e.type;
    switch (e.type) {
      case 'run.started': {
        attempts++;
        if (attempts > 1) {
          // After an answer or a hand-over the run continues where it was; after a failure it is a new attempt.
          const resumed = before === 'run.input_received' || before === 'run.released' || before === 'run.awaiting_input';
          items.push({ kind: 'started', key: `e${e.seq}`, seq: e.seq, at: e.at, title: resumed ? 'Resumed' : `Attempt ${num(d.attempt) ?? attempts} started` });
        }
        break;
      }
      case 'run.step.started': {
        const index = stepIndexOf(d);
        if (index === undefined) break;
        const existing = stepAt.get(index);
        if (existing) {
          if (!snapshot.has(index)) {
            existing.status = 'running';
            existing.output = null;
          }
          break;
        }
        const item = stepFrom(index, d);
        stepAt.set(index, item);
        items.push(item);
        break;
      }
      case 'run.step.finished': {
        const index = stepIndexOf(d);
        if (index === undefined) break;
        let item = stepAt.get(index);
        if (!item) {
          item = stepFrom(index, d);
          stepAt.set(index, item);
          items.push(item);
        }
        if (!snapshot.has(index)) {
          const status = str(d.status);
          item.status = status === 'failed' ? 'failed' : 'succeeded';
          if ('output' in d) item.output = d.output;
          if (d.meta && typeof d.meta === 'object') item.meta = { ...item.meta, ...(d.meta as Record<string, unknown>) };
        }
        break;
      }
      case 'run.retrying': {
        const delay = num(d.delayMs) ?? num(d.retryInMs) ?? num(d.backoffMs);
        const attempt = num(d.attempt) ?? num(d.attempts);
        items.push({
          kind: 'retry',
          key: `e${e.seq}`,
          seq: e.seq,
          at: e.at,
          title: attempt !== undefined ? `Attempt ${attempt} failed; retrying` : 'Retrying',
          detail: [errorMessage(d), delay !== undefined ? `next try in ${Math.max(0, Math.round(delay / 100) / 10)} s` : undefined].filter(Boolean).join(' · '),
        });
        break;
      }
      case 'run.awaiting_input':
        items.push({ kind: 'question', key: `e${e.seq}`, seq: e.seq, at: e.at, title: 'Asked a person', detail: questionText(d.question ?? d), value: d.question ?? d });
        break;
      case 'run.input_received': {
        const answer = d.answer;
        const by = str(d.by) ?? str(d.user);
        items.push({
          kind: 'answer',
          key: `e${e.seq}`,
          seq: e.seq,
          at: e.at,
          title: by ? `${by} answered` : 'Answer received',
          detail: typeof answer === 'string' ? answer : answer === undefined ? undefined : JSON.stringify(answer),
        });
        break;
      }
      case 'run.cancel_requested':
        items.push({ kind: 'cancel', key: `e${e.seq}`, seq: e.seq, at: e.at, title: 'Cancel requested', detail: str(d.by) ? `by ${str(d.by)}` : undefined });
        break;
      case 'run.cancelled':
        items.push({ kind: 'cancel', key: `e${e.seq}`, seq: e.seq, at: e.at, title: 'Cancelled' });
        break;
      case 'run.released':
        items.push({ kind: 'released', key: `e${e.seq}`, seq: e.seq, at: e.at, title: 'Handed back to the queue', detail: str(d.reason) ?? 'the instance running it shut down; another one continues' });
        break;
      case 'run.failed':
        items.push({ kind: 'error', key: `e${e.seq}`, seq: e.seq, at: e.at, title: 'Run failed', detail: errorMessage(d) ?? run?.error?.message });
        break;
      default:
        break;
    }
  }

  // Steps the snapshot knows but no event announced (history trimmed, or events not loaded yet).
  const missing = [...snapshot.values()].filter((s) => !stepAt.has(s.index)).sort((a, b) => a.index - b.index);
  if (missing.length) {
    const firstStep = items.findIndex((i) => i.kind === 'step');
    const at = firstStep === -1 ? items.findIndex((i) => i.kind !== 'started') : firstStep;
    const made = missing.map((s) => {
      const item = stepFrom(s.index, {});
      stepAt.set(s.index, item);
      return item;
    });
    items.splice(at === -1 ? items.length : at, 0, ...made);
  }

  const finished = run ? ['succeeded', 'failed', 'cancelled'].includes(run.status) : false;
  for (const item of stepAt.values()) {
    const stream = live.streams[item.index];
    const fromOutput = outputText(item.output);
    item.streaming = item.status === 'running' && !finished;
    item.text = item.status === 'running' ? (stream ?? null) : (fromOutput ?? (item.output === null || item.output === undefined ? (stream ?? null) : null));
  }
  return items;
}

/** A `run.failed` event might be missing from a trimmed history; the Run still says why. */
export function hasErrorItem(items: TimelineItem[]): boolean {
  return items.some((i) => i.kind === 'error');
}
