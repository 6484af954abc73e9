/**
 * What every fault scenario asserts, read from the database itself: every
 * accepted run reached a final status, with exactly one final write, a gap-free
 * event history, no step completed twice, and (with the audit trigger) which
 * instance wrote each row, so a fenced-off instance can be shown to have written nothing.
 */
import type pg from 'pg';
import { expect } from 'vitest';
import { waitFor } from '../helpers.js';

export const FINAL = ['succeeded', 'failed', 'cancelled'] as const;

/**
 * Records every write to runs / run_steps / run_events with the writer's
 * application_name (the harness names each instance's connections) and the time.
 */
export async function installAudit(db: pg.Pool): Promise<void> {
  await db.query(`
    CREATE TABLE IF NOT EXISTS fault_audit (
      id bigserial PRIMARY KEY,
      tbl text NOT NULL,
      op text NOT NULL,
      run_id uuid NOT NULL,
      detail text,
      app text NOT NULL DEFAULT current_setting('application_name'),
      at timestamptz NOT NULL DEFAULT clock_timestamp()
    );
    CREATE OR REPLACE FUNCTION fault_audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_TABLE_NAME = 'runs' THEN
        INSERT INTO fault_audit (tbl, op, run_id, detail) VALUES ('runs', TG_OP, NEW.id, NEW.status || ' seq=' || NEW.last_seq);
      ELSIF TG_TABLE_NAME = 'run_events' THEN
        INSERT INTO fault_audit (tbl, op, run_id, detail) VALUES ('run_events', TG_OP, NEW.run_id, NEW.type || ' seq=' || NEW.seq);
      ELSE
        INSERT INTO fault_audit (tbl, op, run_id, detail) VALUES ('run_steps', TG_OP, NEW.run_id, NEW.key || ' ' || NEW.status);
      END IF;
      RETURN NEW;
    END $$;
    DROP TRIGGER IF EXISTS fault_audit_runs ON runs;
    CREATE TRIGGER fault_audit_runs AFTER INSERT OR UPDATE ON runs FOR EACH ROW EXECUTE FUNCTION fault_audit_row();
    DROP TRIGGER IF EXISTS fault_audit_steps ON run_steps;
    CREATE TRIGGER fault_audit_steps AFTER INSERT OR UPDATE ON run_steps FOR EACH ROW EXECUTE FUNCTION fault_audit_row();
    DROP TRIGGER IF EXISTS fault_audit_events ON run_events;
    CREATE TRIGGER fault_audit_events AFTER INSERT ON run_events FOR EACH ROW EXECUTE FUNCTION fault_audit_row();
  `);
}

export async function countFinal(db: pg.Pool, ids: string[]): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM runs WHERE id = ANY($1) AND status = ANY($2)`, [ids, FINAL]);
  return rows[0]!.n;
}

export function waitAllFinal(db: pg.Pool, ids: string[], timeoutMs = 120_000): Promise<true> {
  return waitFor(async () => (await countFinal(db, ids)) === ids.length, { timeoutMs, intervalMs: 250, what: `all ${ids.length} runs to reach a final status` });
}

/**
 * Nothing lost, nothing done twice: each run is final (succeeded unless `allowed`
 * says otherwise), has exactly one final event, events 1..last_seq with no gap or
 * duplicate, and no step key completed twice.
 */
export async function expectExactlyOnce(db: pg.Pool, ids: string[], options: { statuses?: readonly string[] } = {}): Promise<void> {
  const statuses = options.statuses ?? ['succeeded'];
  const { rows: runs } = await db.query<{ id: string; status: string; error: unknown }>('SELECT id, status, error FROM runs WHERE id = ANY($1)', [ids]);
  expect(runs).toHaveLength(ids.length);
  const wrong = runs.filter((r) => !statuses.includes(r.status));
  expect(wrong, `runs not in ${statuses.join('/')}`).toEqual([]);

  const { rows: finals } = await db.query<{ run_id: string; n: number }>(
    `SELECT r.id AS run_id, count(e.seq)::int AS n FROM runs r
       LEFT JOIN run_events e ON e.run_id = r.id AND e.type IN ('run.succeeded', 'run.failed', 'run.cancelled')
      WHERE r.id = ANY($1) GROUP BY r.id`,
    [ids],
  );
  const notOnce = finals.filter((f) => f.n !== 1);
  expect(notOnce, 'runs without exactly one final event').toEqual([]);

  const { rows: gaps } = await db.query(
    `SELECT r.id, r.last_seq, count(e.seq)::int AS n, min(e.seq) AS lo, max(e.seq) AS hi
       FROM runs r JOIN run_events e ON e.run_id = r.id WHERE r.id = ANY($1)
      GROUP BY r.id, r.last_seq HAVING count(e.seq) <> r.last_seq OR min(e.seq) <> 1 OR max(e.seq) <> r.last_seq`,
    [ids],
  );
  expect(gaps, 'runs whose event seq has a gap or a duplicate').toEqual([]);

  const { rows: repeated } = await db.query(
    `SELECT run_id, data->>'key' AS key, count(*)::int AS n FROM run_events
      WHERE run_id = ANY($1) AND type = 'run.step.finished' AND data->>'status' = 'succeeded'
      GROUP BY run_id, data->>'key' HAVING count(*) > 1`,
    [ids],
  );
  expect(repeated, 'steps completed twice').toEqual([]);

  // A run whose final event says one thing and whose row says another would be a torn write.
  const { rows: torn } = await db.query(
    `SELECT r.id, r.status, e.type FROM runs r JOIN run_events e ON e.run_id = r.id AND e.type IN ('run.succeeded', 'run.failed', 'run.cancelled')
      WHERE r.id = ANY($1) AND e.type <> 'run.' || r.status`,
    [ids],
  );
  expect(torn, 'final event disagrees with the run row').toEqual([]);
}

/** Runs an instance holds right now (lease owner is `<pid>-…`), with their completed step count. */
export async function heldBy(db: pg.Pool, leaseOwnerPrefix: string): Promise<{ id: string; done: number }[]> {
  const { rows } = await db.query<{ id: string; done: number }>(
    `SELECT r.id, (SELECT count(*)::int FROM run_steps s WHERE s.run_id = r.id AND s.status = 'succeeded') AS done
       FROM runs r WHERE r.status = 'running' AND r.lease_owner LIKE $1`,
    [`${leaseOwnerPrefix}%`],
  );
  return rows;
}

/** Distinct `run.started` instances per run, oldest first. */
export async function startedBy(db: pg.Pool, ids: string[]): Promise<Map<string, { instance: string; at: Date }[]>> {
  const { rows } = await db.query<{ run_id: string; instance: string; at: Date }>(
    `SELECT run_id, data->>'instance' AS instance, at FROM run_events WHERE run_id = ANY($1) AND type = 'run.started' ORDER BY run_id, seq`,
    [ids],
  );
  const map = new Map<string, { instance: string; at: Date }[]>();
  for (const r of rows) {
    const list = map.get(r.run_id) ?? [];
    list.push({ instance: r.instance, at: r.at });
    map.set(r.run_id, list);
  }
  return map;
}
