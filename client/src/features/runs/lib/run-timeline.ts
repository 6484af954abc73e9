/**
 * The run view's model: stored events (replayed, then live) plus token deltas, folded
 * over the latest Run snapshot into one ordered timeline. Pure, so it is tested
 * without a browser. Events are read through their shared types (shared/events.ts):
 * each field is where the server puts it.
 */
import { parseRunEvent, readQuestion, type TypedRunEvent } from '../../../../../shared/events.js';
import type { Run, RunEvent, RunStep, Usage } from '../../../../../shared/protocol.js';

export interface LiveRunState {
  /** Stored events by seq, without duplicates, in order. */
  events: TypedRunEvent[];
  /** Text streamed so far per step index (token events; never stored). */
  streams: Record<number, string>;
  lastSeq: number;
}

export const emptyLiveState: LiveRunState = { events: [], streams: {}, lastSeq: 0 };

export function applyEvent(state: LiveRunState, raw: RunEvent): LiveRunState {
  const event = parseRunEvent(raw);
  if (event?.type === 'run.token') {
    const { index, delta } = event.data;
    if (!delta) return state;
    return { ...state, streams: { ...state.streams, [index]: (state.streams[index] ?? '') + delta } };
  }
  if (raw.type === 'run.token') return state;
  if (raw.seq <= state.lastSeq && state.events.some((e) => e.seq === raw.seq)) return state;
  // A stored event this client cannot read still moves the position, so polling does not ask for it again.
  if (!event) return { ...state, lastSeq: Math.max(state.lastSeq, raw.seq) };
  const events = event.seq > state.lastSeq ? [...state.events, event] : [...state.events, event].sort((a, b) => a.seq - b.seq);
  let streams = state.streams;
  if (event.type === 'run.step.started' && streams[event.data.index] !== undefined) {
    // A step that starts again (a retry) streams from the beginning.
    streams = { ...streams };
    delete streams[event.data.index];
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
  /** Set when the step is a tool call (meta.kind "tool"), not a model turn. */
  tool: ToolCallView | null;
}

export type ToolHow = 'executed' | 'repeated' | 'recorded' | 'denied' | 'invalid';

/** A tool call as the run view shows it, read from its step's meta (the intent) and output (the receipt). */
export interface ToolCallView {
  /** Registry id (MCP tools: "<server>__<tool>"), and the name the tool itself goes by. */
  tool: string;
  toolName: string;
  source: string | null;
  arguments: unknown;
  /** Null while the call has no receipt yet. */
  content: string | null;
  isError: boolean;
  how: ToolHow | null;
  durationMs: number | null;
  truncated: boolean;
  approvedBy: string | null;
}

export interface NoteItem {
  kind: 'retry' | 'question' | 'answer' | 'error' | 'cancel' | 'released' | 'started' | 'approval' | 'decision';
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

function errorText(error: { code?: string; message: string } | null | undefined): string | undefined {
  if (!error) return undefined;
  return error.code ? `${error.message} (${error.code})` : error.message;
}

export function buildTimeline(run: Run | null, live: LiveRunState): TimelineItem[] {
  const items: TimelineItem[] = [];
  const stepAt = new Map<number, StepItem>();
  const snapshot = new Map<number, RunStep>((run?.steps ?? []).map((s) => [s.index, s]));
  let attempts = 0;

  const stepFrom = (index: number, from?: { agent: string | null; meta?: Record<string, unknown>; at: string }): StepItem => {
    const snap = snapshot.get(index);
    return {
      kind: 'step',
      key: `step-${index}`,
      index,
      agent: snap?.agent ?? from?.agent ?? null,
      status: snap?.status ?? 'running',
      output: snap?.output ?? null,
      text: null,
      streaming: false,
      meta: { ...(from?.meta ?? {}), ...(snap?.meta ?? {}) },
      usage: snap?.usage,
      startedAt: snap?.startedAt ?? from?.at ?? null,
      finishedAt: snap?.finishedAt ?? null,
      tool: null,
    };
  };

  // Decisions name the tool by its registry id; the requests say what the model called it.
  const toolNames = new Map<string, string>();
  let previous: TypedRunEvent['type'] | undefined;
  for (const e of live.events) {
    const before = previous;
    previous = e.type;
    switch (e.type) {
      case 'run.started': {
        attempts++;
        if (attempts > 1) {
          // After an answer, a decision or a hand-over the run continues where it was; after a failure it is a new attempt.
          const resumed = before === 'run.input_received' || before === 'run.released' || before === 'run.awaiting_input' || before === 'run.approval.decided';
          items.push({ kind: 'started', key: `e${e.seq}`, seq: e.seq, at: e.at, title: resumed ? 'Resumed' : `Attempt ${e.data.attempt} started` });
        }
        break;
      }
      case 'run.step.started':
      case 'run.tool.called': {
        const { index } = e.data;
        const existing = stepAt.get(index);
        if (existing) {
          if (!snapshot.has(index)) {
            existing.status = 'running';
            existing.output = null;
          }
          break;
        }
        const item = stepFrom(index, { agent: e.data.agent, meta: e.data.meta, at: e.at });
        stepAt.set(index, item);
        items.push(item);
        break;
      }
      case 'run.step.finished':
      case 'run.tool.finished': {
        const d = e.data;
        let item = stepAt.get(d.index);
        if (!item) {
          item = stepFrom(d.index, { agent: d.agent, meta: d.meta, at: e.at });
          stepAt.set(d.index, item);
          items.push(item);
        }
        if (!snapshot.has(d.index)) {
          item.status = d.status;
          item.output = d.status === 'failed' ? { error: d.error ?? { message: 'step failed' } } : (d.output ?? null);
          if (d.meta) item.meta = { ...item.meta, ...d.meta };
          if (e.type === 'run.step.finished' && e.data.usage) item.usage = e.data.usage;
          item.finishedAt = e.at;
        }
        break;
      }
      case 'run.retrying': {
        const d = e.data;
        items.push({
          kind: 'retry',
          key: `e${e.seq}`,
          seq: e.seq,
          at: e.at,
          title: `Attempt ${d.attempt} failed; retrying`,
          detail: [errorText(d.error), `next try in ${Math.max(0, Math.round(d.delayMs / 100) / 10)} s`].join(' · '),
        });
        break;
      }
      case 'run.approval.requested': {
        const d = e.data;
        toolNames.set(d.approvalId, d.toolName);
        const unknown = d.kind === 'tool.unknown_outcome';
        items.push({
          kind: 'approval',
          key: `e${e.seq}`,
          seq: e.seq,
          at: e.at,
          title: unknown ? `Outcome of ${d.toolName} unknown: a person decides` : `${d.toolName} waits for approval`,
          detail: unknown ? 'The run stopped while this call was in flight; it may or may not have taken effect.' : undefined,
          value: d.arguments,
        });
        break;
      }
      case 'run.approval.decided': {
        const d = e.data;
        items.push({
          kind: 'decision',
          key: `e${e.seq}`,
          seq: e.seq,
          at: e.at,
          title: `${d.by ?? 'Someone'} ${DECISION_PAST[d.decision]} ${toolNames.get(d.approvalId) ?? d.tool}`,
          detail: [d.reason ? `“${d.reason}”` : '', d.remaining > 0 ? `${d.remaining} more to decide` : ''].filter(Boolean).join(' · ') || undefined,
        });
        break;
      }
      case 'run.awaiting_input':
        if (isToolQuestion(e.data.question)) {
          // Approvals already showed one note each (run.approval.requested); unknown outcomes have no event of their own.
          for (const r of unknownOutcomes(e.data.question)) {
            toolNames.set(r.approvalId, r.toolName);
            items.push({
              kind: 'approval',
              key: `e${e.seq}-${r.approvalId}`,
              seq: e.seq,
              at: e.at,
              title: `Outcome of ${r.toolName} unknown: a person decides`,
              detail: 'The run stopped while this call was in flight; it may or may not have taken effect.',
              value: r.arguments,
            });
          }
          break;
        }
        items.push({ kind: 'question', key: `e${e.seq}`, seq: e.seq, at: e.at, title: 'Asked a person', detail: readQuestion(e.data.question).text, value: e.data.question });
        break;
      case 'run.input_received': {
        const { answer, by } = e.data;
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
        items.push({ kind: 'cancel', key: `e${e.seq}`, seq: e.seq, at: e.at, title: 'Cancel requested', detail: e.data.by ? `by ${e.data.by}` : undefined });
        break;
      case 'run.cancelled':
        items.push({ kind: 'cancel', key: `e${e.seq}`, seq: e.seq, at: e.at, title: 'Cancelled' });
        break;
      case 'run.released':
        items.push({ kind: 'released', key: `e${e.seq}`, seq: e.seq, at: e.at, title: 'Handed back to the queue', detail: e.data.reason ?? 'the instance running it shut down; another one continues' });
        break;
      case 'run.failed':
        items.push({ kind: 'error', key: `e${e.seq}`, seq: e.seq, at: e.at, title: 'Run failed', detail: errorText(e.data.error) ?? e.data.reason ?? run?.error?.message });
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
      const item = stepFrom(s.index);
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
    item.tool = toolCallOf(item.meta, item.status === 'running' ? null : item.output);
    if (item.tool) {
      item.streaming = false;
      item.text = item.tool.content;
    }
  }
  return items;
}

const DECISION_PAST = { approve: 'approved', deny: 'denied', retry: 'asked to retry', record: 'recorded a result for', fail: 'failed the run at' } as const;
const HOWS: readonly string[] = ['executed', 'repeated', 'recorded', 'denied', 'invalid'] satisfies ToolHow[];

/** The unknown-outcome requests of a tool question. */
function unknownOutcomes(question: unknown): { approvalId: string; toolName: string; arguments: unknown }[] {
  const requests = (question as { requests?: unknown }).requests;
  if (!Array.isArray(requests)) return [];
  return requests.flatMap((r) => {
    const rec = r && typeof r === 'object' ? (r as Record<string, unknown>) : {};
    if (rec.kind !== 'tool.unknown_outcome' || typeof rec.approvalId !== 'string') return [];
    const toolName = typeof rec.toolName === 'string' ? rec.toolName : typeof rec.tool === 'string' ? rec.tool : 'a tool';
    return [{ approvalId: rec.approvalId, toolName, arguments: rec.arguments }];
  });
}

/** True for the question of a run parked on tool requests (approval or unknown outcome). */
export function isToolQuestion(question: unknown): boolean {
  const kind = question && typeof question === 'object' ? (question as Record<string, unknown>).kind : undefined;
  return kind === 'tool.approval' || kind === 'tool.unknown_outcome';
}

/**
 * The tool call a step stands for, or null for a model turn. The receipt's fields are
 * read from the output first (run.tool.finished, the stored step) and the meta second
 * (the loop copies some of them there).
 */
export function toolCallOf(meta: Record<string, unknown>, output: unknown): ToolCallView | null {
  if (meta.kind !== 'tool') return null;
  const out = output && typeof output === 'object' && !Array.isArray(output) ? (output as Record<string, unknown>) : null;
  const pick = (k: string): unknown => out?.[k] ?? meta[k];
  const str = (v: unknown) => (typeof v === 'string' ? v : null);
  const how = str(pick('how'));
  const error = out?.error && typeof out.error === 'object' ? str((out.error as Record<string, unknown>).message) : null;
  const content = str(out?.content) ?? error;
  const durationMs = pick('durationMs');
  const tool = str(meta.tool) ?? str(meta.toolName) ?? 'tool';
  return {
    tool,
    toolName: str(meta.toolName) ?? tool,
    source: str(meta.source),
    arguments: meta.arguments ?? null,
    content,
    isError: pick('isError') === true || error !== null,
    how: how && HOWS.includes(how) ? (how as ToolHow) : null,
    durationMs: typeof durationMs === 'number' && Number.isFinite(durationMs) ? durationMs : null,
    truncated: pick('truncated') === true,
    approvedBy: str(meta.approvedBy),
  };
}

/** The tool calls a model turn asked for (output.toolCalls), by name. */
export function requestedToolCalls(output: unknown): string[] {
  const calls = output && typeof output === 'object' ? (output as Record<string, unknown>).toolCalls : undefined;
  if (!Array.isArray(calls)) return [];
  return calls.flatMap((c: unknown) => {
    const name = c && typeof c === 'object' ? (c as Record<string, unknown>).name : undefined;
    return typeof name === 'string' ? [name] : [];
  });
}

/** A `run.failed` event might be missing from a trimmed history; the Run still says why. */
export function hasErrorItem(items: TimelineItem[]): boolean {
  return items.some((i) => i.kind === 'error');
}
