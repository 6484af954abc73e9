import { describe, expect, it } from 'vitest';
import { createFinalWriter, type FinalStatements } from './final-writes.js';
import type { FinalRow, FinalWrite } from './sql/worker-writes.js';

const write = (id: string): FinalWrite => ({ fence: { id, token: `t-${id}` }, status: 'succeeded', output: id, error: null, data: {} });
const row = (id: string) => ({ id, seq: 2 }) as unknown as FinalRow;

/** Statements the test answers by hand, recording what was asked. */
function scripted() {
  const calls: { kind: 'one' | 'many'; ids: string[]; answer(value: unknown): void; fail(error: unknown): void }[] = [];
  const statements: FinalStatements = {
    one: (w) => new Promise((resolve, reject) => calls.push({ kind: 'one', ids: [w.fence.id], answer: (v) => resolve(v as FinalRow | null), fail: reject })),
    many: (ws) => new Promise((resolve, reject) => calls.push({ kind: 'many', ids: ws.map((w) => w.fence.id), answer: (v) => resolve(v as Map<string, FinalRow>), fail: reject })),
  };
  return { calls, statements };
}

const settle = () => new Promise((r) => setImmediate(r));

describe('final-write combiner', () => {
  it('writes a lone run at once, and combines what ends while statements are in flight', async () => {
    const { calls, statements } = scripted();
    const writer = createFinalWriter(statements, { maxInFlight: 2 });
    const a = writer.commit(write('a'));
    const b = writer.commit(write('b'));
    const c = writer.commit(write('c'));
    const d = writer.commit(write('d'));
    await settle();
    expect(calls.map((x) => [x.kind, x.ids])).toEqual([['one', ['a']], ['one', ['b']]]);
    calls[0]!.answer(row('a'));
    await settle();
    // c and d waited together: one statement for both, runs it refused resolve null.
    expect(calls[2]).toMatchObject({ kind: 'many', ids: ['c', 'd'] });
    calls[2]!.answer(new Map([['c', row('c')]]));
    calls[1]!.answer(null);
    expect(await a).toEqual(row('a'));
    expect(await b).toBeNull();
    expect(await c).toEqual(row('c'));
    expect(await d).toBeNull();
  });

  it('falls back to one statement per run when a combined one fails; a lone failure rejects', async () => {
    const { calls, statements } = scripted();
    const writer = createFinalWriter(statements, { maxInFlight: 1 });
    const first = writer.commit(write('x'));
    const y = writer.commit(write('y'));
    const z = writer.commit(write('z'));
    await settle();
    calls[0]!.fail(new Error('connection lost'));
    await expect(first).rejects.toThrow('connection lost');
    await settle();
    expect(calls[1]).toMatchObject({ kind: 'many', ids: ['y', 'z'] });
    calls[1]!.fail(new Error('bad row'));
    await settle();
    expect(calls.slice(2).map((x) => [x.kind, x.ids])).toEqual([['one', ['y']], ['one', ['z']]]);
    calls[2]!.answer(row('y'));
    calls[3]!.fail(new Error('z is bad'));
    expect(await y).toEqual(row('y'));
    await expect(z).rejects.toThrow('z is bad');
  });
});
