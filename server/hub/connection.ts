import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { RawData, WebSocket } from 'ws';
import { clientFrameSchema, WS_CLOSE, type ClientFrame, type ServerFrame } from '../../shared/protocol.js';
import type { AuthUser, SocketSession } from '../auth/types.js';
import type { Subscriber } from './run-topics.js';

export interface ConnectionLimits {
  maxBufferedBytes: number;
  maxMessagesPerSecond: number;
}

export interface ConnectionEvents {
  /** A valid frame from the client. */
  frame(conn: Connection, frame: ClientFrame): void;
  /** Counted for ws_messages_sent_total. */
  sent(count: number): void;
  slowConsumer(conn: Connection): void;
}

const KNOWN_TYPES = new Set(['subscribe', 'unsubscribe', 'ping']);
const SEND_OPTIONS = { binary: false } as const;
const OPEN = 1;
/** A flood this many times over the limit within one second closes the connection. */
const FLOOD_FACTOR = 4;
/** A slow consumer gets this long to take its close frame before the socket is cut. */
const SLOW_CLOSE_GRACE_MS = 5000;
/** setTimeout's ceiling (about 24.8 days); a later expiry re-arms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Sockets corked during this event-loop turn, uncorked together right after it.
 * ws writes every frame with its own cork/uncork, one write syscall per frame:
 * a third of the CPU at 1,000 streaming runs (BENCHMARKS.md). Holding the cork
 * for the turn turns a connection's frames of that turn into one writev.
 */
const corked = new Set<Connection>();
let uncorkScheduled = false;

/**
 * Uncorking is one writev per socket, tens of microseconds each in a VM: for
 * thousands of sockets in one turn that is a turn long enough to hold up every
 * HTTP request (`/live` p99, BENCHMARKS.md). Past this budget the rest are
 * uncorked in the next turn, after pending I/O; a socket stays corked meanwhile,
 * so its frames keep their order and its later frames join the same write.
 */
export const UNCORK_BUDGET_MS = 2;

function uncorkAll(): void {
  uncorkScheduled = false;
  const until = performance.now() + UNCORK_BUDGET_MS;
  for (const conn of corked) {
    conn.uncork();
    if (performance.now() > until) break;
  }
  if (corked.size > 0 && !uncorkScheduled) {
    uncorkScheduled = true;
    setImmediate(uncorkAll);
  }
}

/** The net.Socket under a ws WebSocket: ws does not expose it, but this is the socket handed to handleUpgrade. */
function socketOf(ws: WebSocket): Duplex | undefined {
  const socket = (ws as unknown as { _socket?: Duplex })._socket;
  return socket && typeof socket.cork === 'function' && typeof socket.uncork === 'function' ? socket : undefined;
}

function textOf(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

/**
 * One client socket: frame parsing and validation, the inbound rate limit, and
 * sending with backpressure (a client whose send buffer passes the limit is closed
 * with 4008 so it reconnects and resumes with `after`).
 */
export class Connection implements Subscriber {
  alive = true;
  closing = false;
  /** Subscribed to `runs` / `queue`. */
  runs = false;
  queue = false;
  private allowance: number;
  private allowanceAt = Date.now();
  private dropped = 0;
  private limitNotedAt = 0;
  private expiryTimer: NodeJS.Timeout | undefined;
  /** Frames whose handling waits on the database (a session check) still run in arrival order. */
  private tasks: Promise<void> = Promise.resolve();
  /** The socket this connection corked for the current turn, if any. */
  private corkedSocket: Duplex | undefined;

  constructor(
    readonly ws: WebSocket,
    readonly session: SocketSession,
    private readonly limits: ConnectionLimits,
    private readonly events: ConnectionEvents,
  ) {
    this.allowance = limits.maxMessagesPerSecond;
  }

  /** Who the socket acts for, with the role as of the last session check. */
  get user(): AuthUser {
    return this.session.user;
  }

  set user(user: AuthUser) {
    this.session.user = user;
  }

  /** Runs `task` after every task queued before it (a failing task does not stop the queue). */
  serial(task: () => void | Promise<void>): void {
    this.tasks = this.tasks.then(task).catch(() => undefined);
  }

  /** Calls `onExpired` at `at` (the token's expiry), unless the socket closed first. */
  expireAt(at: Date, onExpired: () => void): void {
    clearTimeout(this.expiryTimer);
    const wait = at.getTime() - Date.now();
    if (wait <= 0) {
      onExpired();
      return;
    }
    this.expiryTimer = setTimeout(() => (wait > MAX_TIMER_MS ? this.expireAt(at, onExpired) : onExpired()), Math.min(wait, MAX_TIMER_MS));
    this.expiryTimer.unref();
  }

  /** Clears the connection's timers once the socket has closed. */
  dispose(): void {
    clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    this.uncork();
  }

  get open(): boolean {
    return !this.closing && this.ws.readyState === OPEN;
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  send(frame: Buffer | string, done?: () => void): boolean {
    if (!this.open) return false;
    this.cork();
    this.ws.send(frame, SEND_OPTIONS, done ? () => done() : undefined);
    this.events.sent(1);
    if (this.ws.bufferedAmount > this.limits.maxBufferedBytes) {
      // Corked frames count as buffered: hand them to the kernel before judging the client slow.
      this.uncork();
      if (this.ws.bufferedAmount > this.limits.maxBufferedBytes) {
        this.dropSlow();
        return false;
      }
    }
    return true;
  }

  /** Writes what this turn queued (also called for every corked connection right after the turn). */
  uncork(): void {
    const socket = this.corkedSocket;
    if (!socket) return;
    this.corkedSocket = undefined;
    corked.delete(this);
    socket.uncork();
  }

  private cork(): void {
    if (this.corkedSocket) return;
    const socket = socketOf(this.ws);
    if (!socket || socket.destroyed) return;
    socket.cork();
    this.corkedSocket = socket;
    corked.add(this);
    if (!uncorkScheduled) {
      uncorkScheduled = true;
      setImmediate(uncorkAll);
    }
  }

  sendFrame(frame: ServerFrame): boolean {
    return this.send(JSON.stringify(frame));
  }

  error(code: string, message: string, topic?: string): void {
    this.sendFrame(topic === undefined ? { type: 'error', code, message } : { type: 'error', code, message, topic });
  }

  close(code: number, reason: string): void {
    if (this.closing) return;
    this.closing = true;
    this.ws.close(code, reason);
  }

  private dropSlow(): void {
    if (this.closing) return;
    this.events.slowConsumer(this);
    this.close(WS_CLOSE.slowConsumer, 'too slow; reconnect and resume with after');
    setTimeout(() => this.ws.terminate(), SLOW_CLOSE_GRACE_MS).unref();
  }

  /** Token bucket refilled continuously at the per-second limit. */
  private allow(): boolean {
    const now = Date.now();
    const rate = this.limits.maxMessagesPerSecond;
    this.allowance = Math.min(rate, this.allowance + ((now - this.allowanceAt) / 1000) * rate);
    this.allowanceAt = now;
    if (this.allowance >= 1) {
      this.allowance -= 1;
      if (now - this.limitNotedAt > 1000) this.dropped = 0;
      return true;
    }
    if (now - this.limitNotedAt > 1000) {
      this.limitNotedAt = now;
      this.dropped = 0;
      this.error('rate_limited', `more than ${rate} messages per second; this one was ignored`);
    }
    if (++this.dropped > rate * FLOOD_FACTOR) this.close(WS_CLOSE.policy, 'message rate too high');
    return false;
  }

  onMessage(data: RawData, isBinary: boolean): void {
    this.alive = true;
    if (this.closing || !this.allow()) return;
    if (isBinary) {
      this.error('bad_frame', 'frames are JSON text');
      return;
    }
    let raw: unknown;
    try {
      raw = JSON.parse(textOf(data));
    } catch {
      this.error('bad_json', 'the frame is not valid JSON');
      return;
    }
    const parsed = clientFrameSchema.safeParse(raw);
    if (!parsed.success) {
      const type = typeof raw === 'object' && raw !== null ? (raw as { type?: unknown }).type : undefined;
      if (typeof type !== 'string' || !KNOWN_TYPES.has(type)) {
        this.error('unknown_type', 'type must be "subscribe", "unsubscribe" or "ping"');
      } else {
        const issue = parsed.error.issues[0];
        this.error('bad_frame', `${issue?.path.join('.') || 'frame'}: ${issue?.message ?? 'invalid frame'}`);
      }
      return;
    }
    this.events.frame(this, parsed.data);
  }
}
