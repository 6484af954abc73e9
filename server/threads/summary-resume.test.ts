import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Run } from '../../shared/protocol.js';
import type { Thread, ThreadMessage } from '../../shared/threads.js';
import { createTestDatabase, startTestApp, waitFor, type TestApp } from '../../test/helpers.js';
import { startOpenAiTestServer, type OpenAiTestServer } from '../../test/openai-server.js';
import { resumableAppEnv, spawnApp, type AppProcess } from '../../test/processes.js';
import { threadSummarizerSpec } from '../agents/conversation.js';

/**
 * A thread's run refreshes the running summary (a checkpointed step), then its process is
 * killed (SIGKILL) while the agent answers. Another instance takes the run over once the
 * lease expires and finishes it from the checkpoint: the summarizer is not called again.
 */
describe('a summary refresh survives kill -9 without a second summarizer call', () => {
  let llm: OpenAiTestServer;
  let db: { url: string; drop(): Promise<void> };
  let proc: AppProcess | undefined;
  let other: TestApp | undefined;

  beforeAll(async () => {
    llm = await startOpenAiTestServer();
    db = await createTestDatabase('threadkill');
  });
  afterAll(async () => {
    await proc?.kill();
    await other?.close();
    await db.drop();
    await llm.close();
  });

  const summarizerCalls = () => llm.requests.filter((r) => r.body.messages[0]?.content === threadSummarizerSpec.systemPrompt).length;

  it('resumes on another instance from the stored summary step', async () => {
    const env = resumableAppEnv(db.url, llm.url, { THREAD_CONTEXT_TOKENS: '100', THREAD_SUMMARY_THRESHOLD_TOKENS: '60' });
    proc = await spawnApp(env);
    await proc.waitReady();
    const created = await request(proc.url).post('/api/threads').send({ agent: 'writer' });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const thread = created.body.thread as Thread;

    // Twelve earlier turns, answered before (as if by earlier runs): well past the budget.
    const { Client } = (await import('pg')).default;
    const client = new Client({ connectionString: db.url });
    await client.connect();
    try {
      for (let seq = 1; seq <= 12; seq++) {
        const role = seq % 2 === 1 ? 'user' : 'assistant';
        await client.query('INSERT INTO thread_messages (thread_id, seq, role, content) VALUES ($1, $2, $3, $4)', [thread.id, seq, role, `${role} message ${seq}: ${'about tea and its long history '.repeat(3)}`]);
      }
      await client.query('UPDATE threads SET last_seq = 12, last_user_seq = 11, dispatched_seq = 12 WHERE id = $1', [thread.id]);
    } finally {
      await client.end();
    }

    llm.enqueue({ kind: 'reply', text: 'The user and the assistant discussed the history of tea.' }, { kind: 'hang' });
    const posted = await request(proc.url).post(`/api/threads/${thread.id}/messages`).send({ content: 'And what about green tea?' });
    expect(posted.status, JSON.stringify(posted.body)).toBe(202);
    const runId = posted.body.run.id as string;
    // The summarizer answered and the writer's call is hanging: the summary step is stored.
    await llm.waitForRequests(2, 30_000);
    expect(summarizerCalls()).toBe(1);
    await proc.kill();

    llm.setDefault({ kind: 'reply', text: 'Green tea is unoxidized.' });
    other = await startTestApp({ databaseUrl: db.url, env });
    const run = await waitFor(
      async () => {
        const res = await request(other!.url).get(`/api/runs/${runId}`);
        return (res.body.run as Run).status === 'succeeded' ? (res.body.run as Run) : null;
      },
      { timeoutMs: 60_000, what: 'the thread run to finish on the second instance' },
    );
    const summaryStep = run.steps.find((s) => String(s.key).startsWith('thread:summary:'));
    expect(summaryStep).toMatchObject({ status: 'succeeded', agent: 'thread-summarizer' });
    expect(run.steps.map((s) => s.key).slice(-2)).toEqual(['agent:writer', 'thread:answer']);
    // One summarizer call in all: the second instance found the step checkpointed.
    expect(summarizerCalls(), JSON.stringify({ input: run.input, steps: run.steps.map((s) => [s.key, s.status, s.meta]), requests: llm.requests.map((r) => String(r.body.messages[1]?.content).slice(0, 120)) })).toBe(1);
    // The interrupted writer call was made again, with the summary in its prompt.
    const last = llm.requests.at(-1)!;
    expect(last.body.messages[1]!.content).toContain('The user and the assistant discussed the history of tea.');

    const after = (await request(other.url).get(`/api/threads/${thread.id}`)).body.thread as Thread;
    expect(after.summary).toBe('The user and the assistant discussed the history of tea.');
    expect(after.summaryThrough).toBe(Number(String(summaryStep!.key).split(':')[2]));
    const messages = (await request(other.url).get(`/api/threads/${thread.id}/messages?after=12`)).body.messages as ThreadMessage[];
    expect(messages.map((m) => [m.seq, m.role, m.content])).toEqual([
      [13, 'user', 'And what about green tea?'],
      [14, 'assistant', 'Green tea is unoxidized.'],
    ]);
  }, 180_000);
});
