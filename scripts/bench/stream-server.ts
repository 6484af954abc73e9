/**
 * A stamped OpenAI-compatible streaming server for the streaming benchmark
 * (scripts/bench/streaming.ts) and test/streaming.test.ts. Every
 * `POST /v1/chat/completions` (stream: true) answers, after `firstDelayMs`,
 * `tokens` chunks `intervalMs` apart; each chunk's content is ` [i@t]`: its
 * index and the wall-clock time (ms, µs precision) it was written to the socket,
 * so a receiver anywhere on the box can tell loss, duplicates, order and delay.
 *
 * As a script it runs in its own process (so its CPU is not the app's) and
 * reports `@@{"port"}` on stdout; stdin commands: `{"stats":true}` answers the
 * request start times (the schedule the anchor replays) and tokens written.
 *   node --import tsx scripts/bench/stream-server.ts [tokens] [intervalMs] [firstDelayMs]
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export const wallNow = () => performance.timeOrigin + performance.now();

/** ` [i@t]` tokens out of any text (a delta, or a whole step output). */
export function parseStamps(text: string): { index: number; sentAt: number }[] {
  const out: { index: number; sentAt: number }[] = [];
  for (const m of text.matchAll(/\[(\d+)@(\d+(?:\.\d+)?)\]/g)) out.push({ index: Number(m[1]), sentAt: Number(m[2]) });
  return out;
}

export interface StampedServerOptions {
  tokens: number;
  intervalMs: number;
  firstDelayMs: number;
  /** Called before token `index` of request `request` (0-based, arrival order) and before the end (index = tokens); a promise holds the stream until it settles (tests use it to order tokens against subscriptions). */
  gate?: (request: number, index: number) => Promise<void> | undefined;
}

export interface StampedServer {
  url: string;
  port: number;
  /** Wall-clock start (ms) of every request, in arrival order. */
  starts: number[];
  tokensWritten(): number;
  close(): Promise<void>;
}

export async function startStampedServer(options: StampedServerOptions): Promise<StampedServer> {
  const starts: number[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let written = 0;
  let sequence = 0;

  const server = http.createServer((req, res) => {
    req.on('error', () => undefined);
    res.on('error', () => undefined);
    if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"message":"not found"}}');
      return;
    }
    const requestIndex = starts.push(wallNow()) - 1;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { model?: string; stream?: boolean };
      const id = `chatcmpl-bench-${++sequence}`;
      const model = body.model ?? 'bench';
      const created = Math.floor(Date.now() / 1000);
      const frame = (delta: Record<string, unknown>, finish: string | null, usage?: unknown) =>
        `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: usage ? [] : [{ index: 0, delta, finish_reason: finish }], ...(usage ? { usage } : {}) })}\n\n`;
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      res.write(frame({ role: 'assistant', content: '' }, null));
      let i = 0;
      let closed = false;
      res.on('close', () => {
        closed = true;
      });
      const finish = () => {
        res.write(frame({}, 'stop'));
        res.write(frame({}, null, { prompt_tokens: 10, completion_tokens: options.tokens, total_tokens: 10 + options.tokens }));
        res.end('data: [DONE]\n\n');
      };
      const due = wallNow() + options.firstDelayMs;
      // Each token is timed from the stream's start (not from the previous one), so a late tick does not slow the stream down.
      const next = () => {
        const wait = Math.max(0, due + i * options.intervalMs - wallNow());
        const timer = setTimeout(() => {
          timers.delete(timer);
          void send();
        }, wait);
        timers.add(timer);
      };
      const send = async () => {
        const gated = options.gate?.(requestIndex, i);
        if (gated) await gated;
        if (closed) return;
        if (i === options.tokens) return finish();
        res.write(frame({ content: ` [${i}@${wallNow().toFixed(3)}]` }, null));
        written++;
        i++;
        next();
      };
      next();
    });
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    port,
    starts,
    tokensWritten: () => written,
    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { onCommands, report } = await import('./ws-lines.js');
  const [tokens = '200', intervalMs = '20', firstDelayMs = '300'] = process.argv.slice(2);
  const server = await startStampedServer({ tokens: Number(tokens), intervalMs: Number(intervalMs), firstDelayMs: Number(firstDelayMs) });
  report({ port: server.port });
  onCommands((command) => {
    if (command.stats) report({ starts: server.starts, written: server.tokensWritten() });
    if (command.reset) server.starts.length = 0;
  });
  process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
}
