/**
 * What coalescing submissions buys (issue 18): `POST /api/runs` at 500 req/s against
 * two built servers on one database, alike but for SUBMIT_BATCH_MAX: the default
 * (concurrent submissions share one INSERT and one commit) and 1 (every request its
 * own statement and commit, as before). Rounds alternate between them so both see
 * the same machine (it is shared); the median round of each is reported.
 * Run: npm run build && node --import tsx scripts/bench/submit.ts   (SUBMIT_ROUNDS, SUBMIT_SECONDS)
 */
import os from 'node:os';
import { benchDatabase, fmt, load, loadEnv, machine, startApp, writeSection, type LoadResult } from './lib.js';

const ROUNDS = Number(process.env.SUBMIT_ROUNDS ?? 3);
const SECONDS = Number(process.env.SUBMIT_SECONDS ?? 5);
const RATE = 500;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
};

const db = await benchDatabase();
try {
  const env = loadEnv(db.url, {
    RATE_LIMIT_MAX: '1000000000',
    MAX_CONNECTIONS: '20',
    MAX_INSTANCES: '4',
    OFFLINE_MODEL_DELAY_MS: '40',
  });
  const coalesced = await startApp(env);
  const single = await startApp({ ...env, SUBMIT_BATCH_MAX: '1' });
  const loadBefore = os.loadavg();
  try {
    const body = JSON.stringify({ agent: 'summarizer', input: 'submit: one short run' });
    const post = (port: number) =>
      load(`http://127.0.0.1:${port}/api/runs`, { method: 'POST', body, headers: { 'content-type': 'application/json' }, connections: 50, durationSeconds: SECONDS, overallRate: RATE });
    // Warm both (JIT, prepared statements, pool).
    await post(coalesced.port);
    await post(single.port);
    const a: LoadResult[] = [];
    const b: LoadResult[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      a.push(await post(coalesced.port));
      b.push(await post(single.port));
    }
    const loadAfter = os.loadavg();
    // Runs per INSERT on the coalescing server, over the warm-up and every round: independent of machine speed.
    const metrics = await (await fetch(`http://127.0.0.1:${coalesced.port}/metrics`)).text();
    const metric = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1] ?? NaN);
    const batchMean = metric('queue_submit_batch_size_sum') / metric('queue_submit_batch_size_count');
    const show = (rs: LoadResult[]) =>
      `p50 ${rs.map((r) => fmt(r.p50Ms, 1)).join(' / ')} ms, p99 ${rs.map((r) => fmt(r.p99Ms, 1)).join(' / ')} ms, ${rs.map((r) => fmt(r.requestsPerSecond, 0)).join(' / ')} req/s, non-2xx ${rs.reduce((n, r) => n + r.non2xx, 0)}, errors ${rs.reduce((n, r) => n + r.errors, 0)}`;
    const p99 = median(a.map((r) => r.p99Ms));
    const p99Single = median(b.map((r) => r.p99Ms));
    const p50 = median(a.map((r) => r.p50Ms));
    const p50Single = median(b.map((r) => r.p50Ms));
    const table = [
      '| figure | coalesced (SUBMIT_BATCH_MAX=256) | one commit per request (SUBMIT_BATCH_MAX=1, same run) | ratio |',
      '| --- | --- | --- | --- |',
      `| \`POST /api/runs\` p50 at ${RATE} req/s, median round | ${fmt(p50, 1)} ms | ${fmt(p50Single, 1)} ms | ${fmt(p50 / p50Single, 2)}× |`,
      `| \`POST /api/runs\` p99 at ${RATE} req/s, median round | ${fmt(p99, 1)} ms | ${fmt(p99Single, 1)} ms | ${fmt(p99 / p99Single, 2)}× |`,
      `| runs per INSERT (and per commit), mean | ${fmt(batchMean, 2)} | 1 | — |`,
    ].join('\n');
    await writeSection(
      'Run submission',
      `Command: \`npm run build && node --import tsx scripts/bench/submit.ts\` (two built servers on one database, alike but for \`SUBMIT_BATCH_MAX\`; autocannon, 50 connections, ${RATE} req/s, ${SECONDS} s per round, ${ROUNDS} rounds alternating between them after one warm-up round each; the offline model executes the runs meanwhile; ${machine()}; ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC; load average ${loadBefore.map((l) => l.toFixed(1)).join(' / ')} before, ${loadAfter.map((l) => l.toFixed(1)).join(' / ')} after).\n\n${table}\n\n` +
        `Rounds, coalesced: ${show(a)}. One commit per request: ${show(b)}. The goal (p99 ≤ 25 ms at 500 req/s, "Load under pressure") is judged there; this section isolates what coalescing changes on the same machine at the same moment.`,
    );
    console.log(table);
  } finally {
    await coalesced.stop();
    await single.stop();
  }
} finally {
  await db.stop();
}
