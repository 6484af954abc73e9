import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * scrypt from node:crypto. Parameters are one of OWASP's equivalent scrypt settings
 * (N=2^14, r=8, p=5): 16 MiB per hash, so a small instance can hash a few at once.
 * They are stored with every hash; raising them later rehashes on the next login.
 */
export const SCRYPT_PARAMS = { log2N: 14, r: 8, p: 5 } as const;
const KEY_LENGTH = 32;
const SALT_LENGTH = 16;

function derive(password: string, salt: Buffer, params: { log2N: number; r: number; p: number }): Promise<Buffer> {
  const N = 2 ** params.log2N;
  const options: ScryptOptions = { N, r: params.r, p: params.p, maxmem: 256 * N * params.r + 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFKC'), salt, KEY_LENGTH, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_LENGTH);
  const key = await derive(password, salt, SCRYPT_PARAMS);
  const { log2N, r, p } = SCRYPT_PARAMS;
  return `scrypt$${log2N}$${r}$${p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

interface ParsedHash {
  log2N: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

function parseHash(stored: string): ParsedHash | null {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return null;
  const [log2N, r, p] = parts.slice(1, 4).map(Number);
  // Bounds keep a tampered row from asking for gigabytes of memory.
  if (!Number.isInteger(log2N) || log2N! < 10 || log2N! > 20) return null;
  if (!Number.isInteger(r) || r! < 1 || r! > 32 || !Number.isInteger(p) || p! < 1 || p! > 16) return null;
  const salt = Buffer.from(parts[4]!, 'base64url');
  const key = Buffer.from(parts[5]!, 'base64url');
  if (salt.length < 8 || key.length < 16) return null;
  return { log2N: log2N!, r: r!, p: p!, salt, key };
}

/** A hash of a random password: checking an unknown name against it costs what a real check costs, so names cannot be probed by timing. */
export function dummyPasswordHash(): Promise<string> {
  return hashPassword(randomBytes(16).toString('hex'));
}

export async function verifyPassword(password: string, stored: string): Promise<{ ok: boolean; needsRehash: boolean }> {
  const parsed = parseHash(stored);
  if (!parsed) return { ok: false, needsRehash: false };
  const key = await derive(password, parsed.salt, parsed);
  const ok = key.length === parsed.key.length && timingSafeEqual(key, parsed.key);
  const needsRehash = parsed.log2N !== SCRYPT_PARAMS.log2N || parsed.r !== SCRYPT_PARAMS.r || parsed.p !== SCRYPT_PARAMS.p;
  return { ok, needsRehash };
}

/**
 * Bounds how many hashes run at once: each takes 16 MiB and a thread of libuv's
 * small pool, so a login flood must queue (and past `maxWaiting`, be refused)
 * rather than starve the rest of the process.
 */
export function createHashLimiter(maxConcurrent = 2, maxWaiting = 64) {
  let running = 0;
  const waiting: Array<() => void> = [];
  return {
    /** Runs `fn` when a slot is free; null when too many are already waiting. */
    async run<T>(fn: () => Promise<T>): Promise<T | null> {
      if (running >= maxConcurrent) {
        if (waiting.length >= maxWaiting) return null;
        await new Promise<void>((resolve) => waiting.push(resolve));
      } else {
        running++;
      }
      try {
        return await fn();
      } finally {
        const next = waiting.shift();
        if (next) next();
        else running--;
      }
    },
  };
}

export type HashLimiter = ReturnType<typeof createHashLimiter>;
