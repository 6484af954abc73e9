import type { IncomingMessage } from 'node:http';
import type pg from 'pg';
import type { AuditLog } from '../audit/types.js';
import type { Config } from '../config/config.js';
import type { Listener } from '../db/listener.js';
import type { Logger } from '../log.js';
import { createApiKeys, keySessionId } from './api-keys.js';
import { findCredential, originAllowed, sessionCookieName } from './credentials.js';
import { createLoginThrottle } from './lockout.js';
import { createHashLimiter } from './password.js';
import { createAuthRoutes } from './routes.js';
import { createSessions } from './sessions.js';
import { sweepLoginAttempts } from './sql/lockout.js';
import { sweepRevokedTokens } from './sql/sessions.js';
import { createTokens } from './tokens.js';
import type { Auth, AuthUser, SocketSession } from './types.js';
import { createUsers } from './users.js';

const SWEEP_INTERVAL_MS = 10 * 60_000;

export function createAuth(deps: {
  config: Config;
  logger: Logger;
  pool: pg.Pool;
  /** API key create/revoke are recorded here. */
  audit?: AuditLog;
  /** Revoked API keys leave every instance's cache through it. */
  listener?: Listener;
  /** How often API keys' last use is written (default a minute). */
  keyTouchIntervalMs?: number;
}): Auth {
  const { config, pool } = deps;
  const logger = deps.logger.child({ part: 'auth' });
  const enabled = config.auth.enabled && config.auth.jwtSecret !== undefined;
  const localAdmin: AuthUser = { username: config.auth.adminUsername, role: 'admin' };
  const cookieName = sessionCookieName(config.production);
  const corsOrigins = config.server.corsOrigins;
  const tokens = enabled
    ? createTokens({ secret: config.auth.jwtSecret!, previousSecrets: config.auth.previousJwtSecrets, ttlSeconds: config.auth.tokenTtlSeconds })
    : undefined;
  const throttle = createLoginThrottle({ pool, config });
  const hashes = createHashLimiter();

  const users = createUsers({ config, logger, pool, onChange: () => sessions.clear() });
  const keys = createApiKeys({ pool, logger, audit: deps.audit, listener: deps.listener, touchIntervalMs: deps.keyTouchIntervalMs });
  const sessions = createSessions({ pool, tokens, keys });
  const http = createAuthRoutes({ config, logger, pool, enabled, localAdmin, cookieName, tokens, sessions, throttle, hashes, users, keys });

  let sweeper: NodeJS.Timeout | undefined;
  // Drops rows nothing reads any more: finished lockout windows, revocations of expired tokens.
  const sweep = () =>
    sweepLoginAttempts(pool)
      .then(() => sweepRevokedTokens(pool))
      .catch((error: unknown) => logger.debug({ err: error }, 'auth state sweep skipped'));

  return {
    name: 'auth',
    enabled,
    authenticate: http.authenticate,
    router: http.router,
    keyRateLimit: http.keyRateLimit,
    async authenticateUpgrade(req: IncomingMessage) {
      if (!enabled) return { user: localAdmin, userId: null, expiresAt: null, claims: null };
      let queryToken: string | null;
      try {
        queryToken = new URL(req.url ?? '/', 'http://localhost').searchParams.get('token');
      } catch {
        return null;
      }
      const credential = findCredential(req.headers, cookieName, queryToken);
      // Cross-site WebSocket hijacking: a cookie rides along on any page's handshake.
      if (credential.kind === 'cookie' && !originAllowed(req.headers, corsOrigins)) return null;
      // A database error throws: the hub answers 503 (try again), not 401 (log in again).
      const result = await sessions.check(credential);
      if ('refused' in result) return null;
      const { claims, user } = result;
      if (!claims) {
        // An API key: no expiry; a revocation (auth_sessions `key:<id>`) closes the socket.
        const keyId = user.apiKey!.id;
        return { user, userId: keySessionId(keyId), expiresAt: null, claims: null, apiKeyId: keyId } satisfies SocketSession;
      }
      const session: SocketSession = { user, userId: claims.uid, expiresAt: new Date(claims.exp * 1000), claims };
      return session;
    },
    async revalidate(session, options = {}) {
      if (!enabled) return localAdmin;
      if (session.apiKeyId) return keys.revalidate(session.apiKeyId, options);
      if (!session.claims) return localAdmin;
      if (session.expiresAt !== null && session.expiresAt.getTime() <= Date.now()) return null;
      if (options.fresh) sessions.forget(session.claims.jti);
      return sessions.resolve(session.claims);
    },
    async start() {
      if (!enabled) {
        logger.warn(config.production ? 'authentication is OFF' : 'authentication is off (JWT_SECRET unset): every request acts as the local admin');
      } else if (config.auth.jwtSecret!.length < 32) {
        logger.warn('JWT_SECRET is shorter than 32 characters; production refuses that');
      }
      await users.ensureInitialAdmin();
      keys.start();
      void sweep();
      sweeper = setInterval(() => void sweep(), SWEEP_INTERVAL_MS);
      sweeper.unref();
    },
    async stop() {
      if (sweeper) clearInterval(sweeper);
      sweeper = undefined;
      sessions.clear();
      await keys.stop();
      await http.stop();
    },
    health: () => ({ enabled }),
  };
}
