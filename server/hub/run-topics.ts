import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import type { RunEvent } from '../../shared/protocol.js';
import type { AuthUser } from '../auth/types.js';
import type { Logger } from '../log.js';
import { selectEventsAfter, selectRunHead, selectRunHeads } from '../queue/reads.js';
import { createStepTexts, type NumberedToken } from './step-text.js';

/** What run topics need from a connection. */
export interface Subscriber {
  readonly user: AuthUser;
  /** Returns false when the frame was not sent (closing, or just dropped as too slow). `done` runs once written or dropped. */
  send(frame: Buffer | string, done?: () => void): boolean;
  /** Open and not being closed. */
  readonly open: boolean;
  /** Bytes queued for this subscriber and not yet handed to the kernel. */
  readonly bufferedAmount: number;
}

interface Item {
  event: RunEvent;
  frame: Buffer;
  stored: boolean;
  /** Tokens: the run's number (step-text.ts) of the last token the delta carries; absent when unnumbered. */
  last?: number;
}

/** Consecutive text deltas of one step, received in one event-loop turn, leaving as one `run.token`. */
interface Merge {
  event: RunEvent;
  deltas: string[];
  last: number | undefined;
}

interface RunSub {
  readonly who: Subscriber;
  /** False while the stored history is being replayed; live items wait in `buffer` meanwhile. */
  live: boolean;
  /** Last stored seq sent to this subscriber. */
  lastSeq: number;
  buffer: Item[];
  /** Tokens numbered below this were already sent (the running step's text so far, at subscribe). */
  tokenFloor: number;
}

interface Topic {
  readonly runId: string;
  readonly name: string;
  owner: string | null;
  /** Last stored seq delivered to subscribers, in order; null until the run head was read. */
  lastSeq: number | null;
  ready: Promise<boolean>;
  readonly subs: Set<RunSub>;
  /** Stored events that arrived ahead of a gap, waiting for it to be filled. */
  readonly pending: Map<number, RunEvent>;
  /** Tokens that belong after a stored event not delivered yet. */
  heldTokens: RunEvent[];
  filling: boolean;
  fillTarget: number;
  /** The running fill, so tests (and shutdown) can wait for it. */
  fillLoop: Promise<void> | undefined;
  /** runs.last_seq as the previous reconcile saw it. */
  seenHead: number;
  /** Live items (stored events and tokens) that reached this topic; `heardAtReconcile`, the count the previous reconcile saw. */
  heard: number;
  heardAtReconcile: number;
  /** This turn's tokens, not sent yet. */
  merge: Merge | null;
}

export type SubscribeResult = 'subscribed' | 'not_found' | 'cancelled';

/** Why a token never reached this instance's subscribers (hub_items_dropped_total{reason}). */
export type TokenDropReason = 'held_tokens' | 'late_token';

/** Replay reads this many stored events at a time and waits for them to be written before the next page. */
const REPLAY_PAGE = 500;
const MAX_PENDING = 10_000;
const MAX_HELD_TOKENS = 2_000;
/** Longest stretch of one turn spent sending merged tokens (see flushMerges). */
const FLUSH_BUDGET_MS = 2;

/**
 * Per-run ordering and replay. Every instance keeps, per watched run, the last
 * stored seq it delivered: events (local or from other instances, in any order)
 * go out strictly in seq order, duplicates are dropped, and a gap is filled from
 * run_events. A subscriber with `after` joins the topic first (live events wait in
 * its buffer), then reads the stored history, then drains the buffer skipping what
 * the history already had: no gap, no duplicate.
 */
export function createRunTopics(deps: {
  pool: pg.Pool;
  logger: Logger;
  canSee: (user: AuthUser, owner: string) => boolean;
  /** Replay waits for the socket to drain past this many buffered bytes (well under the slow-consumer limit). */
  replayHighWaterBytes: number;
  /** Tokens dropped; counted so that loss is never silent. */
  onDropped?: (reason: TokenDropReason, count: number) => void;
}) {
  const { pool, logger } = deps;
  const topics = new Map<string, Topic>();
  const subsOf = new Map<Subscriber, Map<string, RunSub>>();
  const steps = createStepTexts();
  /** Each token's number within its run (step-text.ts), to skip what a joining subscriber already got. */
  const tokenNumbers = new WeakMap<RunEvent, number>();

  /** Topics with tokens merged this turn; sent in one pass after it. */
  const merging = new Set<Topic>();
  let mergeFlush: NodeJS.Immediate | null = null;

  function frameFor(topic: Topic, event: RunEvent): Buffer {
    return Buffer.from(JSON.stringify({ type: 'event', topic: topic.name, event }));
  }

  function deliverTo(sub: RunSub, item: Item): void {
    if (item.stored) {
      if (item.event.seq <= sub.lastSeq) return;
      sub.lastSeq = item.event.seq;
    } else if (item.event.seq < sub.lastSeq || (item.last ?? Infinity) < sub.tokenFloor) {
      // A merged token is never split by the floor: subscribe flushes the open merge before
      // taking the step's text, so the text covers every token already merged.
      return;
    }
    sub.who.send(item.frame);
  }

  function emitItem(topic: Topic, item: Item): void {
    for (const sub of topic.subs) {
      if (sub.live) deliverTo(sub, item);
      else sub.buffer.push(item);
    }
  }

  function emit(topic: Topic, event: RunEvent, stored: boolean): void {
    // This turn's tokens come before whatever follows them.
    if (topic.merge) flushMerge(topic);
    if (topic.subs.size === 0) return;
    emitItem(topic, { event, frame: frameFor(topic, event), stored });
  }

  const deltaOf = (event: RunEvent): string | undefined => {
    const delta = (event.data as { delta?: unknown }).delta;
    return typeof delta === 'string' ? delta : undefined;
  };

  function withDelta(event: RunEvent, delta: string): RunEvent {
    return { ...event, data: { ...event.data, delta } };
  }

  /** Whether `token` continues `merge`: same stored seq, same step, the next token number, nothing but a delta. */
  function continues(merge: Merge, token: RunEvent, n: number | undefined): boolean {
    const a = merge.event.data;
    const b = token.data;
    return (
      token.seq === merge.event.seq &&
      a.index === b.index &&
      a.key === b.key &&
      (merge.last === undefined ? n === undefined : n === merge.last + 1) &&
      Object.keys(b).every((k) => k === 'index' || k === 'key' || k === 'delta')
    );
  }

  /**
   * Tokens are not sent one frame each: the deltas a run's step produces in one
   * event-loop turn (a burst the model SDK parsed from one read, or one NOTIFY's
   * batch from another instance) leave as one `run.token` whose delta is their
   * text, at the end of the turn or before the run's next stored event. Fewer
   * frames, JSON encodings and writes under load; nothing waits past the turn.
   */
  function emitToken(topic: Topic, token: RunEvent): void {
    if (topic.subs.size === 0) return;
    const n = tokenNumbers.get(token);
    const delta = deltaOf(token);
    const open = topic.merge;
    if (open && delta !== undefined && continues(open, token, n)) {
      open.deltas.push(delta);
      open.last = n;
      return;
    }
    if (open) flushMerge(topic);
    if (delta === undefined) {
      emitItem(topic, { event: token, frame: frameFor(topic, token), stored: false, last: n });
      return;
    }
    topic.merge = { event: token, deltas: [delta], last: n };
    merging.add(topic);
    mergeFlush ??= setImmediate(flushMerges);
  }

  function flushMerge(topic: Topic): void {
    const merge = topic.merge;
    if (!merge) return;
    topic.merge = null;
    merging.delete(topic);
    if (topic.subs.size === 0) return;
    const event = merge.deltas.length > 1 ? withDelta(merge.event, merge.deltas.join('')) : merge.event;
    emitItem(topic, { event, frame: frameFor(topic, event), stored: false, last: merge.last });
  }

  /**
   * Sends the turn's merged tokens, within a time budget: past it the remaining
   * topics wait one more turn (pending I/O, `/live` included, goes first). Safe for
   * order: a topic's open merge still goes out before its next stored event.
   */
  function flushMerges(): void {
    mergeFlush = null;
    const until = performance.now() + FLUSH_BUDGET_MS;
    for (const topic of merging) {
      flushMerge(topic);
      if (performance.now() > until) break;
    }
    if (merging.size > 0) mergeFlush ??= setImmediate(flushMerges);
  }

  function advance(topic: Topic): void {
    if (topic.lastSeq === null) return;
    let next: RunEvent | undefined;
    while ((next = topic.pending.get(topic.lastSeq + 1))) {
      topic.pending.delete(next.seq);
      topic.lastSeq = next.seq;
      emit(topic, next, true);
    }
    for (const seq of topic.pending.keys()) if (seq <= topic.lastSeq) topic.pending.delete(seq);
    if (topic.heldTokens.length > 0) {
      const held = topic.heldTokens;
      topic.heldTokens = [];
      for (const token of held) acceptToken(topic, token);
    }
    if (topic.pending.size > 0) fill(topic, Math.max(...topic.pending.keys()));
  }

  function acceptStored(topic: Topic, event: RunEvent): void {
    if (topic.lastSeq !== null && event.seq <= topic.lastSeq) return;
    if (topic.lastSeq !== null && event.seq === topic.lastSeq + 1) {
      topic.lastSeq = event.seq;
      emit(topic, event, true);
      if (topic.pending.size > 0 || topic.heldTokens.length > 0) advance(topic);
      return;
    }
    if (topic.pending.size >= MAX_PENDING) return;
    topic.pending.set(event.seq, event);
    if (topic.lastSeq !== null) fill(topic, event.seq);
  }

  function acceptToken(topic: Topic, token: RunEvent): void {
    if (topic.lastSeq !== null && token.seq < topic.lastSeq) {
      // Clients drop a token older than the last stored event anyway (docs/websocket.md).
      deps.onDropped?.('late_token', 1);
      return;
    }
    if (topic.lastSeq !== null && token.seq === topic.lastSeq) {
      emitToken(topic, token);
      return;
    }
    if (topic.heldTokens.length < MAX_HELD_TOKENS) topic.heldTokens.push(token);
    else deps.onDropped?.('held_tokens', 1);
    if (topic.lastSeq !== null) fill(topic, token.seq);
  }

  /** Reads stored events up to `target` that never arrived live (missed notification, reordering). */
  function fill(topic: Topic, target: number): void {
    topic.fillTarget = Math.max(topic.fillTarget, target);
    if (topic.filling) return;
    topic.filling = true;
    topic.fillLoop = (async () => {
      let retried = false;
      try {
        while (topic.lastSeq !== null && topic.lastSeq < topic.fillTarget && topics.get(topic.runId) === topic) {
          const from = topic.lastSeq;
          const rows = await selectEventsAfter(pool, topic.runId, from, topic.fillTarget, REPLAY_PAGE);
          for (const row of rows) acceptStored(topic, row);
          if (topic.lastSeq === from) {
            if (!retried) {
              // Possibly not visible yet; look once more before giving up on the gap.
              retried = true;
              await new Promise((r) => setTimeout(r, 100));
              continue;
            }
            const ahead = [...topic.pending.keys()].filter((s) => s > from);
            logger.warn({ runId: topic.runId, from, target: topic.fillTarget }, 'stored events missing; skipping the gap');
            topic.lastSeq = ahead.length > 0 ? Math.min(...ahead) - 1 : topic.fillTarget;
            advance(topic);
            break;
          }
        }
      } catch (error) {
        // The reconciler retries: it sees pending items or a run head ahead of lastSeq.
        logger.warn({ err: error, runId: topic.runId }, 'filling a gap from run_events failed');
        topic.filling = false;
        topic.fillTarget = topic.lastSeq ?? 0;
        return;
      }
      topic.filling = false;
      const target = topic.fillTarget;
      topic.fillTarget = topic.lastSeq ?? 0;
      // A target raised while the last page was being applied.
      if (topic.lastSeq !== null && target > topic.lastSeq && topics.get(topic.runId) === topic) fill(topic, target);
    })();
    const loop = topic.fillLoop;
    void loop.finally(() => {
      if (topic.fillLoop === loop) topic.fillLoop = undefined;
    });
  }

  /** The step's text so far as few `run.token` events as its steps allow (usually one). */
  function mergeTokens(tokens: readonly NumberedToken[]): RunEvent[] {
    const out: RunEvent[] = [];
    let merge: Merge | null = null;
    const close = () => {
      if (merge) out.push(merge.deltas.length > 1 ? withDelta(merge.event, merge.deltas.join('')) : merge.event);
    };
    for (const { n, event } of tokens) {
      const delta = deltaOf(event);
      if (merge && delta !== undefined && continues(merge, event, n)) {
        merge.deltas.push(delta);
        merge.last = n;
        continue;
      }
      close();
      merge = delta === undefined ? null : { event, deltas: [delta], last: n };
      if (!merge) out.push(event);
    }
    close();
    return out;
  }

  function getTopic(runId: string): Topic {
    const topic = topics.get(runId);
    if (topic) return topic;
    const created: Topic = {
      runId,
      name: `run:${runId}`,
      owner: null,
      lastSeq: null,
      ready: Promise.resolve(false),
      subs: new Set(),
      pending: new Map(),
      heldTokens: [],
      filling: false,
      fillTarget: 0,
      fillLoop: undefined,
      seenHead: 0,
      heard: 0,
      heardAtReconcile: 0,
      merge: null,
    };
    created.ready = selectRunHead(pool, runId).then(
      (head) => {
        if (!head) {
          if (topics.get(runId) === created) topics.delete(runId);
          return false;
        }
        created.owner = head.owner;
        created.lastSeq = head.lastSeq;
        advance(created);
        return true;
      },
      (error: unknown) => {
        if (topics.get(runId) === created) topics.delete(runId);
        throw error;
      },
    );
    topics.set(runId, created);
    return created;
  }

  function remove(who: Subscriber, runId: string): void {
    const mine = subsOf.get(who);
    const sub = mine?.get(runId);
    if (!mine || !sub) return;
    mine.delete(runId);
    if (mine.size === 0) subsOf.delete(who);
    const topic = topics.get(runId);
    if (topic) {
      topic.subs.delete(sub);
      if (topic.subs.size === 0) topics.delete(runId);
    }
  }

  function isCurrent(who: Subscriber, runId: string, sub: RunSub): boolean {
    return subsOf.get(who)?.get(runId) === sub && who.open;
  }

  function sendAndWait(who: Subscriber, frame: Buffer | string): Promise<void> {
    return new Promise((resolve) => {
      if (!who.send(frame, resolve)) resolve();
    });
  }

  return {
    /**
     * Subscribes `who` to a run. Resolves once the subscriber is live (history
     * replayed) or refused. `onSubscribed` runs before any event is sent.
     */
    async subscribe(who: Subscriber, runId: string, after: number | undefined, onSubscribed: () => void): Promise<SubscribeResult> {
      remove(who, runId);
      const topic = getTopic(runId);
      const sub: RunSub = { who, live: false, lastSeq: 0, buffer: [], tokenFloor: 0 };
      topic.subs.add(sub);
      let mine = subsOf.get(who);
      if (!mine) {
        mine = new Map();
        subsOf.set(who, mine);
      }
      mine.set(runId, sub);
      let exists: boolean;
      try {
        exists = await topic.ready;
      } catch (error) {
        remove(who, runId);
        throw error;
      }
      if (!isCurrent(who, runId, sub)) return 'cancelled';
      if (!exists || topic.owner === null || !deps.canSee(who.user, topic.owner)) {
        remove(who, runId);
        return 'not_found';
      }
      onSubscribed();
      const head = topic.lastSeq ?? 0;
      const firstBuffered = sub.buffer.find((i) => i.stored)?.event.seq;
      if (after === undefined || after >= head) {
        // Live only (or already up to date): start right before the first event that went live after joining.
        sub.lastSeq = after ?? (firstBuffered !== undefined ? firstBuffered - 1 : head);
      } else {
        let cursor = after;
        for (;;) {
          const rows = await selectEventsAfter(pool, runId, cursor, null, REPLAY_PAGE);
          if (!isCurrent(who, runId, sub)) return 'cancelled';
          if (rows.length === 0) break;
          for (let i = 0; i < rows.length; i++) {
            const frame = frameFor(topic, rows[i]!);
            // History is read as fast as the client takes it, never faster: a long replay must not look like a slow consumer.
            if (i === rows.length - 1 || who.bufferedAmount > deps.replayHighWaterBytes) {
              await sendAndWait(who, frame);
              if (!isCurrent(who, runId, sub)) return 'cancelled';
            } else {
              who.send(frame);
            }
          }
          cursor = rows[rows.length - 1]!.seq;
          if (rows.length < REPLAY_PAGE) {
            const first = sub.buffer.find((i) => i.stored)?.event.seq;
            if (first === undefined || first <= cursor + 1) break;
          }
        }
        sub.lastSeq = cursor;
        // The running step's text so far, when this subscriber cannot have any of it:
        // it had not seen the step's start (`after` below it). Then the live tokens, minus those.
        // This turn's merged tokens go out first (into this subscriber's buffer), so they count as sent.
        flushMerge(topic);
        const step = steps.get(runId);
        if (step && !step.truncated && step.seq === cursor && after < step.seq && step.tokens.length > 0) {
          for (const event of mergeTokens(step.tokens)) who.send(frameFor(topic, event));
          sub.tokenFloor = step.tokens[step.tokens.length - 1]!.n + 1;
        }
      }
      const buffered = sub.buffer;
      sub.buffer = [];
      sub.live = true;
      for (const item of buffered) deliverTo(sub, item);
      return 'subscribed';
    },
    unsubscribe: remove,
    /** Drops every subscription of a closing connection. */
    removeAll(who: Subscriber): void {
      const mine = subsOf.get(who);
      if (!mine) return;
      for (const runId of [...mine.keys()]) remove(who, runId);
    },
    /** Drops the run topics `who` may no longer see (its role changed); returns their names. */
    recheck(who: Subscriber): string[] {
      const mine = subsOf.get(who);
      if (!mine) return [];
      const dropped: string[] = [];
      for (const runId of [...mine.keys()]) {
        const topic = topics.get(runId);
        if (topic && topic.owner !== null && !deps.canSee(who.user, topic.owner)) {
          remove(who, runId);
          dropped.push(topic.name);
        }
      }
      return dropped;
    },
    count(who: Subscriber): number {
      return subsOf.get(who)?.size ?? 0;
    },
    /** Whether `who` itself holds (or is joining) this run's topic; other subscribers' topics do not count. */
    holds(who: Subscriber, runId: string): boolean {
      return subsOf.get(who)?.has(runId) ?? false;
    },
    has(runId: string): boolean {
      return topics.has(runId);
    },
    event(event: RunEvent, owner: string): void {
      steps.stored(event.runId, event.seq);
      const topic = topics.get(event.runId);
      if (!topic) return;
      topic.owner ??= owner;
      topic.heard++;
      acceptStored(topic, event);
    },
    /** Every token this instance sees, watched or not: the running step's text is kept for watchers that join later. */
    token(event: RunEvent): void {
      const n = steps.token(event);
      if (n !== undefined) tokenNumbers.set(event, n);
      const topic = topics.get(event.runId);
      if (!topic) return;
      topic.heard++;
      acceptToken(topic, event);
    },
    /**
     * Compares every watched run's head with what was delivered and fills the
     * difference: the safety net for notifications lost while the database or the
     * LISTEN connection was away.
     *
     * A head ahead of what was delivered is usually a notification still on its way,
     * with the run's tokens ahead of it in the same stream. Reading the stored event
     * first would overtake those tokens, and clients drop a token older than the last
     * stored event. So a periodic reconcile fills only up to the head the previous one
     * saw, and only for a run that heard nothing live since then: while a run's items
     * keep arriving its stream is alive, however late (a CPU-starved executing instance
     * fell 9 s behind in the streaming benchmark), and what is stored will follow in
     * order. A run quiet for a whole interval with its head ahead lost a notification.
     * `immediate` (after the LISTEN connection came back, when notifications were
     * surely missed) fills up to the current head.
     */
    async reconcile(immediate = false): Promise<void> {
      const watched = [...topics.values()].filter((t) => t.lastSeq !== null);
      for (let i = 0; i < watched.length; i += 1000) {
        const chunk = watched.slice(i, i + 1000);
        const heads = await selectRunHeads(pool, chunk.map((t) => t.runId));
        for (const topic of chunk) {
          const head = heads.get(topic.runId) ?? 0;
          const quiet = topic.heard === topic.heardAtReconcile;
          const lost = immediate ? head : quiet ? Math.min(head, topic.seenHead) : 0;
          topic.seenHead = head;
          topic.heardAtReconcile = topic.heard;
          const pendingMax = topic.pending.size > 0 ? Math.max(...topic.pending.keys()) : 0;
          const tokenMax = topic.heldTokens.reduce((m, t) => Math.max(m, t.seq), 0);
          const target = Math.max(lost, pendingMax, tokenMax);
          if (topic.lastSeq !== null && target > topic.lastSeq) fill(topic, target);
        }
      }
    },
    size: () => topics.size,
    /** Resolves once the run's topic has no fill from run_events running (for tests). */
    async filled(runId: string): Promise<void> {
      for (let topic = topics.get(runId); topic?.fillLoop; topic = topics.get(runId)) await topic.fillLoop;
    },
  };
}

export type RunTopics = ReturnType<typeof createRunTopics>;
