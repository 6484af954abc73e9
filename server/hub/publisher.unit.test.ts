import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { Listener } from '../db/listener.js';
import { createLogger } from '../log.js';
import { parseNotification } from './messages.js';
import { createPublisher } from './publisher.js';

/**
 * The publisher against a pool the test drives: every query waits until the test
 * answers it, so "a NOTIFY is in flight while stop() runs" is a step of the test,
 * not a race with the machine's speed.
 */
function fakePool() {
  const calls: { values: unknown[]; settle: (error?: Error) => void }[] = [];
  let ended = false;
  const control = { autoAnswer: false };
  const waiters: (() => void)[] = [];
  const pool = {
    query(_text: string, values: unknown[]) {
      return new Promise<void>((resolve, reject) => {
        const settle = (error?: Error) => (error ? reject(error) : resolve());
        calls.push({ values, settle });
        // A pool that has been ended refuses at once (on the next turn, like pg does).
        if (ended) setImmediate(() => settle(new Error('Cannot use a pool after calling end on the pool')));
        else if (control.autoAnswer) setImmediate(() => settle());
        for (const w of waiters.splice(0)) w();
      });
    },
  };
  return {
    pool: pool as unknown as pg.Pool,
    calls,
    control,
    end() {
      ended = true;
    },
    nextCall(n: number): Promise<void> {
      return new Promise((resolve) => {
        const check = () => (calls.length >= n ? resolve() : waiters.push(check));
        check();
      });
    },
  };
}

/** Down, so every NOTIFY goes through the (fake) pool. */
const downListener = { connected: false } as unknown as Listener;
const logger = createLogger({ level: 'silent', name: 'publisher-test' });

describe('hub publisher', () => {
  it('stopped while a NOTIFY is in flight on a pool that is then ended: settles and never sends again', async () => {
    const fake = fakePool();
    const dropped: number[] = [];
    const publisher = createPublisher({ pool: fake.pool, listener: downListener, logger, source: 'a', tokenBatchMs: 1, onDropped: (n) => dropped.push(n) });
    publisher.publish({ k: 'hello', n: 'one' });
    await fake.nextCall(1);
    publisher.stop();
    fake.end();
    fake.calls[0]!.settle(new Error('Cannot use a pool after calling end on the pool'));
    // Returns once the drain in flight has settled; before the fix the drain put its
    // items back and kicked again, so this ran to its deadline with NOTIFYs looping.
    await publisher.flush(5000);
    expect(fake.calls).toHaveLength(1);
    expect(publisher.pending()).toBe(0);
    // Nothing published after stop() goes out either.
    publisher.publish({ k: 'hello', n: 'two' });
    await publisher.flush(5000);
    expect(fake.calls).toHaveLength(1);
  });

  it('sends a backlog of many payloads in one statement, in order', async () => {
    const fake = fakePool();
    const publisher = createPublisher({ pool: fake.pool, listener: downListener, logger, source: 'a', tokenBatchMs: 1 });
    const first = 'x'.repeat(3000);
    // About 2 items per payload: 40 payloads.
    for (let i = 0; i < 80; i++) publisher.publish({ k: 'hello', n: `${i}:${first}` });
    await fake.nextCall(1);
    const payloads = fake.calls[0]!.values[1] as string[];
    expect(Array.isArray(payloads)).toBe(true);
    // Before: one payload per statement (one round trip each).
    expect(payloads.length).toBeGreaterThan(1);
    fake.control.autoAnswer = true;
    fake.calls[0]!.settle();
    await publisher.flush(10_000);
    expect(publisher.pending()).toBe(0);
    const names = fake.calls.flatMap((c) => (c.values[1] as string[]).flatMap((p) => parseNotification(p)!.m.map((m) => (m.k === 'hello' ? m.n.split(':')[0] : '?'))));
    expect(names).toEqual(Array.from({ length: 80 }, (_, i) => String(i)));
    publisher.stop();
  });
});
