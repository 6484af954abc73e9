import { describe, expect, it } from 'vitest';
import { AwaitingInput } from '../../server/queue/types.js';
import { claimedRun, memoryContext } from './memory-context.js';

// The unit tests trust this context to behave like server/queue/context.ts; these pin the parts they rely on.
describe('memoryContext', () => {
  it('runs a key once per store: a second context on the same store gets the output without running it', async () => {
    const store = new Map<string, unknown>();
    const first = memoryContext(claimedRun(), { store });
    expect(await first.step('a', { agent: 'x' }, async () => ({ output: 'A' }))).toBe('A');
    const second = memoryContext(claimedRun(), { store });
    let ran = false;
    const output = await second.step('a', { agent: 'x' }, async () => {
      ran = true;
      return { output: 'other' };
    });
    expect({ output, ran, steps: second.steps }).toEqual({ output: 'A', ran: false, steps: 0 });
    expect(second.records).toEqual([{ key: 'a', index: 0, agent: 'x', meta: undefined, resumed: true }]);
  });

  it('numbers steps by call order, stored or not, and records them when called', async () => {
    const ctx = memoryContext(claimedRun(), { store: new Map([['b', 'B']]) });
    let release!: () => void;
    const slow = ctx.step('a', { agent: 'x' }, () => new Promise<{ output: string }>((resolve) => (release = () => resolve({ output: 'A' }))));
    await ctx.step('b', { agent: 'y' }, async () => ({ output: 'never' }));
    await ctx.step('c', { agent: 'z', meta: { round: 1 } }, async () => ({ output: 'C', meta: { verdict: 'pass' } }));
    release();
    await slow;
    expect(ctx.records.map((r) => [r.key, r.index, r.resumed])).toEqual([
      ['a', 0, false],
      ['b', 1, true],
      ['c', 2, false],
    ]);
    expect(ctx.records[2]!.meta).toEqual({ round: 1, verdict: 'pass' });
  });

  it('after an abort, a stored step still returns but a new one throws the reason without running', async () => {
    const ctx = memoryContext(claimedRun(), { store: new Map([['done', 1]]) });
    const reason = new Error('cancelled');
    ctx.abort(reason);
    expect(await ctx.step('done', { agent: null }, async () => ({ output: 2 }))).toBe(1);
    let ran = false;
    await expect(
      ctx.step('new', { agent: null }, async () => {
        ran = true;
        return { output: 3 };
      }),
    ).rejects.toBe(reason);
    expect(ran).toBe(false);
    expect(ctx.store.has('new')).toBe(false);
  });

  it('does not store a step whose function fails', async () => {
    const ctx = memoryContext();
    await expect(ctx.step('a', { agent: null }, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(ctx.store.size).toBe(0);
    expect(ctx.steps).toBe(0);
  });

  it('answers the n-th question with the n-th answer, then parks the run', () => {
    const ctx = memoryContext(claimedRun({ inputAnswers: ['first'] }));
    expect(ctx.awaitInput({ q: 1 })).toBe('first');
    expect(() => ctx.awaitInput({ q: 2 })).toThrow(AwaitingInput);
    expect(ctx.questions).toEqual([{ q: 1 }, { q: 2 }]);
  });
});
