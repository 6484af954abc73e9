import type { RunTrace, TraceSpan } from '../../../../../shared/protocol.js';

export interface WaterfallRow {
  span: TraceSpan;
  depth: number;
  /** Where the bar starts and how wide it is, as fractions of the run's whole time. */
  offset: number;
  width: number;
  durationMs: number;
}

/**
 * The trace's spans in display order (each under its parent, in start order) with their
 * bars placed on the run's time axis; spans still going run up to `now`.
 */
export function waterfallRows(trace: RunTrace, now: number): WaterfallRow[] {
  const start = Date.parse(trace.start);
  const endOf = (s: TraceSpan) => (s.end === null ? Math.max(now, Date.parse(s.start)) : Date.parse(s.end));
  const end = Math.max(start + 1, ...trace.spans.map(endOf));
  const total = end - start;
  const children = new Map<string | null, TraceSpan[]>();
  for (const span of trace.spans) {
    const list = children.get(span.parentId) ?? [];
    list.push(span);
    children.set(span.parentId, list);
  }
  const rows: WaterfallRow[] = [];
  const visit = (parentId: string | null, depth: number) => {
    const list = (children.get(parentId) ?? []).slice().sort((a, b) => Date.parse(a.start) - Date.parse(b.start));
    for (const span of list) {
      const s = Date.parse(span.start);
      const e = endOf(span);
      rows.push({ span, depth, offset: (s - start) / total, width: Math.max(0, e - s) / total, durationMs: e - s });
      visit(span.id, depth + 1);
    }
  };
  visit(null, 0);
  return rows;
}

/** The slowest spans that do work (model calls, tool calls, waits), for "where did the time go". */
export function slowest(rows: readonly WaterfallRow[], n: number): WaterfallRow[] {
  return rows
    .filter((r) => r.span.kind !== 'run' && r.span.kind !== 'attempt')
    .slice()
    .sort((a, b) => b.durationMs - a.durationMs)
    .slice(0, n);
}
