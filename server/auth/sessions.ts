import type pg from 'pg';
import { isApiKey, type ApiKeys } from './api-keys.js';
import type { Credential } from './credentials.js';
import { sessionState, type SessionState } from './sql/sessions.js';
import type { Claims, Tokens } from './tokens.js';
import type { AuthUser } from './types.js';

/** How long one instance trusts what it read about a session; deletes and password changes made here apply at once. */
const SESSION_CACHE_MS = 1000;
const SESSION_CACHE_MAX = 10_000;

/**
 * Why a credential was refused. The REST middleware (routes.ts) and the WebSocket upgrade
 * (auth.ts) each answer it their own way: a 401 with its reason, or a refused handshake.
 */
export type Refusal = 'none' | 'malformed' | 'expired' | 'invalid' | 'revoked';

export type Checked = { user: AuthUser; claims: Claims | null } | { refused: Refusal };

export interface Sessions {
  /** Who a credential stands for now: a session token's user (claims set) or an API key's (claims null). */
  check(credential: Credential): Promise<Checked>;
  /** The user a verified token stands for now, or null when it was revoked (user gone, password or role changed, logged out). */
  resolve(claims: Claims): Promise<AuthUser | null>;
  /** Drops what this instance read about one token (`jti`): its next use reads the database. */
  forget(jti: string): void;
  /** Drops everything this instance read about sessions. */
  clear(): void;
}

export function createSessions(deps: { pool: pg.Pool; tokens: Tokens | undefined; keys: ApiKeys }): Sessions {
  const { pool, tokens, keys } = deps;
  const cache = new Map<string, { at: number; state: SessionState | undefined }>();

  async function resolve(claims: Claims): Promise<AuthUser | null> {
    const now = Date.now();
    let entry = cache.get(claims.jti);
    if (!entry || now - entry.at > SESSION_CACHE_MS) {
      if (cache.size >= SESSION_CACHE_MAX) cache.clear();
      entry = { at: now, state: await sessionState(pool, claims.uid, claims.jti) };
      cache.set(claims.jti, entry);
    }
    const state = entry.state;
    if (!state || state.revoked || state.tokenVersion !== claims.ver || state.username !== claims.sub) return null;
    // The role comes from the database, not the token: a demotion bumps the version anyway.
    return { id: claims.uid, username: state.username, role: state.role };
  }

  return {
    async check(credential) {
      if (credential.kind === 'none') return { refused: 'none' };
      if (credential.kind === 'malformed') return { refused: 'malformed' };
      // A browser's cookie only ever holds a session token; a key comes as a Bearer token (or the WebSocket's `token` query).
      if (credential.kind !== 'cookie' && isApiKey(credential.token)) {
        const user = await keys.verify(credential.token);
        return user ? { user, claims: null } : { refused: 'revoked' };
      }
      // No tokens: authentication is off, and nobody checks a credential then.
      if (!tokens) return { refused: 'invalid' };
      const verified = await tokens.verify(credential.token);
      if (!verified.ok) return { refused: verified.reason };
      const user = await resolve(verified.claims);
      if (!user) return { refused: 'revoked' };
      return { user, claims: verified.claims };
    },
    resolve,
    forget: (jti) => cache.delete(jti),
    clear: () => cache.clear(),
  };
}
