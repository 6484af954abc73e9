import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerFrame } from '../shared/protocol.js';
import { parseStamps, startStampedServer, type StampedServer } from '../scripts/bench/stream-server.js';
import { openSocket, wsUrl, type TestSocket } from '../server/hub/test-client.js';
import { createTestDatabase, startTestApp, waitFor, type TestApp } from './helpers.js';

/**
 * The no-loss property of token streaming (issue "Streaming at scale"), at a
 * small K against the real app, a real OpenAI-compatible stream and real
 * WebSocket clients: the scripts/bench/streaming.ts benchmark in miniature.
 * Every token is ` [i@t]`, so loss, duplicates and order are read off the text.
 * Nothing here waits for time to pass: the stream server holds tokens on
 * conditions (a watcher subscribed, a token seen) instead.
 */

const K = 20;
const TOKENS = 40;

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
}
function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

function tokenIndexes(socket: TestSocket, topic: string): number[] {
  return socket.frames.flatMap((f: ServerFrame) =>
    f.type === 'event' && f.topic === topic && f.event.type === 'run.token' ? parseStamps(String((f.event.data as { delta?: unknown }).delta ?? '')).map((s) => s.index) : [],
  );
}

function stepOutput(socket: TestSocket, topic: string): string | undefined {
  for (const f of socket.frames) {
    if (f.type === 'event' && f.topic === topic && f.event.type === 'run.step.finished') return String((f.event.data as { output?: unknown }).output);
  }
  return undefined;
}

const isEnd = (topic: string) => (f: ServerFrame) => f.type === 'event' && f.topic === topic && ['run.succeeded', 'run.failed', 'run.cancelled'].includes(f.event.type);

async function createRun(app: TestApp, input: string): Promise<string> {
  const res = await fetch(`${app.url}/api/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ agent: 'summarizer', input }) });
  expect(res.status).toBe(202);
  return ((await res.json()) as { run: { id: string } }).run.id;
}

describe('token streaming to WebSocket watchers', () => {
  let app: TestApp & { dropDatabase?: () => Promise<void> };
  let llm: StampedServer;
  /** Per model request: hold its first token until this settles (set by each test). */
  let holdFirst: (request: number) => Promise<void> | undefined = () => undefined;
  /** Per model request and token: hold until this settles. */
  let holdToken: (request: number, index: number) => Promise<void> | undefined = () => undefined;

  beforeAll(async () => {
    llm = await startStampedServer({
      tokens: TOKENS,
      intervalMs: 1,
      firstDelayMs: 0,
      gate: (request, index) => (index === 0 ? holdFirst(request) : holdToken(request, index)),
    });
    app = await startTestApp({
      env: { OPENAI_API_KEY: 'test', OPENAI_BASE_URL: llm.url, OPENAI_RPM: '100000', CACHE_TTL: '0', MAX_CONCURRENT_JOBS: String(K) },
    });
  });

  afterAll(async () => {
    await app?.close();
    await app?.dropDatabase?.();
    await llm?.close();
  });

  it(`delivers every token exactly once and in order to ${K} watchers that subscribe right after creating their run`, async () => {
    // The model's first token waits until every watcher has its `subscribed`: the
    // benchmark's 300 ms first-token delay, made independent of machine speed.
    const allSubscribed = deferred();
    holdFirst = () => allSubscribed.promise;
    holdToken = () => undefined;
    const sockets = await Promise.all(Array.from({ length: K }, () => openSocket(wsUrl(app.url))));
    try {
      const topics = await Promise.all(
        sockets.map(async (socket, i) => {
          const runId = await createRun(app, `streaming test run ${i}`);
          const topic = `run:${runId}`;
          socket.send({ type: 'subscribe', topic, after: 0 });
          await socket.next((f) => f.type === 'subscribed' && f.topic === topic);
          return topic;
        }),
      );
      allSubscribed.resolve();
      await Promise.all(sockets.map((socket, i) => socket.next(isEnd(topics[i]!), 60_000)));

      const expected = Array.from({ length: TOKENS }, (_, i) => i);
      sockets.forEach((socket, i) => {
        const topic = topics[i]!;
        expect(socket.frames.find(isEnd(topic))).toMatchObject({ event: { type: 'run.succeeded' } });
        expect(tokenIndexes(socket, topic), topic).toEqual(expected);
        // The deltas add up to exactly the stored answer.
        expect(parseStamps(stepOutput(socket, topic) ?? '').map((s) => s.index)).toEqual(expected);
        // Stored events: each once, in seq order, from 1.
        const seqs = socket.seqs(topic);
        expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, n) => n + 1));
      });
    } finally {
      for (const s of sockets) s.close();
    }
  });

  it('a watcher that joins mid-step gets the step text so far, then the live tokens: every token once, in order', async () => {
    const scoutSubscribed = deferred();
    const lateSubscribed = deferred();
    const JOIN_AT = 5;
    holdFirst = () => scoutSubscribed.promise;
    holdToken = (_request, index) => (index === JOIN_AT ? lateSubscribed.promise : undefined);
    const scout = await openSocket(wsUrl(app.url));
    const late = await openSocket(wsUrl(app.url));
    try {
      const runId = await createRun(app, 'streaming test: late watcher');
      const topic = `run:${runId}`;
      scout.send({ type: 'subscribe', topic, after: 0 });
      await scout.next((f) => f.type === 'subscribed' && f.topic === topic);
      scoutSubscribed.resolve();
      // Tokens 0..JOIN_AT-1 have been published by the app once the scout has them.
      await waitFor(() => tokenIndexes(scout, topic).length === JOIN_AT, { timeoutMs: 30_000, what: 'the first tokens at the scout' });
      late.send({ type: 'subscribe', topic, after: 0 });
      await late.next((f) => f.type === 'subscribed' && f.topic === topic);
      lateSubscribed.resolve();
      await Promise.all([scout.next(isEnd(topic), 60_000), late.next(isEnd(topic), 60_000)]);

      const all = Array.from({ length: TOKENS }, (_, i) => i);
      expect(tokenIndexes(scout, topic)).toEqual(all);
      // Tokens are not stored, but the instance keeps the running step's text: the
      // late watcher (after: 0, so it had none of the step) gets tokens 0..JOIN_AT-1
      // with the replay, then the live ones. Before, it started at JOIN_AT.
      expect(tokenIndexes(late, topic)).toEqual(all);
      expect(parseStamps(stepOutput(late, topic) ?? '').map((s) => s.index)).toEqual(all);
      expect(late.seqs(topic)).toEqual(scout.seqs(topic));
    } finally {
      scout.close();
      late.close();
    }
  });
});

describe('token streaming across instances', () => {
  const RUNS = 10;
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let a: TestApp;
  let b: TestApp;
  let llm: StampedServer;
  let holdFirst: () => Promise<void> | undefined = () => undefined;
  let holdToken: (index: number) => Promise<void> | undefined = () => undefined;

  beforeAll(async () => {
    llm = await startStampedServer({ tokens: TOKENS, intervalMs: 1, firstDelayMs: 0, gate: (_request, index) => (index === 0 ? holdFirst() : holdToken(index)) });
    database = await createTestDatabase('xstream');
    const env = { OPENAI_API_KEY: 'test', OPENAI_BASE_URL: llm.url, OPENAI_RPM: '100000', CACHE_TTL: '0', MAX_CONCURRENT_JOBS: String(RUNS) };
    a = await startTestApp({ databaseUrl: database.url, env });
    b = await startTestApp({ databaseUrl: database.url, env });
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await database?.drop();
    await llm?.close();
  });

  it(`delivers every token exactly once and in order to watchers on both instances, whichever runs the step (${RUNS} runs)`, async () => {
    const allSubscribed = deferred();
    holdFirst = () => allSubscribed.promise;
    const apps = [a, b];
    // Each run is watched on both instances: it executes on one of them, so one watcher is always on the other.
    const watchers = await Promise.all(apps.map((app) => Promise.all(Array.from({ length: RUNS }, () => openSocket(wsUrl(app.url))))));
    try {
      const topics = await Promise.all(
        Array.from({ length: RUNS }, async (_, i) => {
          const runId = await createRun(apps[i % 2]!, `cross-instance streaming run ${i}`);
          const topic = `run:${runId}`;
          await Promise.all(
            watchers.map(async (sockets) => {
              sockets[i]!.send({ type: 'subscribe', topic, after: 0 });
              await sockets[i]!.next((f) => f.type === 'subscribed' && f.topic === topic);
            }),
          );
          return topic;
        }),
      );
      allSubscribed.resolve();
      await Promise.all(watchers.flatMap((sockets) => sockets.map((socket, i) => socket.next(isEnd(topics[i]!), 60_000))));

      const expected = Array.from({ length: TOKENS }, (_, i) => i);
      watchers.forEach((sockets, w) =>
        sockets.forEach((socket, i) => {
          const topic = topics[i]!;
          const where = `${topic} watched on instance ${w === 0 ? 'a' : 'b'}`;
          expect(socket.frames.find(isEnd(topic)), where).toMatchObject({ event: { type: 'run.succeeded' } });
          expect(tokenIndexes(socket, topic), where).toEqual(expected);
          const seqs = socket.seqs(topic);
          expect(seqs, where).toEqual(Array.from({ length: seqs.length }, (_, n) => n + 1));
        }),
      );
      for (const app of apps) {
        const dropped = await app.app.metrics.registry.getSingleMetric('hub_items_dropped_total')!.get();
        expect(dropped.values.reduce((sum, v) => sum + v.value, 0)).toBe(0);
      }
    } finally {
      for (const s of watchers.flat()) s.close();
    }
  });

  it('a watcher that joins mid-step on either instance gets the step text so far, then the live tokens', async () => {
    const scoutSubscribed = deferred();
    const lateSubscribed = deferred();
    const JOIN_AT = 5;
    holdFirst = () => scoutSubscribed.promise;
    holdToken = (index) => (index === JOIN_AT ? lateSubscribed.promise : undefined);
    const apps = [a, b];
    const scouts = await Promise.all(apps.map((app) => openSocket(wsUrl(app.url))));
    const lates = await Promise.all(apps.map((app) => openSocket(wsUrl(app.url))));
    try {
      const runId = await createRun(a, 'cross-instance streaming: late watchers');
      const topic = `run:${runId}`;
      for (const scout of scouts) scout.send({ type: 'subscribe', topic, after: 0 });
      await Promise.all(scouts.map((scout) => scout.next((f) => f.type === 'subscribed' && f.topic === topic)));
      scoutSubscribed.resolve();
      // Both instances have the first tokens once both scouts have them (the run executes on one, the other hears it by NOTIFY).
      await waitFor(() => scouts.every((scout) => tokenIndexes(scout, topic).length === JOIN_AT), { timeoutMs: 30_000, what: 'the first tokens at both scouts' });
      for (const late of lates) late.send({ type: 'subscribe', topic, after: 0 });
      await Promise.all(lates.map((late) => late.next((f) => f.type === 'subscribed' && f.topic === topic)));
      lateSubscribed.resolve();
      await Promise.all([...scouts, ...lates].map((socket) => socket.next(isEnd(topic), 60_000)));
      const all = Array.from({ length: TOKENS }, (_, i) => i);
      for (const [i, socket] of [...scouts, ...lates].entries()) {
        const where = `${i < 2 ? 'scout' : 'late watcher'} on instance ${i % 2 === 0 ? 'a' : 'b'}`;
        expect(tokenIndexes(socket, topic), where).toEqual(all);
        expect(socket.seqs(topic), where).toEqual(scouts[0]!.seqs(topic));
      }
    } finally {
      for (const s of [...scouts, ...lates]) s.close();
      holdToken = () => undefined;
    }
  });
});
