/**
 * Threads benchmark: a 500-message conversation stays bounded.
 *
 *   node --import tsx scripts/bench/threads.ts      (BENCH_TURNS to change the size; default 250 turns = 500 messages)
 *
 * The app runs in-process on a scratch PostgreSQL with the offline model
 * (OFFLINE_MODEL_DELAY_MS=0, CACHE_TTL=0) and the `writer` agent, default budgets
 * (THREAD_CONTEXT_TOKENS=2000, THREAD_SUMMARY_THRESHOLD_TOKENS=600). One thread, one turn
 * at a time: post a message, wait for its run to finish. Measured as the thread grows:
 *   - bytes stored per message: thread_messages (heap, TOAST and indexes) / messages, and
 *     what each run stores of the conversation (its plan and input: a reference);
 *   - prompt tokens per turn: the answering step's prompt tokens (from the run's usage).
 * The anchors are what a design that copies the conversation into every run would store
 * and send at the same turn (the whole transcript so far, estimated like the budget).
 * Results go into BENCHMARKS.md under "## Threads".
 */
import os from 'node:os';
import { createApp } from '../../server/app.js';
import { estimateMessageTokens } from '../../server/agents/conversation.js';
import { loadConfig } from '../../server/config/config.js';
import { openDatabase } from '../../server/db/database.js';
import { createLogger } from '../../server/log.js';
import type { AuthUser } from '../../server/auth/types.js';
import { benchDatabase, fmt, writeSection } from './lib.js';

const TURNS = Number(process.env.BENCH_TURNS ?? 250);
const logger = createLogger({ level: 'warn', name: 'bench' });
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

async function main(): Promise<void> {
  const load = os.loadavg().map((l) => l.toFixed(1)).join(' / ');
  const database = await benchDatabase();
  const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'warn', DATABASE_URL: database.url, OFFLINE_MODEL_DELAY_MS: '0', CACHE_TTL: '0', RATE_LIMIT_MAX: '1000000' });
  const db = await openDatabase(config, logger);
  const app = createApp({ config, logger, pool: db.pool, listener: db.listener, sizing: db.sizing, migrated: true });
  await app.start();
  const actor: AuthUser = { username: 'admin', role: 'admin' };
  try {
    const thread = await app.threads.create(actor, { agent: 'writer', title: 'bench' });
    const prompts: number[] = [];
    const bytesAt = new Map<number, { perMessage: number; runBytes: number }>();
    let transcriptTokens = 0;
    let transcriptBytes = 0;
    let copiedBytes = 0;
    const started = Date.now();
    for (let turn = 1; turn <= TURNS; turn++) {
      const content = `Turn ${turn}: what else should a tea shop owner know about ${['oolong', 'sencha', 'assam', 'puer', 'darjeeling'][turn % 5]} sourcing, storage and brewing temperatures for customers?`;
      const posted = await app.threads.post(actor, thread.id, content);
      const runId = posted.run?.id;
      if (!runId) throw new Error(`turn ${turn}: no run started (status ${posted.status})`);
      await app.queue.waitForFinal(runId, 60_000);
      const { rows } = await db.pool.query<{ status: string; prompt_tokens: number }>(
        `SELECT r.status, s.prompt_tokens FROM runs r JOIN run_steps s ON s.run_id = r.id AND s.key = 'agent:writer' WHERE r.id = $1`,
        [runId],
      );
      if (rows[0]?.status !== 'succeeded') throw new Error(`turn ${turn}: run ${runId} is ${rows[0]?.status}`);
      prompts.push(rows[0].prompt_tokens);
      const messages = await app.threads.messages(actor, thread.id, (turn - 1) * 2, 10);
      for (const m of messages) {
        transcriptTokens += estimateMessageTokens(m.content);
        transcriptBytes += Buffer.byteLength(m.content);
      }
      copiedBytes += transcriptBytes;
      if (turn === 50 || turn === Math.floor(TURNS / 2) || turn === TURNS) {
        const size = await db.pool.query<{ total: string; n: string; run_bytes: string }>(
          `SELECT pg_total_relation_size('thread_messages')::text AS total,
                  (SELECT count(*) FROM thread_messages)::text AS n,
                  (SELECT avg(pg_column_size(plan) + pg_column_size(input)) FROM runs)::text AS run_bytes`,
        );
        const row = size.rows[0]!;
        bytesAt.set(turn * 2, { perMessage: Number(row.total) / Number(row.n), runBytes: Number(row.run_bytes) });
      }
    }
    const seconds = (Date.now() - started) / 1000;
    const thread1 = await app.threads.get(actor, thread.id);
    const early = prompts.slice(20, 50);
    const late = prompts.slice(-30);
    const lateRatio = median(late) / median(early);
    const marks = [...bytesAt.keys()].sort((a, b) => a - b);
    const first = bytesAt.get(marks[0]!)!;
    const last = bytesAt.get(marks.at(-1)!)!;
    const growth = last.perMessage / first.perMessage;
    const body = `Command: \`node --import tsx scripts/bench/threads.ts\` (${TURNS} turns = ${TURNS * 2} messages in one thread, one turn at a time; in-process app, offline model with \`OFFLINE_MODEL_DELAY_MS=0\`, \`CACHE_TTL=0\`, agent \`writer\`, default \`THREAD_CONTEXT_TOKENS=2000\` and \`THREAD_SUMMARY_THRESHOLD_TOKENS=600\`; scratch embedded PostgreSQL; ${os.cpus().length} cores, Node ${process.version}; load average ${load} before — the machine is shared with other engineers' test runs; ${new Date().toISOString().slice(0, 10)}; ${fmt(seconds, 1)} s in all).

Messages are stored once (thread_messages); a run stores a reference to them (\`{"thread", "throughSeq"}\` as its input and plan), and its model sees the recent messages within the budget plus the running summary (refreshed ${thread1.summaryThrough > 0 ? `through message ${thread1.summaryThrough}` : 'never'} by the last turn). The anchors are a design that copies the conversation into every run and sends all of it: its stored bytes per run and prompt grow with the thread.

| figure | value | anchor (same run) | ratio | goal | met |
| --- | --- | --- | --- | --- | --- |
| prompt tokens per turn, last 30 turns (p50) | ${fmt(median(late))} | whole conversation at the last turn ${fmt(transcriptTokens)} | ${fmt(median(late) / transcriptTokens, 3)}× | ≤ 1.5× turns 21–50 (${fmt(median(early))}) | ${lateRatio <= 1.5 ? 'yes' : 'no'} |
| bytes stored per message at ${marks.at(-1)} messages | ${fmt(last.perMessage)} B | at ${marks[0]} messages ${fmt(first.perMessage)} B | ${fmt(growth, 2)}× | ≤ 1.2× (linear storage) | ${growth <= 1.2 ? 'yes' : 'no'} |
| conversation bytes stored per run | ${fmt(last.runBytes)} B | copying the conversation: ${fmt(copiedBytes / TURNS)} B per run on average, ${fmt(transcriptBytes)} B at the last turn | ${fmt(last.runBytes / (copiedBytes / TURNS), 3)}× | flat | ${last.runBytes <= first.runBytes * 1.2 ? 'yes' : 'no'} |

As the thread grows (thread_messages with its indexes, per message; a run's plan and input, per run):

| messages | bytes per message | bytes per run |
| --- | --- | --- |
${marks.map((m) => `| ${m} | ${fmt(bytesAt.get(m)!.perMessage)} | ${fmt(bytesAt.get(m)!.runBytes)} |`).join('\n')}

Prompt tokens per turn (the answering step): turns 1–10 p50 ${fmt(median(prompts.slice(0, 10)))}, 21–50 p50 ${fmt(median(early))}, last 30 p50 ${fmt(median(late))}, max over all turns ${fmt(Math.max(...prompts))}.
`;
    await writeSection('Threads', body);
    console.log(body);
  } finally {
    await app.shutdown('bench');
    await db.close();
    await database.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
