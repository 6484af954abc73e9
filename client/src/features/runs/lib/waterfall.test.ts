import { describe, expect, it } from 'vitest';
import type { RunTrace } from '../../../../../shared/protocol.js';
import { slowest, waterfallRows } from './waterfall.js';

const at = (ms: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, 0, ms)).toISOString();

describe('waterfallRows', () => {
  const trace: RunTrace = {
    runId: 'r',
    start: at(0),
    end: at(1000),
    durationMs: 1000,
    attempts: 1,
    totals: { promptTokens: 0, completionTokens: 0, costUsd: 0 },
    spans: [
      { id: 'run', parentId: null, kind: 'run', name: 'run', start: at(0), end: at(1000), durationMs: 1000, status: 'ok', attributes: {} },
      { id: 'attempt:1', parentId: 'run', kind: 'attempt', name: 'attempt 1', start: at(100), end: at(1000), durationMs: 900, status: 'ok', attributes: {} },
      { id: 'queue:1', parentId: 'run', kind: 'queue', name: 'queue.wait', start: at(0), end: at(100), durationMs: 100, status: 'ok', attributes: {} },
      { id: 'step:b', parentId: 'attempt:1', kind: 'model', name: 'chat b', start: at(600), end: at(1000), durationMs: 400, status: 'ok', attributes: {} },
      { id: 'step:a', parentId: 'attempt:1', kind: 'model', name: 'chat a', start: at(100), end: at(600), durationMs: 500, status: 'ok', attributes: {} },
    ],
  };

  it('nests spans under their parents in start order and places bars on the run\'s time axis', () => {
    const rows = waterfallRows(trace, Date.parse(at(1000)));
    expect(rows.map((r) => [r.span.id, r.depth])).toEqual([
      ['run', 0],
      ['queue:1', 1],
      ['attempt:1', 1],
      ['step:a', 2],
      ['step:b', 2],
    ]);
    const a = rows.find((r) => r.span.id === 'step:a')!;
    expect(a.offset).toBeCloseTo(0.1);
    expect(a.width).toBeCloseTo(0.5);
    expect(slowest(rows, 1)[0]!.span.id).toBe('step:a');
  });

  it('runs open spans up to now', () => {
    const open: RunTrace = { ...trace, end: null, spans: [{ ...trace.spans[0]!, end: null, durationMs: null, status: 'running' }] };
    const [row] = waterfallRows(open, Date.parse(at(2000)));
    expect(row!.durationMs).toBe(2000);
    expect(row!.width).toBeCloseTo(1);
  });
});
