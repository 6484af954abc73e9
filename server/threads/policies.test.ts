import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Run } from '../../shared/protocol.js';
import type { Thread, ThreadMessage } from '../../shared/threads.js';
import { createTestDatabase, startTestApp, waitFor, type TestApp } from '../../test/helpers.js';
import { openSocket, wsUrl } from '../hub/test-client.js';

/**
 * A second message while a run answers, posted concurrently to two instances on one
 * database: enqueue answers everything in order with one run at a time, reject refuses
 * (409) and stores nothing, interrupt cancels the running run and answers both messages.
 */
describe('thread policies across two instances', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let a: TestApp;
  let b: TestApp;

  // Slow enough that a run is still answering when the next posts arrive (it streams ~100 chunks).
  const env = { OFFLINE_MODEL_DELAY_MS: '40', CACHE_TTL: '0', THREAD_DISPATCH_INTERVAL_MS: '500', JOB_POLL_INTERVAL_MS: '200' };

  beforeAll(async () => {
    database = await createTestDatabase('threadpol');
    a = await startTestApp({ databaseUrl: database.url, env });
    b = await startTestApp({ databaseUrl: database.url, env });
  }, 60_000);
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await database?.drop();
  });

  const create = async (policy: string): Promise<Thread> => {
    const res = await request(a.url).post('/api/threads').send({ agent: 'writer', policy });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.thread as Thread;
  };
  const post = (app: TestApp, id: string, content: string) => request(app.url).post(`/api/threads/${id}/messages`).send({ content });
  const messages = async (id: string): Promise<ThreadMessage[]> => (await request(b.url).get(`/api/threads/${id}/messages?limit=1000`).expect(200)).body.messages;
  const run = async (id: string): Promise<Run> => (await request(a.url).get(`/api/runs/${id}`).expect(200)).body.run;
  const threadRuns = async (threadId: string): Promise<Run[]> => {
    const runs = (await request(a.url).get('/api/runs?limit=100').expect(200)).body.runs as Run[];
    return runs.filter((r) => (r.input as { thread?: string }).thread === threadId).reverse();
  };
  const running = (runId: string) => waitFor(async () => (await run(runId)).status === 'running', { timeoutMs: 60_000, what: 'the run to start' });
  /** Every user message answered by the run it names, and no run active. */
  const settled = (threadId: string) =>
    waitFor(
      async () => {
        const all = await messages(threadId);
        const runs = await threadRuns(threadId);
        const answered = all.filter((m) => m.role === 'user').every((m) => m.runId && all.some((n) => n.role === 'assistant' && n.runId === m.runId && n.seq > m.seq));
        return answered && runs.every((r) => ['succeeded', 'failed', 'cancelled'].includes(r.status)) ? { all, runs } : null;
      },
      { timeoutMs: 120_000, what: 'every message of the thread answered' },
    );
  /** At most one run answered the thread at any time. */
  const expectSerial = (runs: Run[]) => {
    const started = runs.filter((r) => r.startedAt).sort((x, y) => Date.parse(x.startedAt!) - Date.parse(y.startedAt!));
    for (let i = 1; i < started.length; i++) {
      expect(Date.parse(started[i]!.startedAt!)).toBeGreaterThanOrEqual(Date.parse(started[i - 1]!.finishedAt!));
    }
  };

  it('enqueue: concurrent posts on both instances are all answered, in order, one run at a time', async () => {
    const thread = await create('enqueue');
    const first = await post(a, thread.id, 'Tell me about assam tea.');
    expect(first.status).toBe(202);
    await running(first.body.run.id);
    const [x, y] = await Promise.all([post(a, thread.id, 'And darjeeling?'), post(b, thread.id, 'And ceylon?')]);
    expect([x.status, y.status]).toEqual([202, 202]);
    // The first run is still answering: both wait their turn.
    expect([x.body.status, y.body.status]).toEqual(['queued', 'queued']);
    const { all, runs } = await settled(thread.id);
    expectSerial(runs);
    expect(runs.every((r) => r.status === 'succeeded')).toBe(true);
    const users = all.filter((m) => m.role === 'user');
    expect(users.map((m) => m.seq)).toEqual([1, 2, 3]);
    // Every user message names the run that answered it, and that run's answer follows it.
    for (const m of users) {
      expect(m.runId).toBeTruthy();
      const answer = all.find((n) => n.role === 'assistant' && n.runId === m.runId);
      expect(answer!.seq).toBeGreaterThan(m.seq);
    }
    expect(runs).toHaveLength(2);
    expect(runs[1]!.input).toEqual({ thread: thread.id, throughSeq: 4 });
  }, 180_000);

  it('reject: a second message while a run answers is 409 on either instance and stores nothing', async () => {
    const thread = await create('reject');
    // Two first messages at once: the thread row lock lets exactly one in.
    const [x, y] = await Promise.all([post(a, thread.id, 'Tell me about puer.'), post(b, thread.id, 'Tell me about matcha.')]);
    expect([x.status, y.status].sort()).toEqual([202, 409]);
    const accepted = x.status === 202 ? x : y;
    expect((x.status === 409 ? x : y).body.error.code).toBe('conflict');
    await running(accepted.body.run.id);
    const [p, q] = await Promise.all([post(a, thread.id, 'More?'), post(b, thread.id, 'Even more?')]);
    expect([p.status, q.status]).toEqual([409, 409]);
    const { all, runs } = await settled(thread.id);
    expect(all.map((m) => [m.seq, m.role])).toEqual([
      [1, 'user'],
      [2, 'assistant'],
    ]);
    expect(runs).toHaveLength(1);
    // Once answered, the thread takes the next message.
    expect((await post(b, thread.id, 'Thanks, and sencha?')).status).toBe(202);
  }, 180_000);

  it('interrupt: the running run is cancelled and one run answers the messages together', async () => {
    const thread = await create('interrupt');
    const first = await post(a, thread.id, 'Write a long piece about the tea trade.');
    const firstRun = first.body.run.id as string;
    await running(firstRun);
    const second = await post(b, thread.id, 'Actually, just the Dutch tea trade.');
    expect(second.status).toBe(202);
    const { all, runs } = await settled(thread.id);
    expectSerial(runs);
    expect((await run(firstRun)).status).toBe('cancelled');
    // The cancelled run wrote no answer; the one answer covers both messages.
    const answers = all.filter((m) => m.role === 'assistant');
    expect(answers).toHaveLength(1);
    expect(answers[0]!.runId).not.toBe(firstRun);
    const answering = await run(answers[0]!.runId!);
    expect(answering.input).toEqual({ thread: thread.id, throughSeq: 2 });
    expect(all.filter((m) => m.role === 'user').every((m) => m.runId === answering.id)).toBe(true);
  }, 180_000);

  it('the thread topic on one instance carries messages and the run of a post made on the other', async () => {
    const thread = await create('enqueue');
    await post(a, thread.id, 'First, on instance A.').expect(202);
    await settled(thread.id);
    const socket = await openSocket(wsUrl(b.url));
    socket.send({ type: 'subscribe', topic: `thread:${thread.id}`, after: 1 });
    const eventOf = (f: { type: string }) => (f.type === 'event' ? (f as unknown as { event: { type: string; seq: number; runId?: string } }).event : null);
    await socket.next((f) => eventOf(f)?.type === 'thread.message' && eventOf(f)?.seq === 2, 30_000);
    const second = await post(a, thread.id, 'Second, also on A.');
    expect(second.status).toBe(202);
    const runId = second.body.run.id as string;
    await socket.next((f) => eventOf(f)?.type === 'thread.message' && eventOf(f)?.seq === 4, 60_000);
    await socket.next((f) => eventOf(f)?.type === 'run.succeeded' && eventOf(f)?.runId === runId, 60_000);
    const events = socket.frames.map(eventOf).filter((e) => e !== null);
    expect(events.filter((e) => e.type === 'thread.message').map((e) => e.seq)).toEqual([2, 3, 4]);
    expect(events.some((e) => e.type === 'thread.run' && (e as unknown as { data: { runId: string } }).data.runId === runId)).toBe(true);
    socket.close();
  }, 120_000);
});
