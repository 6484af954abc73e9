import { describe, expect, it } from 'vitest';
import { patternContract } from '../../test/support/pattern-contract.js';
import { patternEngine } from '../../test/support/pattern-engine.js';
import { debate } from './debate.js';

const agents = ['critic', 'analyst'];

describe('debate (unit)', () => {
  describe('two debaters, two rounds, default judge', () => {
    patternContract({ pattern: debate, agents, calls: 5 });
  });
  describe('three debaters, three rounds, another judge', () => {
    patternContract({ pattern: debate, agents: ['critic', 'analyst', 'planner'], options: { rounds: 3, judge: 'moderator' }, calls: 10 });
  });

  it('each round sees the previous arguments, then the judge picks a debater with reasons', async () => {
    const e = patternEngine(debate, [
      { agent: 'critic', prompt: 'Round 1: state', answer: 'Cars pollute.' },
      { agent: 'analyst', prompt: 'Round 1: state', answer: 'Shops need cars.' },
      { agent: 'critic', answer: 'Shops thrive without cars.' },
      { agent: 'analyst', answer: 'Deliveries still need access.' },
      { agent: 'judge', schema: 'debate_verdict', answer: { winner: 'critic', reasoning: 'Better evidence.' } },
    ]);
    const { output, ctx } = await e.run({ agents, options: { rounds: 2 }, task: 'Ban cars downtown?' });
    expect(output).toEqual({
      winner: 'critic',
      reasoning: 'Better evidence.',
      rounds: [
        [{ agent: 'critic', argument: 'Cars pollute.' }, { agent: 'analyst', argument: 'Shops need cars.' }],
        [{ agent: 'critic', argument: 'Shops thrive without cars.' }, { agent: 'analyst', argument: 'Deliveries still need access.' }],
      ],
    });
    const round2 = e.model.calls.slice(2, 4);
    for (const call of round2) {
      expect(call.prompt).toContain('- critic: Cars pollute.');
      expect(call.prompt).toContain('- analyst: Shops need cars.');
    }
    const judge = e.model.calls[4]!;
    expect(judge.agent).toBe('judge');
    expect(judge.schema).toBe('debate_verdict');
    expect(judge.prompt).toContain('Deliveries still need access.');
    expect(ctx.records.map((r) => r.key)).toEqual(['debate:r1:0:critic', 'debate:r1:1:analyst', 'debate:r2:0:critic', 'debate:r2:1:analyst', 'debate:judge:judge']);
    expect(ctx.records[4]!.meta).toMatchObject({ role: 'judge', verdict: 'critic' });
  });

  it('rounds sets how many arguments each debater makes', async () => {
    const e = patternEngine(debate);
    const { output } = await e.run({ agents, options: { rounds: 1 } });
    expect(e.model.calls.map((c) => c.agent)).toEqual(['critic', 'analyst', 'judge']);
    expect((output as { rounds: unknown[] }).rounds).toHaveLength(1);
  });

  it('a judge naming someone who did not debate fails the run without retrying', async () => {
    const e = patternEngine(debate, [{ agent: 'judge', answer: { winner: 'planner', reasoning: 'Absent but right.' } }]);
    const { error } = await e.run({ agents, options: { rounds: 1 } });
    expect(error).toMatchObject({ name: 'RunError', code: 'bad_output', retryable: false });
  });
});
