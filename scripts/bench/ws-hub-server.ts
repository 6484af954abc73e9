/**
 * The hub under test for scripts/bench/ws.ts: a full app (config, database, queue,
 * hub) driven over stdin. `broadcast` hands an event to hub.event() the way the
 * queue does after committing it; `stream` stores events and publishes them at a
 * fixed rate (cross-instance latency).
 */
import { randomUUID } from 'node:crypto';
import { createApp } from '../../server/app.js';
import { loadConfig } from '../../server/config/config.js';
import { openDatabase } from '../../server/db/database.js';
import { createLogger } from '../../server/log.js';
import { memory, now, onCommands, report } from './ws-lines.js';

const config = loadConfig({ ...process.env, PORT: '0', HOST: '127.0.0.1' });
const logger = createLogger({ level: config.logLevel, name: 'bench-hub' });
const db = await openDatabase(config, logger);
const app = createApp({ config, logger, pool: db.pool, listener: db.listener, sizing: db.sizing, migrated: true });
const address = await app.listen(0, '127.0.0.1');
await app.start();
const OWNER = config.auth.adminUsername;
const seqs = new Map<string, number>();

async function store(runId: string, seq: number, data: Record<string, unknown>): Promise<string> {
  const { rows } = await db.pool.query<{ at: Date }>(
    `WITH u AS (UPDATE runs SET last_seq = $2 WHERE id = $1)
     INSERT INTO run_events (run_id, seq, type, data) VALUES ($1, $2, 'run.step.finished', $3) RETURNING at`,
    [runId, seq, data],
  );
  return rows[0]!.at.toISOString();
}

onCommands(async (command) => {
  switch (command.cmd) {
    case 'run': {
      const id = randomUUID();
      await db.pool.query(`INSERT INTO runs (id, owner, agent, input, status, finished_at) VALUES ($1, $2, 'bench', '{}'::jsonb, 'succeeded', now())`, [id, OWNER]);
      seqs.set(id, 0);
      report({ run: id });
      break;
    }
    case 'watch': {
      // Another instance's run: continue from its stored head.
      seqs.set(String(command.runId), 0);
      report({ watching: true });
      break;
    }
    case 'broadcast': {
      const runId = String(command.runId);
      const count = Number(command.count ?? 1);
      for (let k = 0; k < count; k++) {
        const seq = (seqs.get(runId) ?? 0) + 1;
        seqs.set(runId, seq);
        const t0 = now();
        app.hub.event({ seq, runId, type: 'run.step.finished', data: { i: seq, t0, output: 'x'.repeat(200) }, at: new Date().toISOString() }, OWNER);
      }
      report({ broadcast: command.id });
      break;
    }
    case 'stream': {
      const runId = String(command.runId);
      const count = Number(command.count);
      const intervalMs = 1000 / Number(command.rate);
      const start = performance.now();
      for (let k = 0; k < count; k++) {
        const due = start + k * intervalMs;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const seq = (seqs.get(runId) ?? 0) + 1;
        seqs.set(runId, seq);
        const data = { i: seq, output: 'x'.repeat(200) };
        const at = await store(runId, seq, data);
        app.hub.event({ seq, runId, type: 'run.step.finished', data: { ...data, t0: now() }, at }, OWNER);
      }
      report({ streamed: count });
      break;
    }
    case 'mem':
      report({ mem: memory(), connections: app.hub.connectionCount() });
      break;
    default:
      report({ error: `unknown command ${String(command.cmd)}` });
  }
});

process.on('SIGTERM', () => {
  void app
    .shutdown('bench')
    .then(() => db.close())
    .finally(() => process.exit(0));
});
report({ port: address.port });
