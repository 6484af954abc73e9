/**
 * Agent Studio list benchmark: GET /api/agents over a 500-agent catalog (issue #14),
 * listing and searching, against the same query straight against PostgreSQL and
 * GET /live on the same process.
 *
 *   node --import tsx scripts/bench/agents-list.ts      (BENCH_REQUESTS to change the sample)
 *
 * The app runs in-process on a scratch PostgreSQL with authentication off, seeded from
 * a generated 500-agent agents file (test/support/agents-catalog.ts: four tiers, tags,
 * output schemas, tools). Requests go one at a time over a keep-alive connection, so the
 * figure is the latency of one request, not a throughput under contention. The anchor
 * for each query is the same selection done by SQL (the rows an API without an
 * in-memory catalog would read: agents joined with their published version), timed on a
 * pooled connection in the same process. Results go into BENCHMARKS.md under
 * "## Agent Studio: catalog API".
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { createApp } from '../../server/app.js';
import { loadConfig } from '../../server/config/config.js';
import { openDatabase } from '../../server/db/database.js';
import { createLogger } from '../../server/log.js';
import { generatedCatalog } from '../../test/support/agents-catalog.js';
import { benchDatabase, fmt, writeSection } from './lib.js';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 400);
const WARMUP = 50;
const AGENTS = 500;
const logger = createLogger({ level: 'warn', name: 'bench' });

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};

async function sample(fn: () => Promise<unknown>): Promise<{ p50: number; p95: number }> {
  for (let i = 0; i < WARMUP; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  return { p50: quantile(times, 0.5), p95: quantile(times, 0.95) };
}

const SELECT = `SELECT a.name, a.draft, a.draft_revision, a.published_version, v.spec AS published, a.archived_at, a.updated_at
  FROM agents a JOIN agent_versions v ON v.agent = a.name AND v.version = a.published_version WHERE a.archived_at IS NULL`;

interface Case {
  figure: string;
  path: string;
  sql: string;
  params: unknown[];
  expect: number;
  goalMs: number;
}

const CASES: Case[] = [
  { figure: `list all ${AGENTS} agents`, path: '/api/agents', sql: `${SELECT} ORDER BY a.name`, params: [], expect: AGENTS, goalMs: 50 },
  { figure: 'first page of 50', path: '/api/agents?limit=50', sql: `${SELECT} ORDER BY a.name LIMIT 50`, params: [], expect: 50, goalMs: 20 },
  {
    figure: 'search "analysis 12" (2 words)',
    path: '/api/agents?q=analysis%2012&limit=50',
    sql: `${SELECT} AND (a.name || ' ' || a.description || ' ' || array_to_string(a.tags, ' ')) ILIKE $1 AND (a.name || ' ' || a.description || ' ' || array_to_string(a.tags, ' ')) ILIKE $2 ORDER BY a.name LIMIT 50`,
    params: ['%analysis%', '%12%'],
    expect: -1,
    goalMs: 20,
  },
  { figure: 'tag filter (group-7)', path: '/api/agents?tag=group-7', sql: `${SELECT} AND a.tags @> $1::text[] ORDER BY a.name`, params: [['group-7']], expect: AGENTS / 25, goalMs: 20 },
];

async function main() {
  const load = os.loadavg().map((l) => l.toFixed(1)).join(' / ');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentry-bench-agents-'));
  const file = path.join(dir, 'agents.json');
  fs.writeFileSync(file, JSON.stringify(generatedCatalog(AGENTS)));
  const database = await benchDatabase();
  const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'warn', DATABASE_URL: database.url, AGENTS_FILE: file, RATE_LIMIT_MAX: '100000000', MAX_INSTANCES: '2' });
  const db = await openDatabase(config, logger);
  const app = createApp({ config, logger, pool: db.pool, listener: db.listener, sizing: db.sizing, migrated: true });
  const address = await app.listen(0, '127.0.0.1');
  await app.start();
  const url = `http://127.0.0.1:${address.port}`;
  const direct = new pg.Pool({ connectionString: database.url, max: 1 });
  const results: { c: Case; api: { p50: number; p95: number }; sql: { p50: number; p95: number }; bytes: number; count: number }[] = [];
  let live: { p50: number; p95: number } | undefined;
  try {
    live = await sample(async () => (await fetch(`${url}/live`)).text());
    for (const c of CASES) {
      const first = await fetch(`${url}${c.path}`);
      const body = await first.text();
      const count = (JSON.parse(body) as { agents: unknown[] }).agents.length;
      if (first.status !== 200 || (c.expect >= 0 && count !== c.expect)) throw new Error(`${c.path}: ${first.status}, ${count} agents (expected ${c.expect})`);
      const api = await sample(async () => {
        const res = await fetch(`${url}${c.path}`);
        await res.arrayBuffer();
      });
      const sql = await sample(() => direct.query(c.sql, c.params));
      results.push({ c, api, sql, bytes: Buffer.byteLength(body), count });
      console.log(`${c.figure}: API p50 ${api.p50.toFixed(2)} ms p95 ${api.p95.toFixed(2)} ms; SQL p95 ${sql.p95.toFixed(2)} ms; ${count} agents, ${body.length} bytes`);
    }
  } finally {
    await direct.end();
    await app.shutdown('bench');
    await db.close();
    await database.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const loadAfter = os.loadavg().map((l) => l.toFixed(1)).join(' / ');
  const date = new Date().toISOString().slice(0, 10);
  await writeSection(
    'Agent Studio: catalog API',
    [
      `Command: \`node --import tsx scripts/bench/agents-list.ts\` (${REQUESTS} requests per query after ${WARMUP} warm-up, one at a time over keep-alive; in-process app seeded with a generated ${AGENTS}-agent catalog; scratch embedded PostgreSQL; ${os.cpus().length} cores, Node ${process.version}; load average ${load} before, ${loadAfter} after — the machine is shared with other engineers' test runs; ${date}).`,
      '',
      `The anchor is the same selection as one SQL statement (agents joined with their published version, ILIKE for the words, \`@>\` for the tag) on a pooled connection in the same process: what the request would cost if it went to the database. The API answers from each instance's in-memory catalog (reloaded on NOTIFY), so it does no SQL; its cost is filtering and JSON. GET /live on the same process: p50 ${fmt(live?.p50 ?? 0, 2)} ms, p95 ${fmt(live?.p95 ?? 0, 2)} ms.`,
      '',
      '| figure | value | anchor (same run) | ratio | goal | met |',
      '| --- | --- | --- | --- | --- | --- |',
      ...results.map(
        (r) =>
          `| GET /api/agents p95: ${r.c.figure} (${r.count} agents, ${fmt(r.bytes / 1024, 1)} KB) | ${fmt(r.api.p95, 2)} ms | same query in SQL ${fmt(r.sql.p95, 2)} ms | ${fmt(r.api.p95 / r.sql.p95, 2)}× | ≤ ${r.c.goalMs} ms | ${r.api.p95 <= r.c.goalMs ? 'yes' : 'no'} |`,
      ),
      '',
      `At a high load average, p95 is mostly other processes' scheduling: compare GET /live's p95 above, and each query's p50. Time to first render of the agent list in the browser is for the Studio UI work (not built yet).`,
    ].join('\n'),
  );
  console.log('BENCHMARKS.md updated (## Agent Studio: catalog API)');
}

await main();
