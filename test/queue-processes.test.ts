import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, waitFor } from './helpers.js';
import { spawnApp, type AppProcess } from './processes.js';

/**
 * Several real app processes (server/index.ts, real agents on the offline
 * model) on one database, treated the way an autoscaling platform treats them:
 * kill -9 mid-run, SIGTERM mid-run, restart. Every accepted run must still
 * reach a final status exactly once, resuming from its completed steps.
 */
describe('queue across app processes', () => {
  let database: { url: string; drop(): Promise<void> };
  let db: pg.Pool;
  const procs: AppProcess[] = [];

  const env = (extra: Record<string, string> = {}) => ({
    DATABASE_URL: database.url,
    LOG_LEVEL: 'warn',
    JOB_LEASE_MS: '2000',
    JOB_POLL_INTERVAL_MS: '500',
    MAX_CONCURRENT_JOBS: '3',
    // Slow streaming so that runs are still mid-way when an instance is killed.
    OFFLINE_MODEL_DELAY_MS: '40',
    SHUTDOWN_TIMEOUT_MS: '1500',
    ...extra,
  });
  const launch = async (extra: Record<string, string> = {}) => {
    const p = await spawnApp(env(extra));
    procs.push(p);
    await p.waitReady(60_000);
    return p;
  };
  const post = async (p: AppProcess, body: unknown) => {
    const res = await fetch(`${p.url}/api/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(res.status).toBe(202);
    return ((await res.json()) as { run: { id: string } }).run.id;
  };
  const allFinal = (ids: string[], timeoutMs = 60_000) =>
    waitFor(async () => {
      const { rows } = await db.query(`SELECT count(*)::int AS n FROM runs WHERE id = ANY($1) AND status IN ('succeeded', 'failed', 'cancelled')`, [ids]);
      return rows[0].n === ids.length;
    }, { timeoutMs, intervalMs: 200, what: 'every run to finish' });

  /** The invariants after a disruption: succeeded, one final write each, gap-free seq, no step completed twice. */
  async function expectExactlyOnce(ids: string[]) {
    const { rows: runs } = await db.query('SELECT id, status, last_seq, error FROM runs WHERE id = ANY($1)', [ids]);
    for (const run of runs) expect({ id: run.id, status: run.status, error: run.error }).toEqual({ id: run.id, status: 'succeeded', error: null });
    const { rows: finals } = await db.query(
      `SELECT run_id, count(*)::int AS n FROM run_events WHERE run_id = ANY($1) AND type IN ('run.succeeded', 'run.failed', 'run.cancelled') GROUP BY run_id`,
      [ids],
    );
    expect(finals).toHaveLength(ids.length);
    for (const f of finals) expect(f.n).toBe(1);
    const { rows: seqs } = await db.query(
      `SELECT r.id, r.last_seq, count(e.seq)::int AS n, min(e.seq) AS lo, max(e.seq) AS hi
         FROM runs r JOIN run_events e ON e.run_id = r.id WHERE r.id = ANY($1) GROUP BY r.id, r.last_seq`,
      [ids],
    );
    for (const s of seqs) expect([s.n, s.lo, s.hi]).toEqual([s.last_seq, 1, s.last_seq]);
    const { rows: repeated } = await db.query(
      `SELECT run_id, data->>'key' AS key, count(*)::int AS n FROM run_events
        WHERE run_id = ANY($1) AND type = 'run.step.finished' AND data->>'status' = 'succeeded'
        GROUP BY run_id, data->>'key' HAVING count(*) > 1`,
      [ids],
    );
    expect(repeated).toEqual([]);
  }

  /** Runs this process holds now, with how many of their steps are done. */
  const heldBy = async (p: AppProcess) =>
    (
      await db.query(
        `SELECT r.id, (SELECT count(*)::int FROM run_steps s WHERE s.run_id = r.id AND s.status = 'succeeded') AS done
           FROM runs r WHERE r.status = 'running' AND r.lease_owner LIKE $1`,
        [`${p.child.pid}-%`],
      )
    ).rows as { id: string; done: number }[];

  beforeAll(async () => {
    database = await createTestDatabase('qproc');
    db = new pg.Pool({ connectionString: database.url, max: 3 });
  });
  afterEach(async () => {
    await Promise.all(procs.splice(0).map((p) => p.kill()));
  });
  afterAll(async () => {
    await db?.end();
    await database?.drop();
  });

  it('kill -9 of one instance mid-run: every run still finishes exactly once, resuming from its checkpoints', async () => {
    const a = await launch();
    const b = await launch();
    const c = await launch();
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      ids.push(await post(i % 2 ? b : a, { pattern: 'sequential', agents: ['researcher', 'writer', 'editor'], input: `topic ${i}: queues that survive crashes` }));
    }
    // Kill B while it holds a run that has finished a step and has more to do.
    await waitFor(async () => {
      const held = await heldBy(b);
      return held.some((r) => r.done >= 1) ? held : null;
    }, { timeoutMs: 30_000, intervalMs: 20, what: 'B to be mid-run' });
    b.signal('SIGKILL');
    expect((await b.exited).signal).toBe('SIGKILL');
    // What B held when it died (its leases have not expired yet, so the rows still name it).
    const victim = await heldBy(b);
    expect(victim.length).toBeGreaterThan(0);
    await allFinal(ids);
    await expectExactlyOnce(ids);
    // B's runs were returned by a sweeper after their lease expired and finished on A or C.
    const { rows: released } = await db.query(`SELECT run_id FROM run_events WHERE run_id = ANY($1) AND type = 'run.released' AND data->>'reason' = 'lease_expired'`, [ids]);
    expect(released.map((r: { run_id: string }) => r.run_id).sort()).toEqual(victim.map((v) => v.id).sort());
    const { rows: restarted } = await db.query(`SELECT id, attempts FROM runs WHERE id = ANY($1)`, [victim.map((v) => v.id)]);
    for (const r of restarted) expect(r.attempts).toBe(2);
    expect(c.child.exitCode).toBeNull();
  });

  it('SIGTERM of one instance mid-run: its runs are released at once, not counted, and finished by the others', async () => {
    const a = await launch();
    const b = await launch();
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push(await post(b, { pattern: 'sequential', agents: ['researcher', 'writer', 'editor', 'critic'], input: `graceful ${i}` }));
    const held = await waitFor(async () => {
      const h = await heldBy(b);
      return h.some((r) => r.done >= 1) ? h : null;
    }, { timeoutMs: 30_000, intervalMs: 20, what: 'B to be mid-run' });
    b.signal('SIGTERM');
    const exit = await b.exited;
    expect(exit.code).toBe(0);
    const { rows: releasedRows } = await db.query(`SELECT run_id FROM run_events WHERE run_id = ANY($1) AND type = 'run.released' AND data->>'reason' = 'shutdown'`, [ids]);
    const releasedIds = new Set(releasedRows.map((r: { run_id: string }) => r.run_id));
    // Whatever B still held at its deadline went back to the queue with the released event, not via lease expiry.
    const { rows: expired } = await db.query(`SELECT run_id FROM run_events WHERE run_id = ANY($1) AND type = 'run.released' AND data->>'reason' = 'lease_expired'`, [ids]);
    expect(expired).toEqual([]);
    await allFinal(ids);
    await expectExactlyOnce(ids);
    expect(releasedIds.size).toBeGreaterThan(0);
    expect([...releasedIds].every((id) => ids.includes(id))).toBe(true);
    expect(held.length).toBeGreaterThan(0);
    const { rows } = await db.query(`SELECT id, attempts FROM runs WHERE id = ANY($1)`, [[...releasedIds]]);
    for (const r of rows) expect(r.attempts).toBe(1);
    expect(a.child.exitCode).toBeNull();
  });

  it('a run waiting for a person resumes on a new process after a restart, from its checkpoints', async () => {
    const a = await launch();
    const id = await post(a, { pattern: 'router', agents: ['researcher', 'writer'], options: { threshold: 1 }, input: 'who should answer this?' });
    await waitFor(async () => (await db.query('SELECT status FROM runs WHERE id = $1', [id])).rows[0].status === 'awaiting_input', {
      timeoutMs: 30_000,
      what: 'awaiting_input',
    });
    a.signal('SIGKILL');
    await a.exited;
    const b = await launch();
    const res = await fetch(`${b.url}/api/runs/${id}/input`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ answer: { agent: 'writer' } }) });
    expect(res.status).toBe(200);
    await allFinal([id], 30_000);
    await expectExactlyOnce([id]);
    const run = ((await (await fetch(`${b.url}/api/runs/${id}`)).json()) as { run: { output: { agent: string; routedBy: string }; steps: { key: string }[] } }).run;
    expect(run.output).toMatchObject({ agent: 'writer', routedBy: 'person' });
    expect(run.steps.map((s) => s.key)).toEqual(['router:classify:classifier', 'router:handle:writer']);
  });
});
