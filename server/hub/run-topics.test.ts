import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../shared/protocol.js';
import { createTestDatabase } from '../../test/helpers.js';
import type { AuthUser } from '../auth/types.js';
import { loadConfig } from '../config/config.js';
import { openDatabase, type Database } from '../db/database.js';
import { createLogger } from '../log.js';
import { createRunTopics, type Subscriber, type TokenDropReason } from './run-topics.js';
import { appendEvent, insertRun } from './test-client.js';

/**
 * Run topics as a watching instance sees them when the executing instance's
 * notifications are late: the test calls reconcile() itself and waits for its
 * fill, so "a reconcile ran while a notification was on its way" is exact.
 */
describe('run topics: reconcile does not overtake late notifications', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let db: Database;

  beforeAll(async () => {
    database = await createTestDatabase('topics');
    const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', DATABASE_URL: database.url, MAX_INSTANCES: '4' });
    db = await openDatabase(config, createLogger({ level: 'silent', name: 'run-topics-test' }));
  });
  afterAll(async () => {
    await db?.close();
    await database?.drop();
  });

  function subscriber(): Subscriber & { events: RunEvent[] } {
    const events: RunEvent[] = [];
    return {
      events,
      user: { username: 'admin', role: 'admin' } satisfies AuthUser,
      open: true,
      bufferedAmount: 0,
      send(frame, done) {
        events.push((JSON.parse(String(frame)) as { event: RunEvent }).event);
        done?.();
        return true;
      },
    };
  }

  function topicsOf(onDropped?: (reason: TokenDropReason) => void) {
    return createRunTopics({ pool: db.pool, logger: createLogger({ level: 'silent' }), canSee: () => true, replayHighWaterBytes: 1 << 20, onDropped });
  }

  /** A subscriber watching a run whose step has started, and the drops counted meanwhile. */
  async function watchingAStep() {
    const dropped: TokenDropReason[] = [];
    const topics = topicsOf((reason) => dropped.push(reason));
    const runId = await insertRun(db.pool, 'admin');
    const started = await appendEvent(db.pool, runId, 'run.step.started');
    const who = subscriber();
    expect(await topics.subscribe(who, runId, undefined, () => undefined)).toBe('subscribed');
    return { topics, dropped, runId, started, who };
  }

  it('keeps tokens whose stored successor is only late; fills a notification lost for a whole interval', async () => {
    const { topics, dropped, runId, started, who } = await watchingAStep();

    // The step finished on the executing instance: stored, its NOTIFY (behind the
    // step's tokens) still on its way when this instance reconciles.
    const finished = await appendEvent(db.pool, runId, 'run.step.finished');
    await topics.reconcile();
    await topics.filled(runId);
    // Before the fix the reconcile read run.step.finished here and the tokens below were dropped as stale.
    topics.token({ seq: started.seq, runId, type: 'run.token', data: { delta: 'a' }, at: finished.at });
    topics.token({ seq: started.seq, runId, type: 'run.token', data: { delta: 'b' }, at: finished.at });
    topics.event(finished, 'admin');
    // Both deltas came in one turn: one run.token, sent before the stored event that follows them.
    expect(who.events.map((e) => [e.type, e.data.delta])).toEqual([
      ['run.token', 'ab'],
      ['run.step.finished', undefined],
    ]);
    expect(dropped).toEqual([]);

    // A notification that never comes: the next reconcile after the one that saw it fills it.
    const lost = await appendEvent(db.pool, runId, 'run.succeeded');
    await topics.reconcile();
    await topics.reconcile();
    await topics.filled(runId);
    expect(who.events.map((e) => e.seq)).toEqual([started.seq, finished.seq, lost.seq]);

    // A token older than what was delivered is counted, not dropped silently.
    topics.token({ seq: started.seq, runId, type: 'run.token', data: { delta: 'c' }, at: finished.at });
    expect(dropped).toEqual(['late_token']);
    topics.removeAll(who);
  });

  it('does not fill past a run whose notifications keep arriving, however late', async () => {
    const { topics, dropped, runId, started, who } = await watchingAStep();
    // The executing instance is far behind: the step finished and the run succeeded
    // (both stored) while this instance is still receiving the step's tokens.
    const finished = await appendEvent(db.pool, runId, 'run.step.finished');
    const succeeded = await appendEvent(db.pool, runId, 'run.succeeded');
    const deltas = ['a', 'b', 'c', 'd'];
    for (const delta of deltas) {
      await topics.reconcile();
      await topics.filled(runId);
      topics.token({ seq: started.seq, runId, type: 'run.token', data: { delta }, at: finished.at });
      await new Promise((resolve) => setImmediate(resolve));
    }
    topics.event(finished, 'admin');
    topics.event(succeeded, 'admin');
    expect(dropped).toEqual([]);
    expect(who.events.map((e) => (e.type === 'run.token' ? e.data.delta : e.type))).toEqual([...deltas, 'run.step.finished', 'run.succeeded']);
    topics.removeAll(who);
  });

  it('fills at once after the LISTEN connection came back (immediate)', async () => {
    const topics = topicsOf();
    const runId = await insertRun(db.pool, 'admin');
    const who = subscriber();
    expect(await topics.subscribe(who, runId, undefined, () => undefined)).toBe('subscribed');
    const missed = await appendEvent(db.pool, runId, 'run.queued');
    await topics.reconcile(true);
    await topics.filled(runId);
    expect(who.events.map((e) => e.seq)).toEqual([missed.seq]);
    topics.removeAll(who);
  });

  it('gives a subscriber that had not seen the step start its text so far, once; a resume at the step gets none again', async () => {
    const topics = topicsOf();
    const runId = await insertRun(db.pool, 'admin');
    const queued = await appendEvent(db.pool, runId, 'run.queued');
    const started = await appendEvent(db.pool, runId, 'run.step.started');
    topics.event(queued, 'admin');
    topics.event(started, 'admin');
    const token = (delta: string) => topics.token({ seq: started.seq, runId, type: 'run.token', data: { delta }, at: started.at });
    // Nobody watches yet: the instance keeps the step's text anyway.
    token('a');
    token('b');
    const joining = subscriber();
    const resuming = subscriber();
    const subscribed = Promise.all([
      topics.subscribe(joining, runId, 0, () => undefined),
      // Saw the step start before its connection dropped, so may have seen some of its tokens: no text again.
      topics.subscribe(resuming, runId, started.seq, () => undefined),
    ]);
    // Arrives while the joining subscriber reads its history: buffered, sent once, after the text so far.
    token('c');
    expect(await subscribed).toEqual(['subscribed', 'subscribed']);
    token('d');
    const finished = await appendEvent(db.pool, runId, 'run.step.finished');
    topics.event(finished, 'admin');
    const show = (e: RunEvent) => (e.type === 'run.token' ? String(e.data.delta) : e.seq);
    // The text so far as one delta; 'c' was part of it, so its live frame is not sent again.
    expect(joining.events.map(show)).toEqual([queued.seq, started.seq, 'abc', 'd', finished.seq]);
    expect(resuming.events.map(show)).toEqual(['c', 'd', finished.seq]);
    topics.removeAll(joining);
    topics.removeAll(resuming);
  });

  it("merges a turn's deltas of one step into one run.token; turns, steps and stored events split them", async () => {
    const topics = topicsOf();
    const runId = await insertRun(db.pool, 'admin');
    const started = await appendEvent(db.pool, runId, 'run.step.started');
    const who = subscriber();
    expect(await topics.subscribe(who, runId, undefined, () => undefined)).toBe('subscribed');
    const token = (delta: string, index = 0, seq = started.seq) => topics.token({ seq, runId, type: 'run.token', data: { index, delta }, at: started.at });
    const nextTurn = () => new Promise((r) => setImmediate(r));
    const show = (e: RunEvent) => (e.type === 'run.token' ? `${String(e.data.index)}:${String(e.data.delta)}` : e.seq);

    token('a');
    token('b');
    token('c');
    // Nothing leaves before the turn ends, then the three deltas leave as one frame.
    expect(who.events).toEqual([]);
    await nextTurn();
    expect(who.events.map(show)).toEqual(['0:abc']);
    expect(who.events[0]).toMatchObject({ seq: started.seq, runId, type: 'run.token' });

    token('d');
    await nextTurn();
    token('e');
    token('f', 1);
    await nextTurn();
    expect(who.events.map(show)).toEqual(['0:abc', '0:d', '0:e', '1:f']);

    // A stored event in the same turn comes after the tokens before it and before those after it.
    const finished = await appendEvent(db.pool, runId, 'run.step.finished');
    token('g', 1);
    token('h', 1);
    topics.event(finished, 'admin');
    token('i', 1, finished.seq);
    token('j', 1, finished.seq);
    await nextTurn();
    expect(who.events.map(show).slice(4)).toEqual(['1:gh', finished.seq, '1:ij']);
    topics.removeAll(who);
  });
});
