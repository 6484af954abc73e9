import { describe, expect, it } from 'vitest';
import { pick, renderTemplate } from './template.js';

describe('trigger input templates', () => {
  const payload = { a: { b: [{ c: 'x' }, { c: 'y' }] }, n: 3, s: 'text' };

  it('a placeholder alone keeps the value; inside text it is text; missing is null or empty', () => {
    expect(renderTemplate({ v: '{{a.b.1.c}}', whole: '{{ a.b }}', n: '{{n}}', t: 'n={{n}} obj={{a.b.0}} none={{zz}}', gone: '{{zz}}', keep: 5 }, payload)).toEqual({
      v: 'y',
      whole: [{ c: 'x' }, { c: 'y' }],
      n: 3,
      t: 'n=3 obj={"c":"x"} none=',
      gone: null,
      keep: 5,
    });
    expect(renderTemplate('{{$}}', payload)).toEqual(payload);
  });

  it('reads own properties only: no prototype, no constructor, no code', () => {
    expect(pick(payload, 'constructor')).toBeUndefined();
    expect(pick(payload, '__proto__')).toBeUndefined();
    expect(pick(payload, 's.length')).toBeUndefined();
    expect(pick(payload, 'a.b.x')).toBeUndefined();
    expect(renderTemplate('{{constructor.constructor}}', payload)).toBeNull();
  });
});
