/**
 * Load under pressure (issue 8), against the built server with autocannon:
 *  - `/live` p99 at a fixed rate while 10 runs execute and 1,000 WebSocket clients
 *    stream their events (goal ≤ 10 ms); anchor: the same `/live` measurement on the
 *    same process when idle.
 *  - `POST /api/runs` p99 at 500 req/s (goal ≤ 25 ms); anchor: the same request at 50 req/s.
 *  - RSS of the server with 1,000 WebSocket clients and 10 runs executing.
 * RATE_LIMIT_MAX is set very high so the limiter never answers 429.
 * Run: npm run build && node --import tsx scripts/bench/load.ts   (LOAD_SECONDS, WS_CLIENTS)
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import WebSocket from 'ws';
import { benchDatabase, fmt, load, loadEnv, machine, ROOT, startApp, writeSection, type LoadResult } from './lib.js';
import { onCommands, report, startChild } from './ws-lines.js';

const SECONDS = Number(process.env.LOAD_SECONDS ?? 10);
const WS_CLIENTS = Number(process.env.WS_CLIENTS ?? 1000);
const LIVE_RATE = 500;
const RUNS_EXECUTING = 10;

// ------------------------------------------------------------------ child: the WebSocket clients
async function clientsMain(url: string, count: number, topics: string[]): Promise<void> {
  let received = 0;
  let subscribed = 0;
  const sockets: WebSocket[] = [];
  for (let i = 0; i < count; i++) {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    sockets.push(ws);
    ws.on('error', () => undefined);
    ws.on('open', () => {
      ws.send(JSON.stringify({ type: 'subscribe', topic: topics[i % topics.length], after: 0 }));
      ws.send(JSON.stringify({ type: 'subscribe', topic: 'runs' }));
    });
    ws.on('message', (data) => {
      const type = (JSON.parse(String(data)) as { type: string }).type;
      if (type === 'subscribed' && ++subscribed === count * 2) report({ ready: count });
      else if (type === 'event') received++;
    });
    // Open in small batches so the server's accept queue is not the thing measured.
    if (i % 100 === 99) await new Promise((r) => setTimeout(r, 20));
  }
  onCommands((command) => {
    if (command.count) report({ received, open: sockets.filter((s) => s.readyState === WebSocket.OPEN).length });
  });
}

if (process.argv[2] === 'clients') {
  const [, , , url, count, ...topics] = process.argv;
  await clientsMain(url!, Number(count), topics);
} else {
  await main();
}

async function rssMb(pid: number): Promise<number> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

async function postRun(base: string, body: unknown): Promise<string> {
  const res = await fetch(`${base}/api/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status !== 202) throw new Error(`POST /api/runs answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { run: { id: string } }).run.id;
}

async function main(): Promise<void> {
  const db = await benchDatabase();
  try {
    // 1,000 sockets and 50 autocannon connections, all from one address and one (local) user.
    const app = await startApp(
      loadEnv(db.url, {
        RATE_LIMIT_MAX: '1000000000',
        // Slow streaming keeps 10 runs executing (and streaming tokens) for the whole measurement.
        OFFLINE_MODEL_DELAY_MS: '40',
        MAX_CONCURRENT_JOBS: String(RUNS_EXECUTING),
        MAX_CONNECTIONS: '20',
      }),
    );
    const base = `http://127.0.0.1:${app.port}`;
    try {
      // Warm up, then the anchor: /live on the same process, idle.
      await load(`${base}/live`, { connections: 10, durationSeconds: 2, overallRate: LIVE_RATE });
      const liveIdle = await load(`${base}/live`, { connections: 10, durationSeconds: SECONDS, overallRate: LIVE_RATE });

      // Ten long runs executing, kept at ten.
      const longRun = { pattern: 'sequential', agents: ['researcher', 'analyst', 'writer', 'editor', 'critic', 'fact-checker', 'summarizer', 'translator', 'planner', 'writer'], input: 'load test: a long report streamed token by token' };
      const runIds: string[] = [];
      for (let i = 0; i < RUNS_EXECUTING; i++) runIds.push(await postRun(base, longRun));
      let keeping = true;
      const keeper = (async () => {
        while (keeping) {
          const res = await fetch(`${base}/api/runs?status=running&limit=100`);
          const running = ((await res.json()) as { runs: unknown[] }).runs.length;
          for (let i = running; i < RUNS_EXECUTING; i++) await postRun(base, longRun);
          await new Promise((r) => setTimeout(r, 500));
        }
      })().catch((error: unknown) => {
        // The app died or refused: say why (its own output) instead of only "fetch failed".
        throw new Error(`keeping ${RUNS_EXECUTING} runs executing failed (app exit code ${String(app.child.exitCode)}): ${String(error)}\n${app.output().slice(-4000)}`);
      });
      // Awaited after the measurement; a failure meanwhile must not be an unhandled rejection.
      keeper.catch(() => undefined);

      const clients = startChild(path.join(ROOT, 'scripts/bench/load.ts'), ['clients', `ws://127.0.0.1:${app.port}/ws`, String(WS_CLIENTS), ...runIds.map((id) => `run:${id}`)]);
      await clients.next((m) => 'ready' in m, 120_000);
      clients.send({ count: true });
      const before = await clients.next<{ received: number; open: number }>((m) => 'received' in m);
      const liveBusy = await load(`${base}/live`, { connections: 10, durationSeconds: SECONDS, overallRate: LIVE_RATE });
      const rss = await rssMb(app.child.pid!);
      clients.send({ count: true });
      const after = await clients.next<{ received: number; open: number }>((m) => 'received' in m && (m.received as number) !== before.received);
      const running = ((await (await fetch(`${base}/api/runs?status=running&limit=100`)).json()) as { runs: unknown[] }).runs.length;
      await clients.stop();
      keeping = false;
      await keeper;
      const framesPerSecond = (after.received - before.received) / SECONDS;

      // POST /api/runs: anchor at 50 req/s, then 500 req/s.
      const body = JSON.stringify({ agent: 'summarizer', input: 'load: one short run' });
      const headers = { 'content-type': 'application/json' };
      const postSlow = await load(`${base}/api/runs`, { method: 'POST', body, headers, connections: 10, durationSeconds: SECONDS, overallRate: 50 });
      const postFast = await load(`${base}/api/runs`, { method: 'POST', body, headers, connections: 50, durationSeconds: SECONDS, overallRate: 500 });

      const rows = [
        {
          figure: `\`/live\` p99 at ${LIVE_RATE} req/s, ${RUNS_EXECUTING} runs executing + ${fmt(WS_CLIENTS)} WebSocket clients streaming`,
          value: `${fmt(liveBusy.p99Ms, 1)} ms`,
          anchor: `same process idle ${fmt(liveIdle.p99Ms, 1)} ms`,
          ratio: ratio(liveBusy.p99Ms, liveIdle.p99Ms),
          goal: '≤ 10 ms',
          met: liveBusy.p99Ms <= 10 && clean(liveBusy),
        },
        {
          figure: '`POST /api/runs` p99 at 500 req/s',
          value: `${fmt(postFast.p99Ms, 1)} ms`,
          anchor: `same request at 50 req/s ${fmt(postSlow.p99Ms, 1)} ms`,
          ratio: ratio(postFast.p99Ms, postSlow.p99Ms),
          goal: '≤ 25 ms',
          met: postFast.p99Ms <= 25 && clean(postFast),
        },
        { figure: `server RSS with ${fmt(WS_CLIENTS)} WebSocket clients and ${RUNS_EXECUTING} runs`, value: `${fmt(rss, 1)} MB`, anchor: '—', ratio: '—', goal: '—', met: true },
      ];
      const table = [
        '| figure | value | anchor (same run) | ratio | goal | met |',
        '| --- | --- | --- | --- | --- | --- |',
        ...rows.map((r) => `| ${r.figure} | ${r.value} | ${r.anchor} | ${r.ratio} | ${r.goal} | ${r.goal === '—' ? '—' : r.met ? 'yes' : 'no'} |`),
      ].join('\n');
      await writeSection(
        'Load under pressure',
        `Command: \`npm run build && node --import tsx scripts/bench/load.ts\` (autocannon at a fixed rate, ${SECONDS} s per figure; the built server with RATE_LIMIT_MAX very high and the offline model streaming a chunk every 40 ms; the WebSocket clients run in a second process, each subscribed to one of the executing runs and to \`runs\`; ${machine()}; ${new Date().toISOString().slice(0, 10)}).\n\n${table}\n\n` +
          `During the \`/live\` measurement the clients received ${fmt(framesPerSecond)} frames/s (${after.open} of ${fmt(WS_CLIENTS)} open) and ${running} runs were executing at its end. ` +
          `\`/live\` p50 ${fmt(liveBusy.p50Ms, 1)} ms busy, ${fmt(liveIdle.p50Ms, 1)} ms idle. \`POST /api/runs\`: ${fmt(postFast.requestsPerSecond)} req/s achieved, p50 ${fmt(postFast.p50Ms, 1)} ms, non-2xx ${postFast.non2xx}, errors ${postFast.errors} (at 50 req/s: non-2xx ${postSlow.non2xx}, errors ${postSlow.errors}).`,
      );
      console.log(table);
    } finally {
      await app.stop();
    }
  } finally {
    await db.stop();
  }
}

function ratio(value: number, anchor: number): string {
  return anchor > 0 ? `${fmt(value / anchor, 2)}×` : '—';
}

function clean(result: LoadResult): boolean {
  return result.errors === 0 && result.non2xx === 0;
}
