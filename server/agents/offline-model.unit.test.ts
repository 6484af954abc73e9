import { describe, expect, it } from 'vitest';
import { RUBRIC_JUDGEMENT, rubricJudgementJsonSchema, rubricPrompt } from '../../shared/evals.js';
import { checkJson, type JsonSchema } from '../../shared/json-schema.js';
import type { ModelRequest } from './model.js';
import { createOfflineModel, offlineAnswer } from './offline-model.js';

const request = (system: string, user: string, responseSchema?: ModelRequest['responseSchema']): ModelRequest => ({
  model: 'offline',
  messages: [
    { role: 'system', content: system },
    { role: 'user', content: user },
  ],
  temperature: 0.7,
  maxTokens: 2000,
  responseSchema,
});

const triage: JsonSchema = {
  type: 'object',
  properties: {
    category: { type: 'string', enum: ['billing', 'technical', 'account', 'feature_request', 'other'] },
    priority: { type: 'string', enum: ['low', 'medium', 'high', 'urgent'] },
    summary: { type: 'string' },
    tags: { type: 'array', items: { type: 'string' }, minItems: 1 },
    confidence: { type: 'number', minimum: 0, maximum: 1 },
    pass: { type: 'boolean' },
    count: { type: 'integer', minimum: 3, maximum: 5 },
  },
  required: ['category', 'priority', 'summary'],
};

describe('offline model', () => {
  it('is deterministic: the same request gives the same text, chunks and usage', async () => {
    const model = createOfflineModel({ delayMs: 0 });
    const r = request('You are a careful research assistant.', 'Solar panels on apartment roofs: costs and benefits');
    const chunksA: string[] = [];
    const chunksB: string[] = [];
    const a = await model.complete(r, { signal: new AbortController().signal, onToken: (d) => chunksA.push(d) });
    const b = await model.complete(r, { signal: new AbortController().signal, onToken: (d) => chunksB.push(d) });
    expect(a).toEqual(b);
    expect(chunksA).toEqual(chunksB);
    expect(chunksA.length).toBeGreaterThan(5);
    expect(chunksA.join('')).toBe(a.text);
    expect(a.model).toBe('offline');
    expect(a.usage.promptTokens).toBeGreaterThan(10);
    expect(a.usage.completionTokens).toBeGreaterThan(20);
  });

  it('depends on the input and the agent role', () => {
    const research = offlineAnswer(request('You are a careful research assistant.', 'Solar panels on apartment roofs'));
    const other = offlineAnswer(request('You are a careful research assistant.', 'Remote work and team productivity'));
    const plan = offlineAnswer(request('You are a pragmatic project planner.', 'Solar panels on apartment roofs'));
    expect(research).not.toBe(other);
    expect(research).not.toBe(plan);
    expect(research.toLowerCase()).toContain('solar');
    expect(other.toLowerCase()).toContain('productivity');
    expect(plan).toMatch(/^Plan:/);
  });

  it('answers valid JSON for a structured request, picking enums from the input', () => {
    const text = offlineAnswer(request('You triage customer support messages.', 'I was charged twice on my billing statement this month', { name: 't', schema: triage }));
    const value = JSON.parse(text) as Record<string, unknown>;
    expect(checkJson(triage, value)).toBeNull();
    expect(value.category).toBe('billing');
  });

  it('stops streaming when aborted', async () => {
    const model = createOfflineModel({ delayMs: 5 });
    const controller = new AbortController();
    let chunks = 0;
    const call = model.complete(request('You are a skilled writer.', 'A long essay about rivers and cities'), {
      signal: controller.signal,
      onToken: () => {
        if (++chunks === 2) controller.abort();
      },
    });
    await expect(call).rejects.toThrow(/abort/i);
    expect(chunks).toBe(2);
  });
});

describe('offline model as a router classifier', () => {
  const choice = (request: string) =>
    JSON.parse(
      offlineAnswer(
        {
          model: 'offline',
          messages: [
            { role: 'system', content: 'You route requests.' },
            { role: 'user', content: `Request: ${request}\n\nCandidates:\n- writer: Turns a brief or research notes into clear, well-structured prose.\n- planner: Breaks a goal into an ordered plan with steps, owners and risks.\n- summarizer: Condenses any text into a short summary and key points.` },
          ],
          temperature: 0,
          maxTokens: 100,
          responseSchema: {
            name: 'router_choice',
            schema: { type: 'object', properties: { agent: { type: 'string', enum: ['writer', 'planner', 'summarizer'] }, confidence: { type: 'number', minimum: 0, maximum: 1 }, reason: { type: 'string' } }, required: ['agent', 'confidence', 'reason'] },
          },
        },
      ),
    ) as { agent: string; confidence: number };

  it('picks the candidate whose description fits the request, confidently', () => {
    expect(choice('Plan the launch of our new product: steps and risks')).toMatchObject({ agent: 'planner', confidence: expect.any(Number) });
    expect(choice('Plan the launch of our new product: steps and risks').confidence).toBeGreaterThanOrEqual(0.7);
    expect(choice('Condense this report into a summary with key points').agent).toBe('summarizer');
  });

  it('is unsure when nothing in the request points anywhere', () => {
    expect(choice('Hello there').confidence).toBeLessThan(0.6);
  });
});

describe('offline rubric judge (server/evals)', () => {
  const judged = (rubric: string, answer: string) =>
    JSON.parse(offlineAnswer(request('You are a judge.', rubricPrompt(rubric, answer), { name: RUBRIC_JUDGEMENT, schema: rubricJudgementJsonSchema }))) as { score: number; reason: string };

  it('scores the share of the rubric the answer covers, the same every time', () => {
    const answer = 'The committee approved the new budget today.';
    expect(judged('Mentions the committee and the budget.', answer)).toEqual({ score: 1, reason: 'The answer covers everything the rubric asks (committee, budget).' });
    expect(judged('Mentions the committee, the weather and the rain.', answer)).toEqual({ score: 0.33, reason: 'The answer covers 1 of 3 points of the rubric; missing: weather, rain.' });
    expect(judged('Mentions the weather.', answer).score).toBe(0);
    expect(judged('Mentions the committee, the weather and the rain.', answer)).toEqual(judged('Mentions the committee, the weather and the rain.', answer));
    expect(checkJson(rubricJudgementJsonSchema, judged('Mentions the weather.', answer))).toBeNull();
  });

  it('is only the judge when asked for a rubric judgement', () => {
    const other = offlineAnswer(request('You are a judge.', rubricPrompt('Mentions the budget.', 'budget'), { name: 'verdict', schema: rubricJudgementJsonSchema }));
    expect(JSON.parse(other)).not.toEqual(expect.objectContaining({ reason: expect.stringContaining('rubric') }));
  });
});
