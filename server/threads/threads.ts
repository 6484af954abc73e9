import { randomUUID } from 'node:crypto';
import type express from 'express';
import type pg from 'pg';
import { z } from 'zod';
import { isFinalStatus, type Run, type RunEvent, type RunStatus } from '../../shared/protocol.js';
import type { CreateThreadBody, Thread, ThreadMessage, UpdateThreadBody } from '../../shared/threads.js';
import type { AuthUser } from '../auth/types.js';
import type { Config } from '../config/config.js';
import type { Listener } from '../db/listener.js';
import { withTransaction } from '../db/transaction.js';
import { ConflictError, DomainError, NotFoundError, ValidationError } from '../domain/errors.js';
import type { Hub } from '../hub/types.js';
import type { Part } from '../lifecycle/part.js';
import type { Logger } from '../log.js';
import { selectRun, selectRunStatus, toRun } from '../queue/reads.js';
import { createThreadsRouter } from './routes.js';
import { appendMessage, messagesAfter } from './sql/messages.js';
import { canSeeThread, THREADS_CHANNEL, toMessage, toThread, type ThreadRow } from './sql/rows.js';
import { answered, reopenMessage, deleteThread, getThread, insertThread, listThreads, lockThread, markDispatched, markUnanswerable, notifyThread, pendingThreads, threadOfRun, updateThread } from './sql/threads.js';
import { appendLocked } from './store.js';
import { createThreadTopics } from './topic.js';
import type { ThreadNotice, ThreadPlanner, ThreadQueue } from './types.js';

export interface PostResult {
  message: ThreadMessage;
  /** The run answering it: started now, the run it answered (an escalation), or null while it waits its turn. */
  run: Run | null;
  /** What happened: `answering` (a run started), `queued` (waits for the active run), `answered_escalation`. */
  status: 'answering' | 'queued' | 'answered_escalation';
}

export interface Threads extends Part {
  /** Mounted under /api: /threads… */
  router: express.Router;
  create(actor: AuthUser, body: CreateThreadBody): Promise<Thread>;
  /** The actor's own threads, newest first; `cursor` is the previous page's `nextCursor`. */
  list(actor: AuthUser, query: { limit: number; cursor?: string; archived?: boolean }): Promise<{ threads: Thread[]; nextCursor: string | null }>;
  get(actor: AuthUser, id: string): Promise<Thread>;
  update(actor: AuthUser, id: string, patch: UpdateThreadBody): Promise<Thread>;
  remove(actor: AuthUser, id: string): Promise<void>;
  post(actor: AuthUser, id: string, content: string): Promise<PostResult>;
  messages(actor: AuthUser, id: string, after: number, limit: number): Promise<ThreadMessage[]>;
  /** Answers again the messages whose run failed or was cancelled without an answer; 409 when there is none. */
  retry(actor: AuthUser, id: string): Promise<PostResult['run']>;
  /** Answers the waiting messages of a thread if no run is answering it (idempotent; any instance). */
  dispatch(threadId: string): Promise<string | null>;
  /** A run event this instance stored (the queue's sink): a thread's run ended, so its next message is answered. */
  runEvent(event: RunEvent): void;
}

const cursorSchema = z.tuple([z.string().regex(/^\d{1,20}$/), z.uuid()]);

function decodeCursor(cursor: string): { createdAtMicros: string; id: string } {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    value = null;
  }
  const parsed = cursorSchema.safeParse(value);
  if (!parsed.success) throw new ValidationError('query.cursor: not a cursor this server issued', [{ path: 'cursor', message: 'invalid' }]);
  return { createdAtMicros: parsed.data[0], id: parsed.data[1] };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const FINAL_EVENTS = new Set(['run.succeeded', 'run.failed', 'run.cancelled']);

/**
 * Conversations (issue #15): threads of messages answered by runs of an agent or
 * pattern. Messages are stored once; a run's plan references its thread and the seq it
 * answers through. At most one run answers a thread at a time: a message that arrives
 * meanwhile follows the thread's policy (enqueue, reject, interrupt), and the waiting
 * messages are answered together when the active run ends (on the instance that wrote
 * its end, or by any instance's periodic backstop after a crash).
 */
export function createThreads(deps: { config: Config; logger: Logger; pool: pg.Pool; listener: Listener; planner: ThreadPlanner; queue: ThreadQueue; hub?: Pick<Hub, 'addTopics' | 'streamTopic'> }): Threads {
  const { config, pool, listener, planner, queue } = deps;
  const log = deps.logger.child({ part: 'threads' });
  const topics = createThreadTopics({ pool, logger: log });
  deps.hub?.addTopics(topics);
  let timer: NodeJS.Timeout | undefined;
  let unlisten: (() => void) | undefined;
  let running = false;
  const inFlight = new Set<Promise<unknown>>();

  const track = <T>(p: Promise<T>): Promise<T> => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p)).catch(() => undefined);
    return p;
  };

  async function visible(actor: AuthUser, id: string): Promise<ThreadRow> {
    if (!UUID.test(id)) throw new NotFoundError('thread');
    const row = await getThread(pool, id);
    // Someone else's thread is indistinguishable from a missing one.
    if (!row || !canSeeThread(actor, row)) throw new NotFoundError('thread');
    return row;
  }

  const actorOf = (thread: ThreadRow): AuthUser => ({ id: thread.owner_id ?? undefined, username: thread.owner, role: 'operator' });
  const specOf = (t: Pick<ThreadRow, 'agent' | 'pattern' | 'agents' | 'options'>) => ({ agent: t.agent, pattern: t.pattern, agents: t.agents, options: t.options });
  const activeStatus = async (thread: ThreadRow): Promise<RunStatus | null> => (thread.active_run_id ? selectRunStatus(pool, thread.active_run_id) : null);
  const busy = (status: RunStatus | null) => status !== null && !isFinalStatus(status);

  /** With the thread row locked in `client`'s transaction: submits the run answering its waiting messages, if it may. */
  async function dispatchLocked(client: pg.PoolClient, thread: ThreadRow, retryOf: string | null = null): Promise<string | null> {
    const threadId = thread.id;
    if (thread.archived_at || (retryOf === null && thread.last_user_seq <= thread.dispatched_seq)) return null;
    if (busy(await activeStatus(thread))) return null;
    const ref = { id: thread.id, throughSeq: thread.last_seq, summaryThrough: thread.summary_through };
    let plan;
    try {
      plan = await planner.planThread(specOf(thread), ref);
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      // The agent or pattern is gone or changed: say so in the thread rather than retry forever.
      const row = await appendMessage(client, { threadId, role: 'system', kind: 'error', content: `This thread cannot be answered: ${error.message}`, runId: null, author: null, dedupeKey: `unanswerable:${thread.last_seq}` });
      await markUnanswerable(client, threadId, row?.seq ?? thread.last_seq);
      await notifyThread(client, { threadId, owner: thread.owner, seq: row?.seq ?? thread.last_seq });
      return null;
    }
    // The same key names the same run: a dispatch that dies before its commit is redone without a second run.
    const key = `thread:${thread.id}:${thread.last_seq}${retryOf ? `:retry:${retryOf}` : ''}`;
    const { run } = await queue.submitRun(plan, actorOf(thread), { via: 'thread', idempotencyKey: key });
    const notice: ThreadNotice = { threadId, owner: thread.owner, seq: thread.last_seq, runId: run.id };
    // This instance's watchers follow the run before its first token (the worker may claim it now).
    topics.notice(notice);
    const previous = thread.active_run_id;
    await markDispatched(client, threadId, run.id, thread.last_seq, previous && !(await answered(client, threadId, previous)) ? previous : null);
    await notifyThread(client, notice);
    log.debug({ threadId, runId: run.id }, 'thread run submitted');
    return run.id;
  }

  async function dispatch(threadId: string): Promise<string | null> {
    return withTransaction(pool, async (client) => {
      const thread = await lockThread(client, threadId);
      return thread ? dispatchLocked(client, thread) : null;
    });
  }

  async function onRunEnd(event: RunEvent): Promise<void> {
    const thread = await threadOfRun(pool, event.runId);
    if (!thread) return;
    if (event.type === 'run.failed') {
      const error = event.data.error as { message?: unknown } | undefined;
      const content = `The answer failed: ${typeof error?.message === 'string' ? error.message : 'unknown error'}`;
      await appendLocked(pool, { threadId: thread.id, role: 'system', kind: 'error', content, runId: event.runId, author: null, dedupeKey: `error:${event.runId}` }, (t) => t.active_run_id === event.runId);
    }
    await dispatch(thread.id);
  }

  async function backstop(): Promise<void> {
    const ids = await pendingThreads(pool, 100);
    for (const id of ids) {
      if (!running) return;
      await dispatch(id).catch((error: unknown) => log.warn({ err: error, threadId: id }, 'thread dispatch failed'));
    }
    topics.reconcile();
  }

  const router = createThreadsRouter({
    create: (a, b) => threads.create(a, b),
    list: (a, q) => threads.list(a, q),
    get: (a, id) => threads.get(a, id),
    update: (a, id, p) => threads.update(a, id, p),
    remove: (a, id) => threads.remove(a, id),
    post: (a, id, c) => threads.post(a, id, c),
    messages: (a, id, after, limit) => threads.messages(a, id, after, limit),
    retry: (a, id) => threads.retry(a, id),
  }, deps.hub?.streamTopic('thread'));

  const threads: Threads = {
    name: 'threads',
    router,
    async create(actor, body) {
      const spec = { agent: body.agent ?? null, pattern: body.pattern ?? null, agents: body.agents ?? null, options: body.options ?? null };
      const id = randomUUID();
      // Planning validates the agent or pattern, its agents and options now, not at the first message.
      await planner.planThread(spec, { id, throughSeq: 1, summaryThrough: 0 });
      const row = await insertThread(pool, { id, owner: actor.username, ownerId: actor.id ?? null, ...spec, title: body.title ?? null, policy: body.policy ?? 'enqueue' });
      return toThread(row);
    },
    async list(actor, query) {
      const before = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
      const rows = await listThreads(pool, { owner: actor.username, ownerId: actor.id ?? null, archived: query.archived, before, limit: query.limit });
      const page = rows.slice(0, query.limit);
      const last = page[page.length - 1];
      const nextCursor = rows.length > query.limit && last ? Buffer.from(JSON.stringify([last.created_us, last.id])).toString('base64url') : null;
      return { threads: page.map(toThread), nextCursor };
    },
    async get(actor, id) {
      return toThread(await visible(actor, id));
    },
    async update(actor, id, patch) {
      await visible(actor, id);
      const row = await updateThread(pool, id, patch);
      if (!row) throw new NotFoundError('thread');
      return toThread(row);
    },
    async remove(actor, id) {
      const thread = await visible(actor, id);
      // Its answering run stops first: it would only find the thread gone.
      if (thread.active_run_id && busy(await activeStatus(thread))) await queue.cancel(thread.active_run_id, actor.username);
      await deleteThread(pool, id);
    },
    async messages(actor, id, after, limit) {
      await visible(actor, id);
      return (await messagesAfter(pool, id, after, limit)).map(toMessage);
    },
    async post(actor, id, content) {
      await visible(actor, id);
      let cancel: string | null = null;
      let escalated: string | null = null;
      const message = await withTransaction(pool, async (client) => {
        const thread = await lockThread(client, id);
        if (!thread) throw new NotFoundError('thread');
        if (thread.archived_at) throw new ConflictError('the thread is archived: unarchive it to post');
        const status = await activeStatus(thread);
        if (status === 'awaiting_input' && thread.active_run_id) {
          // The run asked a person (an escalation): this message is the answer, not a new turn.
          const { rows } = await client.query<{ kind: string; run_id: string | null }>({
            name: 'threads_last_message',
            text: 'SELECT kind, run_id FROM thread_messages WHERE thread_id = $1 ORDER BY seq DESC LIMIT 1',
            values: [id],
          });
          if (rows[0]?.kind === 'escalation' && rows[0].run_id === thread.active_run_id) escalated = thread.active_run_id;
        }
        if (!escalated && busy(status)) {
          if (thread.policy === 'reject') throw new ConflictError('a run is still answering this thread (policy "reject"): wait for its answer');
          if (thread.policy === 'interrupt') cancel = thread.active_run_id;
        }
        const row = await appendMessage(client, { threadId: id, role: 'user', kind: 'message', content, runId: escalated, author: actor.username, dedupeKey: null });
        if (!row) throw new NotFoundError('thread');
        // An answer to an escalation is handled by the run it answers: nothing waits for a new run.
        if (escalated) await markDispatched(client, id, escalated, row.seq);
        await notifyThread(client, { threadId: id, owner: thread.owner, seq: row.seq });
        // Still under the lock: a concurrent post on any instance sees this run as active.
        const locked = escalated || cancel || busy(status) ? null : await lockThread(client, id);
        const runId = locked ? await dispatchLocked(client, locked) : null;
        return { row, runId };
      });
      if (escalated) {
        if (await queue.answer(escalated, content, actor.username)) return { message: toMessage(message.row), run: await runOf(escalated), status: 'answered_escalation' };
        // The run stopped waiting meanwhile (cancelled, answered elsewhere): the message is a new turn.
        await reopenMessage(pool, id, message.row.seq);
        const runId = await dispatch(id);
        return { message: toMessage({ ...message.row, run_id: runId }), run: runId ? await runOf(runId) : null, status: runId ? 'answering' : 'queued' };
      }
      // Interrupt: the active run is cancelled; the waiting messages are answered together once it has
      // ended (at once when it was not running yet, otherwise when its end is written).
      if (cancel) await queue.cancel(cancel, actor.username);
      const runId = message.runId ?? (cancel ? await dispatch(id) : null);
      return { message: toMessage({ ...message.row, run_id: runId ?? message.row.run_id }), run: runId ? await runOf(runId) : null, status: runId ? 'answering' : 'queued' };
    },
    async retry(actor, id) {
      await visible(actor, id);
      const runId = await withTransaction(pool, async (client) => {
        const thread = await lockThread(client, id);
        if (!thread) throw new NotFoundError('thread');
        const previous = thread.active_run_id;
        const status = await activeStatus(thread);
        if (!previous || (status !== 'failed' && status !== 'cancelled') || (await answered(client, id, previous))) {
          throw new ConflictError('nothing to retry: the last answer did not fail');
        }
        return dispatchLocked(client, thread, previous);
      });
      return runId ? runOf(runId) : null;
    },
    dispatch,
    runEvent(event) {
      if (!FINAL_EVENTS.has(event.type) || !running) return;
      void track(onRunEnd(event)).catch((error: unknown) => log.warn({ err: error, runId: event.runId }, 'thread follow-up of a run failed; the backstop retries'));
    },
    async start() {
      running = true;
      unlisten = listener.listen(THREADS_CHANNEL, (payload) => {
        let notice: ThreadNotice;
        try {
          notice = JSON.parse(payload) as ThreadNotice;
        } catch {
          return;
        }
        if (typeof notice?.threadId === 'string') topics.notice(notice);
      });
      listener.on('reconnected', topics.reconcile);
      const loop = () => {
        timer = setTimeout(() => {
          void track(backstop())
            .catch((error: unknown) => log.warn({ err: error }, 'thread backstop failed'))
            .finally(() => {
              if (running) loop();
            });
        }, config.threads.dispatchIntervalMs);
        timer.unref();
      };
      loop();
    },
    async stop() {
      running = false;
      clearTimeout(timer);
      unlisten?.();
      listener.off('reconnected', topics.reconcile);
      await Promise.allSettled([...inFlight]);
    },
    health: () => ({ watchedThreads: topics.size() }),
  };

  /** The run as the API shows it, without its steps (GET /api/runs/:id has them). */
  async function runOf(runId: string): Promise<Run | null> {
    const row = await selectRun(pool, runId);
    return row ? toRun(row, []) : null;
  }

  return threads;
}
