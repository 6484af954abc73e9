import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import type { Logger } from '../log.js';

/** Arbitrary constant key: every instance of the app takes the same advisory lock. */
const MIGRATION_LOCK_KEY = 74_201_337;

/** Finds `migrations/` whether running from `server/` (tsx) or `dist/server/server/` (built). */
export function findMigrationsDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'migrations');
    if (existsSync(candidate) && existsSync(path.join(dir, 'package.json'))) return candidate;
    dir = path.dirname(dir);
  }
  return path.resolve('migrations');
}

export interface MigrationResult {
  applied: string[];
  alreadyApplied: number;
}

/**
 * Applies every `migrations/*.sql` not yet recorded, each in its own transaction,
 * while holding a session advisory lock: instances starting together queue on the
 * lock, and the later ones find nothing left to do.
 */
export async function migrate(client: pg.ClientBase, logger: Logger, dir = findMigrationsDir()): Promise<MigrationResult> {
  const files = (await fs.readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
  try {
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      name text PRIMARY KEY,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const { rows } = await client.query<{ name: string }>('SELECT name FROM schema_migrations');
    const done = new Set(rows.map((r) => r.name));
    const applied: string[] = [];
    for (const file of files) {
      if (done.has(file)) continue;
      const sql = await fs.readFile(path.join(dir, file), 'utf8');
      await client.query('BEGIN');
      try {
        await client.query(sql);
        await client.query('INSERT INTO schema_migrations (name) VALUES ($1)', [file]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${file} failed: ${(error as Error).message}`, { cause: error });
      }
      applied.push(file);
      logger.info({ migration: file }, 'migration applied');
    }
    return { applied, alreadyApplied: files.length - applied.length };
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
  }
}
