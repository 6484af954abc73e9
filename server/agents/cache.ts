import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { ModelRequest, ModelResponse } from './model.js';

/** SHA-256 of everything that determines the answer. */
export function cacheKey(request: ModelRequest): string {
  const canonical = JSON.stringify([request.model, request.messages.map((m) => [m.role, m.content]), request.temperature, request.maxTokens, request.responseSchema ?? null]);
  return createHash('sha256').update(canonical).digest('hex');
}

interface CachedAnswer {
  text: string;
  model: string;
  usage: ModelResponse['usage'];
}

export async function getCachedResponse(pool: pg.Pool, key: string): Promise<CachedAnswer | null> {
  const { rows } = await pool.query<{ response: CachedAnswer }>({
    name: 'llm_cache_get',
    text: 'UPDATE llm_cache SET hits = hits + 1 WHERE key = $1 AND expires_at > now() RETURNING response',
    values: [key],
  });
  return rows[0]?.response ?? null;
}

export async function putCachedResponse(pool: pg.Pool, key: string, answer: CachedAnswer, ttlSeconds: number): Promise<void> {
  await pool.query({
    name: 'llm_cache_put',
    text: `INSERT INTO llm_cache (key, model, response, expires_at)
           VALUES ($1, $2, $3, now() + make_interval(secs => $4))
           ON CONFLICT (key) DO UPDATE SET response = EXCLUDED.response, model = EXCLUDED.model,
             created_at = now(), expires_at = EXCLUDED.expires_at, hits = 0`,
    values: [key, answer.model, JSON.stringify(answer), ttlSeconds],
  });
}

export async function deleteExpiredResponses(pool: pg.Pool): Promise<number> {
  const { rowCount } = await pool.query({ name: 'llm_cache_expire', text: 'DELETE FROM llm_cache WHERE expires_at <= now()' });
  return rowCount ?? 0;
}
