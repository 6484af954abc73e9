import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers.js';
import { startOpenAiTestServer, type OpenAiTestServer } from '../openai-server.js';
import { startCluster, type Cluster, type Instance } from './harness.js';
import { expectExactlyOnce, waitAllFinal } from './invariants.js';

const ATTEMPTS = 5;

interface LlmHealth {
  checks: { llm: { breaker: { state: string; consecutiveFailures: number; lastFailure: string | null } } };
}

/**
 * The model API goes down under two instances (the OpenAI-compatible test
 * server answers 500): each instance's breaker opens and calls fail fast, runs
 * fail with clear errors once their attempts are spent or wait in retry, and
 * when the API comes back the waiting runs finish and the breakers close.
 */
describe('LLM outage', () => {
  let cluster: Cluster;
  let llm: OpenAiTestServer;

  beforeAll(async () => {
    llm = await startOpenAiTestServer();
    cluster = await startCluster({
      instances: 2,
      env: {
        OPENAI_API_KEY: 'sk-test-fault-suite',
        OPENAI_BASE_URL: llm.url,
        OPENAI_MAX_RETRIES: '0',
        OPENAI_RPM: '10000',
        CACHE_TTL: '0',
        LLM_BREAKER_THRESHOLD: '2',
        LLM_BREAKER_COOLDOWN_MS: '1500',
        JOB_RETRY_ATTEMPTS: String(ATTEMPTS),
        JOB_RETRY_BASE_MS: '200',
        MAX_CONCURRENT_JOBS: '4',
      },
    });
  });
  afterAll(async () => {
    await cluster?.close();
    await llm?.close();
  });

  const breaker = async (instance: Instance) => ((await (await fetch(`${instance.url}/health`)).json()) as LlmHealth).checks.llm.breaker;
  const submit = async (prefix: string, count: number) => {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const res = await cluster.balancer.json<{ run: { id: string } }>('/api/runs', { json: { agent: 'summarizer', input: `${prefix} ${i}: the model API is down` }, idempotencyKey: `${prefix}-${i}` });
      expect(res.status).toBe(202);
      ids.push(res.body.run.id);
    }
    return ids;
  };

  it('breaker opens, runs fail or wait with clear errors, and everything recovers after', async () => {
    const { db, instances } = cluster;
    llm.setDefault({ kind: 'status', status: 500, message: 'upstream model is down' });

    // Runs submitted during the outage spend their attempts and fail, each with a clear error.
    const doomed = await submit('llm-down', 6);
    await waitAllFinal(db, doomed, 90_000);
    await expectExactlyOnce(db, doomed, { statuses: ['failed'] });
    const { rows: errors } = await db.query<{ error: { code: string; message: string }; attempts: number }>('SELECT error, attempts FROM runs WHERE id = ANY($1)', [doomed]);
    for (const e of errors) {
      expect(['llm_server_error', 'llm_circuit_open']).toContain(e.error.code);
      expect(e.error.message.length).toBeGreaterThan(10);
      expect(e.attempts).toBe(ATTEMPTS);
    }
    // The breaker made calls fail fast: some attempts never reached the API.
    const { rows: retried } = await db.query<{ code: string; n: number }>(
      `SELECT data->'error'->>'code' AS code, count(*)::int AS n FROM run_events WHERE run_id = ANY($1) AND type = 'run.retrying' GROUP BY 1`,
      [doomed],
    );
    expect(retried.find((r) => r.code === 'llm_circuit_open')?.n ?? 0).toBeGreaterThan(0);
    expect(llm.count()).toBeLessThan(doomed.length * ATTEMPTS);
    const opened = await Promise.all(instances.map(breaker));
    expect(opened.some((b) => b.state !== 'closed' && (b.lastFailure ?? '').length > 0)).toBe(true);
    // Probes stay truthful: the process is fine, only the model API is degraded.
    for (const instance of instances) expect((await fetch(`${instance.url}/ready`)).status).toBe(200);

    // Runs submitted while the breaker is open wait in retry …
    const waiting = await submit('llm-wait', 4);
    await waitFor(async () => {
      const { rows } = await db.query<{ n: number }>(`SELECT count(DISTINCT run_id)::int AS n FROM run_events WHERE run_id = ANY($1) AND type = 'run.retrying'`, [waiting]);
      return rows[0]!.n === waiting.length;
    }, { timeoutMs: 30_000, what: 'the new runs to be waiting in retry' });
    // … and finish once the API is back.
    llm.setDefault({ kind: 'reply' });
    await waitAllFinal(db, waiting, 90_000);
    await expectExactlyOnce(db, waiting, { statuses: ['succeeded'] });

    // Calls after the recovery close every breaker. A run sent to one instance may be
    // claimed by the other (they share the queue), so each instance gets runs until one
    // of its own calls has closed its breaker.
    for (const instance of instances) {
      await waitFor(async () => {
        const res = await cluster.balancer.json<{ run: { status: string } }>('/api/runs', { instance, json: { agent: 'summarizer', input: `after ${instance.name}` }, headers: { prefer: 'wait=20' } });
        return res.status === 200 && res.body.run.status === 'succeeded' && (await breaker(instance)).state === 'closed';
      }, { timeoutMs: 60_000, intervalMs: 500, what: `a run on ${instance.name} after the recovery, and its breaker closed` });
    }
  });
});
