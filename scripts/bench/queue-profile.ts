/**
 * Where a no-op run's time goes in this queue: statements issued per run, their
 * mean time and batch sizes. `node --import tsx scripts/bench/queue-profile.ts`
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { loadConfig } from '../../server/config/config.js';
import { createListener } from '../../server/db/listener.js';
import { migrate } from '../../server/db/migrate.js';
import { createPool } from '../../server/db/pool.js';
import { createLogger } from '../../server/log.js';
import { createMetrics } from '../../server/metrics/metrics.js';
import { createQueue } from '../../server/queue/queue.js';
import { benchDatabase } from './lib.js';

const JOBS = Number(process.env.BENCH_JOBS ?? 5000);
const logger = createLogger({ level: 'warn' });

async function main() {
  const database = await benchDatabase();
  const url = database.url;
  const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: url, MAX_CONCURRENT_JOBS: '10', LOG_LEVEL: 'warn' });
  const boot = new pg.Client(url);
  await boot.connect();
  await migrate(boot, logger);
  if (process.env.ASYNC_COMMIT === '1') await boot.query(`ALTER DATABASE postgres SET synchronous_commit = off`);
  await boot.end();
  const pool = createPool({ connectionString: url, max: 10, connectionTimeoutMs: 10_000, idleTimeoutMs: 10_000, statementTimeoutMs: 30_000, applicationName: 'prof', logger });
  const stats = new Map<string, { n: number; ms: number; rows: number }>();
  const original = pool.query.bind(pool) as (q: unknown, v?: unknown) => Promise<pg.QueryResult>;
  (pool as unknown as { query: unknown }).query = async (q: { name?: string; values?: unknown[] } | string, v?: unknown) => {
    const name = typeof q === 'string' ? 'text' : (q.name ?? 'unnamed');
    const t = performance.now();
    const res = await original(q, v);
    const s = stats.get(name) ?? { n: 0, ms: 0, rows: 0 };
    s.n++;
    s.ms += performance.now() - t;
    s.rows += res.rowCount ?? 0;
    stats.set(name, s);
    return res;
  };
  const listener = createListener({ connectionString: url, logger, applicationName: 'prof-listen' });
  await listener.start();
  let done = 0;
  const queue = createQueue({
    config,
    logger,
    pool,
    listener,
    metrics: createMetrics(),
    planner: { offline: true, plan: () => Promise.reject(new Error('enqueued directly')), execute: async () => ({ output: null }) },
    sink: { event: (e) => void (e.type === 'run.succeeded' && done++), token() {}, queueStats() {} },
    instanceId: 'prof',
  });
  for (let i = 0; i < JOBS; i += 1000) await queue.enqueue(Array.from({ length: 1000 }, () => ({ id: randomUUID(), owner: 'p', agent: 'noop', input: {} })));
  stats.clear();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await queue.start?.();
  while (done < JOBS) await new Promise((r) => setTimeout(r, 5));
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  console.log(`${JOBS} runs in ${wall.toFixed(0)} ms = ${((JOBS / wall) * 1000).toFixed(0)}/s; node cpu ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms`);
  for (const [name, s] of [...stats].sort((a, b) => b[1].ms - a[1].ms)) {
    console.log(`${name.padEnd(28)} n=${String(s.n).padStart(6)}  mean ${(s.ms / s.n).toFixed(2)} ms  rows/stmt ${(s.rows / s.n).toFixed(1)}`);
  }
  await queue.stop?.(AbortSignal.timeout(2000));
  await listener.stop();
  await pool.end();
  await database.stop();
}
void main().then(() => process.exit(0));
