import type { RunTrace } from '../../../../../shared/protocol.js';
import { formatCost, formatDuration, formatNumber } from '../../../lib/format.js';
import { slowest, waterfallRows } from '../lib/waterfall.js';

const KIND_LABEL: Record<string, string> = { run: 'run', attempt: 'attempt', queue: 'queue', wait: 'person', model: 'model', tool: 'tool' };

/**
 * The run's waterfall: each attempt, the waits in the queue and for people, each model
 * and tool call, on one time axis, with durations, tokens and cost. Built from what the
 * server stores (GET /api/runs/:id/trace), so it needs no tracing backend. Bars are SVG
 * (the CSP allows no inline styles).
 */
export function TraceView({ trace, now }: { trace: RunTrace; now: number }) {
  const rows = waterfallRows(trace, now);
  const top = slowest(rows, 1)[0];
  return (
    <div className="card card-pad trace" data-testid="trace">
      <p className="trace-summary">
        {formatDuration(trace.durationMs)} in {trace.attempts} attempt{trace.attempts === 1 ? '' : 's'} · {formatNumber(trace.totals.promptTokens + trace.totals.completionTokens)} tokens · {formatCost(trace.totals.costUsd)}
        {top ? (
          <>
            {' '}
            · longest: <strong>{top.span.name}</strong> ({formatDuration(top.durationMs)})
          </>
        ) : null}
      </p>
      {/* Focusable: on a narrow screen the waterfall scrolls sideways, and a keyboard must reach it. */}
      <ol className="trace-rows" tabIndex={0} aria-label="Trace waterfall">
        {rows.map((row) => {
          const a = row.span.attributes;
          const tokens = typeof a.promptTokens === 'number' ? a.promptTokens + (typeof a.completionTokens === 'number' ? a.completionTokens : 0) : null;
          return (
            <li key={row.span.id} className={`trace-row trace-${row.span.kind} trace-status-${row.span.status}`} data-testid="trace-row" data-kind={row.span.kind}>
              <span className={`trace-label depth-${Math.min(row.depth, 4)}`} title={row.span.name}>
                <span className="trace-kind">{KIND_LABEL[row.span.kind] ?? row.span.kind}</span> {row.span.name}
                {typeof a.agent === 'string' ? <span className="trace-agent"> · {a.agent}</span> : null}
                {typeof a.instance === 'string' ? <span className="trace-agent"> · {a.instance}</span> : null}
              </span>
              <svg className="trace-bar" viewBox="0 0 1000 10" preserveAspectRatio="none" role="img" aria-label={`${row.span.name}: ${formatDuration(row.durationMs)}`}>
                <rect x={Math.min(998, row.offset * 1000)} y={1} width={Math.max(2, row.width * 1000)} height={8} rx={1} />
              </svg>
              <span className="trace-num">{row.span.end === null ? `${formatDuration(row.durationMs)}…` : formatDuration(row.durationMs)}</span>
              <span className="trace-num">{tokens === null ? '' : `${formatNumber(tokens)} tok`}</span>
              <span className="trace-num">{typeof a.costUsd === 'number' ? formatCost(a.costUsd) : ''}</span>
            </li>
          );
        })}
      </ol>
    </div>
  );
}
