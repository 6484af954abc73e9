import { z } from 'zod';
import { RunError } from '../queue/types.js';
import { outputText } from './input.js';
import { definePattern } from './types.js';

interface Verdict {
  pass: boolean;
  reasons: string[];
}

const DEFAULT_CRITERIA = ['answers the task that was asked', 'is accurate and makes no unsupported claims', 'is clear and well organised'];

/** A producer answers, a verifier checks against criteria; repeat until it passes or attempts run out. */
export const verification = definePattern({
  name: 'verification',
  description: 'A producer answers; a verifier checks the answer against criteria and returns pass or fail with reasons; the producer revises up to N times. Fails clearly if never verified.',
  agents: { min: 2, max: 2, description: 'The producer, then the verifier (e.g. writer, verifier).' },
  options: z
    .object({
      criteria: z
        .union([z.string().min(1).max(2000), z.array(z.string().min(1).max(500)).min(1).max(20)])
        .default(DEFAULT_CRITERIA)
        .describe('What the answer must satisfy: one text or a list.'),
      maxAttempts: z.number().int().min(1).max(5).default(3).describe('How many answers the producer may give.'),
    })
    .strict(),
  async run({ ctx, runner, task, agents, options }) {
    const [producer, verifier] = agents;
    // The plan is checked against `agents.min` before a run starts.
    if (producer === undefined || verifier === undefined) throw new Error('verification needs a producer and a verifier');
    const criteria = typeof options.criteria === 'string' ? [options.criteria] : options.criteria;
    let previous: { answer: string; verdict: Verdict } | null = null;
    const history: { attempt: number; pass: boolean; reasons: string[] }[] = [];
    for (let attempt = 1; attempt <= options.maxAttempts; attempt++) {
      const answer = outputText(
        await runner.call(ctx, {
          key: `verify:a${attempt}:produce`,
          agent: producer,
          prompt: previous
            ? `Task: ${task}\n\nYour previous answer:\n${previous.answer}\n\nIt was rejected for these reasons:\n${previous.verdict.reasons.map((r) => `- ${r}`).join('\n')}\n\nThis is attempt ${attempt} of ${options.maxAttempts}: give a revised answer that fixes every reason.`
            : task,
          instructions: `Your answer will be checked against these criteria:\n${criteria.map((c, i) => `${i + 1}. ${c}`).join('\n')}`,
          meta: { pattern: 'verification', attempt, of: options.maxAttempts, role: 'producer' },
        }),
      );
      const verdict = (await runner.call(ctx, {
        key: `verify:a${attempt}:check`,
        agent: verifier,
        prompt: `Criteria:\n${criteria.map((c, i) => `${i + 1}. ${c}`).join('\n')}\n\nTask: ${task}\n\nAnswer to check (attempt ${attempt} of ${options.maxAttempts}):\n${answer}`,
        instructions: 'Check the answer against every criterion. Set "pass" to true only if all are met; list your reasons (for a fail, what must change).',
        schema: {
          name: 'verification_verdict',
          schema: {
            type: 'object',
            properties: { pass: { type: 'boolean' }, reasons: { type: 'array', items: { type: 'string' } } },
            required: ['pass', 'reasons'],
          },
        },
        meta: { pattern: 'verification', attempt, of: options.maxAttempts, role: 'verifier' },
        resultMeta: (o) => ({ verdict: (o as Verdict).pass ? 'pass' : 'fail', reasons: (o as Verdict).reasons }),
      })) as Verdict;
      history.push({ attempt, pass: verdict.pass, reasons: verdict.reasons });
      if (verdict.pass) return { output: answer, verified: true, attempts: attempt, reasons: verdict.reasons, history };
      previous = { answer, verdict };
    }
    const last = previous?.verdict.reasons.join('; ') || 'no reasons given';
    throw new RunError(
      'not_verified',
      `the answer was not verified after ${options.maxAttempts} attempt${options.maxAttempts === 1 ? '' : 's'}; the verifier's last reasons: ${last}`,
      false,
    );
  },
});
