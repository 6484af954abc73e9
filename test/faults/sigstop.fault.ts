import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers.js';
import { sleep, startCluster, type Cluster } from './harness.js';
import { expectExactlyOnce, heldBy, installAudit, waitAllFinal } from './invariants.js';

/**
 * SIGSTOP an instance past its lease (what a throttled or frozen container
 * looks like from outside), let another instance take its runs over and finish
 * them, then SIGCONT it: the stale attempts write nothing (fencing by lease token).
 */
describe('SIGSTOP past the lease, then SIGCONT', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await startCluster({
      instances: 2,
      env: { JOB_LEASE_MS: '2000', MAX_CONCURRENT_JOBS: '4', OFFLINE_MODEL_DELAY_MS: '30', LOG_LEVEL: 'warn' },
    });
    await installAudit(cluster.db);
  });
  afterAll(async () => {
    await cluster?.close();
  });

  it('the frozen instance’s stale attempts write nothing once it wakes up', async () => {
    const { db, balancer } = cluster;
    const [frozen, other] = cluster.instances as [(typeof cluster.instances)[0], (typeof cluster.instances)[0]];
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) {
      const res = await balancer.json<{ run: { id: string } }>('/api/runs', {
        instance: frozen,
        json: { pattern: 'sequential', agents: ['researcher', 'writer', 'editor'], input: `frozen ${i}: leases and fencing tokens` },
      });
      expect(res.status).toBe(202);
      ids.push(res.body.run.id);
    }
    await waitFor(async () => (await heldBy(db, frozen.leaseOwnerPrefix)).some((r) => r.done >= 1), { timeoutMs: 60_000, intervalMs: 20, what: 'frozen instance mid-run' });
    frozen.pause();
    const victims = (await heldBy(db, frozen.leaseOwnerPrefix)).map((r) => r.id);
    expect(victims.length).toBeGreaterThan(0);

    // The other instance's sweeper takes the runs back after the lease and finishes them.
    await waitAllFinal(db, victims, 90_000);
    const { rows: swept } = await db.query<{ run_id: string }>(`SELECT DISTINCT run_id FROM run_events WHERE run_id = ANY($1) AND type = 'run.released' AND data->>'reason' = 'lease_expired'`, [victims]);
    expect(swept.map((r) => r.run_id).sort()).toEqual([...victims].sort());
    // Still frozen: the takeover happened while it could not say a word.
    expect(frozen.paused).toBe(true);

    const { rows: clock } = await db.query<{ now: Date }>('SELECT clock_timestamp() AS now');
    const resumedAt = clock[0]!.now;
    frozen.resume();
    // It wakes up mid-call with timers overdue: its heartbeat and its attempts run now.
    await waitFor(async () => (await fetch(`${frozen.url}/ready`)).status === 200, { timeoutMs: 30_000, what: 'frozen instance answering again' });
    await sleep(3000);

    const { rows: stale } = await db.query(
      `SELECT tbl, op, run_id, detail, at FROM fault_audit WHERE app = $1 AND run_id = ANY($2) AND at >= $3 ORDER BY id`,
      [frozen.applicationName, victims, resumedAt],
    );
    expect(stale, 'writes by the woken instance to runs it no longer owns').toEqual([]);
    // The audit trigger really sees this instance's writes (so an empty list above means something).
    const { rows: seen } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM fault_audit WHERE app = $1`, [frozen.applicationName]);
    expect(seen[0]!.n).toBeGreaterThan(0);
    expect(frozen.output()).toMatch(/lease lost/);

    await waitAllFinal(db, ids, 90_000);
    await expectExactlyOnce(db, ids);
    // Both processes are alive and the woken one takes new work again.
    expect(frozen.running && other.running).toBe(true);
    const after = await balancer.json<{ run: { id: string; status: string } }>('/api/runs', {
      instance: frozen,
      json: { agent: 'summarizer', input: 'after the thaw' },
      headers: { prefer: 'wait=30' },
    });
    expect(after.status).toBe(200);
    expect(after.body.run.status).toBe('succeeded');
  });
});
