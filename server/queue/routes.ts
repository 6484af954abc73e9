import express, { type Request } from 'express';
import type pg from 'pg';
import { z } from 'zod';
import {
  createRunSchema,
  eventsQuerySchema,
  isFinalStatus,
  listRunsQuerySchema,
  runDecisionSchema,
  runInputSchema,
  type Run,
  type RunEvent,
} from '../../shared/protocol.js';
import { canSeeRun, requireRole } from '../auth/roles.js';
import type { AuthUser } from '../auth/types.js';
import type { Config } from '../config/config.js';
import { badRequest, conflict, notFound, parse, unauthorized } from '../http/errors.js';
import { describeRoutes } from '../openapi/describe.js';
import { approvalsRoute, decideInput } from './approvals.js';
import { answerInput, cancelRun, getRun, listEvents, listRuns, type ControlResult } from './sql/control.js';
import { toEvent, toRun, type RunRow } from './sql/rows.js';
import { loadSteps } from './sql/worker-writes.js';
import type { SubmitRun } from './submit.js';
import type { EventSink, RunPlanner } from './types.js';

export const MAX_PREFER_WAIT_SECONDS = 60;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface RoutesDeps {
  config: Config;
  pool: pg.Pool;
  planner: RunPlanner;
  submitRun: SubmitRun;
  sink: EventSink;
  /** New work was committed: claim it here without waiting for the NOTIFY round trip. */
  wake(): void;
  /** A cancel for a run that may be running on this instance. */
  cancelLocal(runId: string): void;
  /** Resolves when the run is final, `ms` passed, or `signal` aborted. */
  waitForFinal(runId: string, ms: number, signal: AbortSignal): Promise<void>;
  /** How long POST …/cancel waits for a running run to reach `cancelled` before answering. */
  cancelWaitMs: number;
}

/** `Prefer: wait=<seconds>` (RFC 7240), capped at 60 s; 0 when absent or malformed. */
export function preferWaitSeconds(header: string | undefined): number {
  if (!header) return 0;
  const seconds = /(?:^|[\s,;])wait\s*=\s*"?(\d{1,6})"?/i.exec(header)?.[1];
  if (seconds === undefined) return 0;
  return Math.min(MAX_PREFER_WAIT_SECONDS, Number.parseInt(seconds, 10));
}

const cursorSchema = z.tuple([z.string().regex(/^\d{1,20}$/), z.string().regex(UUID)]);

export function encodeCursor(createdAtMicros: string, id: string): string {
  return Buffer.from(JSON.stringify([createdAtMicros, id])).toString('base64url');
}

function decodeCursor(cursor: string): { createdAtMicros: string; id: string } {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw badRequest('query.cursor: not a cursor this server issued');
  }
  const parsed = cursorSchema.safeParse(value);
  if (!parsed.success) throw badRequest('query.cursor: not a cursor this server issued');
  return { createdAtMicros: parsed.data[0], id: parsed.data[1] };
}

const idempotencyHeaderSchema = z.string().min(1).max(200);

/** Runs under /api (docs/API.md section 3). */
export function createRunsRouter(deps: RoutesDeps): express.Router {
  const { pool, planner, sink } = deps;
  const router = express.Router();

  const userOf = (req: Request): AuthUser => {
    if (!req.user) throw unauthorized();
    return req.user;
  };

  const publish = (row: ControlResult) => {
    const event: RunEvent = { seq: row.seq, runId: row.id, type: row.type, data: row.data, at: row.at.toISOString() };
    try {
      sink.event(event, row.owner);
    } catch {
      // Live delivery is best effort; the event is stored.
    }
  };

  async function withSteps(rows: RunRow[]): Promise<Run[]> {
    const steps = await loadSteps(pool, rows.map((r) => r.id));
    const byRun = new Map<string, typeof steps>();
    for (const step of steps) {
      const list = byRun.get(step.run_id) ?? [];
      list.push(step);
      byRun.set(step.run_id, list);
    }
    return rows.map((row) => toRun(row, byRun.get(row.id) ?? []));
  }

  async function visibleRun(req: Request, id: string): Promise<RunRow> {
    const user = userOf(req);
    if (!UUID.test(id)) throw notFound('run');
    const row = await getRun(pool, id);
    // Someone else's run is indistinguishable from a missing one.
    if (!row || !canSeeRun(user, row.owner)) throw notFound('run');
    return row;
  }

  async function runJson(id: string): Promise<Run> {
    const row = await getRun(pool, id);
    if (!row) throw notFound('run');
    const [run] = await withSteps([row]);
    if (!run) throw new Error(`run ${id}: withSteps returned no run`);
    return run;
  }

  /** Waits (client disconnect ends the wait) and reports whether the run is now final. */
  async function waitFinal(req: Request, id: string, ms: number): Promise<Run> {
    const gone = new AbortController();
    const onClose = () => gone.abort();
    req.socket.once('close', onClose);
    try {
      await deps.waitForFinal(id, ms, gone.signal);
    } finally {
      req.socket.off('close', onClose);
    }
    return runJson(id);
  }

  router.post('/runs', requireRole('operator'), async (req, res) => {
    const user = userOf(req);
    const body = parse(createRunSchema, req.body);
    const headerKey = req.get('Idempotency-Key');
    const idempotencyKey = body.idempotencyKey ?? (headerKey === undefined ? undefined : parse(idempotencyHeaderSchema, headerKey, 'header Idempotency-Key'));
    const plan = await planner.plan(body, user);
    const waitSeconds = preferWaitSeconds(req.get('Prefer'));
    const { run: row, created } = await deps.submitRun(plan, user, {
      via: 'http',
      idempotencyKey: idempotencyKey ?? null,
      priority: body.priority,
      awaitFinish: waitSeconds > 0,
      callbackUrl: body.callbackUrl ?? null,
    });
    res.set('Location', `/api/runs/${row.id}`);
    if (waitSeconds > 0) {
      res.set('Preference-Applied', `wait=${waitSeconds}`);
      let run: Run;
      try {
        run = isFinalStatus(row.status) ? await runJson(row.id) : await waitFinal(req, row.id, waitSeconds * 1000);
      } catch (error) {
        // Created here: an error now (a 503 from an exhausted pool) would make a client that
        // retries without an idempotency key create a second run. Answer with the run as created.
        if (!created) throw error;
        run = toRun(row, []);
      }
      res.status(isFinalStatus(run.status) ? 200 : 202).json({ run });
      return;
    }
    // A run just created has no steps: answering needs no second query, so a busy pool
    // cannot turn an accepted run into a 503 that the client would retry as a duplicate.
    res.status(202).json({ run: created ? toRun(row, []) : (await withSteps([row]))[0] });
  });

  router.get('/runs', async (req, res) => {
    const user = userOf(req);
    const query = parse(listRunsQuerySchema, req.query, 'query');
    let owner = query.owner;
    if (user.role !== 'admin') {
      if (owner !== undefined && owner !== user.username) {
        res.json({ runs: [], nextCursor: null });
        return;
      }
      owner = user.username;
    }
    const rows = await listRuns(pool, {
      owner,
      status: query.status,
      before: query.cursor === undefined ? undefined : decodeCursor(query.cursor),
      limit: query.limit,
    });
    const page = rows.slice(0, query.limit);
    const last = page[page.length - 1];
    const nextCursor = rows.length > query.limit && last ? encodeCursor(last.created_us, last.id) : null;
    res.json({ runs: await withSteps(page), nextCursor });
  });

  router.get('/runs/:id', async (req, res) => {
    const row = await visibleRun(req, String(req.params.id));
    res.json({ run: (await withSteps([row]))[0] });
  });

  router.get('/runs/:id/events', async (req, res) => {
    const query = parse(eventsQuerySchema, req.query, 'query');
    const row = await visibleRun(req, String(req.params.id));
    const events = await listEvents(pool, row.id, query.after, query.limit);
    res.json({ events: events.map(toEvent) });
  });

  router.post('/runs/:id/cancel', requireRole('operator'), async (req, res) => {
    const user = userOf(req);
    const row = await visibleRun(req, String(req.params.id));
    if (isFinalStatus(row.status)) throw conflict(`run is already ${row.status}`);
    const result = await cancelRun(pool, row.id, user.username);
    if (!result) {
      const now = await runJson(row.id);
      throw conflict(`run is already ${now.status}`);
    }
    publish(result);
    if (result.status === 'running') {
      deps.cancelLocal(row.id);
      const run = await waitFinal(req, row.id, deps.cancelWaitMs);
      res.json({ run });
      return;
    }
    res.json({ run: await runJson(row.id) });
  });

  approvalsRoute(router, { pool, userOf });

  router.post('/runs/:id/input', requireRole('operator'), async (req, res) => {
    const user = userOf(req);
    if (typeof req.body === 'object' && req.body !== null && 'approvalId' in req.body) {
      // A decision on one of several pending requests (tool approvals, unknown outcomes).
      const row = await visibleRun(req, String(req.params.id));
      const decided = await decideInput(pool, row.id, req.body, user);
      publish(decided.event);
      if (decided.remaining === 0) deps.wake();
      res.json({ run: await runJson(row.id) });
      return;
    }
    const body = parse(runInputSchema, req.body);
    const row = await visibleRun(req, String(req.params.id));
    if (row.status !== 'awaiting_input') throw conflict(`run is ${row.status}, not awaiting_input`);
    if (Array.isArray((row.pending_input as { requests?: unknown } | null)?.requests)) {
      throw badRequest('body: this run waits for decisions: send {"approvalId", "decision"} (GET /api/approvals lists them)');
    }
    const result = await answerInput(pool, row.id, body.answer, user.username);
    if (!result) throw conflict('run is no longer awaiting_input');
    publish(result);
    deps.wake();
    res.json({ run: await runJson(row.id) });
  });

  const runParams = z.object({ id: z.uuid() });
  const tags = ['runs'];
  describeRoutes(router, [
    {
      method: 'post',
      path: '/runs',
      tags,
      roles: ['operator'],
      summary: 'Start a run of an agent or a pattern',
      description: '`Prefer: wait=<s>` (up to 60) answers when the run is final; `Idempotency-Key` (or `idempotencyKey`) names one run. An API key restricted to agents gets 403 for others.',
      headers: z.object({ prefer: z.string().optional(), 'idempotency-key': idempotencyHeaderSchema.optional() }),
      body: createRunSchema,
      responses: { 200: { description: 'final within the wait: {run}' }, 202: { description: 'queued: {run}' }, 403: { description: 'role, or an agent the API key may not run' }, 404: { description: 'unknown agent or pattern' } },
    },
    { method: 'get', path: '/runs', tags, summary: 'Runs, newest first (your own unless admin)', query: listRunsQuerySchema, responses: { 200: { description: '{runs, nextCursor}' } } },
    { method: 'get', path: '/runs/:id', tags, summary: 'One run with its steps', params: runParams, responses: { 200: { description: '{run}' }, 404: { description: 'no such run, or not yours' } } },
    { method: 'get', path: '/runs/:id/events', tags, summary: "A run's stored events after a seq", params: runParams, query: eventsQuerySchema, responses: { 200: { description: '{events}' }, 404: { description: 'no such run, or not yours' } } },
    { method: 'post', path: '/runs/:id/cancel', tags, roles: ['operator'], summary: 'Cancel a run', params: runParams, responses: { 200: { description: '{run}' }, 404: { description: 'no such run' }, 409: { description: 'already final' } } },
    {
      method: 'post',
      path: '/runs/:id/input',
      tags,
      roles: ['operator'],
      summary: 'Answer a run awaiting input, or decide one of its pending requests',
      params: runParams,
      body: z.union([runInputSchema, runDecisionSchema]),
      responses: { 200: { description: '{run}' }, 404: { description: 'no such run' }, 409: { description: 'not waiting' } },
    },
    { method: 'get', path: '/approvals', tags: ['approvals'], summary: 'Pending tool requests you may decide', responses: { 200: { description: '{approvals}' } } },
  ]);
  return router;
}
