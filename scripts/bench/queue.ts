/**
 * Queue benchmark: this queue vs graphile-worker vs pg-boss on ONE PostgreSQL
 * in the same run, each in its own fresh database, all at concurrency 10.
 *
 *   node --import tsx scripts/bench/queue.ts        (BENCH_JOBS, BENCH_LATENCY_JOBS to change sizes)
 *
 * Throughput: 20,000 no-op jobs enqueued in batches of 1,000 before the workers
 * start; time from starting the workers until every job is recorded complete in
 * the database. Latency: 500 single enqueues, 10 ms apart, from a separate
 * producer connection; enqueue call → handler start.
 * This queue runs with every guarantee on (lease + fencing token on every write,
 * heartbeat, sweeper, events with gap-free seq, stats); it is driven directly
 * (createQueue with a no-op planner), so the HTTP layer is not measured.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { makeWorkerUtils, run as runGraphile, type Runner } from 'graphile-worker';
import pg from 'pg';
import PgBoss from 'pg-boss';
import type { QueueStats, RunEvent } from '../../shared/protocol.js';
import { loadConfig } from '../../server/config/config.js';
import { createListener } from '../../server/db/listener.js';
import { migrate } from '../../server/db/migrate.js';
import { createPool } from '../../server/db/pool.js';
import { createLogger } from '../../server/log.js';
import { createMetrics } from '../../server/metrics/metrics.js';
import { createQueue } from '../../server/queue/queue.js';
import { insertRuns } from '../../server/queue/sql/insert-runs.js';
import type { EventSink, RunPlanner } from '../../server/queue/types.js';
import { benchDatabase, ROOT } from './lib.js';

const JOBS = Number(process.env.BENCH_JOBS ?? 20_000);
const LATENCY_JOBS = Number(process.env.BENCH_LATENCY_JOBS ?? 500);
const BATCH = 1000;
const CONCURRENCY = 10;
const POOL = 10;
const SPACING_MS = 10;
/** pg-boss v10 sleeps its polling interval after every fetch, so its throughput is batchSize per 0.5 s per loop. */
const PGBOSS_BATCH = 100;
const logger = createLogger({ level: 'warn', name: 'bench' });

interface Result {
  name: string;
  jobsPerSecond: number;
  latency: { avg: number; p50: number; p99: number };
  note: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function summarize(samples: number[]): Result['latency'] {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { avg: sorted.reduce((s, x) => s + x, 0) / sorted.length, p50: at(0.5), p99: at(0.99) };
}

async function createDatabase(adminUrl: string, name: string): Promise<string> {
  const admin = new pg.Client(adminUrl);
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function waitUntil(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 600_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Open-loop latency: one enqueue every SPACING_MS, each timed from the call to its handler's start. */
async function measureLatency(enqueue: (i: number) => Promise<unknown>, startedAt: Map<number, number>): Promise<Result['latency']> {
  const sentAt = new Map<number, number>();
  for (let i = 0; i < LATENCY_JOBS; i++) {
    sentAt.set(i, performance.now());
    await enqueue(i);
    await sleep(SPACING_MS);
  }
  await waitUntil(() => startedAt.size >= LATENCY_JOBS, 'latency jobs to start');
  return summarize([...sentAt].map(([i, t]) => (startedAt.get(i) ?? NaN) - t));
}

async function benchAgentry(adminUrl: string): Promise<Result> {
  const url = await createDatabase(adminUrl, 'bench_agentry');
  const config = loadConfig({ NODE_ENV: 'production', DATABASE_URL: url, JWT_SECRET: 'x'.repeat(40), MAX_CONCURRENT_JOBS: String(CONCURRENCY), LOG_LEVEL: 'warn' });
  const boot = new pg.Client(url);
  await boot.connect();
  await migrate(boot, logger);
  await boot.end();
  const pool = createPool({ connectionString: url, max: POOL, connectionTimeoutMs: 10_000, idleTimeoutMs: 10_000, statementTimeoutMs: 30_000, applicationName: 'bench-queue', logger });
  const producer = createPool({ connectionString: url, max: 2, connectionTimeoutMs: 10_000, idleTimeoutMs: 10_000, statementTimeoutMs: 30_000, applicationName: 'bench-producer', logger });
  const listener = createListener({ connectionString: url, logger, applicationName: 'bench-listen' });
  await listener.start();
  let succeeded = 0;
  const startedAt = new Map<number, number>();
  const sink: EventSink = {
    event(event: RunEvent) {
      if (event.type === 'run.succeeded') succeeded++;
    },
    token() {},
    queueStats(_stats: QueueStats) {},
  };
  const planner: RunPlanner = {
    offline: true,
    plan: () => Promise.reject(new Error('the benchmark enqueues directly')),
    async execute(ctx) {
      const n = (ctx.run.plan as { input: { n?: number } }).input.n;
      if (n !== undefined) startedAt.set(n, performance.now());
      return { output: null };
    },
  };
  const queue = createQueue({ config, logger, pool, listener, metrics: createMetrics(), planner, sink, instanceId: 'bench' });
  const job = (input: unknown) => ({
    id: randomUUID(),
    owner: 'bench',
    agent: 'noop',
    pattern: null,
    agents: null,
    options: null,
    input,
    plan: { agent: 'noop', pattern: null, agents: null, options: null, input },
    planVersion: 1,
    priority: 0,
    idempotencyKey: null,
    maxAttempts: 3,
    model: null,
    offline: true,
    finishWaiters: false,
  });
  for (let i = 0; i < JOBS; i += BATCH) {
    await insertRuns(producer, Array.from({ length: Math.min(BATCH, JOBS - i) }, () => job({})));
  }
  const t0 = performance.now();
  await queue.start?.();
  await waitUntil(() => succeeded >= JOBS, 'agentry jobs');
  const jobsPerSecond = JOBS / ((performance.now() - t0) / 1000);
  // From another connection, as when the POST lands on a different instance: the worker learns by NOTIFY.
  const latency = await measureLatency((n) => insertRuns(producer, [job({ n })]), startedAt);
  // And from the same instance (the API's path): the producer wakes its own worker directly.
  startedAt.clear();
  const localLatency = await measureLatency(async (n) => {
    await queue.enqueue([{ id: randomUUID(), owner: 'bench', agent: 'noop', input: { n } }]);
  }, startedAt);
  await queue.stop?.(AbortSignal.timeout(5000));
  await listener.stop();
  await pool.end();
  await producer.end();
  return {
    name: 'agentry queue',
    jobsPerSecond,
    latency,
    note: `same-instance enqueue (local wake): avg ${localLatency.avg.toFixed(2)} ms, p50 ${localLatency.p50.toFixed(2)}, p99 ${localLatency.p99.toFixed(2)}`,
  };
}

async function benchGraphile(adminUrl: string): Promise<Result> {
  const url = await createDatabase(adminUrl, 'bench_graphile');
  const utils = await makeWorkerUtils({ connectionString: url });
  await utils.migrate();
  const startedAt = new Map<number, number>();
  let completed = 0;
  for (let i = 0; i < JOBS; i += BATCH) {
    await utils.addJobs(Array.from({ length: Math.min(BATCH, JOBS - i) }, () => ({ identifier: 'noop', payload: {} })));
  }
  const t0 = performance.now();
  const runner: Runner = await runGraphile({
    connectionString: url,
    concurrency: CONCURRENCY,
    noHandleSignals: true,
    logger: new (await import('graphile-worker')).Logger(() => () => {}),
    taskList: {
      noop: async (payload) => {
        const n = (payload as { n?: number }).n;
        if (n !== undefined) startedAt.set(n, performance.now());
      },
    },
  });
  runner.events.on('job:complete', () => {
    completed++;
  });
  await waitUntil(() => completed >= JOBS, 'graphile jobs');
  const jobsPerSecond = JOBS / ((performance.now() - t0) / 1000);
  const latency = await measureLatency((n) => utils.addJob('noop', { n }), startedAt);
  await runner.stop();
  await utils.release();
  return { name: 'graphile-worker 0.17.3', jobsPerSecond, latency, note: 'defaults (LISTEN/NOTIFY, 2 s poll), concurrency 10' };
}

async function benchPgBoss(adminUrl: string): Promise<Result> {
  const url = await createDatabase(adminUrl, 'bench_pgboss');
  const boss = new PgBoss({ connectionString: url, max: POOL, supervise: false, schedule: false });
  boss.on('error', (error: Error) => logger.warn({ err: error }, 'pg-boss error'));
  await boss.start();
  await boss.createQueue('noop');
  const startedAt = new Map<number, number>();
  for (let i = 0; i < JOBS; i += BATCH) {
    await boss.insert(Array.from({ length: Math.min(BATCH, JOBS - i) }, () => ({ name: 'noop', data: {} })));
  }
  const check = new pg.Client(url);
  await check.connect();
  const done = async () => (await check.query(`SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'noop' AND state = 'completed'`)).rows[0].n as number;
  const t0 = performance.now();
  // v10 has no concurrency option: concurrency 10 is ten work() loops (what v12's localConcurrency does).
  for (let w = 0; w < CONCURRENCY; w++) {
    await boss.work('noop', { batchSize: PGBOSS_BATCH, pollingIntervalSeconds: 0.5 }, async (jobs) => {
      const now = performance.now();
      for (const job of jobs) {
        const n = (job.data as { n?: number }).n;
        if (n !== undefined) startedAt.set(n, now);
      }
    });
  }
  await waitUntil(async () => (await done()) >= JOBS, 'pg-boss jobs');
  const jobsPerSecond = JOBS / ((performance.now() - t0) / 1000);
  const latency = await measureLatency((n) => boss.send('noop', { n }), startedAt);
  await check.end();
  await boss.stop({ graceful: true, wait: true, timeout: 5000 });
  return { name: 'pg-boss 10.4.2', jobsPerSecond, latency, note: `10 work() loops, batchSize ${PGBOSS_BATCH}, 0.5 s polling (v10 has no LISTEN/NOTIFY option)` };
}

function table(results: Result[]): string {
  const anchor = results.find((r) => r.name.startsWith('graphile'));
  if (!anchor) throw new Error('no graphile-worker result');
  const ms = (x: number) => `${x.toFixed(2)} ms`;
  const lines = [
    '| queue | jobs/s | vs graphile | latency avg | vs graphile | p50 | p99 | configuration |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...results.map(
      (r) =>
        `| ${r.name} | ${Math.round(r.jobsPerSecond).toLocaleString('en-US')} | ${(r.jobsPerSecond / anchor.jobsPerSecond).toFixed(2)}× | ${ms(r.latency.avg)} | ${(r.latency.avg / anchor.latency.avg).toFixed(2)}× | ${ms(r.latency.p50)} | ${ms(r.latency.p99)} | ${r.note} |`,
    ),
  ];
  return lines.join('\n');
}

async function writeSection(markdown: string): Promise<void> {
  const file = path.join(ROOT, 'BENCHMARKS.md');
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    text = '# Benchmarks\n\nEvery figure is measured against a named anchor in the same run, on the same machine.\n';
  }
  const start = text.indexOf('\n## Queue\n');
  if (start === -1) {
    text = `${text.trimEnd()}\n\n${markdown}\n`;
  } else {
    const next = text.indexOf('\n## ', start + 1);
    text = `${text.slice(0, start)}\n${markdown}\n${next === -1 ? '' : text.slice(next)}`;
  }
  await fs.writeFile(file, text);
}

async function main(): Promise<void> {
  const database = await benchDatabase();
  try {
    const versionClient = new pg.Client(database.url);
    await versionClient.connect();
    const version = (await versionClient.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0]!.v;
    await versionClient.end();
    const results: Result[] = [];
    const only = process.env.BENCH_ONLY?.split(',');
    for (const bench of [benchGraphile, benchAgentry, benchPgBoss]) {
      if (only && !only.some((o) => bench.name.toLowerCase().includes(o.toLowerCase()))) continue;
      const result = await bench(database.url);
      console.log(`${result.name}: ${Math.round(result.jobsPerSecond)} jobs/s, latency avg ${result.latency.avg.toFixed(2)} ms p50 ${result.latency.p50.toFixed(2)} p99 ${result.latency.p99.toFixed(2)}`);
      results.push(result);
    }
    if (only) return;
    const ordered = [results[1]!, results[0]!, results[2]!];
    const anchor = results[0]!;
    const ours = results[1]!;
    const markdown = [
      '## Queue',
      '',
      `Command: \`node --import tsx scripts/bench/queue.ts\` (one embedded PostgreSQL ${version} on the same box, a fresh database per queue; ${os.cpus().length} cores, Node ${process.version}; ${new Date().toISOString().slice(0, 10)}).`,
      `Throughput: ${JOBS.toLocaleString('en-US')} no-op jobs enqueued in batches of ${BATCH.toLocaleString('en-US')} before the workers start, concurrency ${CONCURRENCY}, pool ${POOL}; until all are complete in the database.`,
      `Latency: ${LATENCY_JOBS} single enqueues ${SPACING_MS} ms apart from a separate connection; enqueue call → handler start.`,
      'Installed versions are graphile-worker 0.17.3 and pg-boss 10.4.2, the newest that install on Node 20 (the issue quotes graphile-worker 0.18 and pg-boss 12).',
      'This queue runs with every guarantee on: lease and fencing token checked by every write, heartbeat, sweeper, `run.started`/`run.succeeded` events with gap-free seq, stats once a second.',
      '',
      table(ordered),
      '',
      `pg-boss 10 has no concurrency option and sleeps its polling interval after every fetch (one loop with batchSize ${CONCURRENCY} does ${CONCURRENCY * 2} jobs/s), so it runs ${CONCURRENCY} work() loops of batchSize ${PGBOSS_BATCH}: up to ${(CONCURRENCY * PGBOSS_BATCH).toLocaleString('en-US')} jobs in flight, not ${CONCURRENCY}. The machine was shared with other work while measuring; ratios between the three, measured minutes apart, are the figure to read.`,
      '',
      `Goal: throughput ≥ 1.0× and average latency ≤ 1.0× graphile-worker's. Throughput ${(ours.jobsPerSecond / anchor.jobsPerSecond).toFixed(2)}× (${ours.jobsPerSecond >= anchor.jobsPerSecond ? 'met' : 'not met'}); average latency ${(ours.latency.avg / anchor.latency.avg).toFixed(2)}× (${ours.latency.avg <= anchor.latency.avg ? 'met' : 'not met'}).`,
    ].join('\n');
    console.log(`\n${markdown}\n`);
    if (process.env.BENCH_NO_WRITE !== '1') await writeSection(markdown);
  } finally {
    await database.stop();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
