import type { SpendDay } from '../../../../../shared/protocol.js';
import { formatCost, formatNumber } from '../../../lib/format.js';
import { niceMax } from './LineChart.js';
import { spendSeries } from '../lib/spend.js';

const W = 360;
const H = 150;
const PAD = { top: 8, right: 4, bottom: 18, left: 44 };

/** Stacked daily bars of spend, one color per agent or user (SVG: the CSP allows no inline styles). */
export function SpendChart({ title, rows, days }: { title: string; rows: readonly SpendDay[]; days: readonly string[] }) {
  const s = spendSeries(rows, days);
  const max = niceMax(s.max);
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const slot = plotW / Math.max(1, s.days.length);
  const fmt = (v: number) => (s.unit === 'usd' ? formatCost(v) : formatNumber(v));
  return (
    <div className="card chart-card" data-testid={`spend-${title.toLowerCase().replace(/\s+/g, '-')}`}>
      <div className="chart-head">
        <h3>{title}</h3>
        <div className="chart-value">
          {fmt(s.values.reduce((sum, day) => sum + day.reduce((a, b) => a + b, 0), 0))}
          <small>{s.unit === 'usd' ? ' total' : ' tokens'}</small>
        </div>
      </div>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${title} per day`} className="spend-chart">
        {[0, 0.5, 1].map((f) => (
          <text key={f} className="spend-axis" x={PAD.left - 4} y={PAD.top + plotH - f * plotH + 3} textAnchor="end">
            {fmt(max * f)}
          </text>
        ))}
        {s.days.map((day, d) => {
          let y = PAD.top + plotH;
          return (
            <g key={day}>
              {s.keys.map((key, k) => {
                const v = s.values[d]![k]!;
                if (v <= 0) return null;
                const h = (v / max) * plotH;
                y -= h;
                return (
                  <rect key={key} className={`spend-c${k % 6}`} x={PAD.left + d * slot + slot * 0.15} y={y} width={slot * 0.7} height={Math.max(1, h)}>
                    <title>{`${day} · ${key}: ${fmt(v)}`}</title>
                  </rect>
                );
              })}
              {d % Math.ceil(s.days.length / 7) === 0 ? (
                <text className="spend-axis" x={PAD.left + d * slot + slot / 2} y={H - 6} textAnchor="middle">
                  {day.slice(5)}
                </text>
              ) : null}
            </g>
          );
        })}
      </svg>
      <div className="spend-legend">
        {s.keys.length === 0 ? <span>No spend in this period.</span> : null}
        {s.keys.map((key, k) => (
          <span key={key}>
            <span className={`spend-swatch spend-c${k % 6}`} />
            {key}
          </span>
        ))}
      </div>
    </div>
  );
}
