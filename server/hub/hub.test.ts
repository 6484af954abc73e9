import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WS_CLOSE, type RunEvent, type ServerFrame } from '../../shared/protocol.js';
import { startTestApp, waitFor, type TestApp } from '../../test/helpers.js';
import { appendEvent, insertRun, openSocket, sleep, upgradeStatus, wsUrl } from './test-client.js';

const SECRET = 'w'.repeat(40);
const ADMIN_PASSWORD = 'admin-password-123';
type T = TestApp & { dropDatabase?: () => Promise<void> };

async function login(t: T, username: string, password: string): Promise<string> {
  const res = await request(t.url).post('/api/auth/login').send({ username, password });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.token as string;
}

const isEvent = (topic: string, seq?: number) => (f: ServerFrame) =>
  f.type === 'event' && f.topic === topic && (seq === undefined || ('seq' in f.event && f.event.seq === seq && f.event.type !== 'run.token'));

describe('hub (auth on)', () => {
  let t: T;
  let admin: string;
  let bob: string;

  beforeAll(async () => {
    t = await startTestApp({
      env: {
        JWT_SECRET: SECRET,
        ADMIN_USERNAME: 'root',
        ADMIN_PASSWORD,
        CORS_ORIGINS: 'https://ui.example',
        WS_HEARTBEAT_MS: '300',
        WS_MAX_PAYLOAD: '4096',
        WS_MAX_MESSAGES_PER_SECOND: '20',
        WS_MAX_BUFFERED_BYTES: '65536',
      },
    });
    admin = await login(t, 'root', ADMIN_PASSWORD);
    const created = await request(t.url).post('/api/users').set('Authorization', `Bearer ${admin}`).send({ username: 'bob', password: 'bob-password-1', role: 'operator' });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    bob = await login(t, 'bob', 'bob-password-1');
  });
  afterAll(async () => {
    await t?.close();
    await t?.dropDatabase?.();
  });

  it('refuses upgrades with a real HTTP status: 401 without or with a bad token, 404 off /ws, 403 for a foreign origin', async () => {
    const none = await upgradeStatus(wsUrl(t.url));
    expect(none.status).toBe(401);
    expect(JSON.parse(none.body)).toMatchObject({ error: { code: 'unauthorized' } });
    expect((await upgradeStatus(wsUrl(t.url, '/ws', 'not-a-token'))).status).toBe(401);
    expect((await upgradeStatus(wsUrl(t.url), { Authorization: 'Bearer nope' })).status).toBe(401);
    expect((await upgradeStatus(wsUrl(t.url, '/elsewhere', admin))).status).toBe(404);
    expect((await upgradeStatus(wsUrl(t.url, '/ws', admin), { Origin: 'https://evil.example' })).status).toBe(403);
    // Accepted: token query, Authorization header, a configured origin, the page's own origin.
    expect((await upgradeStatus(wsUrl(t.url, '/ws', admin))).status).toBe(101);
    expect((await upgradeStatus(wsUrl(t.url), { Authorization: `Bearer ${admin}` })).status).toBe(101);
    expect((await upgradeStatus(wsUrl(t.url, '/ws', admin), { Origin: 'https://ui.example' })).status).toBe(101);
    expect((await upgradeStatus(wsUrl(t.url, '/ws', admin), { Origin: t.url })).status).toBe(101);
  });

  it('keeps users apart: someone else\'s run answers not_found, own runs and the runs topic are filtered by owner', async () => {
    const rootRun = await insertRun(t.db.pool, 'root');
    const bobRun = await insertRun(t.db.pool, 'bob');
    const b = await openSocket(wsUrl(t.url, '/ws', bob));
    const a = await openSocket(wsUrl(t.url, '/ws', admin));
    b.send({ type: 'subscribe', topic: `run:${rootRun}`, after: 0 });
    const refused = await b.next((f) => f.type === 'error');
    expect(refused).toMatchObject({ type: 'error', code: 'not_found', topic: `run:${rootRun}` });
    // A run that does not exist at all answers the same.
    b.send({ type: 'subscribe', topic: 'run:00000000-0000-4000-8000-000000000000' });
    const missing = await b.next((f) => f.type === 'error' && f.topic === 'run:00000000-0000-4000-8000-000000000000');
    expect(missing).toMatchObject({ code: 'not_found', message: (refused as { message: string }).message });

    b.send({ type: 'subscribe', topic: `run:${bobRun}` });
    b.send({ type: 'subscribe', topic: 'runs' });
    a.send({ type: 'subscribe', topic: 'runs' });
    a.send({ type: 'subscribe', topic: `run:${rootRun}` });
    await b.next((f) => f.type === 'subscribed' && f.topic === 'runs');
    await b.next((f) => f.type === 'subscribed' && f.topic === `run:${bobRun}`);
    await a.next((f) => f.type === 'subscribed' && f.topic === 'runs');
    await a.next((f) => f.type === 'subscribed' && f.topic === `run:${rootRun}`);

    t.app.hub.event(await appendEvent(t.db.pool, rootRun, 'run.queued'), 'root');
    t.app.hub.event(await appendEvent(t.db.pool, bobRun, 'run.queued'), 'bob');
    await a.next((f) => f.type === 'event' && f.topic === 'runs' && (f.event as RunEvent).runId === bobRun);
    await a.next(isEvent(`run:${rootRun}`, 1));
    await b.next(isEvent(`run:${bobRun}`, 1));
    await b.next((f) => f.type === 'event' && f.topic === 'runs' && (f.event as RunEvent).runId === bobRun);
    await sleep(200);
    expect(b.frames.some((f) => f.type === 'event' && (f.event as RunEvent).runId === rootRun)).toBe(false);
    a.close();
    b.close();
  });

  it('replays stored events after `after`, then streams live ones with no gap and no duplicate while events keep coming', async () => {
    const runId = await insertRun(t.db.pool, 'root');
    const topic = `run:${runId}`;
    for (let i = 0; i < 40; i++) t.app.hub.event(await appendEvent(t.db.pool, runId, 'run.step.finished', { i }), 'root');
    let producing = true;
    // Several producers at once: commits and hub calls interleave, as with retries and a cancel.
    const producers = [0, 1, 2].map(async (p) => {
      let n = 0;
      // Bounded, but long enough that the live-only subscriber below always joins while events still come.
      while (producing && n < 3000) {
        const event = await appendEvent(t.db.pool, runId, 'run.step.finished', { p, n: n++ });
        // Some calls are late, out of order or missing entirely; the hub must fill from run_events.
        if (n % 17 === 0) continue;
        if (n % 5 === 0) setTimeout(() => t.app.hub.event(event, 'root'), 15);
        else t.app.hub.event(event, 'root');
        if (n % 3 === 0) t.app.hub.token(runId, 'root', event.seq, { delta: `t${event.seq}` });
      }
    });
    const sockets = await Promise.all([0, 1, 2, 3].map(() => openSocket(wsUrl(t.url, '/ws', admin))));
    sockets.forEach((s, i) => {
      if (i < 3) s.send({ type: 'subscribe', topic, after: [0, 10, 35][i] });
    });
    await sleep(30);
    sockets[3]!.send({ type: 'subscribe', topic });
    // Stop producing only once the live-only subscriber has had a live event: on a loaded
    // machine the producers could otherwise finish before its subscription lands.
    await sockets[3]!.next((f) => f.type === 'event' && f.topic === topic && 'seq' in f.event && f.event.type !== 'run.token', 60_000);
    producing = false;
    await Promise.all(producers);
    const final = (await t.db.pool.query<{ last_seq: number }>('SELECT last_seq FROM runs WHERE id = $1', [runId])).rows[0]!.last_seq;
    // The final event arrives however it is delivered (live, or filled by the reconciler).
    await Promise.all(sockets.map((s) => s.next(isEvent(topic, final), 15_000)));
    for (const [i, after] of [0, 10, 35].entries()) {
      const seqs = sockets[i]!.seqs(topic);
      expect(seqs).toEqual(Array.from({ length: final - after }, (_, k) => after + 1 + k));
    }
    // Live only: contiguous from wherever it joined, up to the end.
    const live = sockets[3]!.seqs(topic);
    expect(live.length).toBeGreaterThan(0);
    expect(live).toEqual(Array.from({ length: live.length }, (_, k) => live[0]! + k));
    expect(live.at(-1)).toBe(final);
    // Tokens never run ahead of the stored event they follow. The live-only subscriber has
    // no history, so the tokens it gets before its first stored event follow one it never saw.
    for (const [i, s] of sockets.entries()) {
      let last: number | null = i < 3 ? [0, 10, 35][i]! : null;
      for (const f of s.frames) {
        if (f.type !== 'event' || f.topic !== topic || !('seq' in f.event)) continue;
        if (f.event.type !== 'run.token') last = f.event.seq;
        else if (last !== null) expect(f.event.seq).toBe(last);
      }
    }
    sockets.forEach((s) => s.close());
  });

  it('answers bad JSON, unknown types and invalid frames with an error frame and keeps the connection', async () => {
    const s = await openSocket(wsUrl(t.url, '/ws', admin));
    s.send('{not json');
    expect(await s.next((f) => f.type === 'error')).toMatchObject({ code: 'bad_json' });
    s.send({ type: 'dance' });
    await s.next((f) => f.type === 'error' && f.code === 'unknown_type');
    s.send({ type: 'subscribe', topic: 'everything' });
    await s.next((f) => f.type === 'error' && f.code === 'bad_frame');
    s.send({ type: 'subscribe', topic: 'runs', after: -1 });
    await s.next((f) => f.type === 'error' && f.code === 'bad_frame' && f.message.includes('after'));
    s.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    await s.next((f) => f.type === 'error' && f.message.includes('text'));
    s.send({ type: 'ping' });
    await s.next((f) => f.type === 'pong');
    expect(s.ws.readyState).toBe(s.ws.OPEN);
    s.close();
  });

  it('closes with 1009 on a frame over maxPayload', async () => {
    const s = await openSocket(wsUrl(t.url, '/ws', admin));
    s.send({ type: 'ping', pad: 'x'.repeat(5000) });
    expect((await s.closed).code).toBe(WS_CLOSE.tooBig);
  });

  it('rate limits a flood: excess frames are ignored with a rate_limited error, a sustained flood is closed with 1008', async () => {
    const s = await openSocket(wsUrl(t.url, '/ws', admin));
    for (let i = 0; i < 40; i++) s.send({ type: 'ping' });
    await s.next((f) => f.type === 'error' && f.code === 'rate_limited');
    await sleep(100);
    const pongs = s.frames.filter((f) => f.type === 'pong').length;
    expect(pongs).toBeGreaterThanOrEqual(20);
    expect(pongs).toBeLessThan(40);
    expect(s.ws.readyState).toBe(s.ws.OPEN);
    for (let i = 0; i < 500; i++) s.send({ type: 'ping' });
    expect((await s.closed).code).toBe(WS_CLOSE.policy);
    // The server itself carries on.
    const other = await openSocket(wsUrl(t.url, '/ws', admin));
    other.send({ type: 'ping' });
    await other.next((f) => f.type === 'pong');
    other.close();
  });

  it('drops a peer that stops answering pings', async () => {
    const dead = await openSocket(wsUrl(t.url, '/ws', admin), { autoPong: false });
    const alive = await openSocket(wsUrl(t.url, '/ws', admin));
    const closed = await dead.closed;
    expect(closed.code).toBe(1006); // terminated, no close handshake
    await sleep(700); // two more heartbeats
    expect(alive.ws.readyState).toBe(alive.ws.OPEN);
    alive.close();
  });

  it('closes a slow consumer with 4008 and counts it; it resumes with after and misses nothing', async () => {
    const runId = await insertRun(t.db.pool, 'root');
    const topic = `run:${runId}`;
    const slow = await openSocket(wsUrl(t.url, '/ws', admin));
    slow.send({ type: 'subscribe', topic, after: 0 });
    await slow.next((f) => f.type === 'subscribed');
    const COUNT = 3000;
    // 3000 events of 3 KB, stored in one statement, then handed to the hub as the queue would.
    await t.db.pool.query(
      `WITH e AS (INSERT INTO run_events (run_id, seq, type, data)
                  SELECT $1, g, 'run.step.finished', jsonb_build_object('i', g, 'big', repeat('y', 3000)) FROM generate_series(1, $2::int) g
                  RETURNING seq)
       UPDATE runs SET last_seq = (SELECT max(seq) FROM e) WHERE id = $1`,
      [runId, COUNT],
    );
    const { rows } = await t.db.pool.query<{ seq: number; data: Record<string, unknown>; at: Date }>('SELECT seq, data, at FROM run_events WHERE run_id = $1 ORDER BY seq', [runId]);
    // Stop reading (briefly, or the heartbeat would call it dead): the kernel buffers fill, then the server's send buffer grows.
    (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    for (const row of rows) t.app.hub.event({ seq: row.seq, runId, type: 'run.step.finished', data: row.data, at: row.at.toISOString() }, 'root');
    (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    expect((await slow.closed).code).toBe(WS_CLOSE.slowConsumer);
    const dropped = Number((await t.app.metrics.registry.getSingleMetric('ws_slow_consumers_dropped_total')!.get()).values[0]?.value ?? 0);
    expect(dropped).toBeGreaterThanOrEqual(1);
    const got = slow.seqs(topic);
    const again = await openSocket(wsUrl(t.url, '/ws', admin));
    again.send({ type: 'subscribe', topic, after: got.at(-1) ?? 0 });
    // A generous deadline, not a speed check: the app, PostgreSQL and this client share two
    // loaded cores here, and the replay is ~5 MB of JSON parsed frame by frame.
    await again.next(isEvent(topic, COUNT), 150_000);
    expect(got.length).toBeLessThan(COUNT);
    expect([...got, ...again.seqs(topic)]).toEqual(Array.from({ length: COUNT }, (_, k) => k + 1));
    again.close();
    // 9 MB of frames through a test process that shares two cores with the rest of the suite.
  }, 240_000);

  it('reports connections in /health and metrics', async () => {
    const s = await openSocket(wsUrl(t.url, '/ws', admin));
    await waitFor(() => t.app.hub.connectionCount() >= 1);
    const health = await request(t.url).get('/health');
    expect(health.body.checks.websocket).toMatchObject({ connections: expect.any(Number), listening: true });
    expect(health.body.checks.websocket.connections).toBeGreaterThanOrEqual(1);
    await sleep(1100);
    const metrics = await request(t.url).get('/metrics');
    expect(metrics.text).toMatch(/^ws_connections [1-9]/m);
    expect(metrics.text).toMatch(/^ws_messages_sent_total [1-9]/m);
    expect(metrics.text).toMatch(/^ws_slow_consumers_dropped_total [1-9]/m);
    s.close();
  });

  it('delivers queue stats to queue subscribers', async () => {
    const s = await openSocket(wsUrl(t.url, '/ws', admin));
    s.send({ type: 'subscribe', topic: 'queue' });
    await s.next((f) => f.type === 'subscribed' && f.topic === 'queue');
    t.app.hub.queueStats({ queued: 3, running: 1, awaitingInput: 0, succeeded: 0, failed: 0, cancelled: 0, oldestQueuedAgeSeconds: 1, runsPerSecond: 0, p95DurationSeconds: null, at: new Date().toISOString() });
    const frame = await s.next((f) => f.type === 'event' && f.topic === 'queue' && (f.event as { data: { queued: number } }).data.queued === 3);
    expect(frame).toMatchObject({ event: { type: 'queue.stats', data: { queued: 3, wsClients: expect.any(Number) } } });
    s.close();
  });
});

describe('hub shutdown', () => {
  it('closes every socket with 1012 and refuses new upgrades', async () => {
    const t = await startTestApp();
    try {
      const sockets = await Promise.all([0, 1, 2].map(() => openSocket(wsUrl(t.url))));
      expect(t.app.hub.connectionCount()).toBe(3);
      const closing = t.close();
      const codes = await Promise.all(sockets.map((s) => s.closed));
      expect(codes.map((c) => c.code)).toEqual([1012, 1012, 1012]);
      await closing;
      expect(t.app.hub.connectionCount()).toBe(0);
    } finally {
      await t.close();
      await t.dropDatabase?.();
    }
  });
});

describe('hub subscription cap', () => {
  let t: T;
  beforeAll(async () => {
    t = await startTestApp({ env: { WS_MAX_MESSAGES_PER_SECOND: '10000' } });
  });
  afterAll(async () => {
    await t?.close();
    await t?.dropDatabase?.();
  });

  it('caps topics per connection, counting runs that another connection already watches', async () => {
    const { rows } = await t.db.pool.query<{ id: string }>(
      `INSERT INTO runs (id, owner, agent, input, status, finished_at)
       SELECT gen_random_uuid(), 'admin', 'echo', '{}'::jsonb, 'succeeded', now() FROM generate_series(1, 101) RETURNING id`,
    );
    const ids = rows.map((r) => r.id);
    const watched = ids.pop()!;
    const other = await openSocket(wsUrl(t.url));
    other.send({ type: 'subscribe', topic: `run:${watched}` });
    await other.next((f) => f.type === 'subscribed' && f.topic === `run:${watched}`);
    const s = await openSocket(wsUrl(t.url));
    for (const id of ids) {
      s.send({ type: 'subscribe', topic: `run:${id}` });
      await s.next((f) => f.type === 'subscribed' && f.topic === `run:${id}`);
    }
    s.send({ type: 'subscribe', topic: `run:${watched}` });
    expect(await s.next((f) => (f.type === 'error' || f.type === 'subscribed') && f.topic === `run:${watched}`)).toMatchObject({
      type: 'error',
      code: 'too_many_subscriptions',
    });
    s.send({ type: 'subscribe', topic: 'runs' });
    expect(await s.next((f) => (f.type === 'error' || f.type === 'subscribed') && f.topic === 'runs')).toMatchObject({ code: 'too_many_subscriptions' });
    // Subscribing again to a topic it holds replaces it, and is not refused.
    s.send({ type: 'subscribe', topic: `run:${ids[0]}`, after: 0 });
    await s.next((f) => f.type === 'subscribed' && f.topic === `run:${ids[0]}` && s.frames.filter((g) => g.type === 'subscribed' && g.topic === `run:${ids[0]}`).length === 2);
    s.close();
    other.close();
  }, 60_000);
});
