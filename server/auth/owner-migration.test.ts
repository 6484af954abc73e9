import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../../test/helpers.js';
import { findMigrationsDir, migrate } from '../db/migrate.js';
import { createLogger } from '../log.js';

/** migrations/0006_run_owner_id.sql on a database holding runs from before it. */
describe('runs.owner_id migration', () => {
  let database: { url: string; drop(): Promise<void> };
  let client: pg.Client;
  let before: string;
  const logger = createLogger({ level: 'silent' });

  beforeAll(async () => {
    database = await createTestDatabase('owner');
    client = new pg.Client(database.url);
    await client.connect();
    before = await fs.mkdtemp(path.join(os.tmpdir(), 'agentry-migrations-'));
    const all = findMigrationsDir();
    for (const file of (await fs.readdir(all)).filter((f) => f.endsWith('.sql') && f < '0006_run_owner_id.sql')) {
      await fs.copyFile(path.join(all, file), path.join(before, file));
    }
  });
  afterAll(async () => {
    await client?.end();
    await database?.drop();
    await fs.rm(before, { recursive: true, force: true });
  });

  it("backfills owner_id from the users, and retires the names of users already deleted", async () => {
    await migrate(client, logger, before);
    const erin = '11111111-1111-4111-8111-111111111111';
    await client.query(`INSERT INTO users (id, username, password_hash, role) VALUES ($1, 'Erin', 'x', 'operator')`, [erin]);
    const runs = { erin: '22222222-2222-4222-8222-222222222222', gone: '33333333-3333-4333-8333-333333333333' };
    await client.query(`INSERT INTO runs (id, owner, agent, input) VALUES ($1, 'Erin', 'echo', '{}'), ($2, 'frank', 'echo', '{}')`, [runs.erin, runs.gone]);

    await migrate(client, logger);
    const { rows } = await client.query<{ id: string; owner: string; owner_id: string | null }>('SELECT id, owner, owner_id FROM runs ORDER BY id');
    expect(rows).toEqual([
      { id: runs.erin, owner: 'Erin', owner_id: erin },
      { id: runs.gone, owner: 'deleted:frank', owner_id: null },
    ]);
    // A user's deletion leaves the run to nobody rather than failing.
    await client.query(`DELETE FROM users WHERE id = $1`, [erin]);
    const { rows: after } = await client.query('SELECT owner_id FROM runs WHERE id = $1', [runs.erin]);
    expect(after[0].owner_id).toBeNull();
  });
});
