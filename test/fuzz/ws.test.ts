import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createTestDatabase } from '../helpers.js';
import { spawnApp, type AppProcess } from '../processes.js';

/**
 * Property-based fuzzing of the WebSocket hub: every client frame type, valid,
 * nearly valid and garbage, text and binary. Each generated frame is followed by
 * a ping; the pong proves the connection survived and still answers. Errors
 * come back as `{"type":"error","code","message"}` frames; nothing closes the
 * connection except the documented limits.
 */
const FRAMES = Number(process.env.FUZZ_WS_FRAMES ?? 1500);
const SOCKETS = 2;

describe('fuzzing the WebSocket protocol', () => {
  let database: { url: string; drop(): Promise<void> };
  let app: AppProcess;
  let runId: string;

  beforeAll(async () => {
    database = await createTestDatabase('wsfuzz');
    app = await spawnApp({
      DATABASE_URL: database.url,
      LOG_LEVEL: 'warn',
      OFFLINE_MODEL_DELAY_MS: '0',
      WS_MAX_MESSAGES_PER_SECOND: '100000',
      WS_MAX_PAYLOAD: '16384',
    });
    await app.waitReady(60_000);
    const res = await fetch(`${app.url}/api/runs`, { method: 'POST', headers: { 'content-type': 'application/json', prefer: 'wait=10' }, body: JSON.stringify({ agent: 'summarizer', input: 'ws fuzz seed' }) });
    runId = ((await res.json()) as { run: { id: string } }).run.id;
  }, 120_000);
  afterAll(async () => {
    await app?.kill();
    await database?.drop();
  });

  const weird = fc.oneof(fc.string({ maxLength: 60 }), fc.constantFrom('', 'run:', 'run:not-a-uuid', 'runs ', 'QUEUE', '__proto__', 'run:00000000-0000-0000-0000-000000000000', 'x'.repeat(200)));
  const topic = fc.oneof(fc.constantFrom('runs', 'queue', 'RUN'), fc.uuid().map((u) => `run:${u}`), fc.constant('SEEDED'), weird, fc.integer(), fc.constant(null));
  const after = fc.oneof(fc.nat({ max: 100 }), fc.integer({ min: -100, max: -1 }), fc.double(), fc.string({ maxLength: 5 }), fc.constant(null), fc.constant(Number.MAX_SAFE_INTEGER));
  const typeName = fc.oneof({ weight: 5, arbitrary: fc.constantFrom('subscribe', 'unsubscribe', 'ping') }, { weight: 1, arbitrary: fc.oneof(weird, fc.integer(), fc.constant(null)) });
  const frame: fc.Arbitrary<{ data: string | Buffer; binary: boolean }> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ type: typeName, topic, after }, { requiredKeys: ['type'] }).map((f) => ({ data: JSON.stringify(f), binary: false })) },
    { weight: 2, arbitrary: fc.record({ type: typeName, topic, after, extra: fc.anything({ maxDepth: 3 }) }, { requiredKeys: [] }).map((f) => ({ data: JSON.stringify(f), binary: false })) },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => ({ data: JSON.stringify(v) ?? 'null', binary: false })) },
    { weight: 1, arbitrary: fc.string({ maxLength: 300 }).map((s) => ({ data: s, binary: false })) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => ({ data: Buffer.from(b), binary: true })) },
    { weight: 1, arbitrary: fc.constantFrom('{', '{"type":', `${'['.repeat(3000)}${']'.repeat(3000)}`, '{"type":"subscribe","topic":"runs","after":1e400}', '\u0000\u0001').map((s) => ({ data: s, binary: false })) },
  );

  interface Client {
    ws: WebSocket;
    frames: { type?: unknown; code?: unknown; message?: unknown }[];
    closed?: { code: number; reason: string };
    waiters: (() => void)[];
    pongs: number;
  }

  async function connect(): Promise<Client> {
    const ws = new WebSocket(`${app.url.replace('http', 'ws')}/ws`, { perMessageDeflate: false });
    const client: Client = { ws, frames: [], waiters: [], pongs: 0 };
    ws.on('message', (data, isBinary) => {
      expect(isBinary).toBe(false);
      const parsed = JSON.parse(String(data)) as Client['frames'][number];
      client.frames.push(parsed);
      if (parsed.type === 'pong') {
        client.pongs++;
        for (const w of client.waiters.splice(0)) w();
      }
    });
    ws.on('error', () => undefined);
    ws.on('close', (code, reason) => {
      client.closed = { code, reason: String(reason) };
      for (const w of client.waiters.splice(0)) w();
    });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    return client;
  }

  it(`${SOCKETS} × ${FRAMES} generated frames: error frames, no crash, the connection keeps answering`, async () => {
    let sent = 0;
    const closes: { code: number; reason: string; last: string }[] = [];
    await Promise.all(
      Array.from({ length: SOCKETS }, async (_, k) => {
        let client = await connect();
        await fc.assert(
          fc.asyncProperty(frame, async (f) => {
            if (client.closed) client = await connect();
            const data = typeof f.data === 'string' ? f.data.replace(/"SEEDED"/g, JSON.stringify(`run:${runId}`)) : f.data;
            const pongs = client.pongs;
            client.ws.send(data, { binary: f.binary });
            client.ws.send(JSON.stringify({ type: 'ping' }));
            sent += 2;
            await new Promise<void>((resolve) => {
              if (client.closed || client.pongs > pongs) return resolve();
              client.waiters.push(resolve);
            });
            if (client.closed) {
              closes.push({ ...client.closed, last: String(data).slice(0, 100) });
              // Only the documented limits may close a connection: too big (1009) or a policy violation (1008).
              if (![1008, 1009].includes(client.closed.code)) throw new Error(`closed with ${client.closed.code} ${client.closed.reason} after ${String(data).slice(0, 100)}`);
            }
          }),
          { numRuns: FRAMES, seed: Number(process.env.FUZZ_SEED ?? 20261122) + 100 + k, endOnFailure: true },
        );
        // Every frame the server sent was well formed, and every error carried a code and a message.
        for (const f of client.frames) {
          expect(['subscribed', 'unsubscribed', 'pong', 'event', 'error']).toContain(f.type);
          if (f.type === 'error') {
            expect(typeof f.code).toBe('string');
            expect(typeof f.message).toBe('string');
          }
        }
        expect(client.frames.some((f) => f.type === 'error')).toBe(true);
        client.ws.close();
      }),
    );
    expect(sent).toBeGreaterThanOrEqual(SOCKETS * FRAMES * 2);
    expect(app.child.exitCode).toBeNull();
    expect((await fetch(`${app.url}/ready`)).status).toBe(200);
    // A frame over WS_MAX_PAYLOAD closes with 1009, and the server carries on.
    const big = await connect();
    big.ws.send(JSON.stringify({ type: 'ping', pad: 'x'.repeat(20_000) }));
    await new Promise<void>((resolve) => (big.closed ? resolve() : big.waiters.push(resolve)));
    expect(big.closed?.code).toBe(1009);
    const after = await connect();
    after.ws.send(JSON.stringify({ type: 'subscribe', topic: `run:${runId}`, after: 0 }));
    await new Promise((r) => setTimeout(r, 300));
    expect(after.frames.some((f) => f.type === 'subscribed')).toBe(true);
    after.ws.close();
    console.info(`ws fuzz: ${sent} frames sent, ${closes.length} connections closed by limits (${[...new Set(closes.map((c) => c.code))].join(', ') || 'none'})`);
  }, 600_000);
});
