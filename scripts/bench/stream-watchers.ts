/**
 * The watchers of the streaming benchmark, in their own process: `count`
 * WebSocket clients, opened before the measurement. On `{"go"}` client i creates
 * run i (`POST /api/runs` on `http`) at its slot of the schedule and subscribes to
 * it (with `after: 0`) right after the 202, on `ws` (the same instance, or another).
 * Every ` [i@t]` token is checked for loss, duplicates and order and its delay
 * taken; a token missing at the end is found in the step's stored output and
 * classed by when it was sent: before the subscribe frame left, while it was
 * being answered, or after `subscribed` (a real drop).
 *   node --import tsx scripts/bench/stream-watchers.ts <http base> <ws url> <count>
 */
import http from 'node:http';
import WebSocket from 'ws';
import { parseStamps, wallNow } from './stream-server.js';
import { onCommands, percentile, report } from './ws-lines.js';

interface Watch {
  ws: WebSocket;
  runId?: string;
  postedAt?: number;
  subscribeSentAt?: number;
  subscribedAt?: number;
  next: number;
  seen: Set<number>;
  duplicates: number;
  reordered: number;
  output?: string;
  status?: string;
  instance?: string;
  firstTokenAt?: number;
}

const [base, wsUrl, countArg] = process.argv.slice(2);
const count = Number(countArg);
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const watches: Watch[] = [];
let delays = new Float64Array(1 << 16);
let delayCount = 0;

function addDelay(ms: number): void {
  if (delayCount === delays.length) {
    const grown = new Float64Array(delays.length * 2);
    grown.set(delays);
    delays = grown;
  }
  delays[delayCount++] = ms;
}

let postRetries = 0;
let subscribeErrors = 0;
let restarts = 0;

function postRun(body: string): Promise<{ status: number; text: string; retryAfter?: string }> {
  const url = new URL('/api/runs', base);
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text, retryAfter: res.headers['retry-after'] }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function onFrame(w: Watch, raw: string): void {
  const now = wallNow();
  const frame = JSON.parse(raw) as { type: string; topic?: string; event?: { type: string; data: Record<string, unknown> } };
  if (frame.type === 'subscribed') {
    w.subscribedAt ??= now;
    return;
  }
  if (frame.type === 'error') {
    // `unavailable` (the database was too busy to read the run): subscribe again, as shared/ws-client.ts would.
    subscribeErrors++;
    if (w.runId) setTimeout(() => w.ws.send(JSON.stringify({ type: 'subscribe', topic: `run:${w.runId}`, after: 0 })), 500);
    return;
  }
  if (frame.type !== 'event' || !frame.event) return;
  const { type, data } = frame.event;
  if (type === 'run.token') {
    tokenFrames++;
    for (const { index, sentAt } of parseStamps(String(data.delta ?? ''))) {
      w.firstTokenAt ??= now;
      addDelay(now - sentAt);
      if (w.seen.has(index)) {
        w.duplicates++;
        continue;
      }
      if (index !== w.next) w.reordered++;
      w.seen.add(index);
      w.next = index + 1;
    }
  } else if (type === 'run.step.started') {
    // A step that starts again (a retried attempt) streams its answer again from the first token.
    if (w.seen.size > 0) restarts++;
    w.seen.clear();
    w.next = 0;
  } else if (type === 'run.started') {
    w.instance = String(data.instance ?? '');
  } else if (type === 'run.step.finished') {
    if (typeof data.output === 'string') w.output = data.output;
  } else if (type === 'run.succeeded' || type === 'run.failed' || type === 'run.cancelled') {
    w.status = type.slice(4);
    maybeDone();
  }
}

let doneReported = false;
let goStarted = 0;
function maybeDone(): void {
  if (doneReported || watches.some((w) => !w.status)) return;
  doneReported = true;
  report({ done: true, ...summary() });
}

/** run.token frames received (a frame carries one or more tokens: the server merges a turn's deltas). */
let tokenFrames = 0;

function summary(): Record<string, unknown> {
  const sorted = delays.slice(0, delayCount).sort();
  let expected = 0;
  let received = 0;
  let duplicates = 0;
  let reordered = 0;
  const lost = { beforeSubscribe: 0, duringSubscribe: 0, afterSubscribed: 0, unknown: 0 };
  const statuses: Record<string, number> = {};
  const instances: Record<string, number> = {};
  let subscribeMs = 0;
  let subscribeMax = 0;
  const lostRuns = new Set<string>();
  for (const w of watches) {
    statuses[w.status ?? 'unfinished'] = (statuses[w.status ?? 'unfinished'] ?? 0) + 1;
    if (w.instance) instances[w.instance] = (instances[w.instance] ?? 0) + 1;
    duplicates += w.duplicates;
    reordered += w.reordered;
    if (w.subscribedAt && w.subscribeSentAt) {
      subscribeMs += w.subscribedAt - w.subscribeSentAt;
      subscribeMax = Math.max(subscribeMax, w.subscribedAt - w.subscribeSentAt);
    }
    // Loss is judged on runs that succeeded: their stored output is the full answer of the attempt that counted.
    const all = w.status === 'succeeded' && w.output ? parseStamps(w.output) : [];
    expected += all.length;
    if (w.status === 'succeeded') received += w.seen.size;
    for (const { index, sentAt } of all) {
      if (w.seen.has(index)) continue;
      lostRuns.add(w.runId ?? '');
      if (!w.subscribeSentAt || !w.subscribedAt) lost.unknown++;
      else if (sentAt < w.subscribeSentAt) lost.beforeSubscribe++;
      else if (sentAt < w.subscribedAt) lost.duringSubscribe++;
      else lost.afterSubscribed++;
    }
  }
  return {
    runs: watches.length,
    postRetries,
    subscribeErrors,
    restarts,
    expected,
    received,
    tokenFrames,
    duplicates,
    reordered,
    lost,
    lostRuns: lostRuns.size,
    statuses,
    instances,
    delayP50: percentile(sorted, 50),
    delayP99: percentile(sorted, 99),
    delayMax: sorted.length ? sorted[sorted.length - 1] : 0,
    subscribeAvgMs: subscribeMs / Math.max(1, watches.length),
    subscribeMaxMs: subscribeMax,
    seconds: (wallNow() - goStarted) / 1000,
  };
}

async function openAll(): Promise<void> {
  let open = 0;
  for (let i = 0; i < count; i++) {
    const ws = new WebSocket(wsUrl!, { perMessageDeflate: false });
    const w: Watch = { ws, next: 0, seen: new Set(), duplicates: 0, reordered: 0 };
    watches.push(w);
    ws.on('error', (error) => report({ wsError: String(error) }));
    ws.on('message', (data) => onFrame(w, String(data)));
    ws.on('close', (code) => {
      if (!doneReported) report({ closed: code });
    });
    ws.once('open', () => {
      if (++open === count) report({ ready: count });
    });
    // Open in small batches so the server's accept queue is not the thing measured.
    if (i % 100 === 99) await new Promise((r) => setTimeout(r, 20));
  }
}

async function go(rampMs: number, tag: string): Promise<void> {
  goStarted = wallNow();
  const start = performance.now();
  await Promise.all(
    watches.map(async (w, i) => {
      const at = (i * rampMs) / count;
      const wait = at - (performance.now() - start);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      w.postedAt = wallNow();
      const body = JSON.stringify({ agent: 'summarizer', input: `${tag} run ${i}: stream 200 stamped tokens` });
      let res = await postRun(body);
      // A shed request (503 + Retry-After) is retried as a well-behaved client would; the retries are reported.
      for (let attempt = 0; res.status === 503 && attempt < 10; attempt++) {
        postRetries++;
        await new Promise((r) => setTimeout(r, (Number(res.retryAfter) || 1) * 1000));
        res = await postRun(body);
      }
      if (res.status !== 202) {
        w.status = `post ${res.status}`;
        report({ error: `POST /api/runs answered ${res.status}: ${res.text.slice(0, 200)}` });
        return;
      }
      w.runId = (JSON.parse(res.text) as { run: { id: string } }).run.id;
      // Right after creating the run, as a browser would: `after: 0` replays every stored event.
      w.subscribeSentAt = wallNow();
      w.ws.send(JSON.stringify({ type: 'subscribe', topic: `run:${w.runId}`, after: 0 }));
    }),
  );
  maybeDone();
}

await openAll();
onCommands(async (command) => {
  if (command.go) {
    const { rampMs, tag } = command.go as { rampMs: number; tag: string };
    await go(rampMs, tag);
  }
  if (command.summary) report({ summary: true, ...summary() });
});
