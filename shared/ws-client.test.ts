import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendEvent, insertRun, sleep, wsUrl } from '../server/hub/test-client.js';
import { startTestApp, waitFor, type TestApp } from '../test/helpers.js';
import type { RunEvent } from './protocol.js';
import { createWsClient, type ConnectionState, type WebSocketConstructor } from './ws-client.js';

const WS = WebSocket as unknown as WebSocketConstructor;

describe('ws-client against a real hub', () => {
  let t: TestApp & { dropDatabase?: () => Promise<void> };
  beforeAll(async () => {
    t = await startTestApp({ env: { WS_MAX_BUFFERED_BYTES: '65536' } });
  });
  afterAll(async () => {
    await t?.close();
    await t?.dropDatabase?.();
  });

  it('replays from `after`, shares one subscription between handlers, and reports its state', async () => {
    const runId = await insertRun(t.db.pool, 'admin');
    for (let i = 0; i < 5; i++) await appendEvent(t.db.pool, runId, 'run.step.finished', { i });
    const states: ConnectionState[] = [];
    const client = createWsClient({ url: wsUrl(t.url), WebSocket: WS, onStateChange: (s) => states.push(s) });
    const one: number[] = [];
    const two: number[] = [];
    client.subscribe(`run:${runId}`, (e) => one.push(e.seq), { after: 2 });
    const stopTwo = client.subscribe(`run:${runId}`, (e) => two.push(e.seq));
    await waitFor(() => one.length === 3);
    expect(one).toEqual([3, 4, 5]);
    expect(two).toEqual([3, 4, 5]);
    expect(client.lastSeq(`run:${runId}`)).toBe(5);
    stopTwo();
    t.app.hub.event(await appendEvent(t.db.pool, runId, 'run.succeeded'), 'admin');
    await waitFor(() => one.length === 4);
    expect(two).toEqual([3, 4, 5]);
    expect(states).toEqual(['open']);
    client.close();
    await waitFor(() => client.state === 'closed');
  });

  it('calls onError for a run it may not see', async () => {
    const client = createWsClient({ url: wsUrl(t.url), WebSocket: WS });
    const errors: string[] = [];
    client.subscribe('run:00000000-0000-4000-8000-000000000000', () => undefined, { onError: (e) => errors.push(e.code) });
    await waitFor(() => errors.length === 1);
    expect(errors).toEqual(['not_found']);
    client.close();
  });

  it('reconnects after being dropped as a slow consumer and resumes where it stopped, with no duplicate', async () => {
    const runId = await insertRun(t.db.pool, 'admin');
    const closes: number[] = [];
    const states: ConnectionState[] = [];
    const client = createWsClient({ url: wsUrl(t.url), WebSocket: WS, minBackoffMs: 20, onClose: (c) => closes.push(c), onStateChange: (s) => states.push(s) });
    const seen: number[] = [];
    let subscribed = 0;
    client.subscribe(`run:${runId}`, (e: RunEvent) => seen.push(e.seq), { after: 0, onSubscribed: () => subscribed++ });
    await waitFor(() => subscribed === 1);
    const events: RunEvent[] = [];
    for (let i = 0; i < 400; i++) events.push(await appendEvent(t.db.pool, runId, 'run.step.finished', { i, pad: 'p'.repeat(20_000) }));
    // 8 MB handed to the hub in one go (this process cannot read meanwhile): far past the 64 KiB send buffer limit.
    for (const e of events) t.app.hub.event(e, 'admin');
    await waitFor(() => seen.length >= 400, { timeoutMs: 20_000, what: `400 events (have ${seen.length})` });
    await sleep(100);
    expect(seen).toEqual(Array.from({ length: 400 }, (_, i) => i + 1));
    expect(closes[0]).toBe(4008);
    expect(states).toContain('reconnecting');
    client.close();
  });

  it('survives a server restart: reconnects with backoff and resumes with after', async () => {
    const shared = await startTestApp();
    const runId = await insertRun(shared.db.pool, 'admin');
    let port = shared.port;
    const client = createWsClient({ url: () => `ws://127.0.0.1:${port}/ws`, WebSocket: WS, minBackoffMs: 50, maxBackoffMs: 200 });
    const seen: number[] = [];
    client.subscribe(`run:${runId}`, (e) => seen.push(e.seq), { after: 0 });
    await waitFor(() => client.state === 'open');
    shared.app.hub.event(await appendEvent(shared.db.pool, runId, 'run.queued'), 'admin');
    await waitFor(() => seen.length === 1);
    await shared.close();
    await waitFor(() => client.state === 'reconnecting' || client.state === 'connecting');
    // Stored while nobody was connected.
    const db = shared.config.database.url!;
    const next = await startTestApp({ databaseUrl: db });
    try {
      await appendEvent(next.db.pool, runId, 'run.started');
      port = next.port;
      await waitFor(() => seen.length === 2, { timeoutMs: 15_000 });
      next.app.hub.event(await appendEvent(next.db.pool, runId, 'run.succeeded'), 'admin');
      await waitFor(() => seen.length === 3);
      expect(seen).toEqual([1, 2, 3]);
      client.close();
    } finally {
      await next.close();
      await shared.dropDatabase?.();
    }
  });

  it('asks again, with backoff, for a topic the server could not read at the time', async () => {
    // A scripted hub: the first subscribe finds the database busy, the second is served.
    const { WebSocketServer } = await import('ws');
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => server.once('listening', resolve));
    const subscribes: unknown[] = [];
    server.on('connection', (socket) => {
      socket.on('message', (data) => {
        const frame = JSON.parse(String(data)) as { type: string; topic: string; after?: number };
        if (frame.type !== 'subscribe') return;
        subscribes.push(frame);
        if (subscribes.length === 1) {
          socket.send(JSON.stringify({ type: 'error', code: 'unavailable', message: 'could not read the run; try again', topic: frame.topic }));
          return;
        }
        socket.send(JSON.stringify({ type: 'subscribed', topic: frame.topic }));
        const event = { id: 1, runId: frame.topic.slice(4), seq: 1, type: 'run.succeeded', data: {}, createdAt: new Date().toISOString() };
        socket.send(JSON.stringify({ type: 'event', topic: frame.topic, event }));
      });
    });
    const { port } = server.address() as { port: number };
    const client = createWsClient({ url: `ws://127.0.0.1:${port}/ws`, WebSocket: WS, minBackoffMs: 20, maxBackoffMs: 100 });
    const topic = 'run:00000000-0000-4000-8000-000000000001' as const;
    const errors: string[] = [];
    const seen: string[] = [];
    client.subscribe(topic, (e) => seen.push(e.type), { after: 0, onError: (e) => errors.push(e.code) });
    try {
      await waitFor(() => seen.length === 1, { what: 'the event after the second subscribe' });
      expect(errors).toEqual(['unavailable']);
      expect(subscribes).toEqual([
        { type: 'subscribe', topic, after: 0 },
        { type: 'subscribe', topic, after: 0 },
      ]);
      expect(seen).toEqual(['run.succeeded']);
      expect(client.state).toBe('open');
    } finally {
      client.close();
      for (const socket of server.clients) socket.terminate();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
