import type { IncomingHttpHeaders } from 'node:http';

/**
 * Where a request's token comes from, and the checks that depend on it. Plain
 * functions of headers so the REST middleware and the WebSocket upgrade share them.
 */

/** `__Host-` (production, HTTPS) pins the cookie to this host: no Domain, Path=/, Secure. */
export function sessionCookieName(secure: boolean): string {
  return secure ? '__Host-agentry_session' : 'agentry_session';
}

export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    const value = part.slice(eq + 1).trim();
    try {
      return decodeURIComponent(value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

export function serializeSessionCookie(name: string, token: string, options: { maxAgeSeconds: number; secure: boolean }): string {
  const parts = [`${name}=${encodeURIComponent(token)}`, 'Path=/', 'HttpOnly', 'SameSite=Strict', `Max-Age=${Math.max(0, Math.floor(options.maxAgeSeconds))}`];
  if (options.maxAgeSeconds <= 0) parts.push('Expires=Thu, 01 Jan 1970 00:00:00 GMT');
  if (options.secure) parts.push('Secure');
  return parts.join('; ');
}

export type Credential =
  | { kind: 'none' }
  | { kind: 'malformed' }
  | { kind: 'bearer' | 'cookie' | 'query'; token: string };

/**
 * Authorization header first (a client that sends one means it), then the
 * session cookie, then — only where allowed (the WebSocket upgrade, which
 * browsers cannot give headers) — a `token` query parameter.
 */
export function findCredential(headers: IncomingHttpHeaders, cookieName: string, queryToken?: string | null): Credential {
  const authorization = headers.authorization;
  if (authorization !== undefined) {
    const match = /^Bearer[ ]+([^\s]+)\s*$/i.exec(authorization);
    return match ? { kind: 'bearer', token: match[1]! } : { kind: 'malformed' };
  }
  const cookie = readCookie(headers.cookie, cookieName);
  if (cookie) return { kind: 'cookie', token: cookie };
  if (queryToken) return { kind: 'query', token: queryToken };
  return { kind: 'none' };
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
export const isSafeMethod = (method: string | undefined) => SAFE_METHODS.has((method ?? 'GET').toUpperCase());

/**
 * CSRF defence for cookie sessions: the browser's Origin must be this host
 * (whatever scheme the proxy terminated) or one of CORS_ORIGINS. A missing
 * Origin is refused too: every browser sends one on cross-site and on
 * state-changing requests, and non-browser clients should use a Bearer token.
 */
export function originAllowed(headers: IncomingHttpHeaders, allowedOrigins: readonly string[]): boolean {
  const origin = headers.origin;
  if (!origin || origin === 'null') return false;
  let parsed: URL;
  try {
    parsed = new URL(origin);
  } catch {
    return false;
  }
  const normalized = `${parsed.protocol}//${parsed.host}`.toLowerCase();
  if (allowedOrigins.some((o) => o.toLowerCase().replace(/\/$/, '') === normalized)) return true;
  // Host, not X-Forwarded-Host: platform proxies keep Host, and a forwarded header is one more thing to trust.
  const host = headers.host;
  return host !== undefined && parsed.host.toLowerCase() === host.toLowerCase();
}
