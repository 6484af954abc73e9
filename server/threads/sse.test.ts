import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ThreadEvent } from '../../shared/threads.js';
import { createTestDatabase, startTestApp, waitFor, type TestApp } from '../../test/helpers.js';
import { openSse, type SseStream } from '../../test/support/sse-client.js';

/**
 * GET /api/threads/:id/stream: a thread's messages as Server-Sent Events, on two apps that
 * share one database (the stream is served by one, the messages are posted to the other).
 */

const SECRET = 'e'.repeat(48);
const ADMIN_PASSWORD = 'thread-sse-admin-pw';
type T = TestApp & { dropDatabase?: () => Promise<void> };

describe('GET /api/threads/:id/stream (Server-Sent Events)', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let a: T;
  let b: T;
  let alice: string;
  let bob: string;
  let admin: string;
  const streams: SseStream[] = [];
  const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

  const login = async (username: string, password: string) => {
    const res = await request(a.url).post('/api/auth/login').send({ username, password });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body.token as string;
  };
  const open = async (app: T, threadId: string, headers: Record<string, string>, query = '') => {
    const sse = await openSse(`${app.url}/api/threads/${threadId}/stream${query}`, headers);
    streams.push(sse);
    return sse;
  };
  const createThread = async (token: string) => {
    const res = await request(a.url).post('/api/threads').set(bearer(token)).send({ agent: 'writer' });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.thread.id as string;
  };
  const post = async (token: string, threadId: string, content: string) => {
    const res = await request(a.url).post(`/api/threads/${threadId}/messages`).set(bearer(token)).send({ content });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
  };
  const messageOf = (data: string) => (JSON.parse(data) as Extract<ThreadEvent, { type: 'thread.message' }>).data.message;
  /** Waits for the stream to carry the assistant's answer number `n`. */
  const answer = (sse: SseStream, n: number) =>
    waitFor(() => (sse.messages.filter((m) => m.event === 'thread.message' && messageOf(m.data).role === 'assistant').length >= n ? true : null), {
      timeoutMs: 90_000,
      what: `answer ${n} on the stream`,
    });

  beforeAll(async () => {
    database = await createTestDatabase('thread_sse');
    const env = { JWT_SECRET: SECRET, ADMIN_PASSWORD, OFFLINE_MODEL_DELAY_MS: '0', SSE_HEARTBEAT_MS: '200', THREAD_DISPATCH_INTERVAL_MS: '500' };
    a = await startTestApp({ databaseUrl: database.url, env });
    b = await startTestApp({ databaseUrl: database.url, env });
    admin = await login('admin', ADMIN_PASSWORD);
    for (const name of ['alice', 'bob']) {
      await request(a.url).post('/api/users').set(bearer(admin)).send({ username: name, password: `${name}-password`, role: 'operator' }).expect(201);
    }
    alice = await login('alice', 'alice-password');
    bob = await login('bob', 'bob-password');
  }, 120_000);
  afterAll(async () => {
    for (const sse of streams) sse.close();
    await a?.close();
    await b?.close();
    await database?.drop();
  });

  it('streams messages with id = message seq across instances, the run live without id, heartbeats; resumes by Last-Event-ID or ?after= with no gap or duplicate', async () => {
    const threadId = await createThread(alice);
    // Served by B; the message is posted to A (whichever instance answers it).
    const first = await open(b, threadId, bearer(alice));
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toMatch(/^text\/event-stream/);
    await post(alice, threadId, 'Write one sentence about tea.');
    await answer(first, 1);
    // The answering run came live, without ids: Last-Event-ID only ever names a message.
    expect(first.messages.some((m) => m.event === 'thread.run' && m.id === undefined)).toBe(true);
    expect(first.messages.filter((m) => m.event.startsWith('run.')).every((m) => m.id === undefined)).toBe(true);
    expect(first.messages.filter((m) => m.id !== undefined).every((m) => m.event === 'thread.message')).toBe(true);
    expect(first.ids()).toEqual([1, 2]);
    expect(first.messages.filter((m) => m.id !== undefined).map((m) => messageOf(m.data).seq)).toEqual([1, 2]);
    await waitFor(() => (first.comments.includes('heartbeat') ? true : null), { timeoutMs: 30_000, what: 'a heartbeat' });
    expect(first.body).toContain('retry: ');
    first.close();

    // Meanwhile another turn: a resume from message 2 gets exactly what came after it.
    await post(alice, threadId, 'And one about coffee.');
    const resumed = await open(b, threadId, { ...bearer(alice), 'Last-Event-ID': '2' });
    expect(resumed.status).toBe(200);
    await answer(resumed, 1);
    expect(resumed.ids()).toEqual([3, 4]);
    expect(messageOf(resumed.messages.find((m) => m.id === '3')!.data).content).toBe('And one about coffee.');
    // The stream stays open after the answer (a thread has no final event): the next turn comes on it.
    await post(alice, threadId, 'And one about water.');
    await answer(resumed, 2);
    expect(resumed.ids()).toEqual([3, 4, 5, 6]);

    const byQuery = await open(a, threadId, bearer(alice), '?after=4');
    await waitFor(() => (byQuery.ids().length >= 2 ? true : null), { timeoutMs: 30_000, what: 'the replay after 4' });
    const header = await open(a, threadId, { ...bearer(alice), 'Last-Event-ID': '5' }, '?after=1');
    await waitFor(() => (header.ids().length >= 1 ? true : null), { timeoutMs: 30_000, what: 'the replay after 5' });
    const all = await open(a, threadId, bearer(alice));
    await waitFor(() => (all.ids().length >= 6 ? true : null), { timeoutMs: 30_000, what: 'the whole thread' });
    // Replays are written before anything live; give stragglers (duplicates) a heartbeat's time to show.
    await waitFor(() => (all.comments.includes('heartbeat') && header.comments.includes('heartbeat') && byQuery.comments.includes('heartbeat') ? true : null), { timeoutMs: 30_000, what: 'heartbeats' });
    expect(byQuery.ids()).toEqual([5, 6]);
    expect(header.ids()).toEqual([6]);
    expect(all.ids()).toEqual([1, 2, 3, 4, 5, 6]);
    for (const sse of [resumed, byQuery, header, all]) sse.close();
  }, 240_000);

  it("answers 404 for someone else's thread and an unknown one, 401 without a credential, 400 for a bad Last-Event-ID; admins see every thread", async () => {
    const threadId = await createThread(alice);
    for (const app of [a, b]) {
      const other = await request(app.url).get(`/api/threads/${threadId}/stream`).set(bearer(bob));
      expect(other.status).toBe(404);
      expect(other.body.error.code).toBe('not_found');
    }
    expect((await request(a.url).get('/api/threads/00000000-0000-4000-8000-000000000000/stream').set(bearer(alice))).status).toBe(404);
    expect((await request(a.url).get('/api/threads/not-a-uuid/stream').set(bearer(alice))).status).toBe(404);
    expect((await request(a.url).get(`/api/threads/${threadId}/stream`)).status).toBe(401);
    expect((await request(a.url).get(`/api/threads/${threadId}/stream`).set(bearer(alice)).set('Last-Event-ID', 'x')).status).toBe(400);
    expect((await request(a.url).get(`/api/threads/${threadId}/stream?after=-1`).set(bearer(alice))).status).toBe(400);
    const adminSees = await open(a, threadId, bearer(admin));
    expect(adminSees.status).toBe(200);
    adminSees.close();
  });

  it('takes an API key and the session cookie; revoking the key ends its stream', async () => {
    const created = await request(a.url).post('/api/keys').set(bearer(admin)).send({ name: 'thread-reader', role: 'operator' });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const key = created.body.secret as string;
    const threadId = await createThread(key);
    await post(key, threadId, 'Say hello.');
    const byKey = await open(b, threadId, bearer(key));
    expect(byKey.status).toBe(200);
    await answer(byKey, 1);
    expect(byKey.ids()).toEqual([1, 2]);
    // Another principal's key stream, same thread id: someone else's thread.
    expect((await request(a.url).get(`/api/threads/${threadId}/stream`).set(bearer(alice))).status).toBe(404);
    await request(a.url).delete(`/api/keys/${created.body.key.id}`).set(bearer(admin)).expect(200);
    // Revoked on A: B's stream ends (the session notification crosses instances).
    await byKey.ended;

    const loginRes = await request(a.url).post('/api/auth/login').send({ username: 'alice', password: 'alice-password' });
    const cookie = ([] as string[]).concat(loginRes.headers['set-cookie'] ?? [])[0]!.split(';')[0]!;
    const aliceThread = await createThread(alice);
    await post(alice, aliceThread, 'Hi.');
    const byCookie = await open(a, aliceThread, { Cookie: cookie });
    expect(byCookie.status).toBe(200);
    await answer(byCookie, 1);
    expect(byCookie.ids()).toEqual([1, 2]);
    byCookie.close();
  }, 240_000);

  it('ends every stream at shutdown (clients reconnect elsewhere with Last-Event-ID)', async () => {
    const threadId = await createThread(alice);
    const sse = await open(b, threadId, bearer(alice));
    expect(sse.status).toBe(200);
    await waitFor(() => (sse.comments.includes('heartbeat') ? true : null), { timeoutMs: 30_000, what: 'the stream to be open' });
    await b.close();
    await sse.ended;
    const elsewhere = await open(a, threadId, { ...bearer(alice), 'Last-Event-ID': '0' });
    expect(elsewhere.status).toBe(200);
    elsewhere.close();
  }, 120_000);
});
