import { z } from 'zod';
import { outputText } from './input.js';
import { definePattern } from './types.js';

/** A pipeline: each agent works on the previous agent's output. */
export const sequential = definePattern({
  name: 'sequential',
  description: 'A pipeline: each agent gets the previous agent\'s output (e.g. researcher → writer → editor).',
  agents: { min: 1, max: 10, description: 'The agents in pipeline order.' },
  options: z
    .object({
      includeTask: z.boolean().default(true).describe('Show every agent the original task as well as the previous output.'),
    })
    .strict(),
  async run({ ctx, runner, task, agents, options }) {
    let previous: unknown = task;
    for (const [i, agent] of agents.entries()) {
      const prompt =
        i === 0
          ? task
          : options.includeTask
            ? `Task: ${task}\n\nPrevious output (from ${agents[i - 1]}):\n${outputText(previous)}`
            : outputText(previous);
      previous = await runner.call(ctx, {
        key: `seq:${i}:${agent}`,
        agent,
        prompt,
        instructions: i === 0 ? undefined : `You are stage ${i + 1} of ${agents.length} in a pipeline; build on the previous stage's output.`,
        meta: { pattern: 'sequential', stage: i + 1, of: agents.length, role: i === 0 ? 'first' : 'next' },
      });
    }
    return previous;
  },
});
