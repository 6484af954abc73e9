import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Run, RunEvent } from '../shared/protocol.js';
import { startTestApp, waitFor, type TestApp } from './helpers.js';
import { startOpenAiTestServer, type OpenAiTestServer } from './openai-server.js';

/**
 * Tool use over the real `openai` SDK against an OpenAI-compatible server on loopback
 * that streams tool calls as OpenAI does (a first delta per call with its id and name,
 * then pieces of the arguments, parallel calls interleaved by index): the app assembles
 * them, runs the tools, sends the results back as tool messages, and counts usage per turn.
 */
describe('streaming tool calls through the openai SDK', () => {
  let llm: OpenAiTestServer;
  let t: TestApp & { dropDatabase?: () => Promise<void> };

  beforeAll(async () => {
    llm = await startOpenAiTestServer();
    t = await startTestApp({ env: { OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: llm.url, CACHE_TTL: '0', OPENAI_RPM: '10000' } });
  });
  afterAll(async () => {
    await t?.close();
    await t?.dropDatabase?.();
    await llm?.close();
  });

  async function finished(id: string): Promise<Run> {
    return waitFor(
      async () => {
        const res = await request(t.url).get(`/api/runs/${id}`);
        const run = res.body.run as Run;
        return ['succeeded', 'failed', 'cancelled'].includes(run.status) ? run : null;
      },
      { timeoutMs: 60_000, what: 'the run to finish' },
    );
  }

  it('assembles parallel streamed tool calls, runs them, and answers from their results', async () => {
    const before = llm.count();
    const created = await request(t.url).post('/api/runs').send({ agent: 'assistant', input: 'What is 12 * 12 and what time is it?' });
    expect(created.status).toBe(202);
    const run = await finished(created.body.run.id);
    expect(run.status).toBe('succeeded');
    expect(String(run.output)).toMatch(/the answer is: 144/);

    // Two model requests: the first offered the tools and got two calls back; the second
    // carried the assistant's calls and both results as tool messages.
    expect(llm.count() - before).toBe(2);
    const [first, second] = llm.requests.slice(before);
    expect(first!.body.tools?.map((x) => x.function.name)).toEqual(expect.arrayContaining(['calculator', 'current_time', 'send_notification', 'run_agent']));
    const assistant = second!.body.messages.find((m) => m.role === 'assistant');
    expect(assistant?.tool_calls?.map((c) => [c.function.name, c.function.arguments])).toEqual([
      ['calculator', '{"expression":"12 * 12"}'],
      ['current_time', '{}'],
    ]);
    const toolMessages = second!.body.messages.filter((m) => m.role === 'tool');
    expect(toolMessages.map((m) => m.tool_call_id)).toEqual(assistant?.tool_calls?.map((c) => c.id));
    expect(toolMessages[0]?.content).toBe('144');

    // Both tool calls are steps with their receipts; usage is counted per model turn.
    const events = (await request(t.url).get(`/api/runs/${run.id}/events`)).body.events as RunEvent[];
    expect(events.filter((e) => e.type === 'run.tool.finished').map((e) => (e.data.output as { how: string }).how)).toEqual(['executed', 'executed']);
    const turns = run.steps.filter((s) => (s.key ?? '').includes('#t') && !(s.key ?? '').includes(':call'));
    expect(turns).toHaveLength(2);
    for (const turn of turns) expect(turn.usage?.promptTokens).toBeGreaterThan(0);
    expect(run.usage.promptTokens).toBe(turns.reduce((sum, s) => sum + (s.usage?.promptTokens ?? 0), 0));
  });
});
