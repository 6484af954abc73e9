/**
 * WebSocket hub figures (issue 5), each against a bare `ws` server in the same run:
 *  - 10,000 clients (in a second process) subscribed to one run on one instance:
 *    time until a broadcast event reached all of them, p50/p99 over BROADCASTS events
 *    (goal p99 ≤ 1.25× the bare server's)
 *  - messages delivered per second during a burst (goal ≥ 0.8×)
 *  - server memory per connection, RSS after GC (goal ≤ 2×)
 *  - cross-instance delivery latency (event stored and handed to the hub on instance A,
 *    received by a client of instance B) at 100 events/s (goal p99 ≤ 20 ms)
 * Run: node --import tsx scripts/bench/ws.ts   (CLIENTS=… BROADCASTS=… to change the load)
 */
import path from 'node:path';
import { benchDatabase, fmt, machine, ROOT, writeSection } from './lib.js';
import { startChild, type Child } from './ws-lines.js';

const CLIENTS = Number(process.env.CLIENTS ?? 10_000);
const BROADCASTS = Number(process.env.BROADCASTS ?? 30);
const BURST = Number(process.env.BURST ?? 20);
const STREAM_EVENTS = Number(process.env.STREAM_EVENTS ?? 1000);
const script = (name: string) => path.join(ROOT, 'scripts/bench', name);

interface Result {
  p50: number;
  p99: number;
  max: number;
  firstP50: number;
  throughput: number;
  bytesPerConnection: number;
  heapPerConnection: number;
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function measure(server: Child, runId: string, port: number): Promise<Result> {
  await sleep(1000);
  server.send({ cmd: 'mem' });
  const before = await server.next<{ mem: { rss: number; heapUsed: number; external: number } }>((m) => 'mem' in m);
  const clients = startChild(script('ws-clients.ts'), [`ws://127.0.0.1:${port}/ws`, String(CLIENTS), `run:${runId}`]);
  try {
    await clients.next((m) => 'ready' in m, 300_000);
    await sleep(2000);
    server.send({ cmd: 'mem' });
    const after = await server.next<{ mem: { rss: number; heapUsed: number; external: number }; connections: number }>((m) => 'mem' in m);
    if (after.connections !== CLIENTS) throw new Error(`server has ${after.connections} connections, expected ${CLIENTS}`);

    const reach: number[] = [];
    const first: number[] = [];
    for (let b = 0; b < BROADCASTS; b++) {
      server.send({ cmd: 'broadcast', runId, count: 1, id: b });
      const done = await clients.next<{ t0: number; first: number; last: number }>((m) => 'done' in m, 60_000);
      reach.push(done.last - done.t0);
      first.push(done.first - done.t0);
      await sleep(150);
    }
    // Bursts: BURST events back to back; deliveries per second from the first send to the last receipt (median of 3).
    const rates: number[] = [];
    for (let round = 0; round < 3; round++) {
      server.send({ cmd: 'broadcast', runId, count: BURST, id: `burst${round}` });
      let t0 = Infinity;
      let last = 0;
      for (let k = 0; k < BURST; k++) {
        const done = await clients.next<{ t0: number; last: number }>((m) => 'done' in m, 120_000);
        t0 = Math.min(t0, done.t0);
        last = Math.max(last, done.last);
      }
      rates.push((CLIENTS * BURST) / ((last - t0) / 1000));
      await sleep(1000);
    }
    return {
      p50: percentile(reach, 50),
      p99: percentile(reach, 99),
      max: Math.max(...reach),
      firstP50: percentile(first, 50),
      throughput: percentile(rates, 50),
      bytesPerConnection: (after.mem.rss - before.mem.rss) / CLIENTS,
      heapPerConnection: (after.mem.heapUsed + after.mem.external - before.mem.heapUsed - before.mem.external) / CLIENTS,
    };
  } finally {
    // Server first, so TIME_WAIT lands on its port, not on the clients' ephemeral ports.
    await server.stop();
    await clients.stop();
  }
}

async function startServer(name: string, env: Record<string, string> = {}): Promise<{ child: Child; port: number }> {
  const child = startChild(script(name), [], env);
  const { port } = await child.next<{ port: number }>((m) => 'port' in m, 120_000);
  return { child, port };
}

async function crossInstance(databaseUrl: string): Promise<{ p50: number; p99: number; max: number; count: number }> {
  const env = { DATABASE_URL: databaseUrl, NODE_ENV: 'development', LOG_LEVEL: 'warn', MAX_INSTANCES: '4', MAX_CONNECTIONS_PER_CLIENT: '0', MAX_CONNECTIONS_PER_USER: '0' };
  const a = await startServer('ws-hub-server.ts', env);
  const b = await startServer('ws-hub-server.ts', env);
  try {
    a.child.send({ cmd: 'run' });
    const { run } = await a.child.next<{ run: string }>((m) => 'run' in m);
    const clients = startChild(script('ws-clients.ts'), [`ws://127.0.0.1:${b.port}/ws`, '1', `run:${run}`]);
    try {
      await clients.next((m) => 'ready' in m);
      clients.send({ cmd: 'record' });
      await clients.next((m) => 'recording' in m);
      a.child.send({ cmd: 'stream', runId: run, count: STREAM_EVENTS, rate: 100 });
      await a.child.next((m) => 'streamed' in m, 120_000);
      await sleep(500);
      clients.send({ cmd: 'latencies' });
      const { latencies } = await clients.next<{ latencies: number[] }>((m) => 'latencies' in m);
      return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: Math.max(...latencies), count: latencies.length };
    } finally {
      await clients.stop();
    }
  } finally {
    await a.child.stop();
    await b.child.stop();
  }
}

async function main(): Promise<void> {
  const db = await benchDatabase();
  try {
    // Every client is one user on one address: the per-client and per-user caps are lifted.
    const env = { DATABASE_URL: db.url, NODE_ENV: 'development', LOG_LEVEL: 'warn', MAX_INSTANCES: '4', MAX_CONNECTIONS_PER_CLIENT: '0', MAX_CONNECTIONS_PER_USER: '0' };
    // The first start migrates the scratch database.
    await (await startServer('ws-hub-server.ts', env)).child.stop();

    console.log(`bare ws: ${CLIENTS} clients…`);
    const bareServer = await startServer('ws-bare-server.ts');
    const bare = await measure(bareServer.child, '00000000-0000-4000-8000-000000000000', bareServer.port);
    console.log(bare);

    console.log(`hub: ${CLIENTS} clients…`);
    const hubServer = await startServer('ws-hub-server.ts', env);
    hubServer.child.send({ cmd: 'run' });
    const { run } = await hubServer.child.next<{ run: string }>((m) => 'run' in m);
    const hub = await measure(hubServer.child, run, hubServer.port);
    console.log(hub);

    console.log('cross-instance at 100 events/s…');
    const cross = await crossInstance(db.url);
    console.log(cross);

    const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
    const rows = [
      ['time until an event reached all clients, p50', `${fmt(hub.p50)} ms`, `${fmt(bare.p50)} ms`, ratio(hub.p50, bare.p50), '—', '—'],
      ['time until an event reached all clients, p99', `${fmt(hub.p99)} ms`, `${fmt(bare.p99)} ms`, ratio(hub.p99, bare.p99), '≤ 1.25×', hub.p99 <= 1.25 * bare.p99 ? 'yes' : 'no'],
      ['first client reached, p50', `${fmt(hub.firstP50, 1)} ms`, `${fmt(bare.firstP50, 1)} ms`, ratio(hub.firstP50, bare.firstP50), '—', '—'],
      [`messages delivered per second (burst of ${BURST}, median of 3)`, fmt(hub.throughput), fmt(bare.throughput), ratio(hub.throughput, bare.throughput), '≥ 0.8×', hub.throughput >= 0.8 * bare.throughput ? 'yes' : 'no'],
      ['server memory per connection (RSS, after GC)', `${fmt(hub.bytesPerConnection / 1024, 1)} KB`, `${fmt(bare.bytesPerConnection / 1024, 1)} KB`, ratio(hub.bytesPerConnection, bare.bytesPerConnection), '≤ 2×', hub.bytesPerConnection <= 2 * bare.bytesPerConnection ? 'yes' : 'no'],
      ['server heap + external per connection', `${fmt(hub.heapPerConnection / 1024, 1)} KB`, `${fmt(bare.heapPerConnection / 1024, 1)} KB`, ratio(hub.heapPerConnection, bare.heapPerConnection), '—', '—'],
      [`cross-instance delivery at 100 events/s, p50 (${cross.count} events)`, `${fmt(cross.p50, 1)} ms`, '—', '—', '—', '—'],
      ['cross-instance delivery at 100 events/s, p99', `${fmt(cross.p99, 1)} ms`, '—', '—', '≤ 20 ms', cross.p99 <= 20 ? 'yes' : 'no'],
    ];
    const table = ['| figure | hub | bare ws (same run) | ratio | goal | met |', '| --- | --- | --- | --- | --- | --- |', ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
    const body = `Command: \`node --import tsx scripts/bench/ws.ts\` (${fmt(CLIENTS)} clients in a second process, all subscribed to one run on one instance; ${BROADCASTS} single broadcasts one after another, then 3 bursts of ${BURST}; the hub gets each event through \`hub.event()\` as the queue hands it over after commit; cross-instance: instance A stores each event in run_events and hands it to its hub, one client of instance B receives it through LISTEN/NOTIFY; ${machine()}; ${new Date().toISOString().slice(0, 10)}).

${table}

Worst single broadcast: hub ${fmt(hub.max)} ms, bare ${fmt(bare.max)} ms; cross-instance worst ${fmt(cross.max, 1)} ms. The machine's 2 cores are shared by the server, the 10,000 clients and PostgreSQL, so the client process's own parsing is part of every figure, for both servers alike.`;
    await writeSection('WebSocket hub', body);
    console.log(body);
  } finally {
    await db.stop();
  }
}

await main();
