/**
 * CPU profile of the built server under `POST /api/runs` at 500 req/s (the load.ts
 * figure), offline model, for BENCHMARKS.md "Streaming: findings". Writes the
 * profile to <dir> and prints where the time went (profile-top.ts).
 *   npm run build && node --import tsx scripts/bench/profile-post.ts [dir] [seconds]
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { benchDatabase, freePort, inspectorProfiler, load, loadEnv, ROOT, startApp } from './lib.js';

const dir = path.resolve(process.argv[2] ?? '.bench-profiles');
const seconds = Number(process.argv[3] ?? 10);
await fs.mkdir(dir, { recursive: true });
const db = await benchDatabase();
const inspectPort = await freePort();
try {
  // 50 autocannon connections from one address and one (local) user.
  const app = await startApp(loadEnv(db.url, { OFFLINE_MODEL_DELAY_MS: '0' }), { execArgv: [`--inspect=127.0.0.1:${inspectPort}`] });
  const base = `http://127.0.0.1:${app.port}`;
  const body = JSON.stringify({ agent: 'summarizer', input: 'profile: one short run' });
  const profiler = await inspectorProfiler(inspectPort);
  await profiler.start();
  const result = await load(`${base}/api/runs`, { method: 'POST', body, headers: { 'content-type': 'application/json' }, connections: 50, durationSeconds: seconds, overallRate: 500 });
  console.log(`POST /api/runs: ${result.requestsPerSecond.toFixed(0)} req/s, p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, non-2xx ${result.non2xx}, errors ${result.errors}`);
  const file = path.join(dir, 'post-runs.cpuprofile');
  await profiler.stop(file);
  profiler.close();
  await app.stop();
  spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts/bench/profile-top.ts'), file, '30'], { stdio: 'inherit' });
} finally {
  await db.stop();
}
