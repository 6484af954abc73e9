import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type pg from 'pg';
import { WebSocketServer, type WebSocket } from 'ws';
import { WS_CLOSE, type ClientFrame, type QueueStats, type RunEvent } from '../../shared/protocol.js';
import { canSeeRun } from '../auth/roles.js';
import { listenSessionChanges } from '../auth/session-notices.js';
import type { Auth, SocketSession } from '../auth/types.js';
import type { Config } from '../config/config.js';
import type { Listener } from '../db/listener.js';
import type { ConnectionLimits } from '../http/connection-limits.js';
import { createProxyTrust } from '../http/proxy-trust.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import { selectEvent } from '../queue/reads.js';
import { Connection } from './connection.js';
import { eventItem, HUB_CHANNEL, parseNotification, type HubItem } from './messages.js';
import { createPublisher } from './publisher.js';
import { createStreamRoutes } from './routes.js';
import { createRunTopics } from './run-topics.js';
import { createRunsTopic } from './runs-topic.js';
import { createSessionGuard } from './sessions.js';
import { createSseStreams } from './sse.js';
import type { Hub, TopicProvider } from './types.js';
import { HUB_PATH, originAllowed, refuseUpgrade, upgradePath } from './upgrade.js';

export type { Hub } from './types.js';

export interface HubDeps {
  config: Config;
  logger: Logger;
  pool: pg.Pool;
  listener: Listener;
  metrics: Metrics;
  auth: Auth;
  instanceId?: string;
  /** How long token deltas of one run wait to share a notification. */
  tokenBatchMs?: number;
  /** How often watched runs are compared with their stored head (lost-notification safety net). */
  reconcileMs?: number;
  /** How long a hello probe waits to hear itself. */
  helloTimeoutMs?: number;
  /** How soon a hub that did not hear its hello probes again. */
  probeRetryMs?: number;
  /** WebSockets per client address and per user (server/http/connection-limits.ts). */
  connectionLimits?: Pick<ConnectionLimits, 'acceptWebSocket'>;
}

export { LIFECYCLE_TYPES } from './runs-topic.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MAX_SUBSCRIPTIONS = 100;
const CLOSE_WAIT_MS = 2000;

/**
 * The WebSocket hub (docs/API.md section 4): a `ws` server on the app's HTTP
 * server at /ws, topics with per-user authorization, and cross-instance fan-out
 * over LISTEN/NOTIFY. Local events are delivered at once and published; events
 * from other instances arrive on the LISTEN connection. Each watched run is
 * delivered in seq order with gaps filled from run_events (run-topics.ts), so a
 * lost or late notification costs latency, never an event.
 */
export function createHub(deps: HubDeps): Hub {
  const { config, logger, pool, listener, metrics, auth } = deps;
  const instanceId = deps.instanceId ?? randomUUID();
  const log = logger.child({ part: 'hub' });
  const proxyTrust = createProxyTrust(config.server.trustProxy);
  const limits = { maxBufferedBytes: config.ws.maxBufferedBytes, maxMessagesPerSecond: config.ws.maxMessagesPerSecond };

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: config.ws.maxPayload,
    perMessageDeflate: false,
    clientTracking: false,
  });
  const connections = new Set<Connection>();
  /** Topics other parts serve (`thread:<id>`), by prefix. */
  const providers: TopicProvider[] = [];
  const providerOf = (topic: string) => providers.find((p) => topic.startsWith(`${p.prefix}:`));
  const queueSubscribers = new Set<Connection>();
  const dropped = (reason: string, count: number) => metrics.hubItemsDroppedTotal.inc({ reason }, count);
  const topics = createRunTopics({ pool, logger: log, canSee: canSeeRun, replayHighWaterBytes: Math.floor(config.ws.maxBufferedBytes / 4), onDropped: dropped });
  // After the LISTEN connection was away every watched run is filled at once, not on the periodic schedule.
  const runs = createRunsTopic({ pool, log, reconcileRuns: () => topics.reconcile(true) });
  const runsSubscribers = runs.subscribers;
  const streams = createSseStreams({ logger: log, heartbeatMs: config.sse.heartbeatMs, stopping: () => stopping || !started });
  const router = createStreamRoutes({ pool, topics, streams });
  const sessions = createSessionGuard({ auth, log, connections: () => connections, userChanged: (conn) => [...topics.recheck(conn), ...providers.flatMap((p) => p.recheck(conn))] });
  const publisher = createPublisher({ pool, listener, logger: log, source: instanceId, tokenBatchMs: deps.tokenBatchMs ?? 50, onDropped: (n) => dropped('publish', n) });

  let started = false;
  let stopping = false;
  let listening = false;
  /** Open hello probes by nonce; only the latest (`probeGeneration`) may set `listening`. */
  const probes = new Map<string, { timer: NodeJS.Timeout; settle: (heard: boolean) => void }>();
  let probeGeneration = 0;
  let probeTimer: NodeJS.Timeout | undefined;
  const helloTimeoutMs = deps.helloTimeoutMs ?? 5000;
  const probeRetryMs = deps.probeRetryMs ?? 5000;
  let unlisten: (() => void) | undefined;
  let heartbeatTimer: NodeJS.Timeout | undefined;
  let reconcileTimer: NodeJS.Timeout | undefined;
  let metricsTimer: NodeJS.Timeout | undefined;
  let unlistenSessions: (() => void) | undefined;
  let unsentCount = 0;
  let lastQueueFrame: string | undefined;

  const connectionEvents = {
    frame: (conn: Connection, frame: ClientFrame) => onFrame(conn, frame),
    sent: (count: number) => {
      unsentCount += count;
    },
    slowConsumer: (conn: Connection) => {
      metrics.wsSlowConsumersDroppedTotal.inc();
      log.info({ user: conn.user.username, buffered: conn.ws.bufferedAmount }, 'slow WebSocket consumer dropped');
    },
  };

  function flushSentCount(): void {
    if (unsentCount > 0) metrics.wsMessagesSentTotal.inc(unsentCount);
    unsentCount = 0;
  }

  // ------------------------------------------------------------ delivery

  function deliverLocal(event: RunEvent, owner: string): void {
    topics.event(event, owner);
    runs.event(event, owner);
    for (const p of providers) p.runEvent(event, owner);
  }

  function deliverToken(event: RunEvent): void {
    topics.token(event);
    for (const p of providers) p.runToken(event);
  }

  async function deliverByReference(runId: string, seq: number, type: string | undefined): Promise<void> {
    const wanted = topics.has(runId) || runs.wants(type) || providers.some((p) => p.wantsRun(runId));
    if (!wanted) return;
    try {
      const found = await selectEvent(pool, runId, seq);
      if (found) deliverLocal(found.event, found.owner);
    } catch (error) {
      // The run topic's reconciler fills it later.
      log.warn({ err: error, runId, seq }, 'reading an event sent by reference failed');
    }
  }

  function onNotification(payload: string): void {
    const message = parseNotification(payload);
    if (!message) {
      log.warn({ bytes: payload.length }, 'ignored a malformed hub notification');
      return;
    }
    const own = message.s === instanceId;
    for (const item of message.m) {
      if (item.k === 'hello') {
        if (own) probes.get(item.n)?.settle(true);
        continue;
      }
      // Our own events were delivered locally before they were published.
      if (own) continue;
      handleItem(item);
    }
  }

  function handleItem(item: Exclude<HubItem, { k: 'hello' }>): void {
    switch (item.k) {
      case 'e':
        deliverLocal(item.e, item.o);
        break;
      case 'r':
        void deliverByReference(item.r, item.q, item.y);
        break;
      case 't':
        for (const t of item.t) deliverToken({ seq: t.q, runId: item.r, type: 'run.token', data: t.d, at: t.a });
        break;
    }
  }

  // ------------------------------------------------------------ client frames

  function onFrame(conn: Connection, frame: ClientFrame): void {
    switch (frame.type) {
      case 'ping':
        conn.sendFrame({ type: 'pong' });
        return;
      case 'unsubscribe':
        // Queued behind any subscribe still checking the session, so the two keep their order.
        conn.serial(() => {
          unsubscribe(conn, frame.topic);
          conn.sendFrame({ type: 'unsubscribed', topic: frame.topic });
        });
        return;
      case 'subscribe':
        conn.serial(async () => {
          if (await sessions.checkBeforeSubscribe(conn, frame.topic)) subscribe(conn, frame.topic, frame.after);
        });
        return;
    }
  }

  // ------------------------------------------------------------ subscriptions

  function subscriptionCount(conn: Connection): number {
    return topics.count(conn) + (conn.runs ? 1 : 0) + (conn.queue ? 1 : 0) + providers.reduce((n, p) => n + p.count(conn), 0);
  }

  /** Whether `conn` already holds `topic` (subscribing again replaces it, so it does not count against the cap). */
  function holds(conn: Connection, topic: string, runId?: string): boolean {
    if (topic === 'runs') return conn.runs;
    if (topic === 'queue') return conn.queue;
    const provider = providerOf(topic);
    if (provider) return provider.holds(conn, topic.slice(provider.prefix.length + 1).toLowerCase());
    return runId !== undefined && topics.holds(conn, runId);
  }

  function overCap(conn: Connection, topic: string, runId?: string): boolean {
    if (holds(conn, topic, runId) || subscriptionCount(conn) < MAX_SUBSCRIPTIONS) return false;
    conn.error('too_many_subscriptions', `at most ${MAX_SUBSCRIPTIONS} topics per connection`, topic);
    return true;
  }

  function subscribe(conn: Connection, topic: string, after: number | undefined): void {
    if (topic === 'runs' || topic === 'queue') {
      if (overCap(conn, topic)) return;
      if (topic === 'runs') {
        conn.runs = true;
        runsSubscribers.add(conn);
      } else {
        conn.queue = true;
        queueSubscribers.add(conn);
      }
      conn.sendFrame({ type: 'subscribed', topic });
      if (topic === 'queue' && lastQueueFrame) conn.send(lastQueueFrame);
      return;
    }
    const provider = providerOf(topic);
    if (provider) {
      const id = topic.slice(provider.prefix.length + 1).toLowerCase();
      const name = `${provider.prefix}:${id}`;
      if (!UUID.test(id)) {
        conn.error('not_found', `${provider.prefix} not found`, topic);
        return;
      }
      if (overCap(conn, topic)) return;
      provider
        .subscribe(conn, id, after)
        .then((result) => {
          if (result === 'not_found') conn.error('not_found', `${provider.prefix} not found`, name);
        })
        .catch((error: unknown) => {
          log.warn({ err: error, topic: name }, 'subscribe failed');
          conn.error('unavailable', `could not read the ${provider.prefix}; try again`, name);
        });
      return;
    }
    const runId = topic.slice('run:'.length).toLowerCase();
    const name = `run:${runId}`;
    if (!UUID.test(runId)) {
      conn.error('not_found', 'run not found', topic);
      return;
    }
    // The cap is per connection: a run someone else already watches still costs this one a topic.
    if (overCap(conn, topic, runId)) return;
    topics
      .subscribe(conn, runId, after, () => conn.sendFrame({ type: 'subscribed', topic: name }))
      .then((result) => {
        // Someone else's run answers exactly like a missing one.
        if (result === 'not_found') conn.error('not_found', 'run not found', name);
      })
      .catch((error: unknown) => {
        log.warn({ err: error, runId }, 'subscribe failed');
        conn.error('unavailable', 'could not read the run; try again', name);
      });
  }

  function unsubscribe(conn: Connection, topic: string): void {
    if (topic === 'runs') {
      conn.runs = false;
      runsSubscribers.delete(conn);
    } else if (topic === 'queue') {
      conn.queue = false;
      queueSubscribers.delete(conn);
    } else {
      const provider = providerOf(topic);
      if (provider) provider.unsubscribe(conn, topic.slice(provider.prefix.length + 1).toLowerCase());
      else topics.unsubscribe(conn, topic.slice('run:'.length).toLowerCase());
    }
  }

  // ------------------------------------------------------------ connections

  function onConnection(ws: WebSocket, session: SocketSession, checkedAt: number): void {
    const conn = new Connection(ws, session, limits, connectionEvents);
    const user = conn.user;
    connections.add(conn);
    metrics.wsConnections.set(connections.size);
    ws.on('message', (data, isBinary) => conn.onMessage(data, isBinary));
    ws.on('pong', () => {
      conn.alive = true;
    });
    ws.on('error', (error) => {
      // Oversized frames (1009) and protocol errors land here; ws closes the socket itself.
      log.debug({ err: error, user: user.username }, 'WebSocket error');
    });
    ws.on('close', () => {
      conn.closing = true;
      conn.dispose();
      connections.delete(conn);
      runsSubscribers.delete(conn);
      queueSubscribers.delete(conn);
      topics.removeAll(conn);
      for (const p of providers) p.removeAll(conn);
      metrics.wsConnections.set(connections.size);
    });
    if (stopping) {
      conn.close(WS_CLOSE.serviceRestart, 'server restarting');
      return;
    }
    sessions.adopt(conn, checkedAt);
  }

  async function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const onSocketError = (error: Error) => log.debug({ err: error }, 'upgrade socket error');
    socket.on('error', onSocketError);
    if (stopping) {
      refuseUpgrade(socket, 503, 'shutting_down', 'this instance is shutting down; connect again', { 'Retry-After': '1' });
      return;
    }
    if (!originAllowed(req, config.server.corsOrigins, proxyTrust.peerTrusted(req))) {
      refuseUpgrade(socket, 403, 'forbidden_origin', 'this origin may not open a WebSocket here');
      return;
    }
    let session: SocketSession | null;
    const checkedAt = Date.now();
    try {
      session = await auth.authenticateUpgrade(req);
    } catch (error) {
      log.warn({ err: error }, 'WebSocket authentication failed');
      refuseUpgrade(socket, 503, 'unavailable', 'authentication is unavailable; try again');
      return;
    }
    if (!session) {
      refuseUpgrade(socket, 401, 'unauthorized', 'a valid token is required (Authorization header, session cookie or token query)', {
        'WWW-Authenticate': 'Bearer',
      });
      return;
    }
    if (socket.destroyed) return;
    if (stopping) {
      refuseUpgrade(socket, 503, 'shutting_down', 'this instance is shutting down; connect again', { 'Retry-After': '1' });
      return;
    }
    const refusal = deps.connectionLimits?.acceptWebSocket(req, socket, { id: session.userId ?? undefined, username: session.user.username });
    if (refusal) {
      refuseUpgrade(socket, refusal.status, refusal.code, refusal.message, refusal.headers);
      return;
    }
    socket.off('error', onSocketError);
    const authenticated = session;
    wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, authenticated, checkedAt));
  }

  function heartbeat(): void {
    for (const conn of connections) {
      // A closing socket has its own deadline (ws's close timeout, or the slow-consumer grace).
      if (conn.closing) continue;
      if (!conn.alive) {
        // No pong since the last ping: the peer is gone (or hopelessly stuck).
        conn.ws.terminate();
        continue;
      }
      conn.alive = false;
      try {
        conn.ws.ping();
      } catch {
        conn.ws.terminate();
      }
    }
  }

  // ------------------------------------------------------------ lifecycle

  /**
   * Sends this hub a hello over NOTIFY and waits to hear it. Probes may overlap
   * (start, every reconnect, retries): a stale one that times out after a newer one
   * succeeded must not mark the hub deaf, so only the latest decides. A hub that
   * did not hear itself probes again until it does.
   */
  async function probe(): Promise<boolean> {
    const generation = ++probeGeneration;
    clearTimeout(probeTimer);
    probeTimer = undefined;
    const nonce = randomUUID();
    const heard = new Promise<boolean>((resolve) => {
      const settle = (value: boolean) => {
        const open = probes.get(nonce);
        if (!open) return;
        clearTimeout(open.timer);
        probes.delete(nonce);
        resolve(value);
      };
      probes.set(nonce, { timer: setTimeout(() => settle(false), helloTimeoutMs), settle });
    });
    publisher.publish({ k: 'hello', n: nonce });
    const ok = await heard;
    if (generation !== probeGeneration || !started || stopping) return ok;
    listening = ok;
    if (!ok) {
      probeTimer = setTimeout(() => void probe(), probeRetryMs);
      probeTimer.unref();
    }
    return ok;
  }

  const onReconnected = () => {
    void probe();
    void runs.catchUp();
    // Session notifications sent while LISTEN was away are lost: check every socket.
    void sessions.recheck([...connections]);
  };
  const onDisconnected = () => runs.disconnected();

  return {
    name: 'hub',
    healthKey: 'websocket',
    instanceId,
    attach(server) {
      server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        if (upgradePath(req) !== HUB_PATH) {
          // Leave other paths to any other upgrade handler (e.g. a dev server); otherwise answer 404.
          if (server.listenerCount('upgrade') <= 1) refuseUpgrade(socket, 404, 'not_found', `WebSockets are served at ${HUB_PATH}`);
          return;
        }
        handleUpgrade(req, socket, head).catch((error: unknown) => {
          log.error({ err: error }, 'WebSocket upgrade failed');
          socket.destroy();
        });
      });
    },
    connectionCount: () => connections.size,
    router,
    streamTopic(prefix) {
      // Looked up per request: a provider registers after the hub is created.
      const provider = () => providers.find((p) => p.prefix === prefix);
      return streams.handler({
        what: prefix,
        subscribe: async (who, id, after) => (await provider()?.subscribe(who, id, after)) ?? 'not_found',
        unsubscribe: (who, id) => provider()?.unsubscribe(who, id),
        cursorOf: (event) => provider()?.cursorOf(event),
      });
    },
    async start() {
      if (started) return;
      started = true;
      stopping = false;
      unlisten = listener.listen(HUB_CHANNEL, onNotification);
      sessions.start();
      runs.start();
      unlistenSessions = listenSessionChanges(listener, (payload) => {
        sessions.onNotification(payload);
        // SSE streams of that user or key end; a reconnect is authenticated afresh.
        let u: unknown;
        try {
          u = (JSON.parse(payload) as { u?: unknown } | null)?.u;
        } catch {
          u = undefined;
        }
        if (typeof u === 'string') streams.endFor(u);
      });
      listener.on('reconnected', onReconnected);
      listener.on('disconnected', onDisconnected);
      if (!(await probe())) log.warn({ retryMs: probeRetryMs }, 'hub did not hear its own notification; cross-instance delivery may be down; probing again');
      heartbeatTimer = setInterval(heartbeat, config.ws.heartbeatMs);
      reconcileTimer = setInterval(() => {
        if (topics.size() === 0) return;
        topics.reconcile().catch((error: unknown) => log.warn({ err: error }, 'hub reconcile failed'));
      }, deps.reconcileMs ?? 5000);
      metricsTimer = setInterval(flushSentCount, 1000);
      for (const timer of [heartbeatTimer, reconcileTimer, metricsTimer]) timer.unref();
    },
    async stop(deadline) {
      stopping = true;
      probeGeneration++;
      clearTimeout(probeTimer);
      for (const open of [...probes.values()]) open.settle(false);
      clearInterval(heartbeatTimer);
      clearInterval(reconcileTimer);
      clearInterval(metricsTimer);
      // Events the queue emitted while handing runs back still reach other instances.
      await publisher.flush(Math.min(2000, config.server.shutdownTimeoutMs));
      publisher.stop();
      unlisten?.();
      unlistenSessions?.();
      sessions.stop();
      runs.stop();
      listener.off('reconnected', onReconnected);
      listener.off('disconnected', onDisconnected);
      for (const conn of connections) conn.close(WS_CLOSE.serviceRestart, 'server restarting');
      streams.endAll();
      // Clients answer the close frame at once; anyone who does not is cut off.
      const waitUntil = Date.now() + CLOSE_WAIT_MS;
      while (connections.size > 0 && Date.now() < waitUntil && !deadline.aborted) await new Promise((r) => setTimeout(r, 20));
      for (const conn of connections) conn.ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      flushSentCount();
      metrics.wsConnections.set(0);
      started = false;
    },
    health: () => ({ connections: connections.size, sseStreams: streams.count(), runTopics: topics.size(), listening: listening && listener.connected }),
    ready: () => started && !stopping && listening && listener.connected,
    event(event, owner) {
      deliverLocal(event, owner);
      publisher.publish(eventItem(event, owner));
    },
    addTopics(provider) {
      providers.push(provider);
    },
    token(runId, owner, seq, data) {
      const at = new Date().toISOString();
      deliverToken({ seq, runId, type: 'run.token', data, at });
      publisher.token(runId, owner, seq, data, at);
    },
    queueStats(stats: QueueStats) {
      const frame = JSON.stringify({
        type: 'event',
        topic: 'queue',
        event: { type: 'queue.stats', data: { ...stats, wsClients: stats.wsClients ?? connections.size } },
      });
      lastQueueFrame = frame;
      for (const conn of queueSubscribers) conn.send(frame);
    },
  };
}
