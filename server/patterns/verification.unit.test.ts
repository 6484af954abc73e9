import { describe, expect, it } from 'vitest';
import { patternContract } from '../../test/support/pattern-contract.js';
import { patternEngine } from '../../test/support/pattern-engine.js';
import type { ScriptRule } from '../../test/support/scripted-model.js';
import { verification } from './verification.js';

const agents = ['writer', 'verifier'];

// Verdicts follow the attempt named in the prompt, not the call count, so a resumed run gets the same ones.
const failsOnceThenPasses: ScriptRule[] = [
  { agent: 'verifier', prompt: '(attempt 1 of', answer: { pass: false, reasons: ['missing a concrete example'] } },
  { agent: 'verifier', answer: { pass: true, reasons: ['every criterion met'] } },
];

describe('verification (unit)', () => {
  describe('fails once, then passes', () => {
    patternContract({ pattern: verification, agents, options: { maxAttempts: 3 }, rules: failsOnceThenPasses, calls: 4 });
  });

  it('sends the verifier\'s reasons back to the producer until the answer passes', async () => {
    const e = patternEngine(verification, [
      { agent: 'writer', prompt: /^Explain recursion$/, answer: 'Recursion is when a function calls itself.' },
      { agent: 'writer', answer: 'Recursion: factorial(n) = n * factorial(n - 1).' },
      ...failsOnceThenPasses,
    ]);
    const { output, ctx } = await e.run({ agents, options: { criteria: ['includes a concrete example'], maxAttempts: 3 }, task: 'Explain recursion' });
    expect(output).toEqual({
      output: 'Recursion: factorial(n) = n * factorial(n - 1).',
      verified: true,
      attempts: 2,
      reasons: ['every criterion met'],
      history: [
        { attempt: 1, pass: false, reasons: ['missing a concrete example'] },
        { attempt: 2, pass: true, reasons: ['every criterion met'] },
      ],
    });
    const [, check1, revise] = e.model.calls;
    if (!check1 || !revise) throw new Error('expected three model calls');
    expect(check1.schema).toBe('verification_verdict');
    expect(check1.prompt).toContain('1. includes a concrete example');
    expect(check1.prompt).toContain('Recursion is when a function calls itself.');
    expect(revise.prompt).toContain('Your previous answer:\nRecursion is when a function calls itself.');
    expect(revise.prompt).toContain('- missing a concrete example');
    expect(revise.prompt).toContain('attempt 2 of 3');
    expect(ctx.records.map((r) => r.key)).toEqual(['verify:a1:produce', 'verify:a1:check', 'verify:a2:produce', 'verify:a2:check']);
    expect(ctx.records.map((r) => r.meta?.verdict).filter(Boolean)).toEqual(['fail', 'pass']);
  });

  it('fails clearly, without retrying, when no attempt passes', async () => {
    const e = patternEngine(verification, [{ agent: 'verifier', answer: { pass: false, reasons: ['cites no sources'] } }]);
    const { error, ctx } = await e.run({ agents, options: { maxAttempts: 2 } });
    expect(error).toMatchObject({ name: 'RunError', code: 'not_verified', retryable: false });
    expect((error as Error).message).toContain('after 2 attempts');
    expect((error as Error).message).toContain('cites no sources');
    expect(e.model.calls).toHaveLength(4);
    expect(ctx.steps).toBe(4);
  });

  it('one attempt only: a single failed check ends the run', async () => {
    const e = patternEngine(verification, [{ agent: 'verifier', answer: { pass: false, reasons: [] } }]);
    const { error } = await e.run({ agents, options: { maxAttempts: 1, criteria: 'is short' } });
    expect((error as Error).message).toMatch(/after 1 attempt;.*no reasons given/);
    expect(e.model.calls).toHaveLength(2);
    expect(e.model.calls[0]!.system).toContain('1. is short');
  });
});
