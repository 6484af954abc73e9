import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Run } from '../../shared/protocol.js';
import type { Thread, ThreadMessage } from '../../shared/threads.js';
import { startTestApp, waitFor, type TestApp } from '../../test/helpers.js';
import { openSocket, wsUrl } from '../hub/test-client.js';

/** Conversations over REST and the hub, through the offline model. */

const SECRET = 'q'.repeat(48);
const ADMIN_PASSWORD = 'threads-admin-pw';
type T = TestApp & { dropDatabase?: () => Promise<void> };
type Who = { token: string };

async function login(t: T, username: string, password: string): Promise<Who> {
  const res = await request(t.url).post('/api/auth/login').send({ username, password });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return { token: res.body.token as string };
}

describe('threads', () => {
  let t: T;
  let alice: Who;
  let bob: Who;
  let admin: Who;
  const as = (who: Who) => ({ Authorization: `Bearer ${who.token}` });

  const messagesOf = async (who: Who, id: string, after = 0): Promise<ThreadMessage[]> => {
    const res = await request(t.url).get(`/api/threads/${id}/messages?after=${after}&limit=1000`).set(as(who));
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body.messages as ThreadMessage[];
  };
  const runOf = async (who: Who, id: string): Promise<Run> => (await request(t.url).get(`/api/runs/${id}`).set(as(who)).expect(200)).body.run as Run;
  const create = async (who: Who, body: Record<string, unknown>): Promise<Thread> => {
    const res = await request(t.url).post('/api/threads').set(as(who)).send(body);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.thread as Thread;
  };
  const post = (who: Who, id: string, content: string) => request(t.url).post(`/api/threads/${id}/messages`).set(as(who)).send({ content });
  /** Waits until the thread has `n` assistant messages. */
  const answers = (who: Who, id: string, n: number) =>
    waitFor(
      async () => {
        const all = await messagesOf(who, id);
        return all.filter((m) => m.role === 'assistant').length >= n ? all : null;
      },
      { timeoutMs: 60_000, what: `${n} answers in thread ${id}` },
    );

  beforeAll(async () => {
    t = await startTestApp({
      env: { JWT_SECRET: SECRET, ADMIN_PASSWORD, OFFLINE_MODEL_DELAY_MS: '0', CACHE_TTL: '0', THREAD_CONTEXT_TOKENS: '300', THREAD_SUMMARY_THRESHOLD_TOKENS: '200', THREAD_DISPATCH_INTERVAL_MS: '500' },
    });
    admin = await login(t, 'admin', ADMIN_PASSWORD);
    for (const name of ['alice', 'bob']) {
      await request(t.url).post('/api/users').set(as(admin)).send({ username: name, password: `${name}-password`, role: 'operator' }).expect(201);
    }
    alice = await login(t, 'alice', 'alice-password');
    bob = await login(t, 'bob', 'bob-password');
  }, 60_000);
  afterAll(async () => {
    await t.close();
    await t.dropDatabase?.();
  });

  it('refuses bad input and changes nothing', async () => {
    expect((await request(t.url).post('/api/threads').set(as(alice)).send({ agent: 'writer', pattern: 'debate' })).status).toBe(400);
    expect((await request(t.url).post('/api/threads').set(as(alice)).send({ agent: 'nobody' })).status).toBe(404);
    expect((await request(t.url).post('/api/threads').set(as(alice)).send({ pattern: 'debate', agents: ['writer'] })).status).toBe(400);
    const thread = await create(alice, { agent: 'writer' });
    expect((await post(alice, thread.id, '   ')).status).toBe(400);
    expect((await request(t.url).post(`/api/threads/${thread.id}/messages`).set(as(alice)).send({ content: 'x', extra: 1 })).status).toBe(400);
    expect(await messagesOf(alice, thread.id)).toEqual([]);
    expect((await request(t.url).get('/api/threads').set(as(alice))).body.threads.map((x: Thread) => x.id)).toContain(thread.id);
  });

  it('answers each message with a run that references the thread, and stores the answer once', async () => {
    const thread = await create(alice, { agent: 'writer', title: 'Tea' });
    const first = await post(alice, thread.id, 'Write two sentences about green tea.');
    // (Each turn waits for the previous run to end, so every post below starts its own run.)
    expect(first.status, JSON.stringify(first.body)).toBe(202);
    expect(first.body.message).toMatchObject({ seq: 1, role: 'user', content: 'Write two sentences about green tea.' });
    expect(first.body.status).toBe('answering');
    const runId = first.body.run.id as string;
    // The run's input is a reference to the thread, never the conversation.
    expect(first.body.run.input).toEqual({ thread: thread.id, throughSeq: 1 });
    const finished = async (n: number) => {
      const all = await answers(alice, thread.id, n);
      await waitFor(async () => (await runOf(alice, all.at(-1)!.runId!)).status === 'succeeded');
    };
    await finished(1);
    await post(alice, thread.id, 'Now make it about black tea.').expect(202);
    await finished(2);
    await post(alice, thread.id, 'Shorter, please.').expect(202);
    const all = await answers(alice, thread.id, 3);
    expect(all.map((m) => [m.seq, m.role])).toEqual([
      [1, 'user'],
      [2, 'assistant'],
      [3, 'user'],
      [4, 'assistant'],
      [5, 'user'],
      [6, 'assistant'],
    ]);
    expect(all[1]!.runId).toBe(runId);
    expect(all[0]!.runId).toBe(runId);
    const run = await runOf(alice, runId);
    expect(run.status).toBe('succeeded');
    expect(run.steps.map((s) => s.key)).toEqual(['agent:writer', 'thread:answer']);
    expect(await messagesOf(alice, thread.id, 4)).toHaveLength(2);
    const third = await runOf(alice, all[5]!.runId!);
    expect(third.input).toEqual({ thread: thread.id, throughSeq: 5 });
  });

  it('keeps prompt tokens per turn bounded over 50 turns, with a running summary', async () => {
    const thread = await create(alice, { agent: 'writer' });
    const prompts: number[] = [];
    for (let turn = 1; turn <= 50; turn++) {
      const res = await post(alice, thread.id, `Turn ${turn}: tell me one more thing about the history of tea in the ${turn}th century, in a sentence or two.`);
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      // A message posted while the previous run finishes its final write waits its turn (run null).
      const all = await answers(alice, thread.id, turn);
      const run = await waitFor(async () => {
        const r = await runOf(alice, all.at(-1)!.runId!);
        return r.status === 'succeeded' ? r : null;
      });
      expect(run.status).toBe('succeeded');
      const answerStep = run.steps.find((s) => s.key === 'agent:writer');
      prompts.push(answerStep!.usage!.promptTokens);
    }
    const after = (await request(t.url).get(`/api/threads/${thread.id}`).set(as(alice)).expect(200)).body.thread as Thread;
    expect(after.lastSeq).toBe(100);
    expect(after.summaryThrough).toBeGreaterThan(50);
    expect(after.summary).toBeTruthy();
    // The context is bounded by the budget (300) plus the summary and the system prompt,
    // whatever the length of the conversation: the last turns cost what the tenth did.
    const early = Math.max(...prompts.slice(5, 15));
    const late = Math.max(...prompts.slice(40));
    expect(late).toBeLessThan(early * 1.5);
    expect(Math.max(...prompts)).toBeLessThan(900);
    // The refresh is a step like any other, visible in the run.
    const runs = (await request(t.url).get('/api/runs?limit=100').set(as(alice)).expect(200)).body.runs as Run[];
    const summarized = runs.filter((r) => r.steps.some((s) => String(s.key).startsWith('thread:summary:')));
    expect(summarized.length).toBeGreaterThan(2);
    expect(summarized[0]!.steps.find((s) => String(s.key).startsWith('thread:summary:'))!.agent).toBe('thread-summarizer');
  }, 300_000);

  it('isolation: another user\'s thread is 404 on REST and refused on the hub', async () => {
    const thread = await create(alice, { agent: 'writer' });
    await post(alice, thread.id, 'Private tea notes.').expect(202);
    for (const [method, path] of [
      ['get', `/api/threads/${thread.id}`],
      ['get', `/api/threads/${thread.id}/messages`],
      ['delete', `/api/threads/${thread.id}`],
      ['post', `/api/threads/${thread.id}/archive`],
    ] as const) {
      expect((await request(t.url)[method](path).set(as(bob))).status, `${method} ${path}`).toBe(404);
    }
    expect((await post(bob, thread.id, 'hi')).status).toBe(404);
    expect((await request(t.url).get('/api/threads').set(as(bob))).body.threads.map((x: Thread) => x.id)).not.toContain(thread.id);

    const bobSocket = await openSocket(wsUrl(t.url, '/ws', bob.token));
    bobSocket.send({ type: 'subscribe', topic: `thread:${thread.id}` });
    const refused = await bobSocket.next((f) => f.type === 'error');
    expect(refused).toMatchObject({ type: 'error', code: 'not_found', topic: `thread:${thread.id}` });
    bobSocket.send({ type: 'subscribe', topic: 'thread:00000000-0000-4000-8000-000000000000' });
    await bobSocket.next((f) => f.type === 'error' && bobSocket.frames.filter((x) => x.type === 'error').length === 2);
    const errors = bobSocket.frames.filter((f) => f.type === 'error').map((f) => ({ ...f, topic: undefined }));
    expect(errors[0]).toEqual(errors[1]);
    bobSocket.close();
  });

  it('the thread topic replays messages after `after` and streams the answering run', async () => {
    const thread = await create(alice, { agent: 'writer' });
    await post(alice, thread.id, 'First question about oolong.').expect(202);
    await answers(alice, thread.id, 1);
    const socket = await openSocket(wsUrl(t.url, '/ws', alice.token));
    socket.send({ type: 'subscribe', topic: `thread:${thread.id}`, after: 1 });
    await socket.next((f) => f.type === 'event' && (f.event as { type: string }).type === 'thread.message' && (f.event as { seq: number }).seq === 2);
    await post(alice, thread.id, 'Second question about oolong.').expect(202);
    await socket.next((f) => f.type === 'event' && (f.event as { type: string }).type === 'thread.message' && (f.event as { seq: number }).seq === 4, 60_000);
    await socket.next((f) => f.type === 'event' && (f.event as { type: string }).type === 'run.succeeded', 60_000);
    const types = socket.frames.filter((f) => f.type === 'event').map((f) => (f.event as { type: string }).type);
    expect(types).toContain('thread.run');
    expect(types).toContain('run.token');
    expect(types).toContain('run.succeeded');
    const seqs = socket.frames.flatMap((f) => (f.type === 'event' && f.event.type === 'thread.message' ? [(f.event as { seq: number }).seq] : []));
    expect(seqs).toEqual([2, 3, 4]);
    socket.close();
  });

  it('archive refuses new messages; delete removes the thread and its messages', async () => {
    const thread = await create(alice, { agent: 'writer' });
    await request(t.url).post(`/api/threads/${thread.id}/archive`).set(as(alice)).expect(200);
    expect((await post(alice, thread.id, 'hello')).status).toBe(409);
    const patched = await request(t.url).patch(`/api/threads/${thread.id}`).set(as(alice)).send({ archived: false, title: 'Back' }).expect(200);
    expect(patched.body.thread).toMatchObject({ archivedAt: null, title: 'Back' });
    await post(alice, thread.id, 'hello').expect(202);
    await request(t.url).delete(`/api/threads/${thread.id}`).set(as(alice)).expect(204);
    expect((await request(t.url).get(`/api/threads/${thread.id}`).set(as(alice))).status).toBe(404);
    const { rows } = await t.db.pool.query('SELECT count(*)::int AS n FROM thread_messages WHERE thread_id = $1', [thread.id]);
    expect(rows[0].n).toBe(0);
  });

  it('a router thread that escalates shows the question; the next message answers it and the run resumes', async () => {
    const thread = await create(alice, { pattern: 'router', agents: ['writer', 'researcher'], options: { threshold: 1 } });
    const first = await post(alice, thread.id, 'Help me with my tea order.');
    expect(first.status).toBe(202);
    const runId = first.body.run.id as string;
    const question = await waitFor(async () => (await messagesOf(alice, thread.id)).find((m) => m.kind === 'escalation'), { timeoutMs: 60_000, what: 'the escalation question' });
    expect(question).toMatchObject({ seq: 2, role: 'system', runId });
    expect(question.content).toContain('Who should handle this request?');
    expect((await runOf(alice, runId)).status).toBe('awaiting_input');
    const reply = await post(alice, thread.id, 'writer');
    expect(reply.status).toBe(202);
    expect(reply.body.status).toBe('answered_escalation');
    expect(reply.body.run.id).toBe(runId);
    const all = await answers(alice, thread.id, 1);
    expect(all.map((m) => [m.seq, m.role, m.kind])).toEqual([
      [1, 'user', 'message'],
      [2, 'system', 'escalation'],
      [3, 'user', 'message'],
      [4, 'assistant', 'message'],
    ]);
    const run = await runOf(alice, runId);
    expect(run.status).toBe('succeeded');
    expect((run.output as { agent: string; routedBy: string }).routedBy).toBe('person');
    expect(all[3]!.runId).toBe(runId);
  });

  it('retry answers again the messages of a run that ended without an answer', async () => {
    const thread = await create(alice, { pattern: 'router', agents: ['writer', 'researcher'], options: { threshold: 1 } });
    expect((await request(t.url).post(`/api/threads/${thread.id}/retry`).set(as(alice))).status).toBe(409);
    const first = await post(alice, thread.id, 'Route my question about tea.');
    const runId = first.body.run.id as string;
    await waitFor(async () => (await runOf(alice, runId)).status === 'awaiting_input', { timeoutMs: 60_000 });
    await request(t.url).post(`/api/runs/${runId}/cancel`).set(as(alice)).expect(200);
    expect((await request(t.url).post(`/api/threads/${thread.id}/retry`).set(as(bob))).status).toBe(404);
    const retried = await request(t.url).post(`/api/threads/${thread.id}/retry`).set(as(alice));
    expect(retried.status, JSON.stringify(retried.body)).toBe(202);
    const second = retried.body.run.id as string;
    expect(second).not.toBe(runId);
    await waitFor(async () => (await runOf(alice, second)).status === 'awaiting_input', { timeoutMs: 60_000 });
    const all = await messagesOf(alice, thread.id);
    // The user's message now names the run answering it; each run asked its own question.
    expect(all[0]!.runId).toBe(second);
    expect(all.filter((m) => m.kind === 'escalation').map((m) => m.runId)).toEqual([runId, second]);
    await request(t.url).post(`/api/runs/${second}/cancel`).set(as(alice)).expect(200);
  });

  it("a deleted user's threads are not a newcomer's of the same name", async () => {
    await request(t.url).post('/api/users').set(as(admin)).send({ username: 'carol', password: 'carol-password', role: 'operator' }).expect(201);
    const carol = await login(t, 'carol', 'carol-password');
    const thread = await create(carol, { agent: 'writer', title: 'Carol only' });
    expect((await request(t.url).get(`/api/threads/${thread.id}`).set(as(carol))).status).toBe(200);
    await request(t.url).delete('/api/users/carol').set(as(admin)).expect(204);
    await request(t.url).post('/api/users').set(as(admin)).send({ username: 'carol', password: 'carol-password-2', role: 'operator' }).expect(201);
    const newcomer = await login(t, 'carol', 'carol-password-2');
    expect((await request(t.url).get(`/api/threads/${thread.id}`).set(as(newcomer))).status).toBe(404);
    expect((await request(t.url).get('/api/threads').set(as(newcomer))).body.threads).toEqual([]);
    const socket = await openSocket(wsUrl(t.url, '/ws', newcomer.token));
    socket.send({ type: 'subscribe', topic: `thread:${thread.id}` });
    expect(await socket.next((f) => f.type === 'error')).toMatchObject({ code: 'not_found' });
    socket.close();
    // Admins still see it.
    expect((await request(t.url).get(`/api/threads/${thread.id}`).set(as(admin))).status).toBe(200);
  });
});
