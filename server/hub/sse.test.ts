import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../shared/protocol.js';
import { startTestApp, type TestApp } from '../../test/helpers.js';
import { openSse } from '../../test/support/sse-client.js';
import { appendEvent, insertRun } from './test-client.js';

type T = TestApp & { dropDatabase?: () => Promise<void> };
const PASSWORD = 'admin-password-123';

describe('GET /api/runs/:id/stream (Server-Sent Events)', () => {
  let t: T;
  let admin: string;
  let alice: string;

  beforeAll(async () => {
    t = await startTestApp({ env: { JWT_SECRET: 's'.repeat(40), ADMIN_USERNAME: 'root', ADMIN_PASSWORD: PASSWORD, SSE_HEARTBEAT_MS: '200' } });
    admin = (await request(t.url).post('/api/auth/login').send({ username: 'root', password: PASSWORD })).body.token;
    await request(t.url).post('/api/users').set('Authorization', `Bearer ${admin}`).send({ username: 'alice', password: 'alice-password', role: 'operator' });
    alice = (await request(t.url).post('/api/auth/login').send({ username: 'alice', password: 'alice-password' })).body.token;
  });
  afterAll(async () => {
    await t.close();
    await t.dropDatabase?.();
  });

  const emit = async (runId: string, type: string, owner = 'alice', data: Record<string, unknown> = {}) => {
    const event = await appendEvent(t.db.pool, runId, type, data);
    t.app.hub.event(event, owner);
    return event;
  };
  const streamUrl = (runId: string, query = '') => `${t.url}/api/runs/${runId}/stream${query}`;

  it('replays stored events with id = seq, streams live ones and tokens (without id), heartbeats, and closes after the final event', async () => {
    const runId = await insertRun(t.db.pool, 'alice');
    await emit(runId, 'run.queued');
    await emit(runId, 'run.started');
    const sse = await openSse(streamUrl(runId), { Authorization: `Bearer ${alice}` });
    expect(sse.status).toBe(200);
    expect(sse.headers.get('content-type')).toMatch(/^text\/event-stream/);
    await sse.next((m) => m.id === '2');
    await emit(runId, 'run.step.started', 'alice', { key: 'agent:writer' });
    await sse.next((m) => m.id === '3');
    t.app.hub.token(runId, 'alice', 3, { delta: 'Hel' });
    t.app.hub.token(runId, 'alice', 3, { delta: 'lo' });
    // The hub merges one turn's deltas of a step into one run.token: wait for the text, not the frames.
    const tokenText = () => sse.messages.filter((m) => m.event === 'run.token').map((m) => String((JSON.parse(m.data) as RunEvent).data.delta)).join('');
    const token = await sse.next((m) => m.event === 'run.token' && tokenText() === 'Hello');
    expect(token.id).toBeUndefined();
    // A heartbeat comment comes while nothing happens (every 200 ms here, 15 s by default).
    await (async () => {
      for (let i = 0; i < 200 && !sse.comments.includes('heartbeat'); i++) await new Promise((r) => setTimeout(r, 50));
    })();
    expect(sse.comments).toContain('heartbeat');
    await emit(runId, 'run.step.finished');
    await emit(runId, 'run.succeeded');
    await sse.ended;
    expect(sse.ids()).toEqual([1, 2, 3, 4, 5]);
    expect(tokenText()).toBe('Hello');
    const last = sse.messages.at(-1)!;
    expect(last.event).toBe('run.succeeded');
    expect(JSON.parse(last.data)).toMatchObject({ seq: 5, runId, type: 'run.succeeded' });
    expect(sse.body).toContain('retry: ');
  });

  it('resumes after Last-Event-ID (or ?after=) with no gap and no duplicate; a finished run past its end closes at once', async () => {
    const runId = await insertRun(t.db.pool, 'alice');
    for (const type of ['run.queued', 'run.started', 'run.step.started']) await emit(runId, type);
    const resumed = await openSse(streamUrl(runId), { Authorization: `Bearer ${alice}`, 'Last-Event-ID': '2' });
    await resumed.next((m) => m.id === '3');
    await emit(runId, 'run.step.finished');
    await emit(runId, 'run.failed');
    await resumed.ended;
    expect(resumed.ids()).toEqual([3, 4, 5]);

    const byQuery = await openSse(streamUrl(runId, '?after=3'), { Authorization: `Bearer ${alice}` });
    await byQuery.ended;
    expect(byQuery.ids()).toEqual([4, 5]);
    const header = await openSse(streamUrl(runId, '?after=1'), { Authorization: `Bearer ${alice}`, 'Last-Event-ID': '4' });
    await header.ended;
    expect(header.ids()).toEqual([5]);
    const past = await openSse(streamUrl(runId), { Authorization: `Bearer ${alice}`, 'Last-Event-ID': '5' });
    await past.ended;
    expect(past.status).toBe(200);
    expect(past.ids()).toEqual([]);
  });

  it("answers 404 for someone else's run and for an unknown one, 401 without a credential, 400 for a bad Last-Event-ID; admins see every run", async () => {
    const runId = await insertRun(t.db.pool, 'root');
    await emit(runId, 'run.queued', 'root');
    const other = await request(t.url).get(`/api/runs/${runId}/stream`).set('Authorization', `Bearer ${alice}`);
    expect(other.status).toBe(404);
    expect(other.body.error.code).toBe('not_found');
    expect((await request(t.url).get('/api/runs/00000000-0000-4000-8000-000000000000/stream').set('Authorization', `Bearer ${alice}`)).status).toBe(404);
    expect((await request(t.url).get(`/api/runs/${runId}/stream`)).status).toBe(401);
    expect((await request(t.url).get(`/api/runs/${runId}/stream`).set('Authorization', `Bearer ${admin}`).set('Last-Event-ID', 'x')).status).toBe(400);
    const aliceRun = await insertRun(t.db.pool, 'alice');
    await emit(aliceRun, 'run.queued');
    await emit(aliceRun, 'run.cancelled');
    const adminSees = await openSse(streamUrl(aliceRun), { Authorization: `Bearer ${admin}` });
    await adminSees.ended;
    expect(adminSees.ids()).toEqual([1, 2]);
  });

  it('takes an API key as the Bearer credential, and the session cookie', async () => {
    const created = await request(t.url).post('/api/keys').set('Authorization', `Bearer ${admin}`).send({ name: 'sse-reader', role: 'viewer' });
    const runId = await insertRun(t.db.pool, 'key:sse-reader');
    await emit(runId, 'run.queued', 'key:sse-reader');
    await emit(runId, 'run.succeeded', 'key:sse-reader');
    const byKey = await openSse(streamUrl(runId), { Authorization: `Bearer ${created.body.secret}` });
    await byKey.ended;
    expect(byKey.ids()).toEqual([1, 2]);
    const login = await request(t.url).post('/api/auth/login').send({ username: 'alice', password: 'alice-password' });
    const cookie = ([] as string[]).concat(login.headers['set-cookie'] ?? [])[0]!.split(';')[0]!;
    const aliceRun = await insertRun(t.db.pool, 'alice');
    await emit(aliceRun, 'run.queued');
    await emit(aliceRun, 'run.succeeded');
    const byCookie = await openSse(streamUrl(aliceRun), { Cookie: cookie });
    await byCookie.ended;
    expect(byCookie.ids()).toEqual([1, 2]);
  });
});
