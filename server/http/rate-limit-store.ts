import type { ClientRateLimitInfo, Options, Store } from 'express-rate-limit';
import type pg from 'pg';
import type { Logger } from '../log.js';

/**
 * express-rate-limit counters in PostgreSQL (an UNLOGGED table: counters need not
 * survive a database crash), so one limit holds across every instance. One
 * statement per request: it creates, increments or restarts the window atomically.
 */
export class PostgresRateLimitStore implements Store {
  readonly localKeys = false;
  readonly prefix: string;
  private windowMs = 60_000;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly logger: Logger,
    prefix = 'api:',
  ) {
    this.prefix = prefix;
  }

  init(options: Options): void {
    this.windowMs = options.windowMs;
    this.sweeper = setInterval(() => void this.sweep(), Math.max(this.windowMs, 60_000));
    this.sweeper.unref();
  }

  private key(key: string): string {
    return this.prefix + key;
  }

  async get(key: string): Promise<ClientRateLimitInfo | undefined> {
    const { rows } = await this.pool.query<{ hits: number; reset_at: Date }>(
      'SELECT hits, reset_at FROM rate_limits WHERE key = $1 AND reset_at > now()',
      [this.key(key)],
    );
    const row = rows[0];
    return row ? { totalHits: row.hits, resetTime: row.reset_at } : undefined;
  }

  async increment(key: string): Promise<ClientRateLimitInfo> {
    const { rows } = await this.pool.query<{ hits: number; reset_at: Date }>({
      name: 'rate_limit_increment',
      text: `INSERT INTO rate_limits AS r (key, hits, reset_at)
             VALUES ($1, 1, now() + make_interval(secs => $2::double precision / 1000))
             ON CONFLICT (key) DO UPDATE SET
               hits = CASE WHEN r.reset_at <= now() THEN 1 ELSE r.hits + 1 END,
               reset_at = CASE WHEN r.reset_at <= now() THEN EXCLUDED.reset_at ELSE r.reset_at END
             RETURNING hits, reset_at`,
      values: [this.key(key), this.windowMs],
    });
    const row = rows[0]!;
    return { totalHits: row.hits, resetTime: row.reset_at };
  }

  async decrement(key: string): Promise<void> {
    await this.pool.query('UPDATE rate_limits SET hits = GREATEST(hits - 1, 0) WHERE key = $1', [this.key(key)]);
  }

  async resetKey(key: string): Promise<void> {
    await this.pool.query('DELETE FROM rate_limits WHERE key = $1', [this.key(key)]);
  }

  async resetAll(): Promise<void> {
    await this.pool.query('DELETE FROM rate_limits WHERE key LIKE $1', [`${this.prefix}%`]);
  }

  private async sweep(): Promise<void> {
    try {
      await this.pool.query('DELETE FROM rate_limits WHERE reset_at < now() - interval \'1 minute\'');
    } catch (error) {
      this.logger.debug({ err: error }, 'rate limit sweep skipped');
    }
  }

  shutdown(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }
}
