import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { waitFor } from '../helpers.js';
import { sleep, startCluster, type Cluster } from './harness.js';
import { expectExactlyOnce, waitAllFinal } from './invariants.js';

const OUTAGE_MS = 10_000;

/**
 * PostgreSQL stopped for 10 s under two instances with runs in flight: the
 * processes stay up and say so (/live 200), report not-ready (/ready 503) for the
 * outage and ready after, lose no run, and get their LISTEN connection back.
 */
describe('PostgreSQL stopped for 10 s', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await startCluster({
      instances: 2,
      postgres: 'private',
      env: { JOB_LEASE_MS: '3000', MAX_CONCURRENT_JOBS: '4', OFFLINE_MODEL_DELAY_MS: '20', DB_CONNECTION_TIMEOUT_MS: '1000', LOG_LEVEL: 'warn' },
    });
  });
  afterAll(async () => {
    await cluster?.close();
  });

  it('/live stays 200, /ready 503 during and 200 after, no run lost, no crash, LISTEN back', async () => {
    const { db, balancer, instances, postgres } = cluster;
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const res = await balancer.json<{ run: { id: string } }>('/api/runs', {
        json: { pattern: 'sequential', agents: ['researcher', 'writer', 'editor'], input: `outage ${i}: durable work through a database restart` },
        idempotencyKey: `outage-${i}`,
      });
      expect(res.status).toBe(202);
      ids.push(res.body.run.id);
    }
    await waitFor(async () => (await db.query(`SELECT count(*)::int AS n FROM run_steps WHERE status = 'succeeded'`)).rows[0].n > 0, {
      timeoutMs: 30_000,
      what: 'runs mid-way',
    });

    await postgres!.stop();
    const stoppedAt = Date.now();
    const live: number[] = [];
    const ready: number[] = [];
    const apiStatuses: number[] = [];
    while (Date.now() - stoppedAt < OUTAGE_MS) {
      for (const instance of instances) {
        live.push((await fetch(`${instance.url}/live`, { signal: AbortSignal.timeout(3000) })).status);
        ready.push((await fetch(`${instance.url}/ready`, { signal: AbortSignal.timeout(3000) })).status);
      }
      // An API call during the outage gets a clear JSON error, not a hang or an HTML page.
      const res = await fetch(`${instances[0]!.url}/api/runs?limit=1`, { signal: AbortSignal.timeout(10_000) });
      apiStatuses.push(res.status);
      const body = (await res.json()) as { error?: { code: string } };
      if (res.status >= 500) expect(body.error?.code).toBeTruthy();
      await sleep(250);
    }
    expect(live.every((s) => s === 200)).toBe(true);
    // Not ready for (almost) all of the outage: the first check after the stop may still be in its interval.
    expect(ready.filter((s) => s === 503).length).toBeGreaterThan(ready.length * 0.7);
    expect(ready.slice(-4)).toEqual([503, 503, 503, 503]);
    expect(apiStatuses.some((s) => s === 503), `API statuses during the outage: ${apiStatuses.join(",")}`).toBe(true);

    await postgres!.start();
    await waitFor(async () => {
      const statuses = await Promise.all(instances.map(async (i) => (await fetch(`${i.url}/ready`)).status));
      return statuses.every((s) => s === 200);
    }, { timeoutMs: 30_000, what: '/ready 200 on every instance' });

    // No process crashed.
    for (const instance of instances) expect(instance.running, `${instance.name} exited:\n${instance.output().slice(-2000)}`).toBe(true);

    // The LISTEN connections are back: each hub heard its own NOTIFY again, and an event
    // committed on one instance reaches a `runs` subscriber on the other (that topic has
    // no polling fallback: only NOTIFY carries it).
    await waitFor(async () => {
      const checks = await Promise.all(instances.map(async (i) => ((await (await fetch(`${i.url}/health`)).json()) as { checks?: { websocket?: { listening?: boolean } } }).checks?.websocket?.listening));
      return checks.every(Boolean);
    }, { timeoutMs: 20_000, what: 'every hub listening again' });
    const ws = new WebSocket(`${instances[0]!.url.replace('http', 'ws')}/ws`);
    const frames: string[] = [];
    ws.on('message', (d) => frames.push(String(d)));
    ws.on('error', () => undefined);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    ws.send(JSON.stringify({ type: 'subscribe', topic: 'runs' }));
    await waitFor(() => frames.some((f) => f.includes('"subscribed"')), { what: 'runs subscription' });
    // The `runs` topic is monotonic per run: if this instance claims the run and delivers
    // its own run.started before the other instance's run.queued arrives, the older
    // run.queued is (rightly) dropped. So a run whose run.queued was superseded proves
    // nothing either way: try another, until one run.queued has crossed (or 5 runs).
    const frameOf = (runId: string, type: string) => frames.some((f) => f.includes(runId) && f.includes(`"${type}"`));
    // A run.started that names the other instance crossed over too (that instance claimed it).
    const other = (await balancer.json<{ checks: { instance: { id: string } } }>('/health', { instance: instances[1] })).body.checks.instance.id;
    const startedByOther = (runId: string) => frames.some((f) => f.includes(runId) && f.includes('"run.started"') && f.includes(`"instance":"${other}"`));
    let crossedOver = false;
    for (let attempt = 0; attempt < 5 && !crossedOver; attempt++) {
      const crossed = await balancer.json<{ run: { id: string } }>('/api/runs', { instance: instances[1], json: { agent: 'summarizer', input: `cross-instance after the outage ${attempt}` } });
      expect(crossed.status).toBe(202);
      const runId = crossed.body.run.id;
      ids.push(runId);
      // A hang guard, not a latency check: every lifecycle event of the run reaches this
      // instance one way or the other by the time the run has finished.
      await waitFor(() => frameOf(runId, 'run.queued') || frameOf(runId, 'run.succeeded') || frameOf(runId, 'run.failed'), {
        timeoutMs: 60_000,
        what: 'the run’s lifecycle on the other instance',
      }).catch((error: unknown) => {
        const logs = instances.map((i) => `--- ${i.name}\n${i.output().slice(-4000)}`).join('\n');
        throw new Error(`${(error as Error).message}; frames: ${frames.length}\n${logs}`);
      });
      crossedOver = frameOf(runId, 'run.queued') || startedByOther(runId);
    }
    expect(crossedOver, 'a run.queued committed on one instance reached a runs subscriber on the other over NOTIFY').toBe(true);
    ws.close();

    // Every run accepted before the outage finishes, exactly once.
    await waitAllFinal(db, ids, 120_000);
    await expectExactlyOnce(db, ids);

    // And new work flows at once (NOTIFY wakes a worker; Prefer: wait returns it finished).
    const fresh = await balancer.json<{ run: { status: string } }>('/api/runs', { json: { agent: 'summarizer', input: 'after the outage' }, headers: { prefer: 'wait=30' } });
    expect(fresh.status).toBe(200);
    expect(fresh.body.run.status).toBe('succeeded');
  });
});
