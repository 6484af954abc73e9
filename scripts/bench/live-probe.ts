/**
 * `GET /live` at a fixed rate, the way a load balancer checks an instance: on a
 * few keep-alive connections opened before the measurement (`connections`), or
 * on a new connection every time (`fresh`, what a kubelet's httpGet probe does, a
 * few times a minute; here at a low rate).
 *
 * Why a fixed set of connections: libuv (Node ≥ 20) accepts one connection per
 * event-loop turn, and an instance busy streaming turns 15–45 times a second (K =
 * 1,000 on 2 shared cores). A probe that opens a connection whenever its open ones
 * are busy (an uncapped keep-alive agent at 100 requests a second) opens them
 * faster than they are accepted: they wait in the kernel's accept queue, hundreds
 * deep, and the probe measures its own queue (13–35 s at K = 1,000) instead of the
 * answer (issue #18). A request queued on our side behind unanswered ones still
 * counts from its scheduled time, so a slow instance is not measured kindly; but
 * each connection carries one request per turn of the app, so there must be enough
 * of them (rate × the longest turn) or the probe measures its own queue again
 * (`queued` says how often it waited).
 */
import http from 'node:http';
import type { Socket } from 'node:net';
import { percentile } from './ws-lines.js';

export interface LiveStats {
  p50: number;
  p99: number;
  max: number;
  /** Answered probes (all of those scheduled: stop() waits for every one). */
  n: number;
  /** Probes that failed (connection refused or reset). */
  errors: number;
  /** Connections opened after the warm-up; 0 unless the server closed one (or `fresh`). */
  opened: number;
  /** Probes that found every connection busy and waited on our side for one (counted from their scheduled time). */
  queued: number;
}

export interface LiveProbe {
  /** Probes sent so far. */
  readonly scheduled: number;
  stop(): Promise<LiveStats>;
}

export interface LiveProbeOptions {
  perSecond: number;
  /** Keep-alive connections, opened (and each used once) before the first timed probe. */
  connections?: number;
  /** A new connection per probe instead. */
  fresh?: boolean;
  path?: string;
}

export async function probeLive(port: number, options: LiveProbeOptions): Promise<LiveProbe> {
  const path = options.path ?? '/live';
  const connections = options.connections ?? 8;
  const agent = options.fresh ? undefined : new http.Agent({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections });
  const seen = new WeakSet<Socket>();
  let opened = 0;
  let counting = false;
  let errors = 0;
  const latencies: number[] = [];

  const get = (onSocket: (socket: Socket) => void) =>
    new Promise<number | undefined>((resolve) => {
      const started = performance.now();
      const req = http.get({ host: '127.0.0.1', port, path, agent: agent ?? false }, (res) => {
        res.resume();
        res.on('end', () => resolve(performance.now() - started));
        res.on('error', () => resolve(undefined));
      });
      req.on('socket', onSocket);
      req.on('error', () => resolve(undefined));
    });
  const onSocket = (socket: Socket) => {
    if (seen.has(socket)) return;
    seen.add(socket);
    if (counting) opened++;
  };

  // Every connection at once, so the agent opens them all; answered before the clock starts.
  if (agent) await Promise.all(Array.from({ length: connections }, () => get(onSocket)));
  counting = true;

  let scheduled = 0;
  let queued = 0;
  let stopped = false;
  const inFlight = new Set<Promise<void>>();
  const timer = setInterval(() => {
    if (stopped) return;
    scheduled++;
    if (agent && inFlight.size >= connections) queued++;
    const p = get(onSocket).then((ms) => {
      if (ms === undefined) errors++;
      else latencies.push(ms);
    });
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  }, 1000 / options.perSecond);

  return {
    get scheduled() {
      return scheduled;
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await Promise.all(inFlight);
      agent?.destroy();
      latencies.sort((a, b) => a - b);
      return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1) ?? 0, n: latencies.length, errors, opened, queued };
    },
  };
}
