import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { RunEvent } from '../../shared/protocol.js';
import { createTestDatabase, waitFor } from '../../test/helpers.js';
import { createAuth } from '../auth/auth.js';
import { loadConfig } from '../config/config.js';
import { openDatabase, type Database } from '../db/database.js';
import type { Listener } from '../db/listener.js';
import { createLogger } from '../log.js';
import { createMetrics } from '../metrics/metrics.js';
import { createHub, type Hub } from './hub.js';
import { insertRun, openSocket, wsUrl, type TestSocket } from './test-client.js';

/**
 * The `runs` topic after the LISTEN connection was away: events stored meanwhile
 * (their notifications lost) are read back from run_events. The test decides
 * when the hub hears "disconnected" and "reconnected" (a listener that passes
 * everything else to the real one), so what is missed is exact, not a race.
 */
describe('hub catch-up of the runs topic', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let db: Database;
  let hub: Hub;
  let server: http.Server;
  let url: string;
  const events = new EventEmitter();

  beforeAll(async () => {
    database = await createTestDatabase('hubcatch');
    const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', DATABASE_URL: database.url, MAX_INSTANCES: '4' });
    const logger = createLogger({ level: 'silent', name: 'catch-up-test' });
    db = await openDatabase(config, logger);
    const real = db.listener;
    const listener: Listener = {
      get connected() {
        return real.connected;
      },
      listen: (channel, handler) => real.listen(channel, handler),
      notify: (channel, payload) => real.notify(channel, payload),
      ping: (timeoutMs) => real.ping(timeoutMs),
      on: (event, fn) => void events.on(event, fn),
      off: (event, fn) => void events.off(event, fn),
      start: () => real.start(),
      stop: () => real.stop(),
    };
    hub = createHub({ config, logger, pool: db.pool, listener, metrics: createMetrics(), auth: createAuth({ config, logger, pool: db.pool }) });
    server = http.createServer();
    hub.attach(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await hub.start!();
  });
  afterEach(() => {
    vi.useRealTimers();
  });
  afterAll(async () => {
    await hub?.stop!(new AbortController().signal);
    await new Promise((resolve) => server?.close(resolve));
    await db?.close();
    await database?.drop();
  });

  /** Stores `count` lifecycle events of one run in one statement, and tells no one. */
  async function storeSilently(count: number): Promise<string> {
    const runId = await insertRun(db.pool, 'admin');
    await db.pool.query(
      `WITH e AS (INSERT INTO run_events (run_id, seq, type, data)
                  SELECT $1, g, 'run.retrying', jsonb_build_object('i', g) FROM generate_series(1, $2::int) g RETURNING seq)
       UPDATE runs SET last_seq = (SELECT max(seq) FROM e) WHERE id = $1`,
      [runId, count],
    );
    return runId;
  }

  async function watcher(): Promise<TestSocket> {
    const s = await openSocket(wsUrl(url));
    s.send({ type: 'subscribe', topic: 'runs' });
    await s.next((f) => f.type === 'subscribed' && f.topic === 'runs');
    return s;
  }

  const seqsOf = (s: TestSocket, runId: string) =>
    s.frames.flatMap((f) => (f.type === 'event' && f.topic === 'runs' && (f.event as RunEvent).runId === runId ? [(f.event as RunEvent).seq] : []));

  it('replays every missed lifecycle event, more than one page of them, in order', async () => {
    const s = await watcher();
    events.emit('disconnected');
    const runId = await storeSilently(2600);
    events.emit('reconnected');
    await waitFor(() => seqsOf(s, runId).length >= 2600, { timeoutMs: 30_000, what: `2600 events (have ${seqsOf(s, runId).length})` });
    expect(seqsOf(s, runId)).toEqual(Array.from({ length: 2600 }, (_, i) => i + 1));
    s.close();
  });

  it('measures the window on the database clock: an app clock a minute ahead misses nothing', async () => {
    const s = await watcher();
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
    vi.setSystemTime(new Date(Date.now() + 60_000));
    events.emit('disconnected');
    const runId = await storeSilently(3);
    events.emit('reconnected');
    await waitFor(() => seqsOf(s, runId).length >= 3, { what: 'the missed events' });
    expect(seqsOf(s, runId)).toEqual([1, 2, 3]);
    s.close();
  });

  it('has an index for reading run_events by time', async () => {
    const { rows } = await db.pool.query<{ indexdef: string }>("SELECT indexdef FROM pg_indexes WHERE tablename = 'run_events' AND indexname = 'run_events_at_idx'");
    expect(rows[0]?.indexdef).toMatch(/\(at, run_id, seq\)/);
  });
});
