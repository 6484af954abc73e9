import { z } from 'zod';
import { outputText } from './input.js';
import { agentOption, definePattern, settleAll } from './types.js';

/** Several experts answer independently; a moderator synthesizes one conclusion. */
export const expertPanel = definePattern({
  name: 'expert-panel',
  description: 'Several experts answer independently and at the same time; a moderator synthesizes their answers into one conclusion.',
  agents: { min: 2, max: 8, description: 'The experts.' },
  options: z.object({ moderator: agentOption('Agent that synthesizes the experts\' answers.', 'moderator') }).strict(),
  async run({ ctx, runner, task, agents, options }) {
    const answers = await settleAll(
      agents.map((agent, i) =>
        runner.call(ctx, {
          key: `panel:${i}:${agent}`,
          agent,
          prompt: task,
          instructions: 'You are one expert on a panel. Answer independently from your own expertise; the moderator will combine the answers.',
          meta: { pattern: 'expert-panel', role: 'expert', expert: i + 1 },
        }),
      ),
    );
    const experts = agents.map((agent, i) => ({ agent, answer: answers[i] }));
    const synthesis = await runner.call(ctx, {
      key: `panel:moderate:${options.moderator}`,
      agent: options.moderator,
      prompt: `Question: ${task}\n\n${experts.map((e) => `Expert ${e.agent}:\n${outputText(e.answer)}`).join('\n\n')}`,
      instructions: 'Synthesize the experts\' answers into one conclusion: agreements, disagreements and a final recommendation.',
      meta: { pattern: 'expert-panel', role: 'moderator' },
    });
    return { synthesis, experts };
  },
});
