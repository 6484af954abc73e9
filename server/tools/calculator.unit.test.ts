import { describe, expect, it } from 'vitest';
import { calculatorTool } from './builtins.js';
import { calculate, CalculatorError } from './calculator.js';

describe('calculator', () => {
  it.each([
    ['1 + 2 * 3', 7],
    ['(1 + 2) * 3', 9],
    ['2 ^ 3 ^ 2', 512],
    ['-2 ^ 2', -4],
    ['2 ^ -1', 0.5],
    ['10 % 4', 2],
    ['7 / 2', 3.5],
    ['1e3 + .5', 1000.5],
    ['sqrt(16) + abs(-3)', 7],
    ['round(2.345, 2)', 2.35],
    ['max(1, 9, 4) - min(3, 2)', 7],
    ['log(1000)', 3],
    ['log(8, 2)', 3],
    ['2 × 3 ÷ 4 − 1', 0.5],
    ['2 ** 10', 1024],
    ['PI * 0', 0],
    ['--3', 3],
  ])('%s = %d', (expression, expected) => {
    expect(calculate(expression)).toBeCloseTo(expected, 10);
  });

  it.each([
    ['', /empty/],
    ['1 +', /ends too early/],
    ['(1 + 2', /expected "\)"/],
    ['1 / 0', /division by zero/],
    ['2 3', /unexpected "3"/],
    ['process.exit(1)', /unexpected character "\."/],
    ['process', /unknown name "process"/],
    ['constructor', /unknown name/],
    ['constructor(1)', /unknown name/],
    ['__proto__', /unknown name/],
    ['sqrt(1, 2)', /takes 1 argument/],
    ['1; 2', /unexpected character ";"/],
    ['10 ^ 400', /not a finite number/],
    ['('.repeat(300) + '1' + ')'.repeat(300), /nested deeper/],
    ['1+'.repeat(600) + '1', /longer than/],
  ])('%s is refused with a message', (expression, message) => {
    expect(() => calculate(expression)).toThrow(CalculatorError);
    expect(() => calculate(expression)).toThrow(message);
  });

  it('as a tool, reports a bad expression as an error result the model can read', async () => {
    const tool = calculatorTool();
    const ok = await tool.execute({ expression: '6 * 7' }, { signal: new AbortController().signal, idempotencyKey: 'k' });
    expect(ok).toMatchObject({ content: '42', isError: false });
    const bad = await tool.execute({ expression: '6 *' }, { signal: new AbortController().signal, idempotencyKey: 'k' });
    expect(bad.isError).toBe(true);
    expect(bad.content).toMatch(/cannot calculate/);
  });
});
