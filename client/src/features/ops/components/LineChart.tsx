import { useEffect, useRef, useState } from 'react';

export interface Point {
  t: number;
  v: number | null;
}

const HEIGHT = 140;
const PAD = { top: 10, right: 8, bottom: 20, left: 40 };

/** 1, 2, 5 × 10^n at or above `max`, so gridlines land on round numbers. */
export function niceMax(max: number): number {
  if (!(max > 0)) return 1;
  const exp = Math.pow(10, Math.floor(Math.log10(max)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * exp >= max) return m * exp;
  return 10 * exp;
}

function label(v: number): string {
  if (v === 0) return '0';
  if (v >= 1000) return `${(v / 1000).toFixed(v >= 10000 ? 0 : 1)}k`;
  if (v < 1) return v.toFixed(2).replace(/0+$/, '').replace(/\.$/, '');
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

function useWidth<T extends HTMLElement>(): [React.RefObject<T | null>, number] {
  const ref = useRef<T>(null);
  const [width, setWidth] = useState(320);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    setWidth(el.clientWidth || 320);
    if (typeof ResizeObserver === 'undefined') return;
    const ro = new ResizeObserver(() => setWidth(el.clientWidth || 320));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  return [ref, width];
}

/**
 * A time-series line drawn in SVG at the container's pixel width (no scaling, so
 * text stays crisp). Gaps (null) break the line.
 */
export function LineChart({ points, windowMs, title, unit, format = label }: { points: Point[]; windowMs: number; title: string; unit?: string; format?: (v: number) => string }) {
  const [ref, width] = useWidth<HTMLDivElement>();
  const first = points[0];
  const now = points.at(-1)?.t ?? Date.now();
  // A young series fills a shorter window (at least a minute) instead of hugging the right edge.
  const span = first ? now - first.t : 0;
  const shownMs = Math.min(windowMs, Math.max(60_000, Math.ceil(span / 60_000) * 60_000));
  const start = now - shownMs;
  const shown = points.filter((p) => p.t >= start);
  const values = shown.map((p) => p.v).filter((v): v is number => v !== null);
  const max = niceMax(values.length ? Math.max(...values) : 0);
  const w = Math.max(120, width);
  const plotW = w - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const x = (t: number) => PAD.left + ((t - start) / shownMs) * plotW;
  const y = (v: number) => PAD.top + plotH - (v / max) * plotH;

  const segments: string[] = [];
  let current = '';
  for (const p of shown) {
    if (p.v === null) {
      if (current) segments.push(current);
      current = '';
      continue;
    }
    current += `${current ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`;
  }
  if (current) segments.push(current);
  const line = segments.join(' ');
  const last = [...shown].reverse().find((p) => p.v !== null);
  const firstDefined = shown.find((p) => p.v !== null);
  const area = segments.length === 1 && firstDefined && last ? `${segments[0]}L${x(last.t).toFixed(1)},${y(0)}L${x(firstDefined.t).toFixed(1)},${y(0)}Z` : '';
  const grid = [0, 0.5, 1].map((f) => f * max);
  const summary = last ? `${title}: now ${format(last.v as number)}${unit ? ` ${unit}` : ''}, highest ${format(values.length ? Math.max(...values) : 0)} over the last ${Math.round(shownMs / 60000)} min` : `${title}: no data yet`;

  return (
    <div className="chart" ref={ref}>
      {shown.length < 2 ? (
        <div className="chart-empty">Collecting data…</div>
      ) : (
        <svg width={w} height={HEIGHT} viewBox={`0 0 ${w} ${HEIGHT}`} role="img" aria-label={summary}>
          {grid.map((g) => (
            <g key={g}>
              <line className="grid-line" x1={PAD.left} x2={w - PAD.right} y1={y(g)} y2={y(g)} />
              <text className="axis-label" x={PAD.left - 6} y={y(g) + 3} textAnchor="end">
                {format(g)}
              </text>
            </g>
          ))}
          <text className="axis-label" x={PAD.left} y={HEIGHT - 4} textAnchor="start">
            {Math.round(shownMs / 60000)} min ago
          </text>
          <text className="axis-label" x={w - PAD.right} y={HEIGHT - 4} textAnchor="end">
            now
          </text>
          {area ? <path className="series-area" d={area} /> : null}
          <path className="series-line" d={line} />
          {last ? <circle className="series-dot" cx={x(last.t)} cy={y(last.v as number)} r={3} /> : null}
        </svg>
      )}
    </div>
  );
}
