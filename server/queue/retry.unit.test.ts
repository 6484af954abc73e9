import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { NotFoundError, ValidationError } from '../domain/errors.js';
import { AttemptAborted, classify } from './retry.js';
import { RunError } from './types.js';

describe('classify', () => {
  it('fails at once on what would fail the same way again, retries the rest', () => {
    expect(classify(new ValidationError('options.rounds: too many'), 1000)).toEqual({ code: 'validation_error', message: 'options.rounds: too many', retryable: false });
    expect(classify(new NotFoundError('agent "ghost"'), 1000)).toMatchObject({ code: 'not_found', retryable: false });
    expect(classify(new RunError('bad_option', 'no', false), 1000)).toMatchObject({ code: 'bad_option', retryable: false });
    expect(classify(z.string().safeParse(1).error, 1000)).toMatchObject({ code: 'invalid_input', retryable: false });
    expect(classify(new RunError('rate_limited', 'slow down', true, 700), 1000)).toMatchObject({ retryable: true, retryAfterMs: 700 });
    expect(classify(new AttemptAborted('timeout', 'late'), 1000)).toMatchObject({ code: 'timeout', retryable: true });
    expect(classify(new Error('socket hang up'), 1000)).toMatchObject({ code: 'execution_error', retryable: true });
  });
});
