import { describe, expect, it } from 'vitest';
import { dueFires, parseCron } from './fire-times.js';

describe('due fire times', () => {
  const cron = parseCron('*/10 * * * * *', 'UTC');
  const at = (s: string) => new Date(`2026-01-01T00:${s}Z`);

  it('fire times within the grace period are punctual, each its own', () => {
    expect(dueFires(cron, at('00:05'), at('00:31'), 60_000)).toEqual({ punctual: [at('00:10'), at('00:20'), at('00:30')], latestMissed: null });
    // Nothing due; a fire exactly at `from` was handled already.
    expect(dueFires(cron, at('00:10'), at('00:19'), 60_000)).toEqual({ punctual: [], latestMissed: null });
  });

  it('older ones were missed: only the latest of them is reported', () => {
    // From 00:00:05 to 00:05:03 with 60 s grace: 00:04:10…00:05:00 punctual, 00:04:00 the latest missed.
    const due = dueFires(cron, at('00:05'), new Date('2026-01-01T00:05:03Z'), 60_000);
    expect(due.latestMissed).toEqual(new Date('2026-01-01T00:04:00Z'));
    expect(due.punctual[0]).toEqual(new Date('2026-01-01T00:04:10Z'));
    expect(due.punctual.at(-1)).toEqual(new Date('2026-01-01T00:05:00Z'));
  });

  it('refuses a bad expression or time zone with a clear message', () => {
    expect(() => parseCron('61 * * * *', 'UTC')).toThrow(/^cron: /);
    expect(() => parseCron('* * * * *', 'Nowhere/Land')).toThrow(/timezone/);
  });
});
