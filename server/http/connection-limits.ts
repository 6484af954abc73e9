import type { IncomingMessage } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { NextFunction, RequestHandler, Response } from 'express';
import type { Config } from '../config/config.js';
import { sendError } from './errors.js';
import { createProxyTrust, normalizeAddress } from './proxy-trust.js';

/** Counts what each key holds at once; `max` 0 means no cap. */
export class ConnectionCounter {
  private readonly counts = new Map<string, number>();
  constructor(readonly max: number) {}

  /** An idempotent release, or null when `key` already holds `max`. */
  acquire(key: string): (() => void) | null {
    const held = this.counts.get(key) ?? 0;
    if (this.max > 0 && held >= this.max) return null;
    this.counts.set(key, held + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.counts.get(key) ?? 1) - 1;
      if (left > 0) this.counts.set(key, left);
      else this.counts.delete(key);
    };
  }

  held(key: string): number {
    return this.counts.get(key) ?? 0;
  }
}

export interface Refusal {
  status: number;
  code: string;
  message: string;
  headers: Record<string, string>;
}

export interface ConnectionLimits {
  /**
   * For the server's `connection` event: counts the socket against its peer's address
   * (unless the peer is a trusted proxy, whose sockets carry many clients) and refuses it
   * with a 429 when the peer already holds MAX_CONNECTIONS_PER_CLIENT.
   */
  onConnection(socket: Socket): void;
  /** A socket refused by onConnection: the request handler must leave it alone. */
  refused(socket: Socket): boolean;
  /** Express middleware: requests in flight per client address (behind a proxy: X-Forwarded-For). */
  requests: RequestHandler;
  /** Express middleware after authentication: requests in flight per user (not the local admin of auth-off mode, who is everyone). */
  userRequests: RequestHandler;
  /**
   * One call per WebSocket upgrade, once the user is known: counts the socket against its
   * client address and its user until it closes, or says why not.
   */
  acceptWebSocket(req: IncomingMessage, socket: { once(event: 'close', fn: () => void): unknown }, user: { id?: string; username: string }): Refusal | null;
}

const RETRY_AFTER_SECONDS = '5';

const tooMany = (what: string, max: number): Refusal => ({
  status: 429,
  code: 'too_many_connections',
  message: `too many connections from ${what} at once (at most ${max}); close some and retry`,
  headers: { 'Retry-After': RETRY_AFTER_SECONDS },
});

/** Caps from MAX_CONNECTIONS_PER_CLIENT and MAX_CONNECTIONS_PER_USER (docs/SECURITY.md, "Connection caps"). */
export function createConnectionLimits(config: Config): ConnectionLimits {
  const { perClient, perUser } = config.server.maxConnections;
  const trust = createProxyTrust(config.server.trustProxy);
  const sockets = new ConnectionCounter(perClient);
  const requests = new ConnectionCounter(perClient);
  const clientSockets = new ConnectionCounter(perClient);
  const userSockets = new ConnectionCounter(perUser);
  const userRequests = new ConnectionCounter(perUser);
  const refusedSockets = new WeakSet<Socket>();

  /** A request holds its slot until its response closes; with no slot it is refused with 429. */
  const holdWhileOpen = (release: (() => void) | null, res: Response, next: NextFunction, refusal: () => Refusal) => {
    if (!release) {
      res.set('Retry-After', RETRY_AFTER_SECONDS);
      sendError(res, 429, 'too_many_connections', refusal().message);
      return;
    }
    res.once('close', release);
    next();
  };

  return {
    onConnection(socket) {
      const peer = socket.remoteAddress;
      if (perClient === 0 || peer === undefined || trust.trusts(peer, 0)) return;
      const release = sockets.acquire(normalizeAddress(peer));
      if (release) {
        socket.once('close', release);
        return;
      }
      refusedSockets.add(socket);
      const refusal = tooMany('this address', perClient);
      const body = JSON.stringify({ error: { code: refusal.code, message: refusal.message } });
      socket.on('error', () => undefined);
      socket.end(
        [
          `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status]}`,
          'Connection: close',
          'Content-Type: application/json; charset=utf-8',
          `Content-Length: ${Buffer.byteLength(body)}`,
          `Retry-After: ${RETRY_AFTER_SECONDS}`,
          '',
          body,
        ].join('\r\n'),
      );
      // end() only half-closes: give the answer a moment to be read, then let go of the descriptor.
      const timer = setTimeout(() => socket.destroy(), 1000).unref();
      socket.once('close', () => clearTimeout(timer));
    },
    refused: (socket) => refusedSockets.has(socket),
    requests(req, res, next) {
      holdWhileOpen(requests.acquire(req.ip ?? ''), res, next, () => tooMany('this address', perClient));
    },
    userRequests(req, res, next) {
      const id = req.user?.id;
      if (id === undefined) return next();
      holdWhileOpen(userRequests.acquire(id), res, next, () => tooMany('this user', perUser));
    },
    acceptWebSocket(req, socket, user) {
      const client = trust.clientAddress(req);
      const byClient = clientSockets.acquire(client);
      if (!byClient) return tooMany('this address', perClient);
      // By id: a later account with a deleted user's name is someone else.
      const byUser = userSockets.acquire(user.id ?? `name:${user.username}`);
      if (!byUser) {
        byClient();
        return tooMany('this user', perUser);
      }
      socket.once('close', () => {
        byClient();
        byUser();
      });
      return null;
    },
  };
}
