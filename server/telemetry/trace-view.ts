import type { RunEvent, RunTrace, TraceSpan, Usage } from '../../shared/protocol.js';

/**
 * A run's waterfall from what Agentry stores itself (run_events and their `at`), so it
 * works with no collector: the run, each attempt (which instance, how it ended), the wait
 * in the queue before each attempt, each model call and tool call with tokens and cost,
 * and each wait for a person. Steps replayed from a checkpoint wrote no events on later
 * attempts and appear once, under the attempt that ran them.
 */
export function assembleTrace(runId: string, events: readonly RunEvent[], now: Date = new Date()): RunTrace {
  const spans: TraceSpan[] = [];
  const ms = (a: string, b: string | null) => (b === null ? null : Math.max(0, Date.parse(b) - Date.parse(a)));
  const close = (span: TraceSpan, at: string, status: TraceSpan['status']) => {
    span.end = at;
    span.durationMs = ms(span.start, at);
    span.status = status;
  };
  const first = events[0];
  const root: TraceSpan = { id: 'run', parentId: null, kind: 'run', name: `run ${runId}`, start: first?.at ?? now.toISOString(), end: null, durationMs: null, status: 'running', attributes: {} };
  spans.push(root);
  let queuedSince: string | null = first?.type === 'run.queued' ? first.at : null;
  let queueReason = 'run.queued';
  let attempt: TraceSpan | null = null;
  let attempts = 0;
  let wait: TraceSpan | null = null;
  const open = new Map<string, TraceSpan>();
  const totals = { promptTokens: 0, completionTokens: 0, costUsd: 0 };

  const endAttempt = (at: string, status: TraceSpan['status'], how: string) => {
    if (!attempt) return;
    for (const [key, span] of open) {
      if (span.parentId === attempt.id) {
        close(span, at, 'interrupted');
        open.delete(key);
      }
    }
    close(attempt, at, status);
    attempt.attributes.ended = how;
    attempt = null;
  };

  for (const event of events) {
    const data = event.data;
    switch (event.type) {
      case 'run.started': {
        if (attempt) endAttempt(event.at, 'interrupted', 'superseded');
        if (queuedSince !== null) {
          spans.push({ id: `queue:${attempts + 1}`, parentId: root.id, kind: 'queue', name: 'queue.wait', start: queuedSince, end: event.at, durationMs: ms(queuedSince, event.at), status: 'ok', attributes: { reason: queueReason } });
        }
        queuedSince = null;
        attempts++;
        attempt = {
          id: `attempt:${attempts}`,
          parentId: root.id,
          kind: 'attempt',
          name: `attempt ${typeof data.attempt === 'number' ? data.attempt : attempts}`,
          start: event.at,
          end: null,
          durationMs: null,
          status: 'running',
          attributes: { attempt: typeof data.attempt === 'number' ? data.attempt : attempts, ...(typeof data.instance === 'string' ? { instance: data.instance } : {}) },
        };
        spans.push(attempt);
        break;
      }
      case 'run.step.started':
      case 'run.tool.called': {
        const key = String(data.key ?? '');
        const meta = (data.meta ?? {}) as Record<string, unknown>;
        const tool = event.type === 'run.tool.called';
        const span: TraceSpan = {
          id: `step:${attempts}:${key}`,
          parentId: attempt?.id ?? root.id,
          kind: tool ? 'tool' : 'model',
          name: tool ? `execute_tool ${String(meta.toolName ?? meta.tool ?? key)}` : `chat ${String(meta.model ?? 'model')}`,
          start: event.at,
          end: null,
          durationMs: null,
          status: 'running',
          attributes: { key, ...(typeof data.agent === 'string' ? { agent: data.agent } : {}), ...(typeof meta.model === 'string' ? { model: meta.model } : {}), ...(tool && typeof meta.tool === 'string' ? { tool: meta.tool } : {}) },
        };
        open.set(key, span);
        spans.push(span);
        break;
      }
      case 'run.step.finished':
      case 'run.tool.finished': {
        const key = String(data.key ?? '');
        const span = open.get(key);
        if (!span) break;
        open.delete(key);
        close(span, event.at, data.status === 'failed' ? 'error' : 'ok');
        const usage = data.usage as Usage | undefined;
        if (usage) {
          span.attributes.promptTokens = usage.promptTokens;
          span.attributes.completionTokens = usage.completionTokens;
          span.attributes.costUsd = usage.costUsd ?? 0;
          totals.promptTokens += usage.promptTokens;
          totals.completionTokens += usage.completionTokens;
          totals.costUsd += usage.costUsd ?? 0;
        }
        if (typeof data.model === 'string') {
          span.attributes.model = data.model;
          if (span.kind === 'model') span.name = `chat ${data.model}`;
        }
        const meta = (data.meta ?? {}) as Record<string, unknown>;
        if (meta.cached === true) span.attributes.cached = true;
        break;
      }
      case 'run.awaiting_input': {
        const kind = String((data.question as { kind?: unknown } | null)?.kind ?? 'input');
        endAttempt(event.at, 'waiting', 'awaiting_input');
        wait = { id: `wait:${attempts}`, parentId: root.id, kind: 'wait', name: `await_input ${kind}`, start: event.at, end: null, durationMs: null, status: 'waiting', attributes: { waitKind: kind } };
        spans.push(wait);
        break;
      }
      case 'run.input_received':
      case 'run.approval.decided': {
        if (event.type === 'run.approval.decided' && typeof data.remaining === 'number' && data.remaining > 0) break;
        if (wait) {
          close(wait, event.at, 'ok');
          if (typeof data.by === 'string') wait.attributes.answeredBy = data.by;
          wait = null;
        }
        queuedSince = event.at;
        queueReason = event.type;
        break;
      }
      case 'run.retrying':
      case 'run.released': {
        endAttempt(event.at, event.type === 'run.retrying' ? 'error' : 'interrupted', event.type === 'run.retrying' ? 'retrying' : 'released');
        queuedSince = event.at;
        queueReason = event.type;
        break;
      }
      case 'run.succeeded':
      case 'run.failed':
      case 'run.cancelled': {
        const status = event.type === 'run.succeeded' ? 'ok' : event.type === 'run.failed' ? 'error' : 'cancelled';
        endAttempt(event.at, status, event.type.slice(4));
        if (wait) {
          close(wait, event.at, 'cancelled');
          wait = null;
        }
        if (queuedSince !== null) {
          spans.push({ id: `queue:${attempts + 1}`, parentId: root.id, kind: 'queue', name: 'queue.wait', start: queuedSince, end: event.at, durationMs: ms(queuedSince, event.at), status: 'cancelled', attributes: { reason: queueReason } });
          queuedSince = null;
        }
        close(root, event.at, status);
        break;
      }
      default:
        break;
    }
  }
  // Still going: open spans run up to now in the view (their end stays null).
  if (queuedSince !== null) {
    spans.push({ id: `queue:${attempts + 1}`, parentId: root.id, kind: 'queue', name: 'queue.wait', start: queuedSince, end: null, durationMs: null, status: 'running', attributes: { reason: queueReason } });
  }
  if (root.end === null) root.status = wait ? 'waiting' : 'running';
  totals.costUsd = Math.round(totals.costUsd * 1e6) / 1e6;
  const end = root.end ?? now.toISOString();
  return { runId, start: root.start, end: root.end, durationMs: ms(root.start, end), attempts, totals, spans };
}
