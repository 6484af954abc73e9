import type { RunEvent } from '../../shared/protocol.js';

/** A token and its number within the run on this instance (0, 1, 2, ... in arrival order). */
export interface NumberedToken {
  readonly n: number;
  readonly event: RunEvent;
}

/** A run's tokens since its last stored event: the running step's text so far. */
export interface StepTokens {
  /** The stored seq these tokens follow (every token here has this seq). */
  readonly seq: number;
  readonly tokens: readonly NumberedToken[];
  /** Tokens were left out past the bounds: the text is incomplete and must not be offered. */
  readonly truncated: boolean;
}

/** Per run: at most this many tokens or bytes of deltas (a long step's preview is then not offered). */
const MAX_TOKENS_PER_RUN = 4_000;
const MAX_BYTES_PER_RUN = 256 * 1024;
/** Runs kept at once; the least recently streaming are forgotten past it (a run that died mid-step sends no next event). */
const MAX_RUNS = 5_000;

interface Entry {
  seq: number;
  tokens: NumberedToken[];
  bytes: number;
  /** Tokens ever recorded for the run: the next one's number. */
  count: number;
  truncated: boolean;
}

/**
 * The text of each running step so far, in memory, from every token this
 * instance sees: its own runs' (hub.token) and other instances' (NOTIFY). A
 * watcher that joins mid-step gets it before the live tokens, so it misses
 * nothing, with no database write per token. It is reset by the run's next
 * stored event (which has the step's output), and bounded in size.
 */
export function createStepTexts() {
  const runs = new Map<string, Entry>();

  function reset(entry: Entry, seq: number): void {
    entry.seq = seq;
    entry.tokens = [];
    entry.bytes = 0;
    entry.truncated = false;
  }

  return {
    /** Records a token; returns its number within the run, or undefined for a token older than the step recorded. */
    token(event: RunEvent): number | undefined {
      let entry = runs.get(event.runId);
      if (entry && event.seq < entry.seq) return undefined;
      if (!entry) entry = { seq: event.seq, tokens: [], bytes: 0, count: 0, truncated: false };
      else if (event.seq > entry.seq) reset(entry, event.seq);
      // Re-inserted: Map order is the eviction order.
      runs.delete(event.runId);
      runs.set(event.runId, entry);
      if (runs.size > MAX_RUNS) runs.delete(runs.keys().next().value as string);
      const n = entry.count++;
      if (entry.truncated) return n;
      const delta = (event.data as { delta?: unknown }).delta;
      entry.bytes += typeof delta === 'string' ? Buffer.byteLength(delta) : 64;
      if (entry.tokens.length >= MAX_TOKENS_PER_RUN || entry.bytes > MAX_BYTES_PER_RUN) {
        entry.truncated = true;
        entry.tokens = [];
        return n;
      }
      entry.tokens.push({ n, event });
      return n;
    },
    /** A stored event of the run: the tokens before it are in the stored history now (the step's output). */
    stored(runId: string, seq: number): void {
      const entry = runs.get(runId);
      if (entry && seq > entry.seq) reset(entry, seq);
    },
    get(runId: string): StepTokens | undefined {
      return runs.get(runId);
    },
    size: () => runs.size,
  };
}

export type StepTexts = ReturnType<typeof createStepTexts>;
