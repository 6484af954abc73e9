import { z } from 'zod';
import { outputText } from './input.js';
import { agentOption, definePattern, settleAll } from './types.js';

/** Fan-out: every agent answers the same input at once; an optional aggregator merges them. */
export const parallel = definePattern({
  name: 'parallel',
  description: 'Every agent works on the same input at the same time; an optional aggregator agent merges the answers.',
  agents: { min: 2, max: 10, description: 'The agents that answer in parallel.' },
  options: z
    .object({
      aggregator: agentOption('Agent that merges the answers into one (e.g. summarizer). Without it the output lists every answer.'),
    })
    .strict(),
  async run({ ctx, runner, task, agents, options }) {
    const answers = await settleAll(
      agents.map((agent, i) =>
        runner.call(ctx, { key: `par:${i}:${agent}`, agent, prompt: task, meta: { pattern: 'parallel', branch: i + 1, role: 'worker' } }),
      ),
    );
    const results = agents.map((agent, i) => ({ agent, output: answers[i] }));
    if (!options.aggregator) return { results };
    const merged = await runner.call(ctx, {
      key: `par:aggregate:${options.aggregator}`,
      agent: options.aggregator,
      prompt: `Task: ${task}\n\n${results.map((r) => `Answer from ${r.agent}:\n${outputText(r.output)}`).join('\n\n')}`,
      instructions: 'Several agents answered the same task independently. Merge their answers into one coherent result; keep what they agree on and resolve conflicts.',
      meta: { pattern: 'parallel', role: 'aggregator' },
    });
    return { result: merged, results };
  },
});
