import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from './harness.js';

/**
 * Pool exhaustion: a two-connection pool with a 400 ms wait (establishing a connection must fit in it too), hit by hundreds of
 * concurrent calls. Requests that cannot get a connection in time are shed with
 * 503 + Retry-After (and write nothing); the probes, which never touch the pool,
 * keep answering; the instance recovers the moment the storm passes.
 */
describe('pool exhaustion', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await startCluster({
      instances: 1,
      // 600 requests at once from one address: the per-client cap (429) would answer before the pool could shed.
      env: { MAX_CONNECTIONS: '2', DB_CONNECTION_TIMEOUT_MS: '400', MAX_CONCURRENT_JOBS: '2', MAX_CONNECTIONS_PER_CLIENT: '0' },
    });
    // Enough finished runs that listing them takes a moment per request.
    await cluster.db.query(
      `INSERT INTO runs (id, owner, agent, input, status, output, finished_at)
       SELECT gen_random_uuid(), 'local-admin', 'summarizer', to_jsonb('seed ' || g), 'succeeded', to_jsonb(repeat('x', 400)), now()
         FROM generate_series(1, 3000) g`,
    );
  });
  afterAll(async () => {
    await cluster?.close();
  });

  it('sheds with 503 + Retry-After while /live and /ready answer 200; refused writes leave no row', async () => {
    const { db } = cluster;
    const instance = cluster.instances[0]!;
    const { rows: before } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM runs');

    const shed: { status: number; retryAfter: string | null; code: string }[] = [];
    const ok: number[] = [];
    const created = new Set<string>();
    const other: string[] = [];
    const call = async (i: number) => {
      const write = i % 3 === 0;
      const res = await fetch(`${instance.url}${write ? '/api/runs' : '/api/runs?limit=100'}`, {
        method: write ? 'POST' : 'GET',
        headers: write ? { 'content-type': 'application/json' } : {},
        body: write ? JSON.stringify({ agent: 'summarizer', input: `storm ${i}` }) : undefined,
      });
      const body = (await res.json()) as { run?: { id: string }; error?: { code: string } };
      if (res.status === 503) shed.push({ status: res.status, retryAfter: res.headers.get('retry-after'), code: body.error?.code ?? '' });
      else if (res.status === 200 || res.status === 202) {
        ok.push(res.status);
        if (write && body.run) created.add(body.run.id);
      } else other.push(`${res.status} ${JSON.stringify(body).slice(0, 200)}`);
    };
    // Probes every 20 ms during the storm.
    const probeStatuses: number[] = [];
    let storming = true;
    const probing = (async () => {
      while (storming) {
        const [live, ready] = await Promise.all([fetch(`${instance.url}/live`), fetch(`${instance.url}/ready`)]);
        probeStatuses.push(live.status, ready.status);
        await Promise.all([live.arrayBuffer(), ready.arrayBuffer()]);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await Promise.all(Array.from({ length: 600 }, (_, i) => call(i)));
    storming = false;
    await probing;

    expect(other).toEqual([]);
    expect(shed.length, 'some requests shed').toBeGreaterThan(0);
    expect(ok.length, 'some requests served').toBeGreaterThan(0);
    for (const s of shed) {
      expect(s.code).toBe('overloaded');
      expect(Number(s.retryAfter)).toBeGreaterThan(0);
    }
    expect(probeStatuses.length).toBeGreaterThan(0);
    expect(probeStatuses.every((s) => s === 200)).toBe(true);
    expect(instance.running).toBe(true);

    // Only the accepted writes made rows: a shed POST created nothing.
    const { rows: after } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM runs');
    expect(after[0]!.n - before[0]!.n).toBe(created.size);

    // The storm is over: a normal request is served at once.
    const calm = await fetch(`${instance.url}/api/runs?limit=1`);
    expect(calm.status).toBe(200);
  });
});
