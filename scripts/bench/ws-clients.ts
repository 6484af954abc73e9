/**
 * The client side of scripts/bench/ws.ts: N WebSocket clients in one process,
 * each subscribed to one run topic. For every broadcast event it reports when the
 * first and the last client received it (wall clock, comparable across processes).
 */
import WebSocket from 'ws';
import { now, onCommands, report } from './ws-lines.js';

const [url, countArg, topic] = process.argv.slice(2);
const count = Number(countArg);
const BATCH = 250;
const progress = new Map<number, { n: number; first: number; last: number; t0: number }>();
const latencies: number[] = [];
let subscribed = 0;
let perEvent = false;
const sockets: WebSocket[] = [];

function onMessage(data: WebSocket.RawData): void {
  const at = now();
  const frame = JSON.parse(String(data)) as { type: string; event?: { data: { i: number; t0: number } } };
  if (frame.type === 'subscribed') {
    subscribed++;
    if (subscribed === count) report({ ready: count });
    return;
  }
  if (frame.type !== 'event' || !frame.event) return;
  const { i, t0 } = frame.event.data;
  if (perEvent) latencies.push(at - t0);
  let p = progress.get(i);
  if (!p) {
    p = { n: 0, first: at, last: at, t0 };
    progress.set(i, p);
  }
  p.n++;
  p.last = at;
  if (p.n === count) {
    progress.delete(i);
    report({ done: i, t0: p.t0, first: p.first, last: p.last });
  }
}

function open(): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url!, { perMessageDeflate: false });
    ws.on('open', () => {
      ws.send(JSON.stringify({ type: 'subscribe', topic }));
      resolve();
    });
    ws.on('message', onMessage);
    ws.on('error', reject);
    ws.on('close', () => undefined);
    sockets.push(ws);
  });
}

for (let i = 0; i < count; i += BATCH) {
  await Promise.all(Array.from({ length: Math.min(BATCH, count - i) }, () => open()));
}

onCommands((command) => {
  if (command.cmd === 'latencies') {
    perEvent = true;
    report({ latencies: latencies.splice(0) });
  }
  if (command.cmd === 'record') {
    perEvent = true;
    latencies.length = 0;
    report({ recording: true });
  }
});
process.on('SIGTERM', () => {
  for (const ws of sockets) ws.terminate();
  process.exit(0);
});
report({ connected: count });
