import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type pg from 'pg';
import type { ApiKey, CreateApiKeyBody, CreatedApiKey } from '../../shared/protocol.js';
import type { AuditLog } from '../audit/types.js';
import type { Listener } from '../db/listener.js';
import { withTransaction } from '../db/transaction.js';
import { ConflictError, NotFoundError } from '../domain/errors.js';
import type { Logger } from '../log.js';
import { notifySessionChange, SESSION_CHANNEL } from './sql/sessions.js';
import * as sql from './sql/api-keys.js';
import type { AuthUser } from './types.js';

/** Every key starts so: a Bearer token with it is looked up as a key, never parsed as a JWT. */
export const API_KEY_PREFIX = 'agk_';
/** `agk_<id: 32 hex>_<secret: 256 random bits, base64url>`. The id finds the row; only the secret's hash is stored. */
const KEY_FORMAT = /^agk_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$/;
/** The principal a key acts as (owner of its runs): no username contains ':'. */
export const keyPrincipal = (name: string) => `key:${name}`;
/** What `auth_sessions` notifications (and WebSocket sessions) call a key. */
export const keySessionId = (id: string) => `key:${id}`;

/** With the LISTEN connection up, a revocation reaches every instance by NOTIFY: the cache may be long. */
const CACHE_MS_LISTENING = 60_000;
/** Without it, notifications may be lost: trust what was read for a second only. */
const CACHE_MS_DEAF = 1000;
const CACHE_MAX = 10_000;

const hashSecret = (secret: string) => createHash('sha256').update(secret).digest('hex');

export function isApiKey(token: string): boolean {
  return token.startsWith(API_KEY_PREFIX);
}

export function toApiKey(row: sql.ApiKeyRow, pendingUse?: Date): ApiKey {
  const lastUsed = pendingUse && (!row.lastUsedAt || pendingUse > row.lastUsedAt) ? pendingUse : row.lastUsedAt;
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    agents: row.agents,
    principal: keyPrincipal(row.name),
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
    lastUsedAt: lastUsed ? lastUsed.toISOString() : null,
    revokedAt: row.revokedAt ? row.revokedAt.toISOString() : null,
    revokedBy: row.revokedBy,
  };
}

export interface ApiKeys {
  /** The user a presented key stands for, or null (malformed, unknown, wrong secret, revoked). */
  verify(token: string): Promise<AuthUser | null>;
  /** The key's user now (null once revoked); `fresh` reads the database rather than the cache. */
  revalidate(id: string, options?: { fresh?: boolean }): Promise<AuthUser | null>;
  create(actor: AuthUser, body: CreateApiKeyBody): Promise<CreatedApiKey>;
  list(): Promise<ApiKey[]>;
  revoke(actor: AuthUser, id: string): Promise<ApiKey>;
  start(): void;
  stop(): Promise<void>;
}

/**
 * API keys: creation (the secret shown once), verification with a cache that a
 * revocation empties on every instance (NOTIFY on `auth_sessions`, which also closes
 * WebSockets opened with the key), and last use written in batches, not per request.
 */
export function createApiKeys(deps: { pool: pg.Pool; logger: Logger; audit?: AuditLog; listener?: Listener; touchIntervalMs?: number }): ApiKeys {
  const { pool, logger, listener } = deps;
  const cache = new Map<string, { at: number; row: sql.ApiKeyRow | undefined }>();
  /** Uses not written yet: key id → latest use. */
  const uses = new Map<string, Date>();
  let touchTimer: NodeJS.Timeout | undefined;
  let unlisten: (() => void) | undefined;
  let flushing: Promise<void> = Promise.resolve();
  const clear = () => cache.clear();

  async function load(id: string, fresh = false): Promise<sql.ApiKeyRow | undefined> {
    const now = Date.now();
    const ttl = listener?.connected ? CACHE_MS_LISTENING : CACHE_MS_DEAF;
    const hit = cache.get(id);
    if (!fresh && hit && now - hit.at <= ttl) return hit.row;
    const row = await sql.findApiKey(pool, id);
    if (cache.size >= CACHE_MAX) cache.clear();
    cache.set(id, { at: now, row });
    return row;
  }

  function userOf(row: sql.ApiKeyRow): AuthUser {
    return { username: keyPrincipal(row.name), role: row.role, apiKey: { id: row.id, name: row.name, agents: row.agents } };
  }

  function flush(): Promise<void> {
    flushing = flushing.then(async () => {
      if (uses.size === 0) return;
      const batch = [...uses].map(([id, at]) => ({ id, at }));
      uses.clear();
      try {
        await sql.touchApiKeys(pool, batch);
      } catch (error) {
        // Put them back (unless newer uses came meanwhile): the next flush tries again.
        for (const u of batch) if (!uses.has(u.id)) uses.set(u.id, u.at);
        logger.debug({ err: error }, 'writing API key last use failed');
      }
    });
    return flushing;
  }

  /** Sent inside the transaction: the notification leaves at commit, never before the change is visible. */
  const onNotice = (payload: string) => {
    // Any session notice naming a key drops that key's cache entry; others are not ours.
    const match = /"u":"key:([0-9a-f-]{36})"/.exec(payload);
    if (match) cache.delete(match[1]!);
  };

  return {
    async verify(token) {
      const match = KEY_FORMAT.exec(token);
      if (!match) return null;
      const hex = match[1]!;
      const id = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
      const row = await load(id);
      if (!row || row.revokedAt) return null;
      const given = Buffer.from(hashSecret(match[2]!), 'hex');
      const stored = Buffer.from(row.secretHash, 'hex');
      if (given.length !== stored.length || !timingSafeEqual(given, stored)) return null;
      uses.set(id, new Date());
      return userOf(row);
    },
    async revalidate(id, options = {}) {
      const row = await load(id, options.fresh);
      return row && !row.revokedAt ? userOf(row) : null;
    },
    async create(actor, body) {
      const id = randomUUID();
      const secret = randomBytes(32).toString('base64url');
      const agents = body.agents ? [...new Set(body.agents)] : null;
      const row = await withTransaction(pool, async (client) => {
        const inserted = await sql.insertApiKey(client, { id, name: body.name, role: body.role, agents, secretHash: hashSecret(secret), createdBy: actor.username });
        if (!inserted) throw new ConflictError(`an API key named "${body.name}" exists or existed (names are never reused: runs belong to the name)`);
        await deps.audit?.record(client, {
          actor: { username: actor.username, id: actor.apiKey?.id ?? actor.id },
          action: 'api_key.create',
          target: { type: 'api_key', id },
          detail: { name: inserted.name, role: inserted.role, agents },
        });
        return inserted;
      });
      logger.info({ keyId: id, name: row.name, role: row.role, by: actor.username }, 'API key created');
      return { key: toApiKey(row), secret: `${API_KEY_PREFIX}${id.replace(/-/g, '')}_${secret}` };
    },
    async list() {
      const rows = await sql.listApiKeys(pool);
      return rows.map((row) => toApiKey(row, uses.get(row.id)));
    },
    async revoke(actor, id) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const row = await sql.revokeApiKey(client, id, actor.username);
        if (!row) {
          await client.query('ROLLBACK');
          const existing = await sql.findApiKey(pool, id);
          if (!existing) throw new NotFoundError('API key');
          return toApiKey(existing, uses.get(id));
        }
        await deps.audit?.record(client, {
          actor: { username: actor.username, id: actor.apiKey?.id ?? actor.id },
          action: 'api_key.revoke',
          target: { type: 'api_key', id },
          detail: { name: row.name },
        });
        // Every instance drops the key from its cache and closes WebSockets opened with it.
        await notifySessionChange(client, keySessionId(id));
        await client.query('COMMIT');
        cache.delete(id);
        logger.info({ keyId: id, name: row.name, by: actor.username }, 'API key revoked');
        return toApiKey(row, uses.get(id));
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    },
    start() {
      if (listener) {
        unlisten = listener.listen(SESSION_CHANNEL, onNotice);
        // Notifications sent while LISTEN was away are lost: forget everything read before.
        listener.on('reconnected', clear);
        listener.on('disconnected', clear);
      }
      touchTimer = setInterval(() => void flush(), deps.touchIntervalMs ?? 60_000);
      touchTimer.unref();
    },
    async stop() {
      clearInterval(touchTimer);
      touchTimer = undefined;
      unlisten?.();
      unlisten = undefined;
      listener?.off('reconnected', clear);
      listener?.off('disconnected', clear);
      await flush();
      cache.clear();
    },
  };
}
