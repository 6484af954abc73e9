import type { IncomingMessage } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

export const HUB_PATH = '/ws';

/**
 * Browsers send Origin on every WebSocket handshake and cookies ride along, so a
 * foreign page could open a socket as the user (cross-site WebSocket hijacking):
 * accept only the configured CORS origins or the page's own origin. Clients that
 * send no Origin (scripts, servers) are not browsers and authenticate by token.
 * `trustForwardedHost`: the peer is a configured proxy (server/http/proxy-trust.ts).
 */
export function originAllowed(req: IncomingMessage, allowed: readonly string[], trustForwardedHost = false): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  if (allowed.includes('*') || allowed.includes(origin)) return true;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    return false;
  }
  // X-Forwarded-Host only from a trusted proxy (TRUST_PROXY): anyone else could name the foreign page's host.
  const forwarded = trustForwardedHost ? req.headers['x-forwarded-host'] : undefined;
  const hosts = [req.headers.host, ...(typeof forwarded === 'string' ? forwarded.split(',').map((h) => h.trim()) : [])];
  return hosts.some((h) => h !== undefined && h.toLowerCase() === host.toLowerCase());
}

export function upgradePath(req: IncomingMessage): string {
  try {
    return new URL(req.url ?? '/', 'http://localhost').pathname;
  } catch {
    return '';
  }
}

/** Answers a refused upgrade with a real HTTP response (the client sees the status instead of a hang). */
export function refuseUpgrade(socket: Duplex, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify({ error: { code, message } });
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
    'Connection: close',
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Cache-Control: no-store',
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
  // Never leave a half-open socket behind if the peer does not read.
  setTimeout(() => socket.destroy(), 1000).unref();
}
