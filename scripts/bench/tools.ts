/**
 * Tool calls benchmark: what a tool call costs through the durable queue, against
 * the same tool called directly.
 *
 *   node --import tsx scripts/bench/tools.ts      (BENCH_RUNS to change sizes)
 *
 * The app runs in-process on a scratch PostgreSQL with the offline model
 * (OFFLINE_MODEL_DELAY_MS=0, CACHE_TTL=0) and the `assistant` agent, which has the
 * built-in calculator. Runs go one at a time (POST with Prefer: wait) in three shapes:
 *   - 0 calls: a question the model answers at once (one model turn);
 *   - 1 call: `call calculator {…}` (a model turn, the call, a second turn);
 *   - K calls: K calculator calls in parallel in the same turn (same two turns).
 * Per tool call = (K calls − 1 call) / (K − 1): the same turns on both sides, so the
 * difference is the tool calls alone (their intent and receipt, events, replay
 * bookkeeping). The first call of a turn also brings the follow-up model turn; that
 * figure (1 call − 0 calls) is reported beside it.
 * Durable commits are counted in a separate pass (so the counting costs nothing in the
 * timed one): triggers on runs, run_steps and run_events record the id of every
 * transaction that writes a run's rows; commits per run = distinct ids per run.
 * The anchor is the calculator's own execute(), timed in the same process.
 * Results go into BENCHMARKS.md under "## Tool calls".
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { createApp } from '../../server/app.js';
import { loadConfig } from '../../server/config/config.js';
import { openDatabase } from '../../server/db/database.js';
import { createLogger } from '../../server/log.js';
import { calculatorTool } from '../../server/tools/builtins.js';
import { benchDatabase, fmt, writeSection } from './lib.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 100);
const K = Number(process.env.BENCH_TOOL_CALLS ?? 5);
const WARMUP = 10;
const logger = createLogger({ level: 'warn', name: 'bench' });

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

function inputFor(calls: number, i: number): string {
  if (calls === 0) return `Say hello to the team, message number ${i}`;
  return Array.from({ length: calls }, (_v, j) => `call calculator {"expression":"${i} + ${j}"}`).join(' and ');
}

/** The calculator's execute() alone: the anchor a queued call is compared with. */
async function direct(): Promise<number> {
  const tool = calculatorTool();
  const signal = new AbortController().signal;
  const samples: number[] = [];
  for (let i = 0; i < 2000 + RUNS * 10; i++) {
    const t = performance.now();
    await tool.execute({ expression: `${i} + 1` }, { signal, idempotencyKey: `bench:${i}` });
    if (i >= 2000) samples.push(performance.now() - t);
  }
  return median(samples);
}

async function throughQueue() {
  const database = await benchDatabase();
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    DATABASE_URL: database.url,
    OFFLINE_MODEL_DELAY_MS: '0',
    CACHE_TTL: '0',
    RATE_LIMIT_MAX: '1000000',
    MAX_INSTANCES: '2',
    JOB_POLL_INTERVAL_MS: '1000',
  });
  const db = await openDatabase(config, logger);
  const app = createApp({ config, logger, pool: db.pool, listener: db.listener, sizing: db.sizing, migrated: true });
  const address = await app.listen(0, '127.0.0.1');
  await app.start();
  const url = `http://127.0.0.1:${address.port}`;
  const observer = new pg.Client(database.url);
  await observer.connect();

  const post = async (input: string, calls: number): Promise<string> => {
    const res = await fetch(`${url}/api/runs`, { method: 'POST', headers: { 'content-type': 'application/json', prefer: 'wait=60' }, body: JSON.stringify({ agent: 'assistant', input }) });
    const json = (await res.json()) as { run: { id: string; status: string; steps: { meta?: { kind?: string } }[] } };
    if (json.run?.status !== 'succeeded') throw new Error(`run did not succeed: ${res.status} ${JSON.stringify(json).slice(0, 500)}`);
    const tools = json.run.steps.filter((s) => s.meta?.kind === 'tool').length;
    if (tools !== calls) throw new Error(`expected ${calls} tool steps, the run has ${tools}`);
    return json.run.id;
  };
  const phase = async (calls: number) => {
    for (let i = 0; i < WARMUP; i++) await post(inputFor(calls, 10_000 + i), calls);
    const samples: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t = performance.now();
      await post(inputFor(calls, i), calls);
      samples.push(performance.now() - t);
    }
    return median(samples);
  };
  /** Write transactions per run: distinct transaction ids among the writes to its rows. */
  const commitsPerRun = async (calls: number) => {
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push(await post(inputFor(calls, 20_000 + i), calls));
    const { rows } = await observer.query<{ n: string }>('SELECT count(DISTINCT (run_id, tx))::text AS n FROM bench_tx WHERE run_id = ANY($1)', [ids]);
    return Number(rows[0]!.n) / ids.length;
  };
  try {
    const p50 = { none: await phase(0), one: await phase(1), many: await phase(K) };
    await observer.query(`
      CREATE TABLE bench_tx (run_id uuid NOT NULL, tx xid8 NOT NULL DEFAULT pg_current_xact_id());
      CREATE FUNCTION bench_tx_row() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_TABLE_NAME = 'runs' THEN INSERT INTO bench_tx (run_id) VALUES (NEW.id);
        ELSE INSERT INTO bench_tx (run_id) VALUES (NEW.run_id);
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER bench_tx_runs AFTER INSERT OR UPDATE ON runs FOR EACH ROW EXECUTE FUNCTION bench_tx_row();
      CREATE TRIGGER bench_tx_steps AFTER INSERT OR UPDATE ON run_steps FOR EACH ROW EXECUTE FUNCTION bench_tx_row();
      CREATE TRIGGER bench_tx_events AFTER INSERT ON run_events FOR EACH ROW EXECUTE FUNCTION bench_tx_row();
    `);
    const commits = { none: await commitsPerRun(0), one: await commitsPerRun(1), many: await commitsPerRun(K) };
    const at = (k: keyof typeof p50) => ({ p50: p50[k], commits: commits[k] });
    return { none: at('none'), one: at('one'), many: at('many') };
  } finally {
    await observer.end();
    await app.shutdown('bench');
    await db.close();
    await database.stop();
  }
}

async function main() {
  const load = os.loadavg().map((l) => l.toFixed(1)).join(' / ');
  const directMs = await direct();
  const q = await throughQueue();
  const loadAfter = os.loadavg().map((l) => l.toFixed(1)).join(' / ');
  const perCallMs = (q.many.p50 - q.one.p50) / (K - 1);
  const perCallCommits = (q.many.commits - q.one.commits) / (K - 1);
  const addedMs = perCallMs - directMs;
  const firstMs = q.one.p50 - q.none.p50;
  const firstCommits = q.one.commits - q.none.commits;
  console.log(`direct ${directMs.toFixed(4)} ms; runs p50: 0 calls ${q.none.p50.toFixed(2)} ms, 1 call ${q.one.p50.toFixed(2)} ms, ${K} calls ${q.many.p50.toFixed(2)} ms`);
  console.log(`commits per run: 0 calls ${q.none.commits.toFixed(2)}, 1 call ${q.one.commits.toFixed(2)}, ${K} calls ${q.many.commits.toFixed(2)}`);
  console.log(`per tool call: +${addedMs.toFixed(2)} ms, ${perCallCommits.toFixed(2)} commits; first call of a turn (with the follow-up turn): +${firstMs.toFixed(2)} ms, ${firstCommits.toFixed(2)} commits`);

  const date = new Date().toISOString().slice(0, 10);
  await writeSection(
    'Tool calls',
    [
      `Command: \`node --import tsx scripts/bench/tools.ts\` (${RUNS} runs per shape after ${WARMUP} warm-up runs, one at a time, POST with \`Prefer: wait\`; in-process app, offline model with \`OFFLINE_MODEL_DELAY_MS=0\`, \`CACHE_TTL=0\`, agent \`assistant\` calling the built-in calculator; scratch embedded PostgreSQL; ${os.cpus().length} cores, Node ${process.version}; load average ${load} before, ${loadAfter} after — the machine is shared with other engineers' test runs; ${date}).`,
      '',
      `Per tool call = (p50 of runs with ${K} parallel calls − p50 of runs with 1 call) / ${K - 1}: both shapes have the same two model turns, so what is left is the calls themselves (intent and receipt checkpoints with their events, under the lease). Commits are write transactions that touch a run's rows (runs, run_steps, run_events), counted by trigger in a separate untimed pass of 20 runs per shape. The anchor is the calculator's own \`execute()\` in the same process.`,
      '',
      '| figure | value | anchor (same run) | ratio | goal | met |',
      '| --- | --- | --- | --- | --- | --- |',
      `| tool call through the queue, added time p50 | ${fmt(addedMs, 2)} ms | calculator called directly ${fmt(directMs * 1000, 1)} µs | — | ≤ 5 ms | ${addedMs <= 5 ? 'yes' : 'no'} |`,
      `| durable commits per tool call | ${fmt(perCallCommits, 2)} | direct call 0 | — | ≤ 2 | ${perCallCommits <= 2.05 ? 'yes' : 'no'} |`,
      '',
      'The shapes measured (p50 run latency, POST → succeeded; write transactions per run):',
      '',
      '| run | p50 | commits per run |',
      '| --- | --- | --- |',
      `| no tool call (1 model turn) | ${fmt(q.none.p50, 2)} ms | ${fmt(q.none.commits, 2)} |`,
      `| 1 calculator call (2 model turns) | ${fmt(q.one.p50, 2)} ms | ${fmt(q.one.commits, 2)} |`,
      `| ${K} parallel calculator calls (2 model turns) | ${fmt(q.many.p50, 2)} ms | ${fmt(q.many.commits, 2)} |`,
      '',
      `The first call of a turn also costs the model turn that reads its result: 1 call − no call = ${fmt(firstMs, 2)} ms and ${fmt(firstCommits, 2)} commits (the call's intent and receipt, plus the follow-up turn's start and finish). With a real model that turn is dominated by the model's own latency.`,
    ].join('\n'),
  );
  console.log('BENCHMARKS.md updated (## Tool calls)');
}

await main();
