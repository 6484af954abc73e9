import type { IncomingMessage } from 'node:http';
import type { RequestHandler, Router } from 'express';
import type { Role } from '../../shared/protocol.js';
import type { Part } from '../lifecycle/part.js';

export interface AuthUser {
  /** users.id; absent for the local admin when authentication is off. */
  id?: string;
  username: string;
  role: Role;
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
   * /auth/me, /auth/password and /users[/:username] authenticate themselves (docs/SECURITY.md).
   */
  router: Router;
  /**
   * For the WebSocket upgrade: header, cookie (same origin only) or `token` query. Null when
   * refused; throws when the database cannot be asked (answer 503, not 401).
   */
  authenticateUpgrade(req: IncomingMessage): Promise<AuthUser | null>;
}

/** 403 unless the user has one of the roles. */
export type RequireRole = (...roles: Role[]) => RequestHandler;
