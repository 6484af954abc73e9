import { describe, expect, it } from 'vitest';
import { patternContract } from '../../test/support/pattern-contract.js';
import { patternEngine } from '../../test/support/pattern-engine.js';
import { parallel } from './parallel.js';

const agents = ['critic', 'planner', 'analyst'];

describe('parallel (unit)', () => {
  describe('with an aggregator', () => {
    patternContract({ pattern: parallel, agents, options: { aggregator: 'summarizer' }, calls: 4 });
  });
  describe('without an aggregator', () => {
    patternContract({ pattern: parallel, agents, calls: 3 });
  });

  it('asks every agent the same task at once, then the aggregator sees every answer', async () => {
    const e = patternEngine(parallel, [
      { agent: 'critic', answer: 'Too costly.' },
      { agent: 'planner', answer: 'Three phases.' },
      { agent: 'analyst', answer: 'Worth it.' },
      { agent: 'summarizer', answer: 'Merged view.' },
    ]);
    const { output, ctx } = await e.run({ agents, options: { aggregator: 'summarizer' }, task: 'A four-day week' });
    expect(e.model.calls.slice(0, 3).map((c) => [c.agent, c.prompt])).toEqual(agents.map((a) => [a, 'A four-day week']));
    const merge = e.model.calls[3]!;
    expect(merge.agent).toBe('summarizer');
    for (const text of ['Answer from critic:\nToo costly.', 'Answer from planner:\nThree phases.', 'Answer from analyst:\nWorth it.']) expect(merge.prompt).toContain(text);
    expect(merge.system).toContain('Merge their answers');
    expect(output).toEqual({
      result: 'Merged view.',
      results: [
        { agent: 'critic', output: 'Too costly.' },
        { agent: 'planner', output: 'Three phases.' },
        { agent: 'analyst', output: 'Worth it.' },
      ],
    });
    expect(ctx.records.map((r) => r.key)).toEqual(['par:0:critic', 'par:1:planner', 'par:2:analyst', 'par:aggregate:summarizer']);
    expect(ctx.records[3]!.meta).toMatchObject({ pattern: 'parallel', role: 'aggregator' });
  });

  it('without an aggregator lists every answer in agent order', async () => {
    const e = patternEngine(parallel, [{ agent: 'critic', answer: 'No.' }, { agent: 'planner', answer: 'Yes.' }]);
    const { output } = await e.run({ agents: ['critic', 'planner'] });
    expect(output).toEqual({ results: [{ agent: 'critic', output: 'No.' }, { agent: 'planner', output: 'Yes.' }] });
  });

  it('checkpoints the branches that succeed when one fails, and never calls the aggregator', async () => {
    const failure = new Error('planner is down');
    const e = patternEngine(parallel, [{ agent: 'planner', answer: failure }]);
    const { ctx, error } = await e.run({ agents, options: { aggregator: 'summarizer' } });
    expect(error).toBe(failure);
    expect([...ctx.store.keys()].sort()).toEqual(['par:0:critic', 'par:2:analyst']);
    expect(e.model.calls.map((c) => c.agent)).toEqual(agents);
  });
});
