import type pg from 'pg';
import { NOTIFY_ALL_SQL, type Listener } from '../db/listener.js';
import type { Logger } from '../log.js';
import { HUB_CHANNEL, NOTIFY_PAYLOAD_LIMIT, packItems, type HubItem } from './messages.js';

export interface Publisher {
  publish(item: HubItem): void;
  /** Token deltas wait up to `tokenBatchMs` per run and travel together. */
  token(runId: string, owner: string, seq: number, data: Record<string, unknown>, at: string): void;
  /** Sends everything pending (stop calls it before closing sockets). */
  flush(timeoutMs: number): Promise<void>;
  stop(): void;
  pending(): number;
}

/** How many items may wait while the database is unreachable before the oldest are dropped (counted: hub_items_dropped_total). */
const MAX_BACKLOG = 50_000;
/** Payloads per NOTIFY statement: about 250 KB, one round trip. */
const PAYLOADS_PER_STATEMENT = 32;

/**
 * Outbound NOTIFY: items (of any runs) queue up and go out in packed payloads,
 * up to PAYLOADS_PER_STATEMENT of them per statement, one statement at a time, so
 * a burst becomes a few notifications in one round trip and order per instance holds.
 * The LISTEN connection sends them (it is never starved by busy workers the way
 * the pool can be); the pool is the fallback while it reconnects.
 */
export function createPublisher(deps: {
  pool: pg.Pool;
  listener: Listener;
  logger: Logger;
  source: string;
  tokenBatchMs: number;
  /** Items that will never reach other instances (backlog full, or too large). */
  onDropped?: (count: number) => void;
}): Publisher {
  const { pool, listener, logger, source } = deps;
  let backlog: HubItem[] = [];
  let flushing: Promise<void> | undefined;
  let scheduled = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let failures = 0;
  let stopped = false;
  let droppedNotedAt = 0;
  const tokenBatches = new Map<string, { owner: string; entries: { q: number; d: Record<string, unknown>; a: string }[] }>();
  let tokenTimer: NodeJS.Timeout | undefined;

  /** One statement, one round trip, for all of `payloads` (in order): the backlog drains at payload speed, not round-trip speed. */
  async function notify(payloads: string[]): Promise<void> {
    if (listener.connected) {
      try {
        if (listener.notifyAll) await listener.notifyAll(HUB_CHANNEL, payloads);
        else for (const payload of payloads) await listener.notify(HUB_CHANNEL, payload);
        return;
      } catch {
        // fall through to the pool (a payload sent twice is harmless: receivers drop what they already delivered)
      }
    }
    await pool.query(NOTIFY_ALL_SQL, [HUB_CHANNEL, payloads]);
  }

  function dropOldest(): void {
    if (backlog.length <= MAX_BACKLOG) return;
    const dropped = backlog.length - MAX_BACKLOG;
    backlog = backlog.slice(dropped);
    deps.onDropped?.(dropped);
    const now = Date.now();
    if (now - droppedNotedAt > 10_000) {
      droppedNotedAt = now;
      logger.warn({ dropped, backlog: backlog.length }, 'hub backlog full; oldest items not sent to other instances (they catch up from run_events; tokens are lost)');
    }
  }

  async function drain(): Promise<void> {
    while (!stopped && backlog.length > 0) {
      const items = backlog;
      backlog = [];
      const { payloads, oversize } = packItems(source, items);
      if (oversize.length > 0) {
        deps.onDropped?.(oversize.length);
        logger.warn({ count: oversize.length }, 'hub items too large for NOTIFY were not sent to other instances');
      }
      for (let i = 0; i < payloads.length; i += PAYLOADS_PER_STATEMENT) {
        const group = payloads.slice(i, i + PAYLOADS_PER_STATEMENT);
        try {
          await notify(group);
          failures = 0;
        } catch (error) {
          // After stop() the pool is (being) ended: retrying would keep the process alive for ever.
          if (stopped) return;
          // Keep what is unsent (in order) and try again later; other instances also
          // catch up from run_events on their own, so this is about latency, not loss.
          failures++;
          const unsent = payloads.slice(i).flatMap((p) => (JSON.parse(p) as { m: HubItem[] }).m);
          backlog = [...unsent, ...backlog];
          dropOldest();
          if (failures === 1 || failures % 20 === 0) logger.warn({ err: error, backlog: backlog.length }, 'NOTIFY failed; will retry');
          scheduleRetry();
          return;
        }
        if (stopped) return;
      }
    }
  }

  function scheduleRetry(): void {
    if (retryTimer || stopped) return;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      kick();
    }, Math.min(2000, 50 * 2 ** Math.min(failures, 6)));
  }

  function kick(): void {
    if (stopped || flushing || retryTimer) return;
    flushing = drain().finally(() => {
      flushing = undefined;
      if (!stopped && backlog.length > 0 && !retryTimer) kick();
    });
  }

  function schedule(): void {
    if (scheduled) return;
    scheduled = true;
    // One tick lets a burst of events from the same turn share a notification.
    setImmediate(() => {
      scheduled = false;
      kick();
    });
  }

  function moveTokens(): void {
    tokenTimer = undefined;
    for (const runId of [...tokenBatches.keys()]) moveTokensOf(runId);
    schedule();
  }

  function moveTokensOf(runId: string): void {
    const batch = tokenBatches.get(runId);
    if (!batch) return;
    tokenBatches.delete(runId);
    {
      // Split so every item fits in one payload on its own.
      let entries: typeof batch.entries = [];
      let size = 0;
      for (const entry of batch.entries) {
        const bytes = Buffer.byteLength(JSON.stringify(entry)) + 1;
        if (size + bytes > NOTIFY_PAYLOAD_LIMIT - 300 && entries.length > 0) {
          backlog.push({ k: 't', o: batch.owner, r: runId, t: entries });
          entries = [];
          size = 0;
        }
        entries.push(entry);
        size += bytes;
      }
      if (entries.length > 0) backlog.push({ k: 't', o: batch.owner, r: runId, t: entries });
    }
  }

  return {
    publish(item) {
      if (stopped) return;
      // Tokens waiting for their batch go first: a receiver drops tokens older than the last stored event it saw.
      if (item.k === 'e') moveTokensOf(item.e.runId);
      else if (item.k === 'r') moveTokensOf(item.r);
      backlog.push(item);
      dropOldest();
      schedule();
    },
    token(runId, owner, seq, data, at) {
      if (stopped) return;
      let batch = tokenBatches.get(runId);
      if (!batch) {
        batch = { owner, entries: [] };
        tokenBatches.set(runId, batch);
      }
      batch.entries.push({ q: seq, d: data, a: at });
      tokenTimer ??= setTimeout(moveTokens, deps.tokenBatchMs);
    },
    async flush(timeoutMs) {
      if (tokenTimer) {
        clearTimeout(tokenTimer);
        moveTokens();
      }
      const deadline = Date.now() + timeoutMs;
      while ((backlog.length > 0 || flushing) && Date.now() < deadline) {
        if (retryTimer) {
          clearTimeout(retryTimer);
          retryTimer = undefined;
        }
        if (failures > 0) await new Promise((r) => setTimeout(r, 100));
        kick();
        await Promise.race([flushing, new Promise((r) => setTimeout(r, Math.max(1, deadline - Date.now())))]);
      }
    },
    stop() {
      stopped = true;
      if (tokenTimer) clearTimeout(tokenTimer);
      if (retryTimer) clearTimeout(retryTimer);
      tokenTimer = undefined;
      retryTimer = undefined;
      backlog = [];
      tokenBatches.clear();
    },
    pending: () => backlog.length,
  };
}
