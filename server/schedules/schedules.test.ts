/* eslint-disable @typescript-eslint/no-explicit-any -- JSON answers are read loosely in assertions */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, jsonApi, startTestApp, waitFor, type TestApp } from '../../test/helpers.js';

interface FireRow {
  fire_at: Date;
  missed: boolean;
  run_id: string | null;
  error: string | null;
}

async function fires(app: TestApp, scheduleId: string): Promise<FireRow[]> {
  const { rows } = await app.db.pool.query<FireRow>('SELECT fire_at, missed, run_id, error FROM schedule_fires WHERE schedule_id = $1 ORDER BY fire_at', [scheduleId]);
  return rows;
}

describe('schedules', () => {
  describe('on three instances', () => {
    let database: Awaited<ReturnType<typeof createTestDatabase>>;
    const apps: TestApp[] = [];

    beforeAll(async () => {
      database = await createTestDatabase('schedules');
      for (let i = 0; i < 3; i++) apps.push(await startTestApp({ databaseUrl: database.url, env: { MAX_CONCURRENT_JOBS: '20' } }));
    }, 120_000);
    afterAll(async () => {
      for (const app of apps) await app.close();
      await database?.drop();
    });

    it('a schedule firing every second for 20 s (not a minute, to spare the shared machine) starts exactly one run per second, none missed', async () => {
      const [a, b, c] = apps as [TestApp, TestApp, TestApp];
      const { schedule } = await jsonApi(() => b.url)<{ schedule: { id: string; nextFireTimes: string[] } }>('POST', '/api/schedules', {
        name: 'every second',
        cron: '* * * * * *',
        timezone: 'Europe/Paris',
        agent: 'researcher',
        input: 'tick',
      });
      expect(schedule.nextFireTimes).toHaveLength(5);
      expect(Date.parse(schedule.nextFireTimes[1]!) - Date.parse(schedule.nextFireTimes[0]!)).toBe(1000);
      await waitFor(async () => ((await fires(a, schedule.id)).length >= 21 ? true : undefined), { timeoutMs: 120_000, intervalMs: 500, what: '21 fire times' });
      await jsonApi(() => c.url)('PATCH', `/api/schedules/${schedule.id}`, { enabled: false });

      const rows = await fires(a, schedule.id);
      expect(rows.length).toBeGreaterThanOrEqual(21);
      // Every second from the first to the last, each once (the primary key), none missed.
      for (let i = 1; i < rows.length; i++) expect(rows[i]!.fire_at.getTime() - rows[i - 1]!.fire_at.getTime()).toBe(1000);
      expect(rows.every((r) => r.fire_at.getMilliseconds() === 0 && !r.missed && r.error === null)).toBe(true);
      // Each fire time has its run, and there are exactly as many runs as fire times.
      await waitFor(async () => ((await fires(a, schedule.id)).every((r) => r.run_id !== null) ? true : undefined), { timeoutMs: 60_000, what: 'every fire to have its run' });
      const withRuns = await fires(a, schedule.id);
      const runIds = new Set(withRuns.map((r) => r.run_id));
      expect(runIds.size).toBe(withRuns.length);
      const { rows: runs } = await a.db.pool.query<{ idempotency_key: string; id: string }>("SELECT id, idempotency_key FROM runs WHERE idempotency_key LIKE $1", [`schedule:${schedule.id}:%`]);
      expect(runs).toHaveLength(withRuns.length);
      expect(new Set(runs.map((r) => r.id))).toEqual(runIds);
      expect(new Set(runs.map((r) => r.idempotency_key))).toEqual(new Set(withRuns.map((r) => `schedule:${schedule.id}:${r.fire_at.toISOString()}`)));

      // Disabled: no next fire times, and no fire after the PATCH answered.
      const after = await jsonApi(() => a.url)<{ schedule: { enabled: boolean; nextFireTimes: string[]; recentFires: unknown[] } }>('GET', `/api/schedules/${schedule.id}`);
      expect(after.schedule).toMatchObject({ enabled: false, nextFireTimes: [] });
      expect(after.schedule.recentFires.length).toBeGreaterThan(0);
      const disabledCount = (await fires(a, schedule.id)).length;
      const stamp = await a.db.pool.query<{ n: string }>("SELECT count(*) AS n FROM schedules WHERE id = $1 AND next_fire_at IS NULL", [schedule.id]);
      expect(stamp.rows[0]?.n).toBe('1');
      expect((await fires(a, schedule.id)).length).toBe(disabledCount);
    }, 240_000);

    it('validates its input and records every change in the audit log', async () => {
      const api = (method: string, path: string, body?: unknown) =>
        fetch(`${apps[0]!.url}${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) }).then(async (r) => ({ status: r.status, body: r.status === 204 ? {} : ((await r.json()) as Record<string, any>) }));
      expect((await api('POST', '/api/schedules', { name: 'x', cron: 'every day', agent: 'researcher', input: 'x' })).body.error.message).toMatch(/^cron: /);
      expect((await api('POST', '/api/schedules', { name: 'x', cron: '0 9 * * *', timezone: 'Mars/Olympus', agent: 'researcher', input: 'x' })).body.error.message).toMatch(/timezone/);
      expect((await api('POST', '/api/schedules', { name: 'x', cron: '0 9 * * *', agent: 'nobody', input: 'x' })).status).toBe(404);
      expect((await api('POST', '/api/schedules', { name: 'x', cron: '0 9 * * *', agent: 'researcher' })).status).toBe(400);
      const created = await api('POST', '/api/schedules', { name: 'weekday digest', cron: '0 9 * * 1-5', timezone: 'America/New_York', agent: 'researcher', input: 'digest', missedPolicy: 'run-once' });
      expect(created.status).toBe(201);
      const times: string[] = created.body.schedule.nextFireTimes;
      for (const t of times) {
        const local = new Intl.DateTimeFormat('en-US', { timeZone: 'America/New_York', hour: 'numeric', hour12: false, weekday: 'short' }).formatToParts(new Date(t));
        expect(Number(local.find((p) => p.type === 'hour')?.value)).toBe(9);
        expect(['Sat', 'Sun']).not.toContain(local.find((p) => p.type === 'weekday')?.value);
      }
      const id = created.body.schedule.id as string;
      const patched = await api('PATCH', `/api/schedules/${id}`, { cron: '30 18 * * *', timezone: 'UTC', input: { topic: 'new' } });
      expect(patched.body.schedule).toMatchObject({ cron: '30 18 * * *', timezone: 'UTC', agent: 'researcher', input: { topic: 'new' } });
      expect(patched.body.schedule.nextFireTimes[0]).toMatch(/T18:30:00\.000Z$/);
      expect((await api('PATCH', `/api/schedules/${id}`, { cron: 'nope' })).status).toBe(400);
      expect((await api('DELETE', `/api/schedules/${id}`)).status).toBe(204);
      expect((await api('GET', `/api/schedules/${id}`)).status).toBe(404);
      const audit = await api('GET', `/api/audit?targetType=schedule&targetId=${id}`);
      expect(audit.body.entries.map((e: { action: string }) => e.action)).toEqual(['schedule.delete', 'schedule.update', 'schedule.create']);
    });
  });

  it('after downtime, `skip` drops the fire times that passed while no instance was awake and `run-once` runs the latest once', async () => {
    const database = await createTestDatabase('misfire');
    const env = { SCHEDULE_MISFIRE_GRACE_MS: '1500' };
    let app = await startTestApp({ databaseUrl: database.url, env });
    try {
      const api = jsonApi(() => app.url);
      const skip = (await api<{ schedule: { id: string } }>('POST', '/api/schedules', { name: 'skip', cron: '* * * * * *', agent: 'researcher', input: 's', missedPolicy: 'skip' })).schedule;
      const once = (await api<{ schedule: { id: string } }>('POST', '/api/schedules', { name: 'once', cron: '* * * * * *', agent: 'researcher', input: 'o', missedPolicy: 'run-once' })).schedule;
      await waitFor(async () => ((await fires(app, skip.id)).length >= 2 && (await fires(app, once.id)).length >= 2 ? true : undefined), { timeoutMs: 60_000, what: 'fires before the downtime' });
      await app.app.shutdown('test');
      const lastBefore = async (id: string) => (await fires(app, id)).at(-1)!.fire_at.getTime();
      const skipDown = await lastBefore(skip.id);
      const onceDown = await lastBefore(once.id);
      await app.close();
      // Nobody is awake for a while, well past the grace period (this creates the downtime; nothing is timed).
      await new Promise((r) => setTimeout(r, 5000));
      app = await startTestApp({ databaseUrl: database.url, env });
      const after = async (id: string, down: number) => (await fires(app, id)).filter((f) => f.fire_at.getTime() > down);
      await waitFor(async () => ((await after(skip.id, skipDown)).length >= 2 && (await after(once.id, onceDown)).some((f) => !f.missed) ? true : undefined), {
        timeoutMs: 60_000,
        what: 'fires after the restart',
      });
      // skip: no missed run, and a gap of at least the downtime minus the grace period.
      const skipAfter = await after(skip.id, skipDown);
      expect(skipAfter.some((f) => f.missed)).toBe(false);
      expect(skipAfter[0]!.fire_at.getTime() - skipDown).toBeGreaterThan(2000);
      // run-once: exactly one missed run, for a time inside the downtime, before the punctual ones resume.
      const onceAfter = await after(once.id, onceDown);
      const missed = onceAfter.filter((f) => f.missed);
      expect(missed).toHaveLength(1);
      const resumed = onceAfter.filter((f) => !f.missed);
      expect(missed[0]!.fire_at.getTime()).toBeLessThan(resumed[0]!.fire_at.getTime());
      expect(resumed[0]!.fire_at.getTime() - onceDown).toBeGreaterThan(2000);
      await waitFor(async () => ((await fires(app, once.id)).every((f) => f.run_id !== null) ? true : undefined), { timeoutMs: 60_000, what: 'runs for every fire' });
    } finally {
      await app.close();
      await database.drop();
    }
  }, 240_000);
});
