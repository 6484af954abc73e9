import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createPatternRegistry } from './patterns.js';
import { agentOption, definePattern } from './types.js';

describe('agent options (unit)', () => {
  const patterns = createPatternRegistry();
  const refs = (name: string, raw: unknown) => {
    const pattern = patterns.get(name)!;
    return pattern.referencedAgents(pattern.parseOptions(raw));
  };

  it('every pattern lists the agents its options name, defaults included', () => {
    expect(refs('debate', {})).toEqual([{ field: 'judge', agent: 'judge' }]);
    expect(refs('debate', { judge: 'critic', rounds: 3 })).toEqual([{ field: 'judge', agent: 'critic' }]);
    expect(refs('expert-panel', {})).toEqual([{ field: 'moderator', agent: 'moderator' }]);
    expect(refs('router', { threshold: 0.2 })).toEqual([{ field: 'classifier', agent: 'classifier' }]);
    expect(refs('parallel', { aggregator: 'summarizer' })).toEqual([{ field: 'aggregator', agent: 'summarizer' }]);
    expect(refs('sequential', {})).toEqual([]);
    expect(refs('verification', {})).toEqual([]);
  });

  it('an optional agent left out is no reference', () => {
    expect(refs('parallel', {})).toEqual([]);
  });

  it('only options declared with agentOption count, in declaration order', () => {
    const p = definePattern({
      name: 'parallel',
      description: 'test',
      agents: { min: 1, max: 1, description: 'test' },
      options: z.object({ note: z.string().default('x'), second: agentOption('Agent two.', 'b'), first: agentOption('Agent one.') }).strict(),
      run: () => Promise.resolve(null),
    });
    expect(p.referencedAgents(p.parseOptions({ first: 'a' }))).toEqual([
      { field: 'second', agent: 'b' },
      { field: 'first', agent: 'a' },
    ]);
    expect(z.toJSONSchema(p.optionsSchema, { io: 'input' })).toMatchObject({ properties: { second: { type: 'string', default: 'b', description: 'Agent two.' } } });
  });
});
