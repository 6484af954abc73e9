import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunEvent, ServerFrame } from '../../shared/protocol.js';
import { createWsClient, type WebSocketConstructor, type WsClient } from '../../shared/ws-client.js';
import { waitFor } from '../helpers.js';
import { sleep, startCluster, type Cluster } from './harness.js';
import { expectExactlyOnce, heldBy, waitAllFinal } from './invariants.js';

const FINAL_TYPES = new Set(['run.succeeded', 'run.failed', 'run.cancelled']);

interface Watcher {
  runId: string;
  client: WsClient;
  /** Stored events handed to the application, in order. */
  seqs: number[];
  /** Stored-event seqs exactly as the server sent them, per socket, across reconnects. */
  raw: number[];
  closes: number[];
  done: boolean;
}

/**
 * SIGTERM of one of three instances while clients keep calling the API and
 * watching runs over WebSockets through a load balancer: no client sees an
 * error, the instance's runs are released and finished elsewhere, and its
 * WebSocket clients reconnect to another instance and resume with no missed event.
 */
describe('SIGTERM of one instance under steady HTTP and WebSocket load', () => {
  let cluster: Cluster;
  const watchers: Watcher[] = [];

  beforeAll(async () => {
    cluster = await startCluster({
      instances: 3,
      env: {
        JOB_LEASE_MS: '5000',
        MAX_CONCURRENT_JOBS: '4',
        OFFLINE_MODEL_DELAY_MS: '40',
        // Short, so the victim's unfinished runs are handed back rather than waited for.
        SHUTDOWN_TIMEOUT_MS: '1000',
      },
    });
  });
  afterAll(async () => {
    for (const w of watchers) w.client.close();
    await cluster?.close();
  });

  function watch(runId: string): Watcher {
    const watcher: Watcher = { runId, client: undefined as unknown as WsClient, seqs: [], raw: [], closes: [], done: false };
    const Base = cluster.balancer.WebSocket;
    const topic = `run:${runId}`;
    class Tapped extends Base {
      constructor(url: string) {
        super(url);
        this.on('message', (data) => {
          const frame = JSON.parse(String(data)) as ServerFrame;
          if (frame.type === 'event' && frame.topic === topic && 'seq' in frame.event && frame.event.type !== 'run.token') watcher.raw.push(frame.event.seq);
        });
      }
    }
    watcher.client = createWsClient({
      url: 'ws://placeholder/ws',
      WebSocket: Tapped as unknown as WebSocketConstructor,
      minBackoffMs: 50,
      maxBackoffMs: 500,
      onClose: (code) => watcher.closes.push(code),
    });
    watcher.client.subscribe(topic as `run:${string}`, (event) => {
      const e = event as RunEvent;
      if (e.type === 'run.token') return;
      watcher.seqs.push(e.seq);
      if (FINAL_TYPES.has(e.type)) watcher.done = true;
    }, { after: 0 });
    watchers.push(watcher);
    return watcher;
  }

  it('zero failed requests, runs released and finished elsewhere, WebSocket clients resume without a gap', async () => {
    const { balancer, db } = cluster;
    const victim = cluster.instances[2]!;
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const res = await balancer.json<{ run: { id: string } }>('/api/runs', {
        json: { pattern: 'sequential', agents: ['researcher', 'writer', 'editor', 'critic', 'summarizer', 'translator'], input: `graceful ${i}: how a platform stops an instance` },
        idempotencyKey: `term-long-${i}`,
      });
      expect(res.status).toBe(202);
      ids.push(res.body.run.id);
    }
    // Three watchers per run, spread over the instances by the balancer.
    for (const id of ids) for (let k = 0; k < 3; k++) watch(id);
    await waitFor(() => watchers.every((w) => w.client.state === 'open'), { what: 'watchers connected' });

    // Steady load: 8 clients in a loop, reads and idempotent writes.
    const statuses = new Map<number, number>();
    const unexpected: string[] = [];
    let stop = false;
    let n = 0;
    const loop = async (k: number) => {
      while (!stop) {
        const i = n++;
        const kind = i % 4;
        try {
          let res: { status: number; body: unknown };
          if (kind === 0) {
            res = await balancer.json('/api/runs', { json: { agent: 'summarizer', input: `steady ${i}` }, idempotencyKey: `term-steady-${i}` });
            if (res.status === 202) ids.push((res.body as { run: { id: string } }).run.id);
          } else if (kind === 1) res = await balancer.json(`/api/runs/${ids[i % ids.length]}`);
          else if (kind === 2) res = await balancer.json('/api/runs?limit=5');
          else res = await balancer.json(`/api/runs/${ids[i % ids.length]}/events?after=0`);
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          if (res.status >= 300) unexpected.push(`client ${k}: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
        } catch (error) {
          unexpected.push(`client ${k}: ${(error as Error).message}`);
        }
      }
    };
    const loops = Promise.all(Array.from({ length: 8 }, (_, k) => loop(k)));

    const held = await waitFor(async () => {
      const h = await heldBy(db, victim.leaseOwnerPrefix);
      return h.some((r) => r.done >= 1) ? h : null;
    }, { timeoutMs: 60_000, intervalMs: 20, what: 'the victim to be mid-run' });
    const victimWatchers = watchers.filter((w) => !w.done).length;
    const exit = await victim.sigterm();
    expect(exit.code).toBe(0);
    await sleep(2000);
    stop = true;
    await loops;

    // Zero failed requests at the clients.
    expect(unexpected).toEqual([]);
    expect(balancer.stats.failures).toBe(0);
    expect([...statuses.keys()].every((s) => s < 300)).toBe(true);
    // The load really ran across the stop (a few hundred requests at least).
    expect([...statuses.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(100);

    console.info(`SIGTERM: ${[...statuses.values()].reduce((a, b) => a + b, 0)} requests during the stop (${JSON.stringify([...statuses])}), balancer retries ${balancer.stats.retries}, failures ${balancer.stats.failures}`);
    // The victim's unfinished runs went back at once (shutdown, not lease expiry), unpaid, and finished elsewhere.
    const { rows: released } = await db.query<{ run_id: string }>(`SELECT DISTINCT run_id FROM run_events WHERE type = 'run.released' AND data->>'reason' = 'shutdown'`);
    const { rows: expired } = await db.query(`SELECT run_id FROM run_events WHERE type = 'run.released' AND data->>'reason' = 'lease_expired'`);
    expect(expired).toEqual([]);
    expect(held.length).toBeGreaterThan(0);
    expect(released.length).toBeGreaterThan(0);
    await waitAllFinal(db, ids, 120_000);
    await expectExactlyOnce(db, ids);
    const { rows: finishedBy } = await db.query<{ run_id: string; instance: string }>(
      `SELECT DISTINCT ON (run_id) run_id, data->>'instance' AS instance FROM run_events WHERE run_id = ANY($1) AND type = 'run.started' ORDER BY run_id, seq DESC`,
      [released.map((r) => r.run_id)],
    );
    for (const r of finishedBy) expect(r.instance.startsWith(victim.leaseOwnerPrefix)).toBe(false);
    const { rows: attempts } = await db.query<{ attempts: number }>('SELECT attempts FROM runs WHERE id = ANY($1)', [released.map((r) => r.run_id)]);
    for (const a of attempts) expect(a.attempts).toBe(1);

    // WebSocket clients: the victim's were closed with 1012, reconnected elsewhere and resumed.
    await waitFor(() => watchers.every((w) => w.done), { timeoutMs: 60_000, what: 'every watcher to see its run finish' });
    const restarted = watchers.filter((w) => w.closes.includes(1012));
    expect(victimWatchers).toBeGreaterThan(0);
    expect(restarted.length).toBeGreaterThan(0);
    const { rows: heads } = await db.query<{ id: string; last_seq: number }>('SELECT id, last_seq FROM runs WHERE id = ANY($1)', [watchers.map((w) => w.runId)]);
    const lastSeq = new Map(heads.map((h) => [h.id, h.last_seq]));
    console.info(`SIGTERM: ${watchers.length} WebSocket watchers, ${restarted.length} closed with 1012 and resumed elsewhere, ${released.length} runs released`);
    for (const w of watchers) {
      const expected = Array.from({ length: lastSeq.get(w.runId)! }, (_, i) => i + 1);
      expect(w.seqs, `watcher of ${w.runId} (closes ${w.closes.join(',')})`).toEqual(expected);
      // The server itself sent no duplicate and skipped nothing across the reconnect.
      expect(w.raw, `raw frames of ${w.runId}`).toEqual(expected);
    }

    // The platform starts a replacement under the same name: it joins the rotation and takes work.
    await victim.restart();
    await waitFor(async () => {
      await balancer.check();
      return balancer.rotation().includes(victim);
    }, { what: 'the restarted instance back in rotation' });
    const fresh = await balancer.json<{ run: { status: string } }>('/api/runs', { instance: victim, json: { agent: 'summarizer', input: 'after the restart' }, headers: { prefer: 'wait=30' } });
    expect(fresh.status).toBe(200);
    expect(fresh.body.run.status).toBe('succeeded');
  });
});
