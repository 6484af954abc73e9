import type pg from 'pg';
import type { RunEvent } from '../../shared/protocol.js';
import type { ThreadEvent } from '../../shared/threads.js';
import type { TopicProvider, TopicSubscriber } from '../hub/types.js';
import type { Logger } from '../log.js';
import { messagesAfter } from './sql/messages.js';
import { canSeeThread, toMessage } from './sql/rows.js';
import { getThread } from './sql/threads.js';
import type { ThreadNotice } from './types.js';

const PAGE = 500;

interface Watched {
  owner: string;
  ownerId: string | null;
  /** Per subscriber: the newest message seq it was sent. */
  subscribers: Map<TopicSubscriber, number>;
  activeRunId: string | null;
  /** Fills run one after another: messages go out in seq order, each once. */
  chain: Promise<void>;
}

export interface ThreadTopics extends TopicProvider {
  /** A thread changed (a notice from any instance, this one included). */
  notice(notice: ThreadNotice): void;
  /** Reads every watched thread again (a missed notification costs latency, never a message). */
  reconcile(): void;
  size(): number;
}

/**
 * The `thread:<id>` topic (docs/websocket.md): the thread's messages in seq order, from
 * `after` on (read from thread_messages, so a reconnect resumes without a gap), a
 * `thread.run` frame whenever a run starts answering, and that run's own events and
 * tokens as they reach this instance's hub. Someone else's thread answers like a missing one.
 */
export function createThreadTopics(deps: { pool: pg.Pool; logger: Logger }): ThreadTopics {
  const { pool, logger } = deps;
  const watched = new Map<string, Watched>();
  const bySub = new Map<TopicSubscriber, Set<string>>();
  const runToThread = new Map<string, string>();

  const topicOf = (id: string) => `thread:${id}`;
  const frame = (id: string, event: ThreadEvent | RunEvent) => JSON.stringify({ type: 'event', topic: topicOf(id), event });

  function follow(id: string, entry: Watched, runId: string | null): void {
    if (entry.activeRunId === runId) return;
    if (entry.activeRunId) runToThread.delete(entry.activeRunId);
    entry.activeRunId = runId;
    if (runId) runToThread.set(runId, id);
  }

  /** Sends each subscriber the messages it has not had yet, in order. */
  async function fill(id: string, entry: Watched): Promise<void> {
    for (;;) {
      if (entry.subscribers.size === 0) return;
      const from = Math.min(...entry.subscribers.values());
      const rows = await messagesAfter(pool, id, from, PAGE);
      for (const row of rows) {
        const message = toMessage(row);
        const text = frame(id, { type: 'thread.message', seq: message.seq, threadId: id, data: { message } });
        for (const [sub, last] of entry.subscribers) {
          if (message.seq <= last) continue;
          sub.send(text);
          entry.subscribers.set(sub, message.seq);
        }
      }
      if (rows.length < PAGE) return;
    }
  }

  function schedule(id: string, entry: Watched): void {
    entry.chain = entry.chain.then(() => fill(id, entry)).catch((error: unknown) => logger.warn({ err: error, threadId: id }, 'thread topic fill failed'));
  }

  function drop(sub: TopicSubscriber, id: string): void {
    const entry = watched.get(id);
    if (entry) {
      entry.subscribers.delete(sub);
      if (entry.subscribers.size === 0) {
        follow(id, entry, null);
        watched.delete(id);
      }
    }
    const ids = bySub.get(sub);
    ids?.delete(id);
    if (ids?.size === 0) bySub.delete(sub);
  }

  function runEvent(event: RunEvent): void {
    const id = runToThread.get(event.runId);
    const entry = id === undefined ? undefined : watched.get(id);
    if (!id || !entry) return;
    const text = frame(id, event);
    for (const sub of entry.subscribers.keys()) sub.send(text);
  }

  function runChanged(id: string, entry: Watched, runId: string, seq: number): void {
    if (runId === entry.activeRunId) return;
    follow(id, entry, runId);
    const text = frame(id, { type: 'thread.run', seq, threadId: id, data: { runId } });
    for (const sub of entry.subscribers.keys()) sub.send(text);
  }

  return {
    prefix: 'thread',
    async subscribe(sub, id, after) {
      const thread = await getThread(pool, id);
      // Someone else's thread is indistinguishable from a missing one.
      if (!thread || !canSeeThread(sub.user, thread)) return 'not_found';
      if (!sub.open) return 'subscribed';
      let entry = watched.get(id);
      if (!entry) {
        entry = { owner: thread.owner, ownerId: thread.owner_id, subscribers: new Map(), activeRunId: null, chain: Promise.resolve() };
        watched.set(id, entry);
      }
      // Without `after`, only what comes next; with it, everything after it first.
      entry.subscribers.set(sub, after ?? thread.last_seq);
      let ids = bySub.get(sub);
      if (!ids) bySub.set(sub, (ids = new Set()));
      ids.add(id);
      follow(id, entry, thread.active_run_id);
      sub.send(JSON.stringify({ type: 'subscribed', topic: topicOf(id) }));
      if (thread.active_run_id) sub.send(frame(id, { type: 'thread.run', seq: thread.last_seq, threadId: id, data: { runId: thread.active_run_id } }));
      schedule(id, entry);
      await entry.chain;
      return 'subscribed';
    },
    unsubscribe: drop,
    // Only messages are stored and replayed by `after`; thread.run frames and the run's own events are live.
    cursorOf: (event) => (event.type === 'thread.message' ? event.seq : undefined),
    recheck(sub) {
      const lost: string[] = [];
      for (const id of [...(bySub.get(sub) ?? [])]) {
        const entry = watched.get(id);
        if (entry && !canSeeThread(sub.user, { owner: entry.owner, owner_id: entry.ownerId })) {
          drop(sub, id);
          lost.push(topicOf(id));
        }
      }
      return lost;
    },
    holds: (sub, id) => bySub.get(sub)?.has(id) ?? false,
    count: (sub) => bySub.get(sub)?.size ?? 0,
    removeAll(sub) {
      for (const id of [...(bySub.get(sub) ?? [])]) drop(sub, id);
    },
    wantsRun: (runId) => runToThread.has(runId),
    runEvent,
    runToken: runEvent,
    notice(notice) {
      const entry = watched.get(notice.threadId);
      if (!entry) return;
      if (notice.runId) runChanged(notice.threadId, entry, notice.runId, notice.seq);
      schedule(notice.threadId, entry);
    },
    reconcile() {
      for (const [id, entry] of watched) {
        entry.chain = entry.chain
          .then(async () => {
            const thread = await getThread(pool, id);
            if (thread?.active_run_id) runChanged(id, entry, thread.active_run_id, thread.last_seq);
            await fill(id, entry);
          })
          .catch((error: unknown) => logger.warn({ err: error, threadId: id }, 'thread topic reconcile failed'));
      }
    },
    size: () => watched.size,
  };
}
