import { describe, expect, it } from 'vitest';
import { patternContract } from '../../test/support/pattern-contract.js';
import { patternEngine } from '../../test/support/pattern-engine.js';
import { expertPanel } from './expert-panel.js';

const agents = ['researcher', 'analyst', 'critic'];

describe('expert-panel (unit)', () => {
  describe('default moderator', () => {
    patternContract({ pattern: expertPanel, agents, calls: 4 });
  });
  describe('another moderator', () => {
    patternContract({ pattern: expertPanel, agents: ['researcher', 'analyst'], options: { moderator: 'summarizer' }, calls: 3 });
  });

  it('experts answer the same question independently; the moderator synthesizes every answer', async () => {
    const e = patternEngine(expertPanel, [
      { agent: 'researcher', answer: 'Low carbon.' },
      { agent: 'analyst', answer: 'Expensive to build.' },
      { agent: 'critic', answer: 'Waste is unsolved.' },
      { agent: 'moderator', answer: 'Yes, with caveats.' },
    ]);
    const { output, ctx } = await e.run({ agents, task: 'Nuclear power for the climate?' });
    expect(e.model.calls.slice(0, 3).map((c) => [c.agent, c.prompt])).toEqual(agents.map((a) => [a, 'Nuclear power for the climate?']));
    for (const expert of e.model.calls.slice(0, 3)) expect(expert.system).toContain('one expert on a panel');
    const moderator = e.model.calls[3]!;
    expect(moderator.agent).toBe('moderator');
    for (const text of ['Expert researcher:\nLow carbon.', 'Expert analyst:\nExpensive to build.', 'Expert critic:\nWaste is unsolved.']) expect(moderator.prompt).toContain(text);
    expect(output).toEqual({
      synthesis: 'Yes, with caveats.',
      experts: [
        { agent: 'researcher', answer: 'Low carbon.' },
        { agent: 'analyst', answer: 'Expensive to build.' },
        { agent: 'critic', answer: 'Waste is unsolved.' },
      ],
    });
    expect(ctx.records.map((r) => r.key)).toEqual(['panel:0:researcher', 'panel:1:analyst', 'panel:2:critic', 'panel:moderate:moderator']);
    expect(ctx.records[3]!.meta).toMatchObject({ pattern: 'expert-panel', role: 'moderator' });
  });

  it('one expert failing keeps the others\' answers and does not reach the moderator', async () => {
    const failure = new Error('analyst timed out');
    const e = patternEngine(expertPanel, [{ agent: 'analyst', answer: failure }]);
    const { error, ctx } = await e.run({ agents });
    expect(error).toBe(failure);
    expect([...ctx.store.keys()].sort()).toEqual(['panel:0:researcher', 'panel:2:critic']);
    expect(e.model.calls.map((c) => c.agent)).not.toContain('moderator');
  });
});
