import { Cron } from 'croner';
import { ValidationError } from '../domain/errors.js';

/** A parsed cron expression in a time zone, for computing only (it schedules nothing itself). */
export function parseCron(expression: string, timezone: string): Cron {
  let cron: Cron;
  try {
    cron = new Cron(expression, { timezone, paused: true });
    cron.nextRun();
  } catch (error) {
    const message = (error as Error).message;
    if (/timezone/i.test(message)) throw new ValidationError(`timezone: "${timezone}" is not an IANA time zone`);
    throw new ValidationError(`cron: ${message}`);
  }
  return cron;
}

export interface DueFires {
  /** Fire times within the grace period: each gets its run. */
  punctual: Date[];
  /** The latest fire time older than the grace period (some passed while no instance was awake), if any. */
  latestMissed: Date | null;
}

const MAX_PUNCTUAL = 1000;

/**
 * Fire times in (from, now]: those no older than `graceMs` are punctual; older ones were
 * missed. Only the latest missed one matters (the `run-once` policy runs it; `skip` drops
 * them all), so a long downtime costs no long enumeration.
 */
export function dueFires(cron: Cron, from: Date, now: Date, graceMs: number): DueFires {
  const graceStart = new Date(now.getTime() - graceMs);
  const punctual: Date[] = [];
  let cursor: Date | null = from > graceStart ? from : graceStart;
  for (let i = 0; i < MAX_PUNCTUAL; i++) {
    cursor = cron.nextRun(cursor);
    if (!cursor || cursor > now) break;
    punctual.push(cursor);
  }
  let latestMissed: Date | null = null;
  if (from < graceStart) {
    const first = cron.nextRun(from);
    if (first && first <= graceStart) {
      const previous = cron.previousRuns(1, new Date(graceStart.getTime() + 1))[0];
      latestMissed = previous && previous > from && previous <= graceStart ? previous : first;
    }
  }
  return { punctual, latestMissed };
}
