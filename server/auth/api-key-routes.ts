import type { RequestHandler, Router } from 'express';
import { z } from 'zod';
import { createApiKeySchema, roleSchema } from '../../shared/protocol.js';
import { notFound, parse, unauthorized } from '../http/errors.js';
import { describeRoutes } from '../openapi/describe.js';
import type { ApiKeys } from './api-keys.js';

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

/** POST/GET /keys, DELETE /keys/:id (admins only; docs/API.md "API keys"). */
export function apiKeyRoutes(router: Router, deps: { keys: ApiKeys; guard: RequestHandler[] }): void {
  const { keys, guard } = deps;
  const idOf = (raw: unknown) => {
    const parsed = keyParams.safeParse({ id: raw });
    if (!parsed.success) throw notFound('API key');
    return parsed.data.id.toLowerCase();
  };

  router.post('/keys', ...guard, async (req, res) => {
    if (!req.user) throw unauthorized();
    const body = parse(createApiKeySchema, req.body);
    const created = await keys.create(req.user, body);
    res.status(201).location(`/api/keys/${created.key.id}`).json(created);
  });

  router.get('/keys', ...guard, async (_req, res) => {
    res.json({ keys: await keys.list() });
  });

  router.delete('/keys/:id', ...guard, async (req, res) => {
    if (!req.user) throw unauthorized();
    res.json({ key: await keys.revoke(req.user, idOf(req.params.id)) });
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
}
