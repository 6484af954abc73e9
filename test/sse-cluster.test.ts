import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunEvent } from '../shared/protocol.js';
import { createTestDatabase, waitFor } from './helpers.js';
import { spawnApp, type AppProcess } from './processes.js';
import { openSse } from './support/sse-client.js';

/**
 * Two real app processes on one database. A client follows a run over SSE on one of
 * them; that instance is SIGTERMed mid-run (it may be the one running the job, which
 * then moves to the other). The client reconnects to the other instance with
 * Last-Event-ID, as EventSource does, and must see every stored event exactly once.
 */
describe('SSE across instances', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let db: pg.Pool;
  const procs: AppProcess[] = [];

  const launch = async () => {
    const p = await spawnApp({
      DATABASE_URL: database.url,
      LOG_LEVEL: 'warn',
      JOB_LEASE_MS: '2000',
      JOB_POLL_INTERVAL_MS: '300',
      // Slow streaming so that the run outlasts the stopping instance's grace period (it
      // finishes its jobs until SHUTDOWN_TIMEOUT_MS, streams included, then hands them back).
      OFFLINE_MODEL_DELAY_MS: '80',
      SHUTDOWN_TIMEOUT_MS: '3000',
      SSE_HEARTBEAT_MS: '500',
    });
    procs.push(p);
    await p.waitReady(60_000);
    return p;
  };

  beforeAll(async () => {
    database = await createTestDatabase('sse');
    db = new pg.Pool({ connectionString: database.url, max: 2 });
  });
  afterAll(async () => {
    for (const p of procs) await p.kill();
    await db?.end();
    await database?.drop();
  });

  it('resumes with Last-Event-ID on the other instance after the serving one is SIGTERMed: no gap, no duplicate', async () => {
    const [a, b] = [await launch(), await launch()];
    const res = await fetch(`${a.url}/api/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ pattern: 'debate', agents: ['writer', 'critic'], options: { rounds: 3 }, input: 'Should the office move to a four-day week?' }),
    });
    expect(res.status).toBe(202);
    const runId = ((await res.json()) as { run: { id: string } }).run.id;

    const first = await openSse(`${a.url}/api/runs/${runId}/stream`);
    expect(first.status).toBe(200);
    // Some of the run has been seen, tokens included, before the instance goes away.
    await first.next((m) => m.event === 'run.step.started', 60_000);
    await first.next((m) => m.event === 'run.token', 60_000);
    a.signal('SIGTERM');
    await first.ended;
    const seen = first.ids();
    expect(seen.length).toBeGreaterThan(0);
    expect(seen).toEqual(seen.map((_, i) => i + 1));
    const lastId = String(seen.at(-1));

    const second = await openSse(`${b.url}/api/runs/${runId}/stream`, { 'Last-Event-ID': lastId });
    expect(second.status).toBe(200);
    await second.ended;
    // The run went on after A stopped streaming it: B sent the rest.
    expect(second.ids().length).toBeGreaterThan(0);
    expect(second.ids()[0]).toBe(Number(lastId) + 1);
    const all = [...seen, ...second.ids()];
    const { rows } = await db.query<{ seq: number; type: string }>('SELECT seq, type FROM run_events WHERE run_id = $1 ORDER BY seq', [runId]);
    expect(all).toEqual(rows.map((r) => r.seq));
    expect(['run.succeeded', 'run.failed', 'run.cancelled']).toContain(rows.at(-1)!.type);
    expect((JSON.parse(second.messages.at(-1)!.data) as RunEvent).type).toBe(rows.at(-1)!.type);
    await waitFor(async () => (await a.exited) !== undefined, { timeoutMs: 30_000, what: 'A to exit' });
  }, 180_000);
});
