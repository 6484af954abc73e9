import type pg from 'pg';
import type { Listener } from '../db/listener.js';
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

/** How many items may wait while the database is unreachable before the oldest are dropped. */
const MAX_BACKLOG = 10_000;

/**
 * Outbound NOTIFY: items queue up and go out in packed payloads, one statement
 * at a time, so a burst becomes a few notifications and order per instance holds.
 * The LISTEN connection sends them (it is never starved by busy workers the way
 * the pool can be); the pool is the fallback while it reconnects.
 */
export function createPublisher(deps: { pool: pg.Pool; listener: Listener; logger: Logger; source: string; tokenBatchMs: number }): Publisher {
  const { pool, listener, logger, source } = deps;
  let backlog: HubItem[] = [];
  let flushing: Promise<void> | undefined;
  let scheduled = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let failures = 0;
  let stopped = false;
  const tokenBatches = new Map<string, { owner: string; entries: { q: number; d: Record<string, unknown>; a: string }[] }>();
  let tokenTimer: NodeJS.Timeout | undefined;

  async function notify(payload: string): Promise<void> {
    if (listener.connected) {
      try {
        await listener.notify(HUB_CHANNEL, payload);
        return;
      } catch {
        // fall through to the pool
      }
    }
    await pool.query('SELECT pg_notify($1, $2)', [HUB_CHANNEL, payload]);
  }

  async function drain(): Promise<void> {
    while (backlog.length > 0) {
      const items = backlog;
      backlog = [];
      const { payloads, oversize } = packItems(source, items);
      if (oversize.length > 0) logger.warn({ count: oversize.length }, 'hub items too large for NOTIFY were not sent to other instances');
      for (let i = 0; i < payloads.length; i++) {
        try {
          await notify(payloads[i]);
          failures = 0;
        } catch (error) {
          // Keep what is unsent (in order) and try again later; other instances also
          // catch up from run_events on their own, so this is about latency, not loss.
          failures++;
          const unsent = payloads.slice(i).flatMap((p) => (JSON.parse(p) as { m: HubItem[] }).m);
          backlog = [...unsent, ...backlog];
          if (backlog.length > MAX_BACKLOG) backlog = backlog.slice(backlog.length - MAX_BACKLOG);
          if (failures === 1 || failures % 20 === 0) logger.warn({ err: error, backlog: backlog.length }, 'NOTIFY failed; will retry');
          scheduleRetry();
          return;
        }
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
    if (flushing || retryTimer) return;
    flushing = drain().finally(() => {
      flushing = undefined;
      if (backlog.length > 0 && !retryTimer) kick();
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
      if (backlog.length > MAX_BACKLOG) backlog.shift();
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
