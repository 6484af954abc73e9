import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectExactlyOnce, waitAllFinal } from './faults/invariants.js';
import { startTestApp, type TestApp } from './helpers.js';
import { startOpenAiTestServer, type ChatRequestBody, type OpenAiTestServer } from './openai-server.js';

const RUNS = 500;
const AGENTS = ['summarizer', 'editor'];
const LEASE_MS = 1500;
/** Longer than the lease: before lease renewals had their own connection, every lease expired. */
const POOL_STALL_MS = 2000;
/** Long synchronous work: the lease may run out meanwhile (the token, not the clock, decides). */
const LOOP_STALL_MS = 400;
/** Normal work between two stalls. */
const CALM_MS = 1000;

/**
 * Chaos on one instance: while 500 two-step runs go through the real app, the
 * real queue and the real OpenAI SDK against a loopback OpenAI-compatible
 * server, the instance's whole pool is held for longer than a lease, and its
 * event loop is blocked by synchronous work, over and over. Every run must end,
 * and the model must have been asked exactly once per step (a step executed
 * twice is a second request for the same run and agent).
 */
describe('chaos: pool and event-loop stalls under 500 runs', () => {
  let llm: OpenAiTestServer;
  let t: TestApp & { dropDatabase?: () => Promise<void> };

  beforeAll(async () => {
    llm = await startOpenAiTestServer();
    t = await startTestApp({
      env: {
        OPENAI_API_KEY: 'sk-test-chaos',
        OPENAI_BASE_URL: llm.url,
        OPENAI_MAX_RETRIES: '0',
        OPENAI_RPM: '1000000',
        CACHE_TTL: '0',
        JOB_LEASE_MS: String(LEASE_MS),
        // Waiting for a connection outlasts a pool stall: statements wait, they do not fail.
        DB_CONNECTION_TIMEOUT_MS: '20000',
        MAX_CONNECTIONS: '6',
        MAX_CONCURRENT_JOBS: '16',
        JOB_RETRY_BASE_MS: '100',
        JOB_POLL_INTERVAL_MS: '200',
        JOB_TIMEOUT_MS: '120000',
      },
    });
  });
  afterAll(async () => {
    await t?.close();
    await t?.dropDatabase?.();
    await llm?.close();
  });

  /** Holds every pooled connection of the instance for `ms`. */
  async function stallPool(pool: pg.Pool, max: number, ms: number): Promise<void> {
    const held = await Promise.all(Array.from({ length: max }, () => pool.connect()));
    try {
      await new Promise((r) => setTimeout(r, ms));
    } finally {
      for (const client of held) client.release();
    }
  }

  function stallEventLoop(ms: number): void {
    const until = performance.now() + ms;
    while (performance.now() < until) {
      // busy: timers, sockets and the heartbeat all wait
    }
  }

  it('every run ends, and each step called the model exactly once', async () => {
    const rows = await t.app.queue.enqueue(
      Array.from({ length: RUNS }, (_, i) => ({ id: randomUUID(), owner: 'admin', pattern: 'sequential', agents: AGENTS, input: `chaos-${i}: tidy this note` })),
    );
    const ids = rows.map((r) => r.id);
    let done = false;
    let poolStalls = 0;
    let loopStalls = 0;
    const chaos = (async () => {
      while (!done) {
        await new Promise((r) => setTimeout(r, CALM_MS));
        if (done) break;
        stallEventLoop(LOOP_STALL_MS);
        loopStalls++;
        await new Promise((r) => setTimeout(r, CALM_MS));
        if (done) break;
        await stallPool(t.db.pool, t.db.sizing.poolMax, POOL_STALL_MS);
        poolStalls++;
      }
    })();
    try {
      await waitAllFinal(t.db.pool, ids, 240_000);
    } finally {
      done = true;
      await chaos;
    }
    expect(poolStalls).toBeGreaterThan(0);
    expect(loopStalls).toBeGreaterThan(0);

    // At the model server: one request per (run, agent).
    const keyOf = (body: ChatRequestBody): string => {
      const user = body.messages.find((m) => m.role === 'user')?.content ?? '';
      const run = /chaos-(\d+):/.exec(user)?.[1] ?? 'unknown';
      const prompt = body.messages.find((m) => m.role === 'system')?.content ?? '';
      const stage = prompt.includes('stage 2 of') ? 2 : 1;
      return `${run}:${stage}`;
    };
    const calls = new Map<string, number>();
    for (const request of llm.requests) calls.set(keyOf(request.body), (calls.get(keyOf(request.body)) ?? 0) + 1);
    const twice = [...calls].filter(([, n]) => n > 1);
    expect(twice, 'steps that called the model more than once').toEqual([]);
    expect(calls.size).toBe(RUNS * AGENTS.length);

    // In the database: each run final exactly once, gap-free events, no step completed twice.
    await expectExactlyOnce(t.db.pool, ids);
    console.info(`chaos: ${RUNS} runs, ${llm.count()} model calls, ${poolStalls} pool stalls of ${POOL_STALL_MS} ms, ${loopStalls} event-loop stalls of ${LOOP_STALL_MS} ms`);
    const { rows: lost } = await t.db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM run_events WHERE run_id = ANY($1) AND type = 'run.released'`,
      [ids],
    );
    expect(lost[0]!.n, 'runs taken back from a live instance').toBe(0);
  }, 300_000);
});
