import type { IncomingMessage } from 'node:http';
import type { RequestHandler, Router } from 'express';
import type { Role } from '../../shared/protocol.js';
import type { Part } from '../lifecycle/part.js';
import type { Claims } from './tokens.js';

export interface AuthUser {
  /** users.id; absent for the local admin when authentication is off. */
  id?: string;
  username: string;
  role: Role;
  /** Set when the request came with an API key: `username` is then `key:<name>`. */
  apiKey?: {
    id: string;
    name: string;
    /** The only agents runs started with this key may use; null: any. */
    agents: readonly string[] | null;
  };
}

declare module 'express-serve-static-core' {
  interface Request {
    /** Set by Auth.authenticate on every /api route but login. */
    user?: AuthUser;
  }
}

export interface Auth extends Part {
  readonly enabled: boolean;
  /** Sets req.user, or answers 401. With auth off, everyone is the local admin. */
  authenticate: RequestHandler;
  /**
   * Mounted at /api before `authenticate`: /auth/login (public); /auth/logout, /auth/refresh,
   * /auth/me, /auth/password, /users[/:username] and /keys[/:id] authenticate themselves (docs/SECURITY.md).
   */
  router: Router;
  /**
   * For the WebSocket upgrade: header, cookie (same origin only) or `token` query. Null when
   * refused; throws when the database cannot be asked (answer 503, not 401).
   */
  authenticateUpgrade(req: IncomingMessage): Promise<SocketSession | null>;
  /**
   * The user a socket's session stands for now (current role), or null once it is over
   * (expired, logged out, password or role changed, user deleted). `fresh` skips the
   * one-second session cache (after an `auth_sessions` notification). Throws when the
   * database cannot be asked.
   */
  revalidate(session: SocketSession, options?: { fresh?: boolean }): Promise<AuthUser | null>;
  /** Per API key request limit, mounted after `authenticate` (requests without a key pass). */
  keyRateLimit: RequestHandler;
}

/**
 * What a WebSocket keeps of the token that opened it, so the session can be
 * checked again for as long as the socket lives (docs/SECURITY.md, "WebSocket sessions").
 */
export interface SocketSession {
  /** As of the last check; the role is the one in the database, not the token's. */
  user: AuthUser;
  /** The user's id (the `auth_sessions` notifications name it); null with authentication off. */
  readonly userId: string | null;
  /** The token's expiry: the socket closes then. Null with authentication off. */
  readonly expiresAt: Date | null;
  /** The token's claims; null with authentication off or for an API key. */
  readonly claims: Claims | null;
  /** The API key that opened the socket (its `userId` is then `key:<id>`). */
  readonly apiKeyId?: string;
}

/** 403 unless the user has one of the roles. */
export type RequireRole = (...roles: Role[]) => RequestHandler;
