import { z } from 'zod';
import { RunError } from '../queue/types.js';
import { outputText } from './input.js';
import { agentOption, definePattern, settleAll } from './types.js';

interface Argument {
  agent: string;
  argument: string;
}

/** Two or more agents argue for N rounds, each round seeing the others' arguments; a judge decides. */
export const debate = definePattern({
  name: 'debate',
  description: 'Two or more agents argue over several rounds, each seeing the others\' previous arguments; a judge decides which position is stronger.',
  agents: { min: 2, max: 6, description: 'The debaters.' },
  options: z
    .object({
      rounds: z.number().int().min(1).max(5).default(2).describe('Rounds of arguments before the judge decides.'),
      judge: agentOption('Agent that weighs the arguments and picks a winner.', 'judge'),
    })
    .strict(),
  async run({ ctx, runner, task, agents, options }) {
    const rounds: Argument[][] = [];
    for (let round = 1; round <= options.rounds; round++) {
      const history = rounds
        .map((args, r) => `Round ${r + 1}:\n${args.map((a) => `- ${a.agent}: ${a.argument}`).join('\n')}`)
        .join('\n\n');
      const answers = await settleAll(
        agents.map((agent, i) =>
          runner.call(ctx, {
            key: `debate:r${round}:${i}:${agent}`,
            agent,
            prompt: history ? `Question: ${task}\n\nThe debate so far:\n${history}\n\nRound ${round}: respond to the other side and strengthen your position.` : `Question: ${task}\n\nRound 1: state your position and your best argument.`,
            instructions: `You are debater ${i + 1} of ${agents.length} (${agent}) in a ${options.rounds}-round debate. Take a clear position, argue it with evidence, and answer the other debaters' points directly. Keep each turn under 200 words.`,
            meta: { pattern: 'debate', round, of: options.rounds, role: 'debater', position: i + 1 },
          }),
        ),
      );
      rounds.push(agents.map((agent, i) => ({ agent, argument: outputText(answers[i]) })));
    }
    const positions = agents.map((agent, i) => `${agent} (debater ${i + 1})`);
    const verdict = (await runner.call(ctx, {
      key: `debate:judge:${options.judge}`,
      agent: options.judge,
      prompt: `Question: ${task}\n\n${rounds.map((args, r) => `Round ${r + 1}:\n${args.map((a) => `- ${a.agent}: ${a.argument}`).join('\n')}`).join('\n\n')}\n\nDecide which debater made the stronger case: ${positions.join(', ')}.`,
      instructions: 'You judge this debate. Name the winning debater by agent name and explain why.',
      schema: {
        name: 'debate_verdict',
        schema: {
          type: 'object',
          properties: {
            winner: { type: 'string', enum: [...agents] },
            reasoning: { type: 'string' },
          },
          required: ['winner', 'reasoning'],
        },
      },
      meta: { pattern: 'debate', role: 'judge' },
      resultMeta: (o) => ({ verdict: (o as { winner?: unknown }).winner }),
    })) as { winner: string; reasoning: string };
    if (!agents.includes(verdict.winner)) throw new RunError('bad_output', `judge named "${verdict.winner}", who is not a debater`, false);
    return { winner: verdict.winner, reasoning: verdict.reasoning, rounds };
  },
});
