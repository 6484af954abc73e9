import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers.js';
import { freePort } from '../processes.js';
import { startCluster, type Cluster, type Instance } from './harness.js';

const HAPROXY = '/usr/sbin/haproxy';
/** HAProxy notices a stopping instance after CHECK_INTER_MS × CHECK_FALL (plus a check's own time). */
const CHECK_INTER_MS = 200;
const CHECK_FALL = 2;
/**
 * Ten times what the checks need, so a loaded machine still takes the instance out first.
 * FAULT_DRAIN_MS=0 shows the loss without a drain.
 */
const DRAIN_MS = Number(process.env.FAULT_DRAIN_MS ?? 4000);
const CYCLES = 3;

/**
 * SIGTERM behind a real balancer that health-checks `/ready` (HAProxy, as in a
 * typical deployment): with SHUTDOWN_DRAIN_MS longer than the balancer's
 * check interval × fall count, the stopping instance leaves the rotation while it
 * still listens, so a steady stream of plain POSTs (no idempotency key, no retry
 * anywhere) loses nothing across repeated stops and restarts. Without the drain,
 * connections the balancer still sends (some queued in the kernel) were refused
 * or reset: 502/503 at the client.
 */
describe('SIGTERM behind HAProxy under steady POST load', () => {
  let cluster: Cluster;
  let dir: string;
  let haproxy: ChildProcess | undefined;
  let haproxyOutput = '';
  let frontend: string;
  let stats: string;

  beforeAll(async () => {
    await fs.access(HAPROXY).catch(() => {
      throw new Error(`${HAPROXY} is missing: apt-get install -y haproxy (.ci/run does)`);
    });
    cluster = await startCluster({
      instances: 2,
      env: { SHUTDOWN_DRAIN_MS: String(DRAIN_MS), SHUTDOWN_TIMEOUT_MS: String(DRAIN_MS + 6000), MAX_CONCURRENT_JOBS: '8' },
    });
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'agentry-haproxy-'));
    const [fePort, statsPort] = [await freePort(), await freePort()];
    frontend = `http://127.0.0.1:${fePort}`;
    stats = `http://127.0.0.1:${statsPort}/stats;csv`;
    const config = [
      'global',
      '  maxconn 2000',
      'defaults',
      '  mode http',
      '  timeout connect 2s',
      '  timeout client 30s',
      '  timeout server 30s',
      // A check that hangs counts as failed: the instance leaves the rotation either way.
      '  timeout check 1s',
      'frontend fe',
      `  bind 127.0.0.1:${fePort}`,
      '  default_backend app',
      'backend app',
      '  balance roundrobin',
      // Deliberately no `option redispatch` / `retry-on`: the drain alone must prevent loss.
      '  option httpchk GET /ready',
      '  http-check expect status 200',
      `  default-server inter ${CHECK_INTER_MS} fall ${CHECK_FALL} rise 1`,
      ...cluster.instances.map((i) => `  server ${i.name} 127.0.0.1:${i.proc.port} check`),
      'listen stats',
      `  bind 127.0.0.1:${statsPort}`,
      '  stats enable',
      '  stats uri /stats',
      '',
    ].join('\n');
    const file = path.join(dir, 'haproxy.cfg');
    await fs.writeFile(file, config);
    haproxy = spawn(HAPROXY, ['-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    haproxy.stdout?.on('data', (c: Buffer) => (haproxyOutput += c.toString()));
    haproxy.stderr?.on('data', (c: Buffer) => (haproxyOutput += c.toString()));
    haproxy.on('error', (error) => (haproxyOutput += `spawn error: ${error.message}\n`));
    await waitFor(async () => {
      const status = await serverStatus();
      return status.length === cluster.instances.length && status.every(([, s]) => s === 'UP');
    }, { timeoutMs: 30_000, what: `HAProxy to see both instances UP\n${haproxyOutput}` });
  });
  afterAll(async () => {
    if (haproxy && haproxy.exitCode === null) {
      const exited = new Promise((r) => haproxy!.once('exit', r));
      haproxy.kill('SIGTERM');
      await exited;
    }
    await cluster?.close();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  /** [server name, status] from HAProxy's stats (UP, DOWN, "UP 1/2"…). */
  async function serverStatus(): Promise<Array<[string, string]>> {
    try {
      const text = await fetch(stats, { signal: AbortSignal.timeout(2000) }).then((r) => r.text());
      const [header, ...rows] = text.trim().split('\n');
      const columns = header!.replace(/^# /, '').split(',');
      const [px, sv, st] = ['pxname', 'svname', 'status'].map((c) => columns.indexOf(c));
      return rows
        .map((r) => r.split(','))
        .filter((r) => r[px!] === 'app' && r[sv!] !== 'BACKEND' && r[sv!] !== 'FRONTEND')
        .map((r) => [r[sv!]!, r[st!]!]);
    } catch {
      return [];
    }
  }
  const statusOf = async (instance: Instance) => (await serverStatus()).find(([name]) => name === instance.name)?.[1];

  it('repeated SIGTERMs with a drain longer than the health checks: zero failed requests', async () => {
    const failures: string[] = [];
    const t0 = Date.now();
    const events: string[] = [];
    let ok = 0;
    let stop = false;
    let n = 0;
    const client = async () => {
      while (!stop) {
        const i = n++;
        try {
          const res = await fetch(`${frontend}/api/runs`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ agent: 'summarizer', input: `behind haproxy ${i}` }),
            signal: AbortSignal.timeout(30_000),
          });
          const text = await res.text();
          if (res.status === 202) ok++;
          else failures.push(`at ${Date.now() - t0} ms: ${res.status} ${text.slice(0, 200)}`);
        } catch (error) {
          failures.push(`at ${Date.now() - t0} ms: ${(error as Error).message} (${String((error as { cause?: { code?: string } }).cause?.code ?? '')})`);
        }
      }
    };
    const clients = Promise.all(Array.from({ length: 6 }, () => client()));

    const markedDownWhileListening: boolean[] = [];
    try {
      await waitFor(() => ok >= 20, { timeoutMs: 60_000, what: 'steady load through HAProxy' });
      for (let cycle = 0; cycle < CYCLES; cycle++) {
        const victim = cluster.instances[cycle % 2]!;
        const before = ok;
        events.push(`at ${Date.now() - t0} ms: SIGTERM ${victim.name}`);
        const exit = victim.sigterm();
        // The balancer takes it out while it still listens (the drain), not after.
        await waitFor(async () => (await statusOf(victim))?.startsWith('DOWN'), { timeoutMs: 60_000, intervalMs: 50, what: `${victim.name} marked DOWN` });
        markedDownWhileListening.push(victim.running);
        expect((await exit).code).toBe(0);
        events.push(`at ${Date.now() - t0} ms: ${victim.name} out of rotation and exited`);
        await victim.restart();
        events.push(`at ${Date.now() - t0} ms: ${victim.name} restarted`);
        await waitFor(async () => (await statusOf(victim)) === 'UP', { timeoutMs: 60_000, intervalMs: 50, what: `${victim.name} back UP` });
        // The load really ran across the stop.
        await waitFor(() => ok > before + 20, { timeoutMs: 60_000, what: 'requests after the restart' });
      }
    } finally {
      stop = true;
      await clients;
    }
    console.info(`HAProxy drain: ${ok} POSTs across ${CYCLES} SIGTERMs, ${failures.length} failed`);
    expect(failures, `${events.join('\n')}\n${haproxyOutput}`).toEqual([]);
    expect(markedDownWhileListening).toEqual(Array.from({ length: CYCLES }, () => true));
    expect(haproxy?.exitCode).toBeNull();
  });
});
