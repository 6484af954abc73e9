/**
 * A small typed client for the WebSocket hub (docs/API.md section 4), shared by the
 * browser UI and Node tests. It keeps one socket, one server subscription per topic
 * (however many handlers), remembers the last stored `seq` seen per `run:<id>` topic,
 * and after any drop reconnects with exponential backoff and full jitter, then
 * resubscribes every topic with `after` so nothing is missed and nothing repeats.
 *
 * It only needs a WebSocket constructor: the browser's global one by default, or
 * pass `WebSocket` from the `ws` package in Node.
 */
import type { QueueStatsEvent, RunEvent, ServerFrame } from './protocol.js';
import type { ThreadEvent } from './threads.js';

/** The part of the WebSocket API this client uses (browser and `ws` both have it). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

export type RunTopic = `run:${string}`;
/** A conversation: its messages (resumed by message seq) and its answering run's events. */
export type ThreadTopic = `thread:${string}`;
export type Topic = RunTopic | ThreadTopic | 'runs' | 'queue';
export type TopicEvent<T extends Topic> = T extends 'queue' ? QueueStatsEvent : T extends ThreadTopic ? RunEvent | ThreadEvent : RunEvent;

export interface HubError {
  code: string;
  message: string;
  topic?: string;
}

export interface SubscribeOptions {
  /** For `run:<id>`: replay stored events with a larger seq first (0 = the whole history). */
  after?: number;
  /** Errors about this topic (e.g. `not_found` for a run you may not see). */
  onError?: (error: HubError) => void;
  /** Called each time the server confirms the subscription (also after every reconnect). */
  onSubscribed?: () => void;
}

export interface WsClientOptions {
  /** `ws://host/ws`, `wss://…`, `http(s)://host/ws`, or a path like `/ws` (browser only); a function is asked on every (re)connect. */
  url: string | (() => string);
  /** Sent as the `token` query parameter; a function is asked again on every (re)connect. */
  token?: string | null | (() => string | null | undefined);
  /** Defaults to the global WebSocket (browsers, Node 22+). */
  WebSocket?: WebSocketConstructor;
  /** First reconnect delay ceiling; doubles per failed attempt up to maxBackoffMs. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Sends an application ping this often and reconnects when no frame arrives for twice as long (0 = off). */
  pingIntervalMs?: number;
  onStateChange?: (state: ConnectionState) => void;
  /** Errors not tied to a topic (bad frame, rate limited…). */
  onError?: (error: HubError) => void;
  /** Lets tests (and the UI) see each close code, e.g. 1012 on a server restart or 4008 when too slow. */
  onClose?: (code: number, reason: string) => void;
  /**
   * The server ended the session (close 4401: token expired, logged out, password or role
   * changed, user deleted). The client stops for good, since reconnecting with the same
   * credentials would be refused: sign in again and make a new client.
   */
  onUnauthorized?: (reason: string) => void;
}

export interface WsClient {
  readonly state: ConnectionState;
  /** Starts receiving `topic`; the returned function stops this handler (and the subscription with the last one). */
  subscribe<T extends Topic>(topic: T, handler: (event: TopicEvent<T>) => void, options?: SubscribeOptions): () => void;
  /** The last stored seq delivered for a `run:<id>` topic (undefined before the first). */
  lastSeq(topic: RunTopic): number | undefined;
  /** Listens to state changes; returns a function that stops listening. */
  onStateChange(listener: (state: ConnectionState) => void): () => void;
  /** Closes for good (no reconnect). */
  close(): void;
}

const OPEN = 1;
const CONNECTING = 0;
/** WS_CLOSE.unauthorized in protocol.ts (not imported: this file stays free of runtime dependencies). */
const SESSION_ENDED = 4401;

interface Subscription {
  topic: Topic;
  handlers: Set<(event: RunEvent | QueueStatsEvent | ThreadEvent) => void>;
  errorHandlers: Set<(error: HubError) => void>;
  subscribedHandlers: Set<() => void>;
  /** For run topics: the last stored seq handed to handlers. */
  lastSeq: number | undefined;
  /** Set while a subscribe the server could not serve (`unavailable`) waits to be sent again. */
  retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Failed subscribes in a row, for the backoff. */
  failures: number;
}

function resolveUrl(url: string, token: string | null | undefined): string {
  let absolute = url;
  const location = (globalThis as { location?: { protocol: string; host: string } }).location;
  if (url.startsWith('/')) {
    if (!location) throw new Error('a relative hub URL needs a browser location');
    absolute = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}${url}`;
  }
  const parsed = new URL(absolute);
  if (parsed.protocol === 'http:') parsed.protocol = 'ws:';
  if (parsed.protocol === 'https:') parsed.protocol = 'wss:';
  if (token) parsed.searchParams.set('token', token);
  return parsed.toString();
}

function isRunTopic(topic: string): topic is RunTopic {
  return topic.startsWith('run:');
}

function isThreadTopic(topic: string): topic is ThreadTopic {
  return topic.startsWith('thread:');
}

export function createWsClient(options: WsClientOptions): WsClient {
  const Ctor: WebSocketConstructor | undefined =
    options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (!Ctor) throw new Error('no WebSocket implementation: pass options.WebSocket (e.g. from the "ws" package)');
  const minBackoff = options.minBackoffMs ?? 250;
  const maxBackoff = options.maxBackoffMs ?? 15_000;
  const pingInterval = options.pingIntervalMs ?? 25_000;

  const subscriptions = new Map<Topic, Subscription>();
  const stateListeners = new Set<(state: ConnectionState) => void>();
  if (options.onStateChange) stateListeners.add(options.onStateChange);

  let socket: WebSocketLike | undefined;
  let state: ConnectionState = 'connecting';
  let closedForGood = false;
  let attempt = 0;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let pingTimer: ReturnType<typeof setInterval> | undefined;
  let lastFrameAt = 0;

  function setState(next: ConnectionState): void {
    if (state === next) return;
    state = next;
    for (const listener of stateListeners) listener(next);
  }

  function send(frame: object): void {
    if (socket && socket.readyState === OPEN) socket.send(JSON.stringify(frame));
  }

  function sendSubscribe(sub: Subscription): void {
    const frame: { type: 'subscribe'; topic: string; after?: number } = { type: 'subscribe', topic: sub.topic };
    if ((isRunTopic(sub.topic) || isThreadTopic(sub.topic)) && sub.lastSeq !== undefined) frame.after = sub.lastSeq;
    send(frame);
  }

  /** Exponential backoff with full jitter after `failures` failures in a row. */
  function backoff(failures: number): number {
    return Math.floor(Math.random() * Math.min(maxBackoff, minBackoff * 2 ** failures));
  }

  function retrySubscribe(sub: Subscription): void {
    if (sub.retryTimer || closedForGood) return;
    const delay = Math.max(minBackoff, backoff(sub.failures));
    sub.failures++;
    sub.retryTimer = setTimeout(() => {
      sub.retryTimer = undefined;
      // Unsubscribed meanwhile: nothing to do. Disconnected: onopen resubscribes everything.
      if (subscriptions.get(sub.topic) === sub) sendSubscribe(sub);
    }, delay);
  }

  function clearRetry(sub: Subscription): void {
    if (sub.retryTimer) clearTimeout(sub.retryTimer);
    sub.retryTimer = undefined;
  }

  function deliver(frame: Extract<ServerFrame, { type: 'event' }>): void {
    const sub = subscriptions.get(frame.topic as Topic);
    if (!sub) return;
    const event = frame.event as RunEvent | QueueStatsEvent | ThreadEvent;
    if (isThreadTopic(sub.topic) && event.type === 'thread.message' && 'seq' in event) {
      // A thread resumes by message seq; its run's events pass through (their seq is the run's).
      if (sub.lastSeq !== undefined && event.seq <= sub.lastSeq) return;
      sub.lastSeq = event.seq;
    } else if (isRunTopic(sub.topic) && 'seq' in event) {
      // Stored events advance the position; a token carries the seq of the last
      // stored event and is stale once a later stored event was seen.
      if (event.type === 'run.token') {
        if (sub.lastSeq !== undefined && event.seq < sub.lastSeq) return;
      } else {
        if (sub.lastSeq !== undefined && event.seq <= sub.lastSeq) return;
        sub.lastSeq = event.seq;
      }
    }
    for (const handler of sub.handlers) handler(event);
  }

  function onFrame(raw: unknown): void {
    lastFrameAt = Date.now();
    if (typeof raw !== 'string') return;
    let frame: ServerFrame;
    try {
      frame = JSON.parse(raw) as ServerFrame;
    } catch {
      return;
    }
    switch (frame.type) {
      case 'event':
        deliver(frame);
        break;
      case 'subscribed': {
        const sub = subscriptions.get(frame.topic as Topic);
        if (sub) {
          sub.failures = 0;
          for (const fn of sub.subscribedHandlers) fn();
        }
        break;
      }
      case 'error': {
        const error: HubError = { code: frame.code, message: frame.message, topic: frame.topic };
        const sub = frame.topic ? subscriptions.get(frame.topic as Topic) : undefined;
        // The server could not read the topic (its database was busy or away): the socket is
        // fine, so nothing else would ever resubscribe, and a page would wait forever.
        if (sub && error.code === 'unavailable') retrySubscribe(sub);
        if (sub && sub.errorHandlers.size > 0) for (const fn of sub.errorHandlers) fn(error);
        else options.onError?.(error);
        break;
      }
      default:
        break;
    }
  }

  function connect(): void {
    if (closedForGood) return;
    const token = typeof options.token === 'function' ? options.token() : options.token;
    let ws: WebSocketLike;
    try {
      ws = new Ctor!(resolveUrl(typeof options.url === 'function' ? options.url() : options.url, token));
    } catch {
      scheduleReconnect();
      return;
    }
    socket = ws;
    ws.onopen = () => {
      if (socket !== ws) return;
      attempt = 0;
      lastFrameAt = Date.now();
      setState('open');
      for (const sub of subscriptions.values()) {
        clearRetry(sub);
        sendSubscribe(sub);
      }
      startPing();
    };
    ws.onmessage = (message) => {
      if (socket === ws) onFrame(message.data);
    };
    ws.onerror = () => {
      // A close event always follows; reconnecting happens there.
    };
    ws.onclose = (event) => {
      if (socket !== ws) return;
      socket = undefined;
      stopPing();
      options.onClose?.(event.code, event.reason);
      if (event.code === SESSION_ENDED && !closedForGood) {
        closedForGood = true;
        setState('closed');
        options.onUnauthorized?.(event.reason);
        return;
      }
      if (closedForGood) {
        setState('closed');
        return;
      }
      // A restart (1012) or a slow-consumer drop (4008) means "come back now, elsewhere".
      if (event.code === 1012 || event.code === 4008) attempt = 0;
      scheduleReconnect();
    };
  }

  function scheduleReconnect(): void {
    if (closedForGood || retryTimer) return;
    setState('reconnecting');
    const delay = backoff(attempt);
    attempt++;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      setState('connecting');
      connect();
    }, delay);
  }

  function startPing(): void {
    stopPing();
    if (pingInterval <= 0) return;
    pingTimer = setInterval(() => {
      if (!socket || socket.readyState !== OPEN) return;
      if (Date.now() - lastFrameAt > pingInterval * 2) {
        // Silent for two intervals: treat the connection as dead and start over.
        const dead = socket;
        socket = undefined;
        stopPing();
        dead.onclose = null;
        dead.close(4000, 'no answer');
        options.onClose?.(4000, 'no answer');
        scheduleReconnect();
        return;
      }
      send({ type: 'ping' });
    }, pingInterval);
  }

  function stopPing(): void {
    if (pingTimer) clearInterval(pingTimer);
    pingTimer = undefined;
  }

  connect();

  return {
    get state() {
      return state;
    },
    subscribe(topic, handler, subOptions = {}) {
      let sub = subscriptions.get(topic);
      const isNew = !sub;
      if (!sub) {
        sub = { topic, handlers: new Set(), errorHandlers: new Set(), subscribedHandlers: new Set(), lastSeq: undefined, retryTimer: undefined, failures: 0 };
        subscriptions.set(topic, sub);
      }
      // `after` applies when the topic is first subscribed; later handlers join the live stream.
      if (isNew && subOptions.after !== undefined && (isRunTopic(topic) || isThreadTopic(topic))) sub.lastSeq = subOptions.after;
      const h = handler as (event: RunEvent | QueueStatsEvent | ThreadEvent) => void;
      sub.handlers.add(h);
      if (subOptions.onError) sub.errorHandlers.add(subOptions.onError);
      if (subOptions.onSubscribed) sub.subscribedHandlers.add(subOptions.onSubscribed);
      if (isNew) sendSubscribe(sub);
      const current = sub;
      return () => {
        current.handlers.delete(h);
        if (subOptions.onError) current.errorHandlers.delete(subOptions.onError);
        if (subOptions.onSubscribed) current.subscribedHandlers.delete(subOptions.onSubscribed);
        if (current.handlers.size === 0 && subscriptions.get(topic) === current) {
          clearRetry(current);
          subscriptions.delete(topic);
          send({ type: 'unsubscribe', topic });
        }
      };
    },
    lastSeq(topic) {
      return subscriptions.get(topic)?.lastSeq;
    },
    onStateChange(listener) {
      stateListeners.add(listener);
      return () => {
        stateListeners.delete(listener);
      };
    },
    close() {
      closedForGood = true;
      if (retryTimer) clearTimeout(retryTimer);
      retryTimer = undefined;
      for (const sub of subscriptions.values()) clearRetry(sub);
      stopPing();
      const ws = socket;
      if (ws && (ws.readyState === OPEN || ws.readyState === CONNECTING)) ws.close(1000, 'client closed');
      else setState('closed');
    },
  };
}
