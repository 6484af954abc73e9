import type { ClientRateLimitInfo, Options, Store } from 'express-rate-limit';
import type pg from 'pg';
import type { Logger } from '../log.js';

/**
 * A block of hits this instance reserved in the database. Requests are admitted
 * locally until the block is used up; then the next block is reserved.
 */
interface Block {
  /** Database count before this block: admitted hits report start + used. */
  start: number;
  granted: number;
  used: number;
  resetTime: Date;
  lastHit: number;
  /** When the limit was reached: refuse locally until this time, then look again. */
  exhaustedUntil: number;
}

// Adds `want` to the window (restarting it when expired) and returns the new count.
// reset_at is kept to the millisecond so the Date we get back can identify the window.
const RESERVE_SQL = `INSERT INTO rate_limits AS r (key, hits, reset_at)
  VALUES ($1, $2, date_trunc('milliseconds', now() + make_interval(secs => $3::double precision / 1000)))
  ON CONFLICT (key) DO UPDATE SET
    hits = CASE WHEN r.reset_at <= now() THEN EXCLUDED.hits ELSE r.hits + EXCLUDED.hits END,
    reset_at = CASE WHEN r.reset_at <= now() THEN EXCLUDED.reset_at ELSE r.reset_at END
  RETURNING hits, reset_at`;

const GIVE_BACK_SQL = 'UPDATE rate_limits SET hits = GREATEST(hits - $2, 0) WHERE key = $1 AND reset_at = $3';

/**
 * express-rate-limit counters in PostgreSQL (an UNLOGGED table: counters need not
 * survive a database crash), so one limit holds across every instance.
 *
 * A round trip per request would cap the API at the database's rate for one hot
 * row, so an instance reserves hits in blocks: a block is added to the shared count
 * before any of it is used, so all instances together never admit more than the
 * limit. Blocks are a small share of what is left — (limit − count) / (2 × MAX_INSTANCES)
 * — so near the limit they shrink to one hit and counting is exact; unused hits are
 * given back when a client goes quiet and at shutdown. A block is never smaller than the
 * requests waiting for it, so a burst costs one round trip. When a block is used up
 * the instance reserves again; only the database finding the shared count at the
 * limit refuses a request (for recheckMs, then it looks again).
 */
export class PostgresRateLimitStore implements Store {
  readonly localKeys = false;
  readonly prefix: string;
  private windowMs = 60_000;
  private readonly blocks = new Map<string, Block>();
  private readonly reserving = new Map<string, Promise<void>>();
  /** Requests per key waiting for a reservation. */
  private readonly waiting = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private readonly idleMs: number;
  private readonly recheckMs: number;

  constructor(
    private readonly pool: pg.Pool,
    private readonly logger: Logger,
    private readonly options: { limit: number; instances: number; idleMs?: number; prefix?: string },
  ) {
    this.prefix = options.prefix ?? 'api:';
    this.idleMs = options.idleMs ?? 1000;
    this.recheckMs = Math.min(250, this.idleMs);
  }

  init(options: Options): void {
    this.windowMs = options.windowMs;
    this.timer = setInterval(() => void this.giveBackIdle(Date.now() - this.idleMs), this.idleMs);
    this.timer.unref();
    this.sweeper = setInterval(() => void this.sweep(), Math.max(this.windowMs, 60_000));
    this.sweeper.unref();
  }

  private blockSize(countSoFar: number): number {
    return Math.max(1, Math.min(10_000, Math.floor((this.options.limit - countSoFar) / (2 * this.options.instances))));
  }

  private async reserve(key: string, previous: Block | undefined): Promise<void> {
    const now = Date.now();
    const live = previous && previous.resetTime.getTime() > now;
    // At least as many hits as requests are waiting, so a burst is one round trip.
    const want = Math.min(this.options.limit, Math.max(this.blockSize(live ? previous.start + previous.granted : 0), this.waiting.get(key) ?? 0));
    const { rows } = await this.pool.query<{ hits: number; reset_at: Date }>({
      name: 'rate_limit_reserve',
      text: RESERVE_SQL,
      values: [this.prefix + key, want, this.windowMs],
    });
    const { hits, reset_at: resetTime } = rows[0]!;
    const start = hits - want;
    const granted = Math.max(0, Math.min(want, this.options.limit - start));
    if (granted < want) {
      // Past the limit: the part of the block that cannot be used goes straight back.
      await this.pool.query(GIVE_BACK_SQL, [this.prefix + key, want - granted, resetTime]);
    }
    this.blocks.set(key, {
      start,
      granted,
      used: 0,
      resetTime,
      lastHit: now,
      exhaustedUntil: granted === 0 ? now + this.recheckMs : 0,
    });
  }

  async increment(key: string): Promise<ClientRateLimitInfo> {
    // Set once a reservation this request waited for has finished: its block is then
    // used even if app and database clocks disagree about when the window ends.
    let fresh = false;
    // Terminates: every reservation either adds at least one hit to the shared count
    // (which some waiter takes) or finds the limit reached, which refuses below.
    for (;;) {
      const now = Date.now();
      const block = this.blocks.get(key);
      if (block && (fresh || block.resetTime.getTime() > now)) {
        block.lastHit = now;
        if (block.used < block.granted) {
          block.used++;
          return { totalHits: block.start + block.used, resetTime: block.resetTime };
        }
        if (block.exhaustedUntil > now || (fresh && block.granted === 0)) {
          return { totalHits: this.options.limit + 1, resetTime: block.resetTime };
        }
      }
      // The block is used up (or the window is new): go back to the database for
      // more instead of refusing while the shared count is under the limit. One
      // reservation per key at a time; concurrent requests wait for it.
      this.waiting.set(key, (this.waiting.get(key) ?? 0) + 1);
      try {
        let reserving = this.reserving.get(key);
        if (!reserving) {
          reserving = this.reserve(key, block).finally(() => this.reserving.delete(key));
          this.reserving.set(key, reserving);
        }
        await reserving;
      } finally {
        const left = (this.waiting.get(key) ?? 1) - 1;
        if (left > 0) this.waiting.set(key, left);
        else this.waiting.delete(key);
      }
      fresh = true;
    }
  }

  async get(key: string): Promise<ClientRateLimitInfo | undefined> {
    const { rows } = await this.pool.query<{ hits: number; reset_at: Date }>(
      'SELECT hits, reset_at FROM rate_limits WHERE key = $1 AND reset_at > now()',
      [this.prefix + key],
    );
    const row = rows[0];
    return row ? { totalHits: row.hits, resetTime: row.reset_at } : undefined;
  }

  async decrement(key: string): Promise<void> {
    const block = this.blocks.get(key);
    if (block && block.used > 0) {
      block.used--;
      return;
    }
    await this.pool.query('UPDATE rate_limits SET hits = GREATEST(hits - 1, 0) WHERE key = $1', [this.prefix + key]);
  }

  async resetKey(key: string): Promise<void> {
    this.blocks.delete(key);
    await this.pool.query('DELETE FROM rate_limits WHERE key = $1', [this.prefix + key]);
  }

  async resetAll(): Promise<void> {
    this.blocks.clear();
    await this.pool.query('DELETE FROM rate_limits WHERE key LIKE $1', [`${this.prefix}%`]);
  }

  /** Returns the unused part of blocks whose client has been quiet since `before`. */
  async giveBackIdle(before: number): Promise<void> {
    const now = Date.now();
    const work: Promise<unknown>[] = [];
    for (const [key, block] of this.blocks) {
      if (this.reserving.has(key) || block.lastHit > before) continue;
      this.blocks.delete(key);
      const unused = block.granted - block.used;
      if (unused > 0 && block.resetTime.getTime() > now) {
        work.push(
          this.pool.query(GIVE_BACK_SQL, [this.prefix + key, unused, block.resetTime]).catch((error: unknown) => {
            this.logger.debug({ err: error }, 'rate limit give-back failed');
          }),
        );
      }
    }
    await Promise.all(work);
  }

  private async sweep(): Promise<void> {
    try {
      await this.pool.query("DELETE FROM rate_limits WHERE reset_at < now() - interval '1 minute'");
    } catch (error) {
      this.logger.debug({ err: error }, 'rate limit sweep skipped');
    }
  }

  async shutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.sweeper) clearInterval(this.sweeper);
    this.timer = undefined;
    this.sweeper = undefined;
    await this.giveBackIdle(Number.POSITIVE_INFINITY);
  }
}
