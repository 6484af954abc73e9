import type pg from 'pg';
import type { Config } from '../config/config.js';
import * as sql from './sql/lockout.js';

export interface LoginThrottle {
  /** Seconds until the caller may try again, or 0 when neither the name nor the address is locked. */
  retryAfter(username: string, ip: string): Promise<number>;
  /** Counts a failed login against both keys; the seconds of lockout it caused, or 0. */
  failed(username: string, ip: string): Promise<number>;
  /** A correct password clears the name's count (never the address's: one good account must not launder a spray). */
  succeeded(username: string): Promise<void>;
}

const userKey = (username: string) => `user:${username.toLowerCase()}`;
const ipKey = (ip: string) => `ip:${ip}`;
const secondsUntil = (date: Date | undefined) => (date ? Math.max(1, Math.ceil((date.getTime() - Date.now()) / 1000)) : 0);

/**
 * Failed-login counting in PostgreSQL, so a lockout holds on every instance and
 * across restarts. Unknown names are counted like known ones: the answer must not
 * tell an attacker which names exist.
 */
export function createLoginThrottle(deps: { pool: pg.Pool; config: Config }): LoginThrottle {
  const { pool } = deps;
  const policy = deps.config.auth.login;
  return {
    async retryAfter(username, ip) {
      return secondsUntil(await sql.activeLock(pool, [userKey(username), ipKey(ip)]));
    },
    async failed(username, ip) {
      const [byUser, byIp] = await Promise.all([
        sql.recordFailure(pool, userKey(username), policy.maxFailuresPerUser, policy.windowSeconds, policy.lockoutSeconds),
        sql.recordFailure(pool, ipKey(ip), policy.maxFailuresPerIp, policy.windowSeconds, policy.lockoutSeconds),
      ]);
      return Math.max(secondsUntil(byUser), secondsUntil(byIp));
    },
    async succeeded(username) {
      await sql.clearFailures(pool, userKey(username));
    },
  };
}
