import { describe, expect, it } from 'vitest';
import { patternContract } from '../../test/support/pattern-contract.js';
import { patternEngine } from '../../test/support/pattern-engine.js';
import type { ScriptRule } from '../../test/support/scripted-model.js';
import { AwaitingInput } from '../queue/types.js';
import { router } from './router.js';

const agents = ['writer', 'planner'];
const choose = (agent: string, confidence: number): ScriptRule[] => [
  { agent: 'classifier', schema: 'router_choice', answer: { agent, confidence, reason: `looks like a job for the ${agent}` } },
  { agent: 'planner', answer: 'Step 1: pick a date.' },
  { agent: 'writer', answer: 'A launch announcement.' },
];

describe('router (unit)', () => {
  describe('a confident classifier', () => {
    patternContract({ pattern: router, agents, rules: choose('planner', 0.9), calls: 2 });
  });
  describe('an unsure classifier, resumed with a person\'s choice', () => {
    patternContract({ pattern: router, agents, rules: choose('planner', 0.3), inputAnswers: [{ agent: 'writer' }], calls: 2 });
  });

  it('routes straight to the chosen agent when the classifier is confident enough', async () => {
    const e = patternEngine(router, choose('planner', 0.6));
    const { output, ctx } = await e.run({ agents, options: { threshold: 0.6 }, task: 'Plan the launch' });
    expect(output).toEqual({ agent: 'planner', routedBy: 'classifier', confidence: 0.6, reason: 'looks like a job for the planner', output: 'Step 1: pick a date.' });
    const [classify, handle] = e.model.calls;
    if (!classify || !handle) throw new Error('expected two model calls');
    expect(classify.prompt).toContain('- writer: Writes clear prose.');
    expect(classify.prompt).toContain('- planner: Turns goals into steps.');
    expect(handle.prompt).toBe('Plan the launch');
    expect(ctx.records.map((r) => r.key)).toEqual(['router:classify:classifier', 'router:handle:planner']);
    expect(ctx.records[0]!.meta).toMatchObject({ role: 'classifier', choice: 'planner', confidence: 0.6, threshold: 0.6 });
    expect(ctx.questions).toEqual([]);
  });

  it('below the threshold asks a person, then resumes with their choice without classifying again', async () => {
    const store = new Map<string, unknown>();
    const first = patternEngine(router, choose('planner', 0.4));
    const parked = await first.run({ agents, store, task: 'Announce the launch' });
    expect(parked.error).toBeInstanceOf(AwaitingInput);
    expect((parked.error as AwaitingInput).question).toMatchObject({
      kind: 'router.choice',
      request: 'Announce the launch',
      candidates: [
        { name: 'writer', description: 'Writes clear prose.' },
        { name: 'planner', description: 'Turns goals into steps.' },
      ],
      suggestion: { agent: 'planner', confidence: 0.4 },
    });
    expect((parked.error as AwaitingInput).question).toMatchObject({ question: expect.stringContaining('only 40% confident (threshold 60%)') });
    expect(first.model.calls.map((c) => c.agent)).toEqual(['classifier']);
    expect([...store.keys()]).toEqual(['router:classify:classifier']);

    const second = patternEngine(router, choose('planner', 0.4));
    const resumed = await second.run({ agents, store, task: 'Announce the launch', inputAnswers: [{ agent: 'writer', note: 'Keep it short.' }] });
    expect(resumed.error).toBeUndefined();
    expect(second.model.calls.map((c) => c.agent)).toEqual(['writer']);
    expect(second.model.calls[0]!.prompt).toBe('Announce the launch\n\nNote from the person who routed this: Keep it short.');
    expect(resumed.output).toEqual({ agent: 'writer', routedBy: 'person', confidence: 0.4, reason: 'looks like a job for the planner', output: 'A launch announcement.' });
    expect(resumed.ctx.records.map((r) => [r.key, r.resumed])).toEqual([
      ['router:classify:classifier', true],
      ['router:handle:writer', false],
    ]);
  });

  it('a person may answer the request themselves: no agent is called', async () => {
    const e = patternEngine(router, choose('planner', 0.1));
    const { output } = await e.run({ agents, inputAnswers: [{ answer: 'I will write it myself.' }] });
    expect(output).toEqual({ answeredBy: 'person', output: 'I will write it myself.', suggestion: { agent: 'planner', confidence: 0.1, reason: 'looks like a job for the planner' } });
    expect(e.model.calls.map((c) => c.agent)).toEqual(['classifier']);
  });

  it('a bare candidate name routes; any other text is the person\'s answer', async () => {
    const named = patternEngine(router, choose('planner', 0.1));
    expect((await named.run({ agents, inputAnswers: [' writer '] })).output).toMatchObject({ agent: 'writer', routedBy: 'person' });
    const text = patternEngine(router, choose('planner', 0.1));
    expect((await text.run({ agents, inputAnswers: ['Not now.'] })).output).toMatchObject({ answeredBy: 'person', output: 'Not now.' });
  });

  it('an answer it cannot use asks again, saying why, and the next answer is used', async () => {
    const e = patternEngine(router, choose('planner', 0.2));
    const again = await e.run({ agents, inputAnswers: [{ agent: 'nobody' }] });
    expect(again.error).toBeInstanceOf(AwaitingInput);
    expect((again.error as AwaitingInput).question).toMatchObject({ question: expect.stringContaining('"nobody" is not one of the candidates') });
    expect(again.ctx.questions).toHaveLength(2);

    const done = await patternEngine(router, choose('planner', 0.2)).run({ agents, inputAnswers: [{ agent: 'nobody' }, 'planner'] });
    expect(done.output).toMatchObject({ agent: 'planner', routedBy: 'person', output: 'Step 1: pick a date.' });
  });
});
