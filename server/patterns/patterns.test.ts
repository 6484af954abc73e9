import request from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Run } from '../../shared/protocol.js';
import { startTestApp, waitFor, type TestApp } from '../../test/helpers.js';
import { defaultAnswer, startOpenAiTestServer, type ChatRequestBody, type OpenAiTestServer } from '../../test/openai-server.js';

type StartedApp = TestApp & { dropDatabase?: () => Promise<void> };

/** Submits and returns the run once final (Prefer: wait, then polling: a loaded machine may need longer). */
async function submit(t: StartedApp, body: Record<string, unknown>): Promise<Run> {
  const res = await request(t.url).post('/api/runs').set('Prefer', 'wait=30').send(body);
  expect([200, 202]).toContain(res.status);
  if (res.status === 200) return res.body.run as Run;
  return waitFor(async () => {
    const run = await getRun(t, res.body.run.id as string);
    return ['succeeded', 'failed', 'cancelled', 'awaiting_input'].includes(run.status) ? run : null;
  }, { timeoutMs: 120_000, intervalMs: 200, what: 'the run to finish' });
}

/** Submits without waiting, then polls until the run is parked for a person. */
async function submitUntilAwaiting(t: StartedApp, body: Record<string, unknown>): Promise<Run> {
  const res = await request(t.url).post('/api/runs').send(body);
  expect(res.status).toBe(202);
  return waitFor(async () => {
    const run = await getRun(t, res.body.run.id as string);
    expect(['queued', 'running', 'awaiting_input']).toContain(run.status);
    return run.status === 'awaiting_input' ? run : null;
  }, { what: 'the run to wait for input' });
}

async function getRun(t: StartedApp, id: string): Promise<Run> {
  const res = await request(t.url).get(`/api/runs/${id}`);
  expect(res.status).toBe(200);
  return res.body.run as Run;
}

const schemaName = (body: ChatRequestBody) => body.response_format?.json_schema?.name;
const userMessage = (body: ChatRequestBody) => body.messages.find((m) => m.role === 'user')?.content ?? '';
const systemMessage = (body: ChatRequestBody) => body.messages.find((m) => m.role === 'system')?.content ?? '';

describe('patterns end to end through the queue, against an OpenAI-compatible server', () => {
  let llm: OpenAiTestServer;
  let t: StartedApp;

  beforeAll(async () => {
    llm = await startOpenAiTestServer();
    t = await startTestApp({
      env: { OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: llm.url, OPENAI_MAX_RETRIES: '0', CACHE_TTL: '0', JOB_POLL_INTERVAL_MS: '100' },
    });
  });
  afterAll(async () => {
    await t.close();
    await t.dropDatabase?.();
    await llm.close();
  });
  beforeEach(() => llm.reset());

  it('a single agent: streamed answer, usage and cost on the step and the run, labelled with the model', async () => {
    llm.enqueue({ kind: 'reply', text: 'A crisp paragraph about tides.', promptTokens: 1000, completionTokens: 500 });
    const run = await submit(t, { agent: 'writer', input: 'Write about tides' });
    expect(run).toMatchObject({ status: 'succeeded', output: 'A crisp paragraph about tides.', model: 'gpt-4o-mini', offline: false });
    expect(run.usage).toMatchObject({ promptTokens: 1000, completionTokens: 500 });
    // gpt-4o-mini: $0.15 / $0.60 per million tokens.
    expect(run.usage.costUsd).toBeCloseTo(0.00045, 6);
    expect(run.steps).toHaveLength(1);
    expect(run.steps[0]).toMatchObject({ agent: 'writer', status: 'succeeded', usage: { promptTokens: 1000, completionTokens: 500 } });
    const events = (await request(t.url).get(`/api/runs/${run.id}/events`)).body.events as { type: string }[];
    const types = events.map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['run.queued', 'run.started', 'run.step.started', 'run.step.finished', 'run.succeeded']));
    expect(llm.requests[0]!.body.messages[0]!.content).toContain('skilled writer');

    const usage = await request(t.url).get('/api/usage');
    expect(usage.status).toBe(200);
    expect(usage.body.byAgent.find((a: { agent: string }) => a.agent === 'writer')).toMatchObject({ promptTokens: expect.any(Number), costUsd: expect.any(Number) });
    expect(usage.body.byUser[0].user).toBe('admin');
  });

  it('sequential: each agent gets the previous output', async () => {
    const run = await submit(t, { pattern: 'sequential', agents: ['researcher', 'writer', 'editor'], input: 'Urban beekeeping' });
    expect(run.status).toBe('succeeded');
    expect(llm.count()).toBe(3);
    const answers = llm.requests.map((r) => defaultAnswer(r.body));
    expect(userMessage(llm.requests[1]!.body)).toContain(answers[0]);
    expect(userMessage(llm.requests[2]!.body)).toContain(answers[1]);
    expect(run.output).toBe(answers[2]);
    expect(run.steps.map((s) => s.agent)).toEqual(['researcher', 'writer', 'editor']);
    expect(run.steps[2]!.meta).toMatchObject({ pattern: 'sequential', stage: 3, of: 3 });
  });

  it('parallel: every agent on the same input, then the aggregator', async () => {
    const run = await submit(t, { pattern: 'parallel', agents: ['critic', 'planner'], input: 'Move the office to a four-day week', options: { aggregator: 'summarizer' } });
    expect(run.status).toBe('succeeded');
    expect(llm.count()).toBe(3);
    expect(userMessage(llm.requests[0]!.body)).toBe('Move the office to a four-day week');
    expect(userMessage(llm.requests[1]!.body)).toBe('Move the office to a four-day week');
    const output = run.output as { result: string; results: { agent: string }[] };
    expect(output.results.map((r) => r.agent)).toEqual(['critic', 'planner']);
    expect(systemMessage(llm.requests[2]!.body)).toContain('summarize');
    expect(run.steps.find((s) => s.agent === 'summarizer')?.meta).toMatchObject({ role: 'aggregator' });
  });

  it('debate: N rounds seeing each other\'s arguments, then a judge decides', async () => {
    const run = await submit(t, { pattern: 'debate', agents: ['critic', 'analyst'], input: 'Should cities ban cars downtown?', options: { rounds: 2 } });
    expect(run.status).toBe('succeeded');
    expect(llm.count()).toBe(5);
    const round1 = llm.requests.slice(0, 2).map((r) => defaultAnswer(r.body));
    const round2Prompts = llm.requests.slice(2, 4).map((r) => userMessage(r.body));
    for (const prompt of round2Prompts) for (const argument of round1) expect(prompt).toContain(argument);
    const judge = llm.requests[4]!.body;
    expect(schemaName(judge)).toBe('debate_verdict');
    const output = run.output as { winner: string; rounds: unknown[][] };
    expect(['critic', 'analyst']).toContain(output.winner);
    expect(output.rounds).toHaveLength(2);
    const judgeStep = run.steps.find((s) => s.agent === 'judge');
    expect(judgeStep?.meta).toMatchObject({ role: 'judge', verdict: output.winner });
    expect(run.steps.filter((s) => s.meta?.round === 2)).toHaveLength(2);
  });

  it('verification: a failed check sends the reasons back to the producer until it passes', async () => {
    let checks = 0;
    llm.setDefault({
      kind: 'reply',
      text: (body) => {
        if (schemaName(body) !== 'verification_verdict') return `Draft answer ${llm.count()}`;
        checks++;
        return JSON.stringify(checks === 1 ? { pass: false, reasons: ['missing a concrete example'] } : { pass: true, reasons: ['all criteria met'] });
      },
    });
    const run = await submit(t, { pattern: 'verification', agents: ['writer', 'verifier'], input: 'Explain recursion', options: { criteria: ['includes a concrete example'], maxAttempts: 3 } });
    expect(run.status).toBe('succeeded');
    expect(llm.count()).toBe(4);
    expect(userMessage(llm.requests[2]!.body)).toContain('missing a concrete example');
    expect(userMessage(llm.requests[1]!.body)).toContain('includes a concrete example');
    expect(run.output).toMatchObject({ verified: true, attempts: 2, output: 'Draft answer 3' });
    const verdicts = run.steps.filter((s) => s.meta?.role === 'verifier').map((s) => s.meta?.verdict);
    expect(verdicts).toEqual(['fail', 'pass']);
  });

  it('verification: fails clearly when the answer is never verified', async () => {
    llm.setDefault({ kind: 'reply', text: (body) => (schemaName(body) === 'verification_verdict' ? JSON.stringify({ pass: false, reasons: ['cites no sources'] }) : 'An answer') });
    const run = await submit(t, { pattern: 'verification', agents: ['writer', 'verifier'], input: 'Explain recursion', options: { maxAttempts: 2 } });
    expect(run.status).toBe('failed');
    expect(run.error).toMatchObject({ code: 'not_verified' });
    expect(run.error?.message).toContain('after 2 attempts');
    expect(run.error?.message).toContain('cites no sources');
    expect(run.attempts).toBe(1);
    expect(llm.count()).toBe(4);
  });

  it('expert-panel: experts answer independently, the moderator synthesizes', async () => {
    const run = await submit(t, { pattern: 'expert-panel', agents: ['researcher', 'analyst', 'critic'], input: 'Is nuclear power a good climate strategy?' });
    expect(run.status).toBe('succeeded');
    expect(llm.count()).toBe(4);
    const moderator = llm.requests[3]!.body;
    expect(systemMessage(moderator)).toContain('moderate an expert panel');
    for (const expert of llm.requests.slice(0, 3)) expect(userMessage(moderator)).toContain(defaultAnswer(expert.body));
    expect((run.output as { experts: unknown[] }).experts).toHaveLength(3);
  });

  it('router: a confident classifier routes straight to the chosen agent', async () => {
    llm.setDefault({ kind: 'reply', text: (body) => (schemaName(body) === 'router_choice' ? JSON.stringify({ agent: 'planner', confidence: 0.92, reason: 'it is a plan' }) : 'Step 1: ...') });
    const run = await submit(t, { pattern: 'router', agents: ['writer', 'planner'], input: 'Plan our move' });
    expect(run.status).toBe('succeeded');
    expect(run.output).toMatchObject({ agent: 'planner', routedBy: 'classifier', confidence: 0.92, output: 'Step 1: ...' });
    expect(run.steps[0]!.meta).toMatchObject({ role: 'classifier', choice: 'planner', confidence: 0.92 });
    expect(llm.count()).toBe(2);
    expect(systemMessage(llm.requests[1]!.body)).toContain('project planner');
  });

  it('router: below the threshold the run waits for a person, then resumes with their choice without re-classifying', async () => {
    llm.setDefault({ kind: 'reply', text: (body) => (schemaName(body) === 'router_choice' ? JSON.stringify({ agent: 'planner', confidence: 0.3, reason: 'unclear' }) : 'Handled.') });
    const parked = await submitUntilAwaiting(t, { pattern: 'router', agents: ['writer', 'planner'], input: 'Something vague', options: { threshold: 0.5 } });
    expect(parked.status).toBe('awaiting_input');
    expect(parked.pendingInput).toMatchObject({
      kind: 'router.choice',
      question: expect.stringContaining('30%'),
      candidates: [expect.objectContaining({ name: 'writer' }), expect.objectContaining({ name: 'planner' })],
      suggestion: { agent: 'planner', confidence: 0.3 },
    });
    expect(llm.count()).toBe(1);

    const answered = await request(t.url).post(`/api/runs/${parked.id}/input`).send({ answer: 'writer' });
    expect(answered.status).toBe(200);
    const done = await waitFor(async () => {
      const run = await getRun(t, parked.id);
      return run.status === 'succeeded' ? run : null;
    });
    expect(done.output).toMatchObject({ agent: 'writer', routedBy: 'person', output: 'Handled.' });
    expect(llm.count()).toBe(2);
    expect(systemMessage(llm.requests[1]!.body)).toContain('skilled writer');
  });

  it('router: a person may answer the request themselves', async () => {
    llm.setDefault({ kind: 'reply', text: (body) => (schemaName(body) === 'router_choice' ? JSON.stringify({ agent: 'writer', confidence: 0.1, reason: '?' }) : 'x') });
    const parked = await submitUntilAwaiting(t, { pattern: 'router', agents: ['writer', 'planner'], input: 'What are your opening hours?' });
    expect(parked.status).toBe('awaiting_input');
    await request(t.url).post(`/api/runs/${parked.id}/input`).send({ answer: 'We open at 9.' }).expect(200);
    const done = await waitFor(async () => {
      const run = await getRun(t, parked.id);
      return run.status === 'succeeded' ? run : null;
    });
    expect(done.output).toMatchObject({ answeredBy: 'person', output: 'We open at 9.' });
    expect(llm.count()).toBe(1);
  });

  it('a 429 the client may not retry goes back to the queue, which retries after Retry-After', async () => {
    llm.enqueue({ kind: 'status', status: 429, retryAfter: 1 }, { kind: 'reply', text: 'after the wait' });
    const run = await submit(t, { agent: 'summarizer', input: 'Summarize: the sky is blue.' });
    expect(run).toMatchObject({ status: 'succeeded', output: 'after the wait' });
    expect(llm.count()).toBe(2);
  });

  it('bad structured output fails the run without retrying, and the tokens it spent still count', async () => {
    llm.enqueue({ kind: 'reply', text: 'I think it is billing.', promptTokens: 40, completionTokens: 6 });
    const run = await submit(t, { agent: 'support-triage', input: 'I was charged twice' });
    expect(run.status).toBe('failed');
    expect(run.error).toMatchObject({ code: 'bad_output' });
    expect(run.attempts).toBe(1);
    expect(llm.count()).toBe(1);
    expect(run.usage).toMatchObject({ promptTokens: 40, completionTokens: 6 });
    expect(run.steps[0]).toMatchObject({ status: 'failed' });
  });

  it('cancelling a run stops its model call', async () => {
    llm.enqueue({ kind: 'hang' });
    const res = await request(t.url).post('/api/runs').send({ agent: 'writer', input: 'A long story' });
    expect(res.status).toBe(202);
    await llm.waitForRequests(1);
    const cancelled = await request(t.url).post(`/api/runs/${res.body.run.id}/cancel`);
    expect(cancelled.status).toBe(200);
    const run = await waitFor(async () => {
      const r = await getRun(t, res.body.run.id);
      return r.status === 'cancelled' ? r : null;
    });
    expect(run.status).toBe('cancelled');
    await waitFor(() => llm.requests[0]!.closedAt !== null, { what: 'the model request to close' });
  });
});

describe('patterns on the offline model (no key): each finishes with a sensible run', () => {
  let t: StartedApp;
  beforeAll(async () => {
    t = await startTestApp({ env: { OFFLINE_MODEL_DELAY_MS: '0', JOB_POLL_INTERVAL_MS: '100' } });
  });
  afterAll(async () => {
    await t.close();
    await t.dropDatabase?.();
  });

  const cases: [string, Record<string, unknown>][] = [
    ['sequential', { pattern: 'sequential', agents: ['researcher', 'writer', 'editor'], input: 'The history of the bicycle' }],
    ['parallel', { pattern: 'parallel', agents: ['critic', 'fact-checker'], input: 'Coffee improves focus for most adults.', options: { aggregator: 'summarizer' } }],
    ['debate', { pattern: 'debate', agents: ['critic', 'analyst'], input: 'Remote work or office work?', options: { rounds: 2 } }],
    ['verification', { pattern: 'verification', agents: ['writer', 'verifier'], input: 'Explain photosynthesis to a child' }],
    ['expert-panel', { pattern: 'expert-panel', agents: ['researcher', 'analyst', 'planner'], input: 'Should we adopt a four-day week?' }],
    ['router', { pattern: 'router', agents: ['writer', 'planner', 'summarizer'], input: 'Plan the launch of our product: steps and risks' }],
    ['single structured agent', { agent: 'support-triage', input: 'My invoice shows a double billing charge' }],
  ];

  it.each(cases)('%s', async (_name, body) => {
    const run = await submit(t, body);
    expect(run.status, JSON.stringify(run.error)).toBe('succeeded');
    expect(run.model).toBe('offline');
    expect(run.offline).toBe(true);
    expect(run.output).toBeTruthy();
    expect(run.usage.promptTokens).toBeGreaterThan(0);
    expect(run.usage.completionTokens).toBeGreaterThan(0);
    for (const step of run.steps) expect(step.status).toBe('succeeded');
  });

  it('router on an ambiguous request escalates to a person', async () => {
    const parked = await submitUntilAwaiting(t, { pattern: 'router', agents: ['writer', 'planner', 'summarizer'], input: 'Hello there' });
    expect(parked.status).toBe('awaiting_input');
    await request(t.url).post(`/api/runs/${parked.id}/input`).send({ answer: 'summarizer' }).expect(200);
    const done = await waitFor(async () => {
      const run = await getRun(t, parked.id);
      return run.status === 'succeeded' ? run : null;
    });
    expect(done.output).toMatchObject({ agent: 'summarizer', routedBy: 'person' });
  });

  it('the same input gives the same output (deterministic)', async () => {
    const body = { pattern: 'sequential', agents: ['planner', 'critic'], input: 'Open a bakery in Lisbon' };
    const a = await submit(t, body);
    const b = await submit(t, body);
    expect(a.output).toEqual(b.output);
  });
});
