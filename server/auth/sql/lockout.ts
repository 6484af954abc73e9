import type pg from 'pg';

/** Login lockout: failures counted per user and per address (migrations/0003_users.sql), one named function each. */
type Queryable = pg.Pool | pg.PoolClient;

/** The latest lock among `keys` still in force, or undefined. */
export async function activeLock(db: Queryable, keys: string[]): Promise<Date | undefined> {
  const { rows } = await db.query<{ until: Date | null }>({
    name: 'auth_active_lock',
    text: 'SELECT max(locked_until) AS until FROM login_attempts WHERE key = ANY($1) AND locked_until > now()',
    values: [keys],
  });
  return rows[0]?.until ?? undefined;
}

/**
 * Counts one failure against `key` inside a window of `windowSeconds`; at
 * `maxFailures` the key locks for `lockSeconds` (while locked, no password is
 * checked, so no further failure is counted).
 * One statement, so instances racing on the same key each count.
 */
export async function recordFailure(db: Queryable, key: string, maxFailures: number, windowSeconds: number, lockSeconds: number): Promise<Date | undefined> {
  const { rows } = await db.query<{ locked_until: Date | null }>({
    name: 'auth_record_failure',
    text: `INSERT INTO login_attempts AS a (key, failures, window_ends_at, locked_until)
           VALUES ($1, 1, now() + make_interval(secs => $3),
                   CASE WHEN $2 <= 1 THEN now() + make_interval(secs => $4) END)
           ON CONFLICT (key) DO UPDATE SET
             failures = CASE WHEN a.window_ends_at <= now() THEN 1 ELSE a.failures + 1 END,
             window_ends_at = CASE WHEN a.window_ends_at <= now() THEN EXCLUDED.window_ends_at ELSE a.window_ends_at END,
             locked_until = CASE
               WHEN (CASE WHEN a.window_ends_at <= now() THEN 1 ELSE a.failures + 1 END) >= $2
                 THEN GREATEST(a.locked_until, now() + make_interval(secs => $4))
               ELSE a.locked_until END
           RETURNING CASE WHEN locked_until > now() THEN locked_until END AS locked_until`,
    values: [key, maxFailures, windowSeconds, lockSeconds],
  });
  return rows[0]?.locked_until ?? undefined;
}

export async function clearFailures(db: Queryable, key: string): Promise<void> {
  await db.query({ name: 'auth_clear_failures', text: 'DELETE FROM login_attempts WHERE key = $1', values: [key] });
}

/** Drops rows nothing reads any more: finished windows and locks. */
export async function sweepLoginAttempts(db: Queryable): Promise<void> {
  await db.query("DELETE FROM login_attempts WHERE window_ends_at < now() AND (locked_until IS NULL OR locked_until < now())");
}
