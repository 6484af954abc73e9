import type { Db } from './sql/rows.js';
import { finishRun, finishRuns, type FinalRow, type FinalWrite } from './sql/worker-writes.js';

/** Final writes in flight at once (each may carry many runs). */
const MAX_IN_FLIGHT = 2;
/** Most runs one statement finishes. */
const MAX_BATCH = 200;

/** How a batch is written: one run alone, or many in one statement. */
export interface FinalStatements {
  one(write: FinalWrite): Promise<FinalRow | null>;
  many(writes: FinalWrite[]): Promise<Map<string, FinalRow>>;
}

export const finalStatements = (db: Db): FinalStatements => ({
  one: (write) => finishRun(db, write.fence, write, write.data),
  many: (writes) => finishRuns(db, writes),
});

/**
 * The combiner of runs' final writes: a couple of statements in flight at a time,
 * and whatever ended meanwhile is committed together in the next one. Alone, a run's
 * final write goes out at once (no added latency); under load, many runs share one
 * commit. Resolves with the written row, or null when the fence refused it.
 */
export function createFinalWriter(statements: FinalStatements, limits: { maxInFlight?: number; maxBatch?: number } = {}) {
  const maxInFlight = limits.maxInFlight ?? MAX_IN_FLIGHT;
  const maxBatch = limits.maxBatch ?? MAX_BATCH;
  const pending: { write: FinalWrite; resolve(row: FinalRow | null): void; reject(error: unknown): void }[] = [];
  let inFlight = 0;

  async function flush(): Promise<void> {
    if (inFlight >= maxInFlight || pending.length === 0) return;
    inFlight++;
    const batch = pending.splice(0, maxBatch);
    try {
      if (batch.length === 1) {
        const { write, resolve } = batch[0]!;
        resolve(await statements.one(write));
      } else {
        const written = await statements.many(batch.map((b) => b.write));
        for (const item of batch) item.resolve(written.get(item.write.fence.id) ?? null);
      }
    } catch (error) {
      if (batch.length === 1) batch[0]!.reject(error);
      else {
        // One bad row must not sink the others: write them one by one.
        for (const item of batch) statements.one(item.write).then(item.resolve, item.reject);
      }
    } finally {
      inFlight--;
      void flush();
    }
  }

  return {
    commit(write: FinalWrite): Promise<FinalRow | null> {
      return new Promise((resolve, reject) => {
        pending.push({ write, resolve, reject });
        void flush();
      });
    },
  };
}
