import { describe, expect, it } from 'vitest';
import { dayList, spendSeries } from './spend.js';

describe('spendSeries', () => {
  const days = dayList('2026-11-28T00:00:00.000Z', 3);

  it('lists every day and stacks tokens per key when nothing cost money', () => {
    expect(days).toEqual(['2026-11-28', '2026-11-29', '2026-11-30']);
    const s = spendSeries(
      [
        { day: '2026-11-28', key: 'writer', costUsd: 0, tokens: 10, steps: 1 },
        { day: '2026-11-30', key: 'writer', costUsd: 0, tokens: 5, steps: 1 },
        { day: '2026-11-30', key: 'critic', costUsd: 0, tokens: 30, steps: 2 },
      ],
      days,
    );
    expect(s.unit).toBe('tokens');
    expect(s.keys).toEqual(['critic', 'writer']);
    expect(s.values).toEqual([
      [0, 10],
      [0, 0],
      [30, 5],
    ]);
    expect(s.max).toBe(35);
  });

  it('uses dollars when anything cost money and folds small keys into "others"', () => {
    const rows = ['a', 'b', 'c'].map((key, i) => ({ day: '2026-11-29', key, costUsd: 3 - i, tokens: 1, steps: 1 }));
    const s = spendSeries(rows, days, 2);
    expect(s.unit).toBe('usd');
    expect(s.keys).toEqual(['a', 'b', 'others']);
    expect(s.values[1]).toEqual([3, 2, 1]);
  });
});
