import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { hookFields, type Schedule } from '../../shared/hooks.js';
import { removeAudited, type AuditLog } from '../audit/types.js';
import type { AuthUser } from '../auth/types.js';
import type { Config } from '../config/config.js';
import type { Listener } from '../db/listener.js';
import { withTransaction } from '../db/transaction.js';
import { DomainError, NotFoundError } from '../domain/errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import type { SubmitRun } from '../queue/submit.js';
import type { RunPlanner } from '../queue/types.js';
import { dueFires, parseCron } from './fire-times.js';
import {
  advance,
  deleteSchedule,
  earliestNextFire,
  insertFires,
  insertSchedule,
  listSchedules,
  lockDue,
  notifyChanged,
  recentFires,
  selectSchedule,
  selectUnsubmitted,
  setFireOutcome,
  updateSchedule,
  SCHEDULES_CHANNEL,
  type ScheduleRequest,
  type ScheduleRow,
} from './sql/schedules.js';
import type { Schedules } from './types.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DUE_BATCH = 20;
/** A fire recorded this long ago without a run: its instance died before submitting; submit it again (same key). */
const REPAIR_AFTER_SECONDS = 15;
const REPAIR_EVERY_MS = 5000;
/** When another instance holds a due schedule, look again this soon. */
const BUSY_RETRY_MS = 50;

export interface SchedulesDeps {
  config: Config;
  logger: Logger;
  pool: pg.Pool;
  listener: Pick<Listener, 'listen'>;
  planner: Pick<RunPlanner, 'plan'>;
  submitRun: SubmitRun;
  audit: AuditLog;
  metrics?: Pick<Metrics, 'scheduleFiresTotal'>;
}

const ownerOf = (row: ScheduleRow): AuthUser => ({ id: row.owner_id ?? undefined, username: row.owner, role: row.owner_role as AuthUser['role'] });

function nextFireTimes(row: Pick<ScheduleRow, 'cron' | 'timezone' | 'enabled'>, count: number, from = new Date()): Date[] {
  if (!row.enabled) return [];
  return parseCron(row.cron, row.timezone).nextRuns(count, from);
}

function toSchedule(row: ScheduleRow): Schedule {
  return {
    ...hookFields(row, row.request),
    cron: row.cron,
    timezone: row.timezone,
    input: row.request.input,
    missedPolicy: row.missed_policy,
    nextFireTimes: nextFireTimes(row, 5).map((d) => d.toISOString()),
  };
}

const compact = (r: ScheduleRequest): ScheduleRequest => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) as ScheduleRequest;

/**
 * Schedules: cron expressions (croner, seconds optional) in a time zone start runs with
 * a fixed input. Every instance runs the same loop and sleeps until the earliest next
 * fire time; a due schedule is locked (SKIP LOCKED) by one instance, which records each
 * fire time in schedule_fires (the unique fire key), advances the schedule and then
 * submits the runs with the idempotency key `schedule:<id>:<fire time>`. A fire time first
 * seen more than SCHEDULE_MISFIRE_GRACE_MS late passed while no instance was awake: the
 * schedule's missedPolicy skips it or runs the latest such time once.
 */
export function createSchedules(deps: SchedulesDeps): Schedules {
  const { pool, audit, config } = deps;
  const { misfireGraceMs, schedulePollMs } = config.hooks;
  const log = deps.logger.child({ part: 'schedules' });
  const stopping = new AbortController();
  let sleeper: { timer: NodeJS.Timeout; resolve: () => void } | undefined;
  let loop: Promise<void> | undefined;
  let unlisten: (() => void) | undefined;
  let lastRepair = 0;
  let fired = 0;
  let lastError: string | null = null;

  const wake = () => {
    if (!sleeper) return;
    clearTimeout(sleeper.timer);
    sleeper.resolve();
  };

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        sleeper = undefined;
        resolve();
      };
      sleeper = { timer: setTimeout(done, Math.max(0, ms)), resolve: done };
    });


  async function load(id: string): Promise<ScheduleRow> {
    if (!UUID.test(id)) throw new NotFoundError('schedule');
    const row = await selectSchedule(pool, id);
    if (!row) throw new NotFoundError('schedule');
    return row;
  }

  /** Submits the run of one fire time; a refusal (agent gone, bad options) is recorded and not retried. */
  async function submit(row: ScheduleRow, fireAt: Date): Promise<void> {
    const owner = ownerOf(row);
    try {
      const plan = await deps.planner.plan({ ...row.request, input: row.request.input ?? null }, owner);
      const { run } = await deps.submitRun(plan, owner, { via: 'schedule', idempotencyKey: `schedule:${row.id}:${fireAt.toISOString()}` });
      await setFireOutcome(pool, row.id, fireAt, { runId: run.id });
      fired++;
      log.debug({ scheduleId: row.id, fireAt, runId: run.id }, 'schedule fired');
    } catch (error) {
      if (error instanceof DomainError) {
        await setFireOutcome(pool, row.id, fireAt, { error: error.message });
        log.warn({ scheduleId: row.id, fireAt, err: error }, 'schedule fire refused');
        return;
      }
      // Left without a run: the repair pass submits it again with the same key.
      throw error;
    }
  }

  async function tick(): Promise<void> {
    const now = new Date();
    const toSubmit = await withTransaction(pool, async (client) => {
      const due = await lockDue(client, now, DUE_BATCH);
      const out: { row: ScheduleRow; fireAt: Date }[] = [];
      for (const row of due) {
        let cron;
        try {
          cron = parseCron(row.cron, row.timezone);
        } catch (error) {
          log.error({ scheduleId: row.id, err: error }, 'stored schedule no longer parses; parking it');
          await advance(client, row.id, now, null);
          continue;
        }
        const { punctual, latestMissed } = dueFires(cron, row.checked_through, now, misfireGraceMs);
        const fires = punctual.map((at) => ({ at, missed: false }));
        if (latestMissed && row.missed_policy === 'run-once') fires.unshift({ at: latestMissed, missed: true });
        if (latestMissed) log.info({ scheduleId: row.id, latestMissed, policy: row.missed_policy }, 'fire times passed while no instance was awake');
        const inserted = await insertFires(client, row.id, fires);
        await advance(client, row.id, now, cron.nextRun(now));
        for (const fireAt of inserted) {
          out.push({ row, fireAt });
          deps.metrics?.scheduleFiresTotal.inc({ kind: latestMissed && fireAt.getTime() === latestMissed.getTime() ? 'missed' : 'on_time' });
        }
      }
      return out;
    });
    // After the commit: the fire rows exist, so a crash here is repaired, never doubled.
    const results = await Promise.allSettled(toSubmit.map(({ row, fireAt }) => submit(row, fireAt)));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  async function repair(): Promise<void> {
    if (Date.now() - lastRepair < REPAIR_EVERY_MS) return;
    lastRepair = Date.now();
    for (const row of await selectUnsubmitted(pool, REPAIR_AFTER_SECONDS, DUE_BATCH)) await submit(row, row.fire_at);
  }

  async function run(): Promise<void> {
    while (!stopping.signal.aborted) {
      let waitMs = schedulePollMs;
      try {
        await tick();
        await repair();
        const next = await earliestNextFire(pool);
        if (next) waitMs = Math.min(waitMs, Math.max(next.getTime() - Date.now(), BUSY_RETRY_MS * (next.getTime() <= Date.now() ? 1 : 0)));
        lastError = null;
      } catch (error) {
        lastError = (error as Error).message;
        log.warn({ err: error }, 'schedule loop failed; retrying');
        waitMs = Math.min(waitMs, 1000);
      }
      if (stopping.signal.aborted) break;
      await sleep(waitMs);
    }
  }

  /** A row as it should be stored after a change: fire times of a disabled period or an old expression are not "missed". */
  function withTiming(row: ScheduleRow, restart: boolean): ScheduleRow {
    const now = new Date();
    const cron = parseCron(row.cron, row.timezone);
    return { ...row, checked_through: restart ? now : row.checked_through, next_fire_at: row.enabled ? cron.nextRun(now) : null };
  }

  return {
    name: 'schedules',
    tick,
    async create(body, actor) {
      const timezone = body.timezone ?? 'UTC';
      parseCron(body.cron, timezone);
      const request = compact({ agent: body.agent, pattern: body.pattern, agents: body.agents, options: body.options, input: body.input });
      await deps.planner.plan({ ...request, input: request.input ?? null }, actor);
      const now = new Date();
      const row = await withTransaction(pool, async (client) => {
        const inserted = await insertSchedule(
          client,
          withTiming(
            {
              id: randomUUID(),
              name: body.name,
              owner: actor.username,
              owner_id: actor.id ?? null,
              owner_role: actor.role,
              cron: body.cron,
              timezone,
              request,
              missed_policy: body.missedPolicy ?? 'skip',
              enabled: body.enabled ?? true,
              checked_through: now,
              next_fire_at: null,
              created_at: now,
              updated_at: now,
            },
            true,
          ),
        );
        await audit.record(client, { actor, action: 'schedule.create', target: { type: 'schedule', id: inserted.id }, detail: { name: inserted.name, cron: inserted.cron, timezone, request: { ...request, input: undefined } } });
        await notifyChanged(client, inserted.id);
        return inserted;
      });
      wake();
      return toSchedule(row);
    },
    async list() {
      return (await listSchedules(pool)).map(toSchedule);
    },
    async get(id) {
      const row = await load(id);
      const fires = await recentFires(pool, id, 20);
      return { ...toSchedule(row), recentFires: fires.map((f) => ({ fireAt: f.fire_at.toISOString(), missed: f.missed, runId: f.run_id, error: f.error })) };
    },
    async update(id, body, actor) {
      await load(id);
      const row = await withTransaction(pool, async (client) => {
        const current = await selectSchedule(client, id, true);
        if (!current) throw new NotFoundError('schedule');
        const targetChanged = body.agent !== undefined || body.pattern !== undefined || body.agents !== undefined || body.options !== undefined;
        const old = current.request;
        // A new agent or pattern replaces the target; agents/options alone change it in place.
        const target = targetChanged
          ? {
              agent: body.agent ?? (body.pattern === undefined ? old.agent : undefined),
              pattern: body.pattern ?? (body.agent === undefined ? old.pattern : undefined),
              agents: body.agents ?? (body.agent === undefined ? old.agents : undefined),
              options: body.options ?? old.options,
            }
          : { agent: old.agent, pattern: old.pattern, agents: old.agents, options: old.options };
        const request = compact({ ...target, input: body.input === undefined ? old.input : body.input });
        const next: ScheduleRow = {
          ...current,
          name: body.name ?? current.name,
          cron: body.cron ?? current.cron,
          timezone: body.timezone ?? current.timezone,
          request,
          missed_policy: body.missedPolicy ?? current.missed_policy,
          enabled: body.enabled ?? current.enabled,
        };
        parseCron(next.cron, next.timezone);
        await deps.planner.plan({ ...next.request, input: next.request.input ?? null }, ownerOf(next));
        const restart = (next.enabled && !current.enabled) || next.cron !== current.cron || next.timezone !== current.timezone;
        const updated = await updateSchedule(client, withTiming(next, restart));
        const action = body.enabled !== undefined && body.enabled !== current.enabled && Object.keys(body).length === 1 ? (body.enabled ? 'schedule.enable' : 'schedule.disable') : 'schedule.update';
        await audit.record(client, { actor, action, target: { type: 'schedule', id }, detail: { changed: Object.keys(body) } });
        await notifyChanged(client, id);
        return updated;
      });
      wake();
      return toSchedule(row);
    },
    async remove(id, actor) {
      await load(id);
      await withTransaction(pool, async (client) => {
        await removeAudited(client, audit, { actor, target: { type: 'schedule', id } }, () => deleteSchedule(client, id));
        await notifyChanged(client, id);
      });
    },
    async start() {
      unlisten = deps.listener.listen(SCHEDULES_CHANNEL, () => wake());
      loop = run();
    },
    async stop() {
      stopping.abort();
      unlisten?.();
      wake();
      await loop;
    },
    health() {
      return { fired, lastError };
    },
  };
}
