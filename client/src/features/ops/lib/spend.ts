import type { SpendDay } from '../../../../../shared/protocol.js';

export interface SpendSeries {
  days: string[];
  /** The biggest keys first; the rest folded into "others". */
  keys: string[];
  /** value[dayIndex][keyIndex] */
  values: number[][];
  unit: 'usd' | 'tokens';
  max: number;
}

/** Every UTC day from `since` for `n` days, YYYY-MM-DD. */
export function dayList(since: string, n: number): string[] {
  const start = Date.parse(since.slice(0, 10));
  return Array.from({ length: n }, (_, i) => new Date(start + i * 86_400_000).toISOString().slice(0, 10));
}

/**
 * Stacked daily bars: dollars when anything cost money, tokens otherwise (the offline model
 * is free), at most `top` keys of their own and the rest as "others".
 */
export function spendSeries(rows: readonly SpendDay[], days: readonly string[], top = 5): SpendSeries {
  const unit: SpendSeries['unit'] = rows.some((r) => r.costUsd > 0) ? 'usd' : 'tokens';
  const amount = (r: SpendDay) => (unit === 'usd' ? r.costUsd : r.tokens);
  const totals = new Map<string, number>();
  for (const r of rows) totals.set(r.key, (totals.get(r.key) ?? 0) + amount(r));
  const ranked = [...totals.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([k]) => k);
  const keys = ranked.length > top ? [...ranked.slice(0, top), 'others'] : ranked;
  const index = new Map(keys.map((k, i) => [k, i]));
  const values = days.map(() => keys.map(() => 0));
  for (const r of rows) {
    const d = days.indexOf(r.day);
    const k = index.get(r.key) ?? index.get('others');
    const day = values[d];
    if (!day || k === undefined) continue;
    day[k] = (day[k] ?? 0) + amount(r);
  }
  const max = Math.max(0, ...values.map((v) => v.reduce((a, b) => a + b, 0)));
  return { days: [...days], keys, values, unit, max };
}
