import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { generateDrizzleJson, generateMigration, type DrizzleSnapshotJSON } from 'drizzle-kit/api';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../../test/helpers.js';
import { createLogger } from '../log.js';
import { migrate } from './migrate.js';
import * as schema from '../schema.js';

/*
 * The SQL files in migrations/ create the tables; server/schema.ts describes them
 * to drizzle (row types come from it). Applying every migration to an empty database
 * and asking drizzle-kit what it would change to reach the schema must find nothing:
 * a column, index or default added in one place and not the other fails here.
 */
describe('drizzle schema and SQL migrations', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let pool: pg.Pool;

  beforeAll(async () => {
    db = await createTestDatabase('drift');
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
    const client = await pool.connect();
    try {
      await migrate(client, createLogger({ level: 'silent', name: 'drift' }));
    } finally {
      client.release();
    }
  });

  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  it('drizzle-kit finds no difference between the migrated database and the schema', async () => {
    // `drizzle-kit pull` snapshots what the migrations built; drizzle-kit's own differ then
    // says what it would run to turn that into the schema in code: it must be nothing.
    const out = await fs.mkdtemp(path.join(os.tmpdir(), 'agentry-drift-'));
    try {
      await promisify(execFile)(process.execPath, [path.resolve('node_modules/drizzle-kit/bin.cjs'), 'pull', '--dialect', 'postgresql', '--url', db.url, '--out', out], {
        timeout: 60_000,
      });
      const snapshot = normalized(JSON.parse(await fs.readFile(path.join(out, 'meta', '0000_snapshot.json'), 'utf8')) as DrizzleSnapshotJSON);
      const statements = await generateMigration(snapshot, normalized(generateDrizzleJson(schema, snapshot.id)));
      expect(statements).toEqual([]);
    } finally {
      await fs.rm(out, { recursive: true, force: true });
    }
  });
});

/**
 * Two quirks of `pull` that are not differences: it writes every index column's operator
 * class even when it is the type's default (the schema never names one), and it lists a
 * composite primary key's columns in no fixed order.
 */
function normalized<T extends DrizzleSnapshotJSON>(snapshot: T): T {
  const { tables } = snapshot as unknown as SnapshotTables;
  for (const table of Object.values(tables)) {
    for (const index of Object.values(table.indexes)) {
      for (const column of index.columns) delete column.opclass;
    }
    for (const key of Object.values(table.compositePrimaryKeys)) key.columns.sort();
  }
  return snapshot;
}

/** The parts of a drizzle-kit PostgreSQL snapshot that normalized() touches. */
interface SnapshotTables {
  tables: Record<string, { indexes: Record<string, { columns: { opclass?: string }[] }>; compositePrimaryKeys: Record<string, { columns: string[] }> }>;
}
