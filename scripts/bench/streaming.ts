/**
 * Streaming at scale: K concurrent single-agent runs on one instance
 * (MAX_CONCURRENT_JOBS=K), their model an OpenAI-compatible server in its own
 * process (stream-server.ts: 200 tokens at 50 tokens/s after 300 ms, each token
 * stamped with its send time), each run watched by one WebSocket client in a
 * separate process (stream-watchers.ts) that creates its run and subscribes
 * right after the 202. Anchor, same run: a bare process with the `openai` SDK
 * (stream-anchor.ts) consuming K streams from the same server on the schedule
 * the runs' model calls started on.
 *
 * Figures per K: added token delay (watcher receive − server send, minus the
 * anchor's) p50/p99; app CPU seconds per 1,000 tokens delivered vs the anchor's;
 * peak RSS; database statements per run (pg_stat_statements); NOTIFYs per token;
 * `/live` p99 during the stream vs idle; tokens lost, duplicated or reordered.
 * Then the same at the largest K with a second instance whose clients watch runs
 * executing on the first (cross-instance delivery over LISTEN/NOTIFY).
 *
 *   npm run build && node --import tsx scripts/bench/streaming.ts [--k 100,1000] [--cross 1000|0]
 *   STREAM_CPU_PROF=<dir>   CPU profile of the running instance during the stream, over the inspector, into <dir>
 *                           (summarise with scripts/bench/profile-top.ts; see BENCHMARKS.md "Streaming: findings")
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { benchDatabase, fmt, freePort, inspectorProfiler, machine, ROOT, startApp, writeSection, type Proc } from './lib.js';
import { probeLive, type LiveStats } from './live-probe.js';
import { startChild, type Child } from './ws-lines.js';

const TOKENS = 200;
const INTERVAL_MS = 20;
const FIRST_DELAY_MS = 300;
/** Runs are created at this rate (the watchers' schedule), so K = 1,000 ramps over 2 s. */
const CREATE_PER_SECOND = 500;

const { values: args } = parseArgs({ options: { k: { type: 'string' }, cross: { type: 'string' } } });
const KS = (args.k ?? process.env.STREAM_K ?? '100,1000').split(',').map(Number).filter((n) => n > 0);
const CROSS_K = Number(args.cross ?? process.env.STREAM_CROSS_K ?? Math.max(...KS));
const CPU_PROF = process.env.STREAM_CPU_PROF;
/**
 * `/live` probes: 100 a second on keep-alive connections opened beforehand (live-probe.ts says why), and a new
 * connection twice a second. A connection carries one probe per turn of the app, and a turn took up to 1 s at
 * K = 1,000 on the shared box: 100 connections keep the probe's own queue out of the figure.
 */
const LIVE_PER_SECOND = 100;
const LIVE_CONNECTIONS = 100;
const FRESH_PER_SECOND = 2;

interface WatchSummary {
  runs: number;
  postRetries: number;
  subscribeErrors: number;
  restarts: number;
  expected: number;
  received: number;
  /** run.token frames that carried them. */
  tokenFrames: number;
  duplicates: number;
  reordered: number;
  lost: { beforeSubscribe: number; duringSubscribe: number; afterSubscribed: number; unknown: number };
  lostRuns: number;
  statuses: Record<string, number>;
  instances: Record<string, number>;
  delayP50: number;
  delayP99: number;
  delayMax: number;
  subscribeAvgMs: number;
  subscribeMaxMs: number;
  seconds: number;
}

interface AnchorSummary {
  received: number;
  duplicates: number;
  reordered: number;
  failed: number;
  delayP50: number;
  delayP99: number;
  cpuSeconds: number;
  rssMb: number;
}

/**
 * The app's own event-loop delay (prom-client's monitorEventLoopDelay; each /metrics
 * scrape starts a new window): p99 and max in ms since the previous scrape.
 */
async function loopDelay(port: number): Promise<{ p99: number; max: number }> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const metric = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN) * 1000;
  return { p99: metric('nodejs_eventloop_lag_p99_seconds'), max: metric('nodejs_eventloop_lag_max_seconds') };
}

/** hub_items_dropped_total by reason, as "reason n" pairs (none: empty). */
async function drops(port: number): Promise<string> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return [...text.matchAll(/^hub_items_dropped_total\{reason="([^"]+)"\} (\S+)$/gm)].map((m) => `${m[1]} ${m[2]}`).join(', ');
}

interface Phase {
  loop: { p99: number; max: number };
  /** Tokens and events the hub dropped, per instance (the watching one last). */
  drops: string[];
  k: number;
  logFile: string;
  cross: boolean;
  watch: WatchSummary;
  anchor: AnchorSummary;
  appCpu: number;
  otherAppCpu: number;
  pgCpu: number;
  rssMb: number;
  otherRssMb: number;
  liveIdle: LiveStats;
  liveBusy: LiveStats;
  /** `/live` on a new connection each time, during the stream. */
  liveFresh: LiveStats;
  /** The same on PROBE_PORT. */
  liveFreshProbePort: LiveStats;
  statements: number;
  commits: number;
  topStatements: { calls: number; ms: number; query: string }[];
  notifies: number;
  notifyTokens: number;
  tokenItems: number;
  load: string;
}

// ------------------------------------------------------------------ /proc helpers

const TICK = 100;
async function cpuSeconds(pid: number): Promise<number> {
  try {
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICK;
  } catch {
    return 0;
  }
}

async function rssMb(pid: number): Promise<number> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

/** The PostgreSQL server's processes: the postmaster (parent of our backend) and its children. */
async function postgresPids(client: pg.Client): Promise<number[]> {
  const backend = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  const stat = await fs.readFile(`/proc/${backend}/stat`, 'utf8');
  const postmaster = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  const pids = [postmaster];
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const s = await fs.readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    if (s && Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]) === postmaster) pids.push(Number(entry));
  }
  return pids;
}

async function sumCpu(pids: number[]): Promise<number> {
  let total = 0;
  for (const pid of pids) total += await cpuSeconds(pid);
  return total;
}

// ------------------------------------------------------------------ one measurement

/** SIGTERM, then SIGKILL if the graceful shutdown has not ended within a minute (the benchmark must end by itself). */
async function stopHard(app: Proc): Promise<void> {
  const timer = setTimeout(() => {
    console.log(`  app ${app.child.pid} did not exit within 60 s of SIGTERM; killing it. Output:\n${app.output().slice(-3000)}`);
    app.child.kill('SIGKILL');
  }, 60_000);
  await app.stop();
  clearTimeout(timer);
}

async function measure(dbUrl: string, streamUrl: string, streamServer: Child, k: number, cross: boolean): Promise<Phase> {
  const env = (jobs: number) => ({
    DATABASE_URL: dbUrl,
    NODE_ENV: 'development',
    OPENAI_API_KEY: 'bench',
    OPENAI_BASE_URL: streamUrl,
    OPENAI_RPM: '100000000',
    CACHE_TTL: '0',
    MAX_CONCURRENT_JOBS: String(jobs),
    // K watchers are one client address and one user: the per-client/per-user caps (429) would refuse most of them.
    MAX_CONNECTIONS_PER_CLIENT: '0',
    MAX_CONNECTIONS_PER_USER: '0',
  });
  const inspectPort = CPU_PROF ? await freePort() : 0;
  const execArgv = CPU_PROF ? [`--inspect=127.0.0.1:${inspectPort}`] : [];
  const apps: Proc[] = [];
  const monitor = new pg.Client(dbUrl);
  await monitor.connect();
  let watchers: Child | undefined;
  try {
    // The running instance also serves its probes on a port of their own (PROBE_PORT): a new-connection check there does not queue behind new clients.
    const probePort = await freePort();
    const app = await startApp({ ...env(k), PROBE_PORT: String(probePort) }, { execArgv });
    apps.push(app);
    // The second instance runs one job at most; runs it happens to claim are left out of the cross-instance figures.
    const other = cross ? await startApp(env(1)) : undefined;
    if (other) apps.push(other);
    const watchPort = other?.port ?? app.port;
    await monitor.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    const pgPids = await postgresPids(monitor);

    watchers = startChild(path.join(ROOT, 'scripts/bench/stream-watchers.ts'), [`http://127.0.0.1:${app.port}`, `ws://127.0.0.1:${watchPort}/ws`, String(k)]);
    await watchers.next((m) => 'ready' in m, 120_000);

    // Anchor for /live: the same process, idle, with the watchers connected.
    const idleProbe = await probeLive(app.port, { perSecond: LIVE_PER_SECOND, connections: LIVE_CONNECTIONS });
    await new Promise((r) => setTimeout(r, 3000));
    const liveIdle = await idleProbe.stop();

    // Every NOTIFY on the hub channel, counted where it lands.
    let notifies = 0;
    let notifyTokens = 0;
    let tokenItems = 0;
    await monitor.query('LISTEN agentry_hub');
    monitor.on('notification', (n) => {
      notifies++;
      try {
        for (const item of (JSON.parse(n.payload ?? '{}') as { m?: { k: string; t?: unknown[] }[] }).m ?? []) {
          if (item.k === 't') {
            tokenItems++;
            notifyTokens += item.t?.length ?? 0;
          }
        }
      } catch {
        // counted, not parsed
      }
    });

    streamServer.send({ reset: true });
    const load = os.loadavg().map((l) => fmt(l, 1)).join(' / ');
    await monitor.query('SELECT pg_stat_statements_reset()');
    const db0 = (await monitor.query<{ c: string }>('SELECT xact_commit + xact_rollback AS c FROM pg_stat_database WHERE datname = current_database()')).rows[0]!;
    const cpu0 = await Promise.all(apps.map((a) => cpuSeconds(a.child.pid!)));
    const pgCpu0 = await sumCpu(pgPids);
    const peak = apps.map(() => 0);
    const sampler = setInterval(() => {
      apps.forEach((a, i) => void rssMb(a.child.pid!).then((mb) => (peak[i] = Math.max(peak[i]!, mb))));
    }, 100);
    await loopDelay(app.port);
    const busyProbe = await probeLive(app.port, { perSecond: LIVE_PER_SECOND, connections: LIVE_CONNECTIONS });
    const freshProbe = await probeLive(app.port, { perSecond: FRESH_PER_SECOND, fresh: true });
    const freshProbePort = await probeLive(probePort, { perSecond: FRESH_PER_SECOND, fresh: true });
    const profiler = CPU_PROF ? await inspectorProfiler(inspectPort) : undefined;
    await profiler?.start();

    const rampMs = (k / CREATE_PER_SECOND) * 1000;
    console.log(`  ${k} watchers connected; creating runs`);
    watchers.send({ go: { rampMs, tag: `k${k}${cross ? 'x' : ''}-${Date.now()}` } });
    // Stops by itself: runs that have not ended by then are reported as unfinished.
    const watch = await watchers.next<WatchSummary>((m) => 'done' in m, rampMs + 120_000).catch(async () => {
      console.log(`  not every run ended in time; app output:\n${app.output().slice(-3000)}`);
      watchers!.send({ summary: true });
      return watchers!.next<WatchSummary>((m) => 'summary' in m);
    });
    console.log(`  runs ended: ${JSON.stringify(watch.statuses)}`);

    const [liveBusy, liveFresh, liveFreshProbePort] = await Promise.all([busyProbe.stop(), freshProbe.stop(), freshProbePort.stop()]);
    const loop = await loopDelay(app.port);
    const dropped = await Promise.all(apps.map((a) => drops(a.port)));
    if (profiler && CPU_PROF) {
      await fs.mkdir(CPU_PROF, { recursive: true });
      await profiler.stop(path.join(CPU_PROF, `streaming-k${k}${cross ? '-cross' : ''}.cpuprofile`));
      profiler.close();
    }
    clearInterval(sampler);
    const cpu1 = await Promise.all(apps.map((a) => cpuSeconds(a.child.pid!)));
    const pgCpu1 = await sumCpu(pgPids);
    const db1 = (await monitor.query<{ c: string }>('SELECT xact_commit + xact_rollback AS c FROM pg_stat_database WHERE datname = current_database()')).rows[0]!;
    const statements = await monitor.query<{ calls: string; ms: number; query: string }>(
      `SELECT calls::text, total_exec_time AS ms, regexp_replace(query, '\\s+', ' ', 'g') AS query FROM pg_stat_statements
        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND query NOT ILIKE '%pg_stat%' AND query NOT ILIKE 'LISTEN%'
        ORDER BY calls DESC`,
    );
    await monitor.query('UNLISTEN *');
    streamServer.send({ stats: true });
    const served = await streamServer.next<{ starts: number[]; written: number }>((m) => 'starts' in m);

    await watchers.stop();
    watchers = undefined;
    for (const a of apps.splice(0)) await stopHard(a);
    const logFile = path.join(os.tmpdir(), `agentry-streaming-k${k}${cross ? '-cross' : ''}.log`);
    await fs.writeFile(logFile, [app, other].filter(Boolean).map((a) => a!.output()).join('\n'));

    // The anchor, on the schedule the runs' model calls started on.
    const first = Math.min(...served.starts);
    const offsets = served.starts.map((s) => s - first).slice(0, k);
    const anchorChild = startChild(path.join(ROOT, 'scripts/bench/stream-anchor.ts'), [streamUrl]);
    let anchor: AnchorSummary;
    try {
      await anchorChild.next((m) => 'ready' in m);
      anchorChild.send({ run: { offsets } });
      anchor = await anchorChild.next<AnchorSummary>((m) => 'done' in m, 300_000);
    } finally {
      await anchorChild.stop();
    }

    const rows = statements.rows.map((r) => ({ calls: Number(r.calls), ms: r.ms, query: r.query.slice(0, 160) }));
    return {
      loop,
      drops: dropped,
      k,
      logFile,
      cross,
      watch,
      anchor,
      appCpu: cpu1[0]! - cpu0[0]!,
      otherAppCpu: cross ? cpu1[1]! - cpu0[1]! : 0,
      pgCpu: pgCpu1 - pgCpu0,
      rssMb: peak[0]!,
      otherRssMb: cross ? peak[1]! : 0,
      liveIdle,
      liveBusy,
      liveFresh,
      liveFreshProbePort,
      statements: rows.reduce((s, r) => s + r.calls, 0),
      commits: Number(db1.c) - Number(db0.c),
      topStatements: [...rows].sort((a, b) => b.ms - a.ms).slice(0, 8),
      notifies,
      notifyTokens,
      tokenItems,
      load,
    };
  } finally {
    await watchers?.stop();
    for (const a of apps) await stopHard(a);
    await monitor.end();
  }
}

// ------------------------------------------------------------------ report

const ms = (n: number) => `${fmt(n, 1)} ms`;
const ratio = (a: number, b: number) => (b > 0 ? `${fmt(a / b, 2)}×` : '—');

function rowsOf(p: Phase): string[] {
  const kName = `K = ${fmt(p.k)}${p.cross ? ', watched on a 2nd instance' : ''}`;
  const w = p.watch;
  const a = p.anchor;
  const big = p.k >= 1000;
  const lost = w.expected - w.received;
  const addedP50 = w.delayP50 - a.delayP50;
  const addedP99 = w.delayP99 - a.delayP99;
  const cpuPerK = ((p.appCpu + p.otherAppCpu) / Math.max(1, w.received)) * 1000;
  const anchorCpuPerK = (a.cpuSeconds / Math.max(1, a.received)) * 1000;
  // Per token the runs streamed (not per token delivered: a lossy phase would look worse than it published).
  const notifyPerToken = p.notifies / (TOKENS * p.k);
  const row = (figure: string, value: string, anchor: string, r: string, goal: string, met: boolean | null) =>
    `| ${figure}, ${kName} | ${value} | ${anchor} | ${r} | ${goal} | ${met === null || goal === '—' ? '—' : met ? 'yes' : 'no'} |`;
  return [
    row('added token delay p50', ms(addedP50), `bare SDK ${ms(a.delayP50)} (app ${ms(w.delayP50)})`, ratio(w.delayP50, a.delayP50), '—', null),
    // A saturated anchor (its own p99 over the goal) proves nothing: such a row is not met.
    row('added token delay p99', ms(addedP99), `bare SDK ${ms(a.delayP99)} (app ${ms(w.delayP99)})`, ratio(w.delayP99, a.delayP99), big ? '≤ 50 ms' : '—', addedP99 <= 50 && a.delayP99 <= 50),
    row(
      `CPU seconds per 1,000 tokens delivered${p.cross ? ' (both instances)' : ''}`,
      `${fmt(cpuPerK, 3)} s`,
      `bare SDK ${fmt(anchorCpuPerK, 3)} s`,
      ratio(cpuPerK, anchorCpuPerK),
      big ? '≤ 3×' : '—',
      cpuPerK <= 3 * anchorCpuPerK,
    ),
    row(`peak RSS${p.cross ? ' (running instance)' : ''}`, `${fmt(p.rssMb, 1)} MB`, `bare SDK ${fmt(a.rssMb, 1)} MB`, ratio(p.rssMb, a.rssMb), big ? '≤ 400 MB' : '—', p.rssMb <= 400),
    row('`/live` p99 during', ms(p.liveBusy.p99), `same process idle ${ms(p.liveIdle.p99)}`, ratio(p.liveBusy.p99, p.liveIdle.p99), big ? '≤ 10 ms' : '—', p.liveBusy.p99 <= 10),
    row(
      'tokens lost / duplicated / reordered',
      `${fmt(lost)} / ${fmt(w.duplicates)} / ${fmt(w.reordered)} of ${fmt(w.expected)}${w.statuses.succeeded === p.k ? '' : ` (${fmt(w.statuses.succeeded ?? 0)} of ${fmt(p.k)} runs succeeded)`}`,
      `bare SDK ${fmt(a.failed > 0 ? -1 : TOKENS * p.k - a.received)} / ${fmt(a.duplicates)} / ${fmt(a.reordered)}`,
      '—',
      '0',
      lost === 0 && w.duplicates === 0 && w.reordered === 0 && w.expected === TOKENS * p.k && w.statuses.succeeded === p.k,
    ),
    row('database statements per run', fmt(p.statements / p.k, 1), `${fmt(p.commits / p.k, 1)} transactions per run`, '—', '—', null),
    row('NOTIFYs per token streamed', fmt(notifyPerToken, 4), `${fmt(p.notifyTokens / Math.max(1, p.tokenItems), 1)} tokens per run batch`, '—', p.cross || big ? '≤ 0.1' : '—', notifyPerToken <= 0.1),
  ];
}

function details(p: Phase): string {
  const w = p.watch;
  const top = p.topStatements.map((s) => `  - ${fmt(s.calls)} calls, ${fmt(s.ms)} ms: \`${s.query.replace(/`/g, "'")}\``).join('\n');
  return (
    `- K = ${fmt(p.k)}${p.cross ? ' (cross-instance)' : ''}: load average before ${p.load}; ${fmt(w.seconds, 1)} s from the first POST to the last run's end; runs ${JSON.stringify(w.statuses)}, \`POST /api/runs\` retried after 503 ${fmt(w.postRetries)} times, subscribe answered an error ${fmt(w.subscribeErrors)} times, steps restarted ${fmt(w.restarts)} times; app log \`${p.logFile}\`` +
    `${p.cross ? `; executed on ${JSON.stringify(w.instances)} (the second instance's own runs are counted too; it runs at most one)` : ''}. ` +
    `Lost tokens by when they were sent: before the subscribe frame left ${fmt(w.lost.beforeSubscribe)}, while it was answered ${fmt(w.lost.duringSubscribe)}, after \`subscribed\` ${fmt(w.lost.afterSubscribed)} (in ${fmt(w.lostRuns)} runs). ` +
    `Subscribe → \`subscribed\` avg ${ms(w.subscribeAvgMs)}, max ${ms(w.subscribeMaxMs)}. Token delay max ${ms(w.delayMax)}. Tokens received in ${fmt(w.tokenFrames)} \`run.token\` frames (${fmt(w.received / Math.max(1, w.tokenFrames), 2)} per frame). ` +
    `CPU: app ${fmt(p.appCpu, 1)} s${p.cross ? ` + watching instance ${fmt(p.otherAppCpu, 1)} s (RSS ${fmt(p.otherRssMb, 1)} MB)` : ''}, PostgreSQL ${fmt(p.pgCpu, 1)} s, bare SDK ${fmt(p.anchor.cpuSeconds, 1)} s. ` +
    `${fmt(p.statements)} statements, ${fmt(p.commits)} transactions, ${fmt(p.notifies)} NOTIFYs carrying ${fmt(p.notifyTokens)} tokens in ${fmt(p.tokenItems)} run batches. \`/live\` samples ${p.liveBusy.n} busy (max ${ms(p.liveBusy.max)}, ${p.liveBusy.errors} failed, ${p.liveBusy.opened} connections opened meanwhile, ${p.liveBusy.queued} queued behind busy ones on the probe's side), ${p.liveIdle.n} idle; on a new connection each time (${FRESH_PER_SECOND} a second; accepted one per loop turn and listener) p50 ${ms(p.liveFresh.p50)}, p99 ${ms(p.liveFresh.p99)} (${p.liveFresh.n} samples) on \`PORT\`, p50 ${ms(p.liveFreshProbePort.p50)}, p99 ${ms(p.liveFreshProbePort.p99)} (${p.liveFreshProbePort.n}) on \`PROBE_PORT\`; the app's event-loop delay meanwhile (monitorEventLoopDelay, /metrics) p99 ${ms(p.loop.p99)}, max ${ms(p.loop.max)}; \`hub_items_dropped_total\` ${p.drops.map((d, i) => `${i === 0 ? 'running' : 'watching'} instance: ${d || 'none'}`).join('; ')}.\n` +
    `  Statements by total time:\n${top}`
  );
}

async function main(): Promise<void> {
  const db = await benchDatabase({ shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track': 'all' });
  const streamServer = startChild(path.join(ROOT, 'scripts/bench/stream-server.ts'), [String(TOKENS), String(INTERVAL_MS), String(FIRST_DELAY_MS)]);
  const phases: Phase[] = [];
  try {
    const { port } = await streamServer.next<{ port: number }>((m) => 'port' in m);
    const streamUrl = `http://127.0.0.1:${port}/v1`;
    for (const k of KS) {
      console.log(`streaming: K = ${k}`);
      phases.push(await measure(db.url, streamUrl, streamServer, k, false));
      console.log(rowsOf(phases.at(-1)!).join('\n'));
    }
    if (CROSS_K > 0) {
      console.log(`streaming: K = ${CROSS_K}, cross-instance`);
      phases.push(await measure(db.url, streamUrl, streamServer, CROSS_K, true));
      console.log(rowsOf(phases.at(-1)!).join('\n'));
    }
  } finally {
    await streamServer.stop();
    await db.stop();
  }
  const table = ['| figure | value | anchor (same run) | ratio | goal | met |', '| --- | --- | --- | --- | --- | --- |', ...phases.flatMap(rowsOf)].join('\n');
  await writeSection(
    'Streaming',
    `Command: \`npm run build && node --import tsx scripts/bench/streaming.ts\` (\`--k ${KS.join(',')} --cross ${CROSS_K}\`; ` +
      `the built server with \`MAX_CONCURRENT_JOBS=K\`, \`OPENAI_BASE_URL\` at a stamped OpenAI-compatible server in its own process (${TOKENS} tokens at ${1000 / INTERVAL_MS} tokens/s after ${FIRST_DELAY_MS} ms, each stamped with its send time), ` +
      `K single-agent runs created ${CREATE_PER_SECOND} a second by K WebSocket clients in a second process, each subscribing (\`after: 0\`) right after its 202; ` +
      `anchor: a bare Node process with the \`openai\` SDK consuming K streams from the same server on the schedule the runs' model calls started on; ${machine()}; ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC; the machine is shared, load average in the notes).\n\n` +
      `${table}\n\n` +
      'Added delay = the watchers\' (receive − stamped send) percentile minus the bare SDK\'s; when the bare SDK\'s own p99 is over 50 ms it was itself starved (the machine is shared) and the p99 goal is not counted as met. CPU is the app process\'s own (utime + stime from /proc) over the streaming phase, PostgreSQL\'s is listed apart below; the bare SDK\'s is its `process.cpuUsage()`. ' +
      'Statements are counted by `pg_stat_statements` (every statement of every connection on the database, the benchmark\'s own probes excluded), reset right before the first run is created; transactions from `pg_stat_database`. ' +
      `\`/live\`: ${LIVE_PER_SECOND} a second on ${LIVE_CONNECTIONS} keep-alive connections opened before the measurement, as a load balancer checks (a probe queued behind unanswered ones counts from its scheduled time); a busy instance accepts one new connection per event-loop turn, so a probe opening connections at its own rate would measure its accept queue (\`scripts/bench/live-probe.ts\`). ` +
      'NOTIFYs are counted where they land: the benchmark LISTENs on `agentry_hub`. NOTIFY goal: a notification per token per run would be 1.0; batching per run for 50 ms gives about 0.4; ≤ 0.1 needs batching across runs.\n\n' +
      phases.map(details).join('\n'),
  );
  console.log(table);
}

await main();
