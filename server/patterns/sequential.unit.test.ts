import { describe, expect, it } from 'vitest';
import { patternContract } from '../../test/support/pattern-contract.js';
import { patternEngine } from '../../test/support/pattern-engine.js';
import { RunError } from '../queue/types.js';
import { sequential } from './sequential.js';

const agents = ['researcher', 'writer', 'editor'];

describe('sequential (unit)', () => {
  patternContract({ pattern: sequential, agents, calls: 3 });

  it('gives each agent the task and the previous agent\'s output, and returns the last output', async () => {
    const e = patternEngine(sequential, [
      { agent: 'researcher', answer: 'Notes on traffic.' },
      { agent: 'writer', answer: 'A draft on traffic.' },
      { agent: 'editor', answer: 'The edited draft.' },
    ]);
    const { output, ctx } = await e.run({ agents, task: 'Cut traffic' });
    expect(output).toBe('The edited draft.');
    expect(e.model.calls.map((c) => c.agent)).toEqual(agents);
    expect(e.model.calls[0]!.prompt).toBe('Cut traffic');
    expect(e.model.calls[1]!.prompt).toContain('Task: Cut traffic');
    expect(e.model.calls[1]!.prompt).toContain('Previous output (from researcher):\nNotes on traffic.');
    expect(e.model.calls[2]!.prompt).toContain('A draft on traffic.');
    expect(e.model.calls[2]!.system).toContain('stage 3 of 3');
    expect(ctx.records.map((r) => r.key)).toEqual(['seq:0:researcher', 'seq:1:writer', 'seq:2:editor']);
    expect(ctx.records[2]!.meta).toMatchObject({ pattern: 'sequential', stage: 3, of: 3, role: 'next' });
  });

  it('with includeTask false passes only the previous output on', async () => {
    const e = patternEngine(sequential, [{ agent: 'researcher', answer: 'Notes.' }]);
    await e.run({ agents: ['researcher', 'writer'], options: { includeTask: false }, task: 'Cut traffic' });
    expect(e.model.calls[1]!.prompt).toBe('Notes.');
  });

  it('refuses invalid options with a non-retryable error before calling the model', async () => {
    const e = patternEngine(sequential);
    const { error } = await e.run({ agents, options: { includeTask: 'yes' } });
    expect(error).toBeInstanceOf(RunError);
    expect(error).toMatchObject({ code: 'invalid_options', retryable: false });
    expect(e.model.calls).toHaveLength(0);
  });
});
