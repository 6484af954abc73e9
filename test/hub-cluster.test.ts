import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunEvent } from '../shared/protocol.js';
import { createWsClient, type WebSocketConstructor } from '../shared/ws-client.js';
import { appendEvent, insertRun, openSocket, sleep, wsUrl } from '../server/hub/test-client.js';
import { createTestDatabase, startTestApp, waitFor, type TestApp } from './helpers.js';
import { spawnApp, type AppProcess } from './processes.js';

type T = TestApp & { dropDatabase?: () => Promise<void> };

describe('hub across instances (two apps, one database)', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let a: T;
  let b: T;

  beforeAll(async () => {
    database = await createTestDatabase('hub');
    a = await startTestApp({ databaseUrl: database.url });
    b = await startTestApp({ databaseUrl: database.url });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await database?.drop();
  });

  it('delivers events produced on one instance to subscribers of the other, in order, tokens included', async () => {
    const runId = await insertRun(a.db.pool, 'admin');
    const topic = `run:${runId}`;
    const onB = await openSocket(wsUrl(b.url));
    const onA = await openSocket(wsUrl(a.url));
    onB.send({ type: 'subscribe', topic, after: 0 });
    onB.send({ type: 'subscribe', topic: 'runs' });
    onA.send({ type: 'subscribe', topic });
    await onB.next((f) => f.type === 'subscribed' && f.topic === 'runs');
    await onB.next((f) => f.type === 'subscribed' && f.topic === topic);
    await onA.next((f) => f.type === 'subscribed' && f.topic === topic);

    a.app.hub.event(await appendEvent(a.db.pool, runId, 'run.queued'), 'admin');
    a.app.hub.event(await appendEvent(a.db.pool, runId, 'run.started'), 'admin');
    for (let i = 0; i < 20; i++) a.app.hub.token(runId, 'admin', 2, { delta: `d${i}` });
    // Larger than a NOTIFY payload may be: travels by reference.
    const big = await appendEvent(a.db.pool, runId, 'run.step.finished', { output: 'z'.repeat(20_000) });
    a.app.hub.event(big, 'admin');
    a.app.hub.event(await appendEvent(a.db.pool, runId, 'run.succeeded'), 'admin');

    await onB.next((f) => f.type === 'event' && f.topic === topic && 'seq' in f.event && f.event.seq === 4);
    expect(onB.seqs(topic)).toEqual([1, 2, 3, 4]);
    expect(onA.seqs(topic)).toEqual([1, 2, 3, 4]);
    const bigOnB = onB.frames.find((f) => f.type === 'event' && f.topic === topic && 'seq' in f.event && f.event.seq === 3);
    expect(((bigOnB as { event: RunEvent }).event.data.output as string).length).toBe(20_000);
    const tokens = onB.frames.flatMap((f) => (f.type === 'event' && f.topic === topic && f.event.type === 'run.token' ? [(f.event as RunEvent).data.delta] : []));
    // Deltas of one turn may arrive merged into one run.token: the text is what counts.
    expect(tokens.join('')).toBe(Array.from({ length: 20 }, (_, i) => `d${i}`).join(''));
    expect(tokens.every((t) => typeof t === 'string' && t.length > 0)).toBe(true);
    await onB.next((f) => f.type === 'event' && f.topic === 'runs' && f.event.type === 'run.succeeded');
    expect(onB.frames.filter((f) => f.type === 'event' && f.topic === 'runs').map((f) => (f as { event: RunEvent }).event.type)).toEqual([
      'run.queued',
      'run.started',
      'run.succeeded',
    ]);
    onA.close();
    onB.close();
  });

  it('fills events whose notification never came (written to run_events only) from the database', async () => {
    const runId = await insertRun(a.db.pool, 'admin');
    const topic = `run:${runId}`;
    const onB = await openSocket(wsUrl(b.url));
    onB.send({ type: 'subscribe', topic });
    await onB.next((f) => f.type === 'subscribed');
    await appendEvent(a.db.pool, runId, 'run.queued'); // no hub call: as if the NOTIFY was lost
    a.app.hub.event(await appendEvent(a.db.pool, runId, 'run.started'), 'admin');
    await onB.next((f) => f.type === 'event' && 'seq' in f.event && f.event.seq === 2);
    expect(onB.seqs(topic)).toEqual([1, 2]);
    // And with no later event at all, the reconciler finds it (on its second pass: the first takes it for a late NOTIFY).
    await appendEvent(a.db.pool, runId, 'run.succeeded');
    await onB.next((f) => f.type === 'event' && 'seq' in f.event && f.event.seq === 3, 30_000);
    onB.close();
  });
});

describe('reconnecting to another instance after SIGTERM', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let producer: T;
  const processes: AppProcess[] = [];

  beforeAll(async () => {
    database = await createTestDatabase('hubproc');
    producer = await startTestApp({ databaseUrl: database.url });
    for (let i = 0; i < 2; i++) processes.push(await spawnApp({ DATABASE_URL: database.url, LOG_LEVEL: 'warn' }));
    await Promise.all(processes.map((p) => p.waitReady(60_000)));
  });
  afterAll(async () => {
    await Promise.all(processes.map((p) => p.kill()));
    await producer?.close();
    await database?.drop();
  });

  it('resumes with after on the other instance and misses nothing', async () => {
    const [first, second] = processes;
    if (!first || !second) throw new Error('two app processes were not started');
    const runId = await insertRun(producer.db.pool, 'admin');
    const topic = `run:${runId}` as const;
    let target = first;
    const closes: number[] = [];
    const client = createWsClient({
      url: () => wsUrl(target.url),
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      minBackoffMs: 50,
      onClose: (code) => closes.push(code),
    });
    const seen: number[] = [];
    let subscribedCount = 0;
    client.subscribe(topic, (event) => seen.push(event.seq), { after: 0, onSubscribed: () => subscribedCount++ });
    await waitFor(() => subscribedCount === 1, { what: 'first subscription' });

    let produced = 0;
    let producing = true;
    const production = (async () => {
      while (producing) {
        producer.app.hub.event(await appendEvent(producer.db.pool, runId, 'run.step.finished', { n: ++produced }), 'admin');
        await sleep(5);
      }
    })();
    await waitFor(() => seen.length >= 20, { what: 'events before the restart' });
    target = second;
    first.signal('SIGTERM');
    expect((await first.exited).code).toBe(0);
    await waitFor(() => subscribedCount === 2, { what: 'resubscribed on the second instance' });
    await sleep(300);
    producing = false;
    await production;
    await waitFor(() => seen.length >= produced, { timeoutMs: 15_000, what: `all ${produced} events (have ${seen.length})` });
    await sleep(200);
    expect(closes[0]).toBe(1012);
    expect(seen).toEqual(Array.from({ length: produced }, (_, i) => i + 1));
    client.close();
  });
});
