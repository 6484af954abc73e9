import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from './harness.js';
import { expectExactlyOnce, heldBy, waitAllFinal } from './invariants.js';
import { waitFor } from '../helpers.js';

const RUNS = Number(process.env.FAULT_RUNS ?? 1000);
const LEASE_MS = 3000;

/**
 * kill -9 of one of three instances while 1,000 runs go through: the runs it held
 * come back after their lease and finish elsewhere; every run reaches a final
 * status exactly once.
 */
describe('kill -9 of one of three instances during 1,000 runs', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await startCluster({
      instances: 3,
      env: {
        JOB_LEASE_MS: String(LEASE_MS),
        MAX_CONCURRENT_JOBS: '16',
        // A few hundred ms per run keeps runs in flight when the instance dies.
        OFFLINE_MODEL_DELAY_MS: '4',
      },
    });
  });
  afterAll(async () => {
    await cluster?.close();
  });

  it('every run reaches a final status exactly once; the victim’s runs resume within 15 s', async () => {
    const ids: string[] = [];
    const failedPosts: string[] = [];
    // Clients submit through the balancer, 16 at a time, with idempotency keys (safe to retry),
    // as a steady stream: at most BACKLOG runs wait at once, as in a system that keeps up, so
    // the orphans' resume time measures recovery rather than the depth of a synthetic backlog.
    const BACKLOG = 60;
    let next = 0;
    let finished = 0;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const { rows } = await cluster.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM runs WHERE status IN ('succeeded', 'failed', 'cancelled')`);
        finished = rows[0]!.n;
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const submit = async () => {
      while (next < RUNS) {
        if (next - finished > BACKLOG) {
          await new Promise((r) => setTimeout(r, 25));
          continue;
        }
        const i = next++;
        const body =
          i % 4 === 0
            ? { pattern: 'sequential', agents: ['researcher', 'writer'], input: `fault run ${i}` }
            : { agent: i % 2 ? 'summarizer' : 'translator', input: `fault run ${i}: durable queues on PostgreSQL` };
        const res = await cluster.balancer.json<{ run: { id: string } }>('/api/runs', { json: body, idempotencyKey: `kill9-${i}` });
        if (res.status !== 202) failedPosts.push(`${res.status} ${JSON.stringify(res.body)}`);
        else ids.push(res.body.run.id);
      }
    };
    const submitting = Promise.all(Array.from({ length: 16 }, submit));

    const victim = cluster.instances[1]!;
    // Kill it once it holds several runs, some with a completed step.
    const held = await waitFor(
      async () => {
        const h = await heldBy(cluster.db, victim.leaseOwnerPrefix);
        return h.length >= 4 ? h : null;
      },
      { timeoutMs: 60_000, intervalMs: 20, what: 'the victim to hold runs' },
    );
    await victim.kill9();
    const killedAt = Date.now();
    // What it held at the moment of death (it may have claimed more after the sample above).
    const { rows: orphanRows } = await cluster.db.query<{ id: string }>(`SELECT id FROM runs WHERE status = 'running' AND lease_owner LIKE $1`, [`${victim.leaseOwnerPrefix}%`]);
    const orphans = orphanRows.map((r) => r.id);
    expect(held.length).toBeGreaterThan(0);
    expect(orphans.length).toBeGreaterThan(0);

    await submitting;
    watching = false;
    await watcher;
    expect(failedPosts).toEqual([]);
    expect(cluster.balancer.stats.failures).toBe(0);
    expect(new Set(ids).size).toBe(RUNS);

    await waitAllFinal(cluster.db, ids, 180_000);
    await expectExactlyOnce(cluster.db, ids);

    // The idempotency keys held: one run per key, however often a client retried.
    const { rows: perKey } = await cluster.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM runs WHERE idempotency_key LIKE 'kill9-%'`);
    expect(perKey[0]!.n).toBe(RUNS);

    // Each orphan was returned by a sweeper (lease expired) and started again on a survivor within 15 s.
    const { rows: resumed } = await cluster.db.query<{ run_id: string; released_at: Date; restarted_at: Date | null; instance: string | null }>(
      `SELECT rel.run_id, rel.at AS released_at,
              (SELECT s.at FROM run_events s WHERE s.run_id = rel.run_id AND s.type = 'run.started' AND s.seq > rel.seq ORDER BY s.seq LIMIT 1) AS restarted_at,
              (SELECT s.data->>'instance' FROM run_events s WHERE s.run_id = rel.run_id AND s.type = 'run.started' AND s.seq > rel.seq ORDER BY s.seq LIMIT 1) AS instance
         FROM run_events rel WHERE rel.run_id = ANY($1) AND rel.type = 'run.released' AND rel.data->>'reason' = 'lease_expired'`,
      [orphans],
    );
    expect(resumed.map((r) => r.run_id).sort()).toEqual([...orphans].sort());
    for (const r of resumed) {
      expect(r.restarted_at, `run ${r.run_id} never restarted`).not.toBeNull();
      expect(r.instance?.startsWith(victim.leaseOwnerPrefix)).toBe(false);
      // Returned to the queue after one lease, and running again within 15 s (it queues behind the backlog).
      expect(r.released_at.getTime() - killedAt).toBeLessThan(LEASE_MS + 5000);
      expect(r.restarted_at!.getTime() - killedAt).toBeLessThan(15_000);
    }
    const worst = Math.max(...resumed.map((r) => r.restarted_at!.getTime() - killedAt));
    console.info(`kill -9: ${RUNS} runs, ${orphans.length} orphaned by the kill, all restarted elsewhere, the last ${worst} ms after the kill; balancer retries ${cluster.balancer.stats.retries}`);
    // No other run was disturbed: only the orphans were released.
    const { rows: released } = await cluster.db.query<{ n: number }>(`SELECT count(DISTINCT run_id)::int AS n FROM run_events WHERE run_id = ANY($1) AND type = 'run.released'`, [ids]);
    expect(released[0]!.n).toBe(orphans.length);
    // The survivors never crashed.
    expect(cluster.instances[0]!.running && cluster.instances[2]!.running).toBe(true);
  });
});
