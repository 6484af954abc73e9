import { describe, expect, it } from 'vitest';
import { expectationSchema } from '../../shared/evals.js';
import { judgeOutput } from './judgement.js';

const judge = (expectation: unknown, output: unknown) => {
  const parsed = expectationSchema.parse(expectation);
  if (parsed.kind === 'rubric') throw new Error('rubric needs a judge agent');
  return judgeOutput(parsed, output);
};

describe('judging an output against an expectation', () => {
  it('exact: trimmed by default, exact with trim false', () => {
    expect(judge({ kind: 'exact', value: 'yes' }, '  yes\n')).toEqual({ passed: true, score: 1, reason: null });
    expect(judge({ kind: 'exact', value: 'yes', trim: false }, ' yes').passed).toBe(false);
    expect(judge({ kind: 'exact', value: 'Yes' }, 'yes').reason).toBe('expected exactly "Yes", got "yes"');
    expect(judge({ kind: 'exact', value: '{"a":1}' }, { a: 1 }).passed).toBe(true);
  });

  it('contains: case-sensitive unless ignoreCase', () => {
    expect(judge({ kind: 'contains', value: 'Budget' }, 'the budget').passed).toBe(false);
    expect(judge({ kind: 'contains', value: 'Budget', ignoreCase: true }, 'the budget').passed).toBe(true);
    expect(judge({ kind: 'contains', value: '"billing"' }, { category: 'billing' }).passed).toBe(true);
  });

  it('regex: with flags', () => {
    expect(judge({ kind: 'regex', value: '^# \\w+' }, '# Title\nbody').passed).toBe(true);
    expect(judge({ kind: 'regex', value: '^body$' }, '# Title\nbody').passed).toBe(false);
    expect(judge({ kind: 'regex', value: '^body$', flags: 'm' }, '# Title\nbody').passed).toBe(true);
    expect(() => expectationSchema.parse({ kind: 'regex', value: '(' })).toThrow(/not a valid regular expression/);
    expect(() => expectationSchema.parse({ kind: 'regex', value: 'a', flags: 'g' })).toThrow(/flags/);
  });

  it('json_schema: values as they are, text parsed (fences unwrapped), anything else fails', () => {
    const schema = { type: 'object', required: ['n'], properties: { n: { type: 'integer', minimum: 1 } } };
    expect(judge({ kind: 'json_schema', schema }, { n: 2 }).passed).toBe(true);
    expect(judge({ kind: 'json_schema', schema }, '```json\n{"n": 3}\n```').passed).toBe(true);
    expect(judge({ kind: 'json_schema', schema }, { n: 0 })).toEqual({ passed: false, score: 0, reason: 'the output does not match the schema: /n must be >= 1' });
    expect(judge({ kind: 'json_schema', schema }, 'n is three').reason).toBe('the output is not JSON');
  });
});
