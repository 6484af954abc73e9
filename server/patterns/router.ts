import { z } from 'zod';
import { agentOption, definePattern } from './types.js';

interface Choice {
  agent: string;
  confidence: number;
  reason: string;
}

/** What the person answered: route to a candidate, or answer the request themselves. */
type Decision = { kind: 'agent'; agent: string; note?: string } | { kind: 'answer'; answer: unknown } | { kind: 'invalid'; problem: string };

function readAnswer(answer: unknown, candidates: readonly string[]): Decision {
  if (typeof answer === 'string') {
    const trimmed = answer.trim();
    if (candidates.includes(trimmed)) return { kind: 'agent', agent: trimmed };
    return trimmed ? { kind: 'answer', answer: trimmed } : { kind: 'invalid', problem: 'the answer was empty' };
  }
  if (answer && typeof answer === 'object' && !Array.isArray(answer)) {
    const record = answer as Record<string, unknown>;
    if (typeof record.agent === 'string') {
      if (candidates.includes(record.agent)) return { kind: 'agent', agent: record.agent, note: typeof record.note === 'string' ? record.note : undefined };
      return { kind: 'invalid', problem: `"${record.agent}" is not one of the candidates` };
    }
    if (record.answer !== undefined && record.answer !== null && record.answer !== '') return { kind: 'answer', answer: record.answer };
  }
  return { kind: 'invalid', problem: 'answer with {"agent": "<candidate>"} or {"answer": "<your reply>"}' };
}

/**
 * A classifier picks the best agent with a confidence. Below the threshold the run
 * escalates to a person (awaiting_input with the question and candidates) and
 * resumes with their choice, or with their own answer.
 */
export const router = definePattern({
  name: 'router',
  description: 'A classifier picks the best agent for the request with a confidence; below the threshold a person chooses (or answers) and the run resumes.',
  agents: { min: 2, max: 20, description: 'The candidate agents.' },
  options: z
    .object({
      classifier: agentOption('Agent that picks a candidate and says how confident it is.', 'classifier'),
      threshold: z.number().min(0).max(1).default(0.6).describe('Below this confidence a person decides.'),
    })
    .strict(),
  async run({ ctx, runner, task, agents, options }) {
    const candidates = agents.map((name) => ({ name, description: runner.agent(name).description }));
    const choice = (await runner.call(ctx, {
      key: `router:classify:${options.classifier}`,
      agent: options.classifier,
      prompt: `Request: ${task}\n\nCandidates:\n${candidates.map((c) => `- ${c.name}: ${c.description}`).join('\n')}`,
      instructions: 'Pick the one candidate best suited to handle the request, and give your confidence from 0 (guess) to 1 (certain).',
      schema: {
        name: 'router_choice',
        schema: {
          type: 'object',
          properties: {
            agent: { type: 'string', enum: [...agents] },
            confidence: { type: 'number', minimum: 0, maximum: 1 },
            reason: { type: 'string' },
          },
          required: ['agent', 'confidence', 'reason'],
        },
      },
      meta: { pattern: 'router', role: 'classifier', threshold: options.threshold },
      resultMeta: (o) => ({ choice: (o as Choice).agent, confidence: (o as Choice).confidence }),
    })) as Choice;

    let decision: Decision = { kind: 'agent', agent: choice.agent };
    let routedBy: 'classifier' | 'person' = 'classifier';
    if (choice.confidence < options.threshold) {
      routedBy = 'person';
      let problem: string | undefined;
      // Each awaitInput is the n-th question of the run, so on resume the same answers come back in order.
      for (;;) {
        const answer = ctx.awaitInput({
          kind: 'router.choice',
          question: `Who should handle this request? The classifier suggests ${choice.agent} but is only ${Math.round(choice.confidence * 100)}% confident (threshold ${Math.round(options.threshold * 100)}%).${problem ? ` Your last answer could not be used: ${problem}.` : ''}`,
          request: task,
          candidates,
          suggestion: choice,
          answerWith: '{"agent": "<candidate name>"} to route it, or {"answer": "<text>"} to answer it yourself',
        });
        decision = readAnswer(answer, agents);
        if (decision.kind !== 'invalid') break;
        problem = decision.problem;
      }
    }
    if (decision.kind === 'answer') {
      return { answeredBy: 'person', output: decision.answer, suggestion: choice };
    }
    if (decision.kind !== 'agent') throw new Error('unreachable');
    const output = await runner.call(ctx, {
      key: `router:handle:${decision.agent}`,
      agent: decision.agent,
      prompt: decision.note ? `${task}\n\nNote from the person who routed this: ${decision.note}` : task,
      meta: { pattern: 'router', role: 'handler', routedBy, confidence: choice.confidence },
    });
    return { agent: decision.agent, routedBy, confidence: choice.confidence, reason: choice.reason, output };
  },
});
