import fs from 'node:fs/promises';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres, stopEmbeddedPostgres, type EmbeddedPostgres } from '../server/db/embedded.js';
import { createLogger } from '../server/log.js';
import { freePort } from './processes.js';

/**
 * One real PostgreSQL for the whole test run: DATABASE_URL when given, otherwise
 * an embedded server under .data/test-pg. Each test file then creates its own
 * database on it (see test/helpers.ts), so files run in parallel without sharing rows.
 */
declare module 'vitest' {
  export interface ProvidedContext {
    adminDatabaseUrl: string;
  }
}

let embedded: EmbeddedPostgres | undefined;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Clusters of earlier runs that were killed before their teardown: stop them and remove their files. */
async function removeStaleClusters(root: string): Promise<void> {
  const entries = await fs.readdir(root).catch(() => [] as string[]);
  for (const entry of entries) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || alive(pid)) continue;
    const dir = path.join(root, entry);
    await stopEmbeddedPostgres(dir);
    await fs.rm(dir, { recursive: true, force: true });
  }
}

export async function setup(project: TestProject): Promise<void> {
  let url = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;
  if (!url) {
    await removeStaleClusters(path.resolve('.data/test-pg'));
    const logger = createLogger({ level: 'warn', name: 'test-pg' });
    embedded = await startEmbeddedPostgres({
      // Per run, so several test runs (and developers) on one machine never share a cluster.
      dataDir: path.resolve(`.data/test-pg/${process.pid}`),
      port: Number(process.env.TEST_PG_PORT ?? (await freePort())),
      logger,
      // Tests start many app instances at once; durability is not what they test.
      settings: { max_connections: 500, fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' },
    });
    url = embedded.url;
  }
  project.provide('adminDatabaseUrl', url);
}

export async function teardown(): Promise<void> {
  await embedded?.stop();
  if (embedded) await fs.rm(path.resolve(`.data/test-pg/${process.pid}`), { recursive: true, force: true });
}
