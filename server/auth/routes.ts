import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { rateLimit } from 'express-rate-limit';
import type pg from 'pg';
import { z } from 'zod';
import { createApiKeySchema, createUserSchema, loginSchema, roleSchema, type LoginResponse } from '../../shared/protocol.js';
import type { Config } from '../config/config.js';
import { HttpError, notFound, parse, sendError, unauthorized } from '../http/errors.js';
import { PostgresRateLimitStore } from '../http/rate-limit-store.js';
import type { Logger } from '../log.js';
import { describeRoutes } from '../openapi/describe.js';
import type { ApiKeys } from './api-keys.js';
import { findCredential, isSafeMethod, originAllowed, serializeSessionCookie, type Credential } from './credentials.js';
import type { LoginThrottle } from './lockout.js';
import { dummyPasswordHash, hashPassword, verifyPassword, type HashLimiter } from './password.js';
import { requireRole } from './roles.js';
import type { Refusal, Sessions } from './sessions.js';
import { notifySessionChange, revokeToken } from './sql/sessions.js';
import { bumpTokenVersion, rehashPassword } from './sql/users.js';
import type { Claims, IssuedToken, Tokens } from './tokens.js';
import type { AuthUser } from './types.js';
import { toPublicUser, type Users } from './users.js';

const usernameParam = createUserSchema.shape.username;
const updateUserSchema = z
  .object({ password: createUserSchema.shape.password.optional(), role: roleSchema.optional() })
  .strict()
  .refine((v) => v.password !== undefined || v.role !== undefined, 'give "password" and/or "role"');
const logoutSchema = z.object({ everywhere: z.boolean().optional() }).strict();
const changePasswordSchema = z
  .object({ currentPassword: z.string().min(1).max(1000), newPassword: createUserSchema.shape.password })
  .strict();

// Case-insensitive by its classes, not an /i flag: JSON Schema patterns (the OpenAPI document) carry no flags.
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const keyParams = z.object({ id: z.string().regex(UUID, 'not a key id') });

const apiKeySchema = z.object({
  id: z.uuid(),
  name: z.string(),
  role: roleSchema,
  agents: z.array(z.string()).nullable(),
  principal: z.string().describe('runs the key starts are owned by this name (`key:<name>`)'),
  createdBy: z.string(),
  createdAt: z.string(),
  lastUsedAt: z.string().nullable().describe('up to a minute behind'),
  revokedAt: z.string().nullable(),
  revokedBy: z.string().nullable(),
});

interface Session {
  claims: Claims;
  via: Credential['kind'];
}

type Locals = { session?: Session };

const invalidToken = (reason: Refusal) =>
  new HttpError(401, reason === 'expired' ? 'token_expired' : 'unauthorized', reason === 'expired' ? 'the token has expired; log in again' : 'invalid or revoked token', undefined, {
    'WWW-Authenticate': `Bearer error="invalid_token"`,
  });

const noCredential = () => new HttpError(401, 'unauthorized', 'authentication required', undefined, { 'WWW-Authenticate': 'Bearer' });

const refused = (reason: Refusal) => (reason === 'none' ? noCredential() : invalidToken(reason));

const authDisabled = () => new HttpError(400, 'auth_disabled', 'authentication is off (JWT_SECRET is not set); every request acts as the local admin');

const wrap =
  (fn: (req: Request, res: Response) => Promise<void>): RequestHandler =>
  (req, res, next: NextFunction) => {
    fn(req, res).catch(next);
  };

/** Auth's HTTP edge: what `createAuth` hands on as the part's `authenticate`, `router` and `keyRateLimit`. */
export interface AuthRoutes {
  authenticate: RequestHandler;
  router: express.Router;
  keyRateLimit: RequestHandler;
  /** Closes the per-key rate limit's store. */
  stop(): Promise<void>;
}

/**
 * The middleware that sets req.user, the per-key rate limit, and the routes under /api:
 * /auth/login|logout|refresh|me|password, /users[/:username], /keys[/:id] (docs/API.md).
 */
export function createAuthRoutes(deps: {
  config: Config;
  logger: Logger;
  pool: pg.Pool;
  enabled: boolean;
  /** Who every request is when authentication is off. */
  localAdmin: AuthUser;
  cookieName: string;
  /** Undefined when authentication is off. */
  tokens: Tokens | undefined;
  sessions: Sessions;
  throttle: LoginThrottle;
  hashes: HashLimiter;
  users: Users;
  keys: ApiKeys;
}): AuthRoutes {
  const { config, logger, pool, enabled, localAdmin, cookieName, sessions, throttle, hashes, users, keys } = deps;
  const secureCookie = config.production;
  const corsOrigins = config.server.corsOrigins;
  let dummyHash: Promise<string> | undefined;

  const keyLimit = config.auth.apiKeyRateLimit;
  // Its own counters (prefix `key:`), shared by every instance like the per-address limit.
  const keyRateStore = new PostgresRateLimitStore(pool, logger, { limit: keyLimit.max, instances: config.autoscaling.maxInstances, prefix: 'key:' });
  const keyRateLimit = rateLimit({
    windowMs: keyLimit.windowMs,
    limit: keyLimit.max,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    store: keyRateStore,
    passOnStoreError: true,
    skip: (req) => req.user?.apiKey === undefined,
    keyGenerator: (req) => req.user!.apiKey!.id,
    // The key generator names keys, not addresses: express-rate-limit's IP checks do not apply.
    validate: false,
    handler: (_req, res, _next, opts) => {
      sendError(res, opts.statusCode, 'rate_limited', `too many requests with this API key; limit is ${keyLimit.max} per ${Math.round(keyLimit.windowMs / 1000)} s`);
    },
  });

  const authenticate: RequestHandler = (req, res, next) => {
    if (!enabled) {
      req.user = localAdmin;
      next();
      return;
    }
    const credential = findCredential(req.headers, cookieName);
    sessions.check(credential).then((result) => {
      if ('refused' in result) return next(refused(result.refused));
      // A browser sends the cookie on its own; only a same-origin page may make it change anything.
      if (credential.kind === 'cookie' && !isSafeMethod(req.method) && !originAllowed(req.headers, corsOrigins)) {
        logger.warn({ username: result.user.username, origin: req.headers.origin ?? null, method: req.method, path: req.path }, 'cookie request from a foreign origin refused');
        return next(new HttpError(403, 'csrf_rejected', 'cross-origin request refused: send a matching Origin header, or use a Bearer token'));
      }
      req.user = result.user;
      if (result.claims) (res.locals as Locals).session = { claims: result.claims, via: credential.kind };
      next();
    }, next);
  };

  const setSessionCookie = (res: Response, issued: IssuedToken) => {
    res.append('Set-Cookie', serializeSessionCookie(cookieName, issued.token, { maxAgeSeconds: (issued.expiresAt.getTime() - Date.now()) / 1000, secure: secureCookie }));
  };
  const clearSessionCookie = (res: Response) => {
    res.append('Set-Cookie', serializeSessionCookie(cookieName, '', { maxAgeSeconds: 0, secure: secureCookie }));
  };

  const router = express.Router();

  router.post(
    '/auth/login',
    wrap(async (req, res) => {
      if (!enabled) throw authDisabled();
      // Login CSRF: a foreign page must not log a browser into someone else's account.
      if (req.headers.origin !== undefined && !originAllowed(req.headers, corsOrigins)) {
        throw new HttpError(403, 'csrf_rejected', 'cross-origin login refused');
      }
      const { username, password } = parse(loginSchema, req.body);
      const ip = req.ip ?? req.socket.remoteAddress ?? 'unknown';
      const wait = await throttle.retryAfter(username, ip);
      if (wait > 0) {
        logger.warn({ username, ip }, 'login refused: locked out');
        throw new HttpError(429, 'too_many_attempts', `too many failed logins; try again in ${wait} s`, undefined, { 'Retry-After': String(wait) });
      }
      // Names are ASCII at creation: a login held to the same rule has one spelling for the
      // lockout key (JavaScript toLowerCase) and the lookup (PostgreSQL lower()), which
      // otherwise disagree — lower('vİctim') is 'victim', a fresh budget of guesses for it.
      // Any other name is an unknown user: same work, same answer, counted the same way.
      const row = usernameParam.safeParse(username).success ? await users.find(username) : undefined;
      dummyHash ??= dummyPasswordHash();
      const stored = row?.passwordHash ?? (await dummyHash);
      const result = await hashes.run(() => verifyPassword(password, stored));
      if (result === null) throw new HttpError(503, 'overloaded', 'too many logins at once; retry shortly', undefined, { 'Retry-After': '2' });
      if (!row || !result.ok) {
        const locked = await throttle.failed(username, ip);
        logger.info({ username, ip, knownUser: Boolean(row), lockedForSeconds: locked || undefined }, 'login failed');
        throw new HttpError(401, 'invalid_credentials', 'invalid username or password');
      }
      await throttle.succeeded(username);
      if (result.needsRehash) await rehashPassword(pool, row.id, await hashPassword(password));
      const issued = await deps.tokens!.issue({ id: row.id, username: row.username, role: row.role, tokenVersion: row.tokenVersion });
      setSessionCookie(res, issued);
      logger.info({ username: row.username, role: row.role, ip }, 'login');
      const body: LoginResponse = { token: issued.token, expiresAt: issued.expiresAt.toISOString(), user: { username: row.username, role: row.role } };
      res.json(body);
    }),
  );

  router.post(
    '/auth/logout',
    authenticate,
    wrap(async (req, res) => {
      const { everywhere } = parse(logoutSchema, req.body ?? {});
      const session = (res.locals as Locals).session;
      if (session) {
        if (everywhere) await bumpTokenVersion(pool, session.claims.uid);
        else await revokeToken(pool, session.claims.jti, new Date(session.claims.exp * 1000));
        // WebSockets opened with the ended session(s), on any instance, close now.
        await notifySessionChange(pool, session.claims.uid);
        sessions.forget(session.claims.jti);
        if (everywhere) sessions.clear();
        logger.info({ username: req.user?.username, everywhere: Boolean(everywhere) }, 'logout');
      }
      clearSessionCookie(res);
      res.json({ loggedOut: true });
    }),
  );

  router.post(
    '/auth/refresh',
    authenticate,
    wrap(async (req, res) => {
      const session = (res.locals as Locals).session;
      if (!enabled) throw authDisabled();
      if (!session) throw new HttpError(400, 'not_a_session', 'an API key has no session to refresh');
      const notAfter = session.claims.auth_time + config.auth.sessionMaxAgeSeconds;
      if (notAfter <= Math.floor(Date.now() / 1000) + 1) {
        throw new HttpError(401, 'session_expired', 'the session has reached its maximum age; log in again', undefined, { 'WWW-Authenticate': 'Bearer error="invalid_token"' });
      }
      const row = await users.find(req.user!.username);
      if (!row) throw invalidToken('revoked');
      const issued = await deps.tokens!.issue({ id: row.id, username: row.username, role: row.role, tokenVersion: row.tokenVersion }, { authTime: session.claims.auth_time, notAfter });
      if (session.via === 'cookie') setSessionCookie(res, issued);
      const body: LoginResponse = { token: issued.token, expiresAt: issued.expiresAt.toISOString(), user: { username: row.username, role: row.role } };
      res.json(body);
    }),
  );

  router.get('/auth/me', authenticate, (req, res) => {
    const session = (res.locals as Locals).session;
    res.json({
      user: req.user,
      authEnabled: enabled,
      expiresAt: session ? new Date(session.claims.exp * 1000).toISOString() : null,
    });
  });

  router.post(
    '/auth/password',
    authenticate,
    wrap(async (req, res) => {
      if (!enabled) throw authDisabled();
      if (req.user?.apiKey) throw new HttpError(400, 'not_a_session', 'an API key has no password');
      const { currentPassword, newPassword } = parse(changePasswordSchema, req.body);
      const row = await users.find(req.user!.username);
      if (!row) throw invalidToken('revoked');
      const ip = req.ip ?? 'unknown';
      const wait = await throttle.retryAfter(row.username, ip);
      if (wait > 0) throw new HttpError(429, 'too_many_attempts', `too many failed attempts; try again in ${wait} s`, undefined, { 'Retry-After': String(wait) });
      const result = await hashes.run(() => verifyPassword(currentPassword, row.passwordHash));
      if (result === null) throw new HttpError(503, 'overloaded', 'too many password checks at once; retry shortly', undefined, { 'Retry-After': '2' });
      if (!result.ok) {
        await throttle.failed(row.username, ip);
        throw new HttpError(403, 'invalid_credentials', 'the current password is wrong');
      }
      await users.update(row.username, { password: newPassword });
      // Every other session ended with the change; this one continues with a fresh token.
      const fresh = await users.find(row.username);
      const issued = await deps.tokens!.issue({ id: fresh!.id, username: fresh!.username, role: fresh!.role, tokenVersion: fresh!.tokenVersion });
      setSessionCookie(res, issued);
      const body: LoginResponse = { token: issued.token, expiresAt: issued.expiresAt.toISOString(), user: { username: fresh!.username, role: fresh!.role } };
      res.json(body);
    }),
  );

  const adminOnly = [authenticate, requireRole('admin')];
  const userParam = (req: Request) => {
    const parsed = usernameParam.safeParse(req.params.username);
    if (!parsed.success) throw notFound('user');
    return parsed.data;
  };

  router.get(
    '/users',
    ...adminOnly,
    wrap(async (_req, res) => {
      res.json({ users: await users.list() });
    }),
  );

  router.post(
    '/users',
    ...adminOnly,
    wrap(async (req, res) => {
      const input = parse(createUserSchema, req.body);
      const user = await users.create(input);
      res.status(201).location(`/api/users/${encodeURIComponent(user.username)}`).json({ user });
    }),
  );

  router.get(
    '/users/:username',
    ...adminOnly,
    wrap(async (req, res) => {
      const row = await users.find(userParam(req));
      if (!row) throw notFound('user');
      res.json({ user: toPublicUser(row) });
    }),
  );

  router.patch(
    '/users/:username',
    ...adminOnly,
    wrap(async (req, res) => {
      const username = userParam(req);
      const change = parse(updateUserSchema, req.body);
      res.json({ user: await users.update(username, change) });
    }),
  );

  router.delete(
    '/users/:username',
    ...adminOnly,
    wrap(async (req, res) => {
      await users.remove(userParam(req));
      res.status(204).end();
    }),
  );

  // API keys (admins only; docs/API.md "API keys").
  const keyIdOf = (raw: unknown) => {
    const parsed = keyParams.safeParse({ id: raw });
    if (!parsed.success) throw notFound('API key');
    return parsed.data.id.toLowerCase();
  };

  router.post('/keys', ...adminOnly, async (req, res) => {
    if (!req.user) throw unauthorized();
    const body = parse(createApiKeySchema, req.body);
    const created = await keys.create(req.user, body);
    res.status(201).location(`/api/keys/${created.key.id}`).json(created);
  });

  router.get('/keys', ...adminOnly, async (_req, res) => {
    res.json({ keys: await keys.list() });
  });

  router.delete('/keys/:id', ...adminOnly, async (req, res) => {
    if (!req.user) throw unauthorized();
    res.json({ key: await keys.revoke(req.user, keyIdOf(req.params.id)) });
  });

  describeRoutes(router, [
    {
      method: 'post',
      path: '/keys',
      tags: ['API keys'],
      summary: 'Create an API key (the secret is in this answer only)',
      roles: [],
      body: createApiKeySchema,
      responses: {
        201: { description: 'created', schema: z.object({ key: apiKeySchema, secret: z.string().describe('`agk_…`: send as `Authorization: Bearer <secret>`; never shown again') }) },
        403: { description: 'not an admin' },
        409: { description: 'the name is or was in use' },
      },
    },
    { method: 'get', path: '/keys', tags: ['API keys'], summary: 'List API keys (never their secrets)', roles: [], responses: { 200: { description: 'every key, revoked ones last', schema: z.object({ keys: z.array(apiKeySchema) }) }, 403: { description: 'not an admin' } } },
    {
      method: 'delete',
      path: '/keys/:id',
      tags: ['API keys'],
      summary: 'Revoke an API key: refused at once on every instance; WebSockets opened with it close',
      roles: [],
      params: keyParams,
      responses: { 200: { description: 'revoked (revoking again answers the same)', schema: z.object({ key: apiKeySchema }) }, 403: { description: 'not an admin' }, 404: { description: 'no such key' } },
    },
  ]);

  const loginResponse = z.object({
    token: z.string().describe('send as `Authorization: Bearer <token>`; the browser uses the httpOnly cookie set with it'),
    expiresAt: z.string(),
    user: z.object({ username: z.string(), role: roleSchema }),
  });
  const publicUser = z.object({ username: z.string(), role: roleSchema, createdAt: z.string().optional() });
  const usernameParams = z.object({ username: usernameParam });
  const tags = ['auth'];
  describeRoutes(router, [
    { method: 'post', path: '/auth/login', tags, auth: false, summary: 'Sign in: a session token and cookie', body: loginSchema, responses: { 200: { description: 'signed in', schema: loginResponse }, 401: { description: 'wrong username or password' }, 429: { description: 'locked out for a while' } } },
    { method: 'post', path: '/auth/logout', tags, summary: 'End this session (or every session of the user)', body: logoutSchema, responses: { 200: { description: 'logged out', schema: z.object({ loggedOut: z.literal(true) }) } } },
    { method: 'post', path: '/auth/refresh', tags, summary: 'A fresh token for this session (not past its maximum age)', responses: { 200: { description: 'a new token', schema: loginResponse } } },
    { method: 'get', path: '/auth/me', tags, summary: 'Who the credential stands for (an API key is `key:<name>`)', responses: { 200: { description: 'the user', schema: z.object({ user: publicUser.nullable(), authEnabled: z.boolean(), expiresAt: z.string().nullable() }) } } },
    { method: 'post', path: '/auth/password', tags, summary: 'Change your password; other sessions end', body: changePasswordSchema, responses: { 200: { description: 'changed; a fresh token', schema: loginResponse }, 403: { description: 'the current password is wrong' } } },
    { method: 'get', path: '/users', tags: ['users'], roles: [], summary: 'List users', responses: { 200: { description: 'every user', schema: z.object({ users: z.array(publicUser) }) } } },
    { method: 'post', path: '/users', tags: ['users'], roles: [], summary: 'Create a user', body: createUserSchema, responses: { 201: { description: 'created', schema: z.object({ user: publicUser }) }, 409: { description: 'the name is taken' } } },
    { method: 'get', path: '/users/:username', tags: ['users'], roles: [], summary: 'One user', params: usernameParams, responses: { 200: { description: 'the user', schema: z.object({ user: publicUser }) }, 404: { description: 'no such user' } } },
    { method: 'patch', path: '/users/:username', tags: ['users'], roles: [], summary: "Change a user's password and/or role (ends their sessions)", params: usernameParams, body: updateUserSchema, responses: { 200: { description: 'changed', schema: z.object({ user: publicUser }) }, 404: { description: 'no such user' } } },
    { method: 'delete', path: '/users/:username', tags: ['users'], roles: [], summary: 'Delete a user (not the last admin)', params: usernameParams, responses: { 204: { description: 'deleted' }, 404: { description: 'no such user' }, 409: { description: 'the last admin' } } },
  ]);

  return {
    authenticate,
    router,
    keyRateLimit,
    stop: () => keyRateStore.shutdown(),
  };
}
