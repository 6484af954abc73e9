import { OpenAPIRegistry, OpenApiGeneratorV31, type RouteConfig } from '@asteasolutions/zod-to-openapi';
import type { Router } from 'express';
import { z } from 'zod';
import { descriptionsOf, type RouteDescription } from './describe.js';

/** `/runs/:id` → `/runs/{id}` (OpenAPI's template syntax). */
export function openApiPath(expressPath: string): string {
  return expressPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

const errorSchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }),
});

function routeConfig(base: string, route: RouteDescription): RouteConfig {
  const responses: RouteConfig['responses'] = {};
  for (const [status, response] of Object.entries(route.responses)) {
    responses[status] = response.schema
      ? { description: response.description, content: { [response.contentType ?? 'application/json']: { schema: response.schema } } }
      : { description: response.description };
  }
  const secured = route.auth !== false;
  if (secured && !responses['401']) responses['401'] = { description: 'no valid credential', content: { 'application/json': { schema: errorSchema } } };
  if (!responses['400'] && (route.body || route.rawBody || route.query)) responses['400'] = { description: 'invalid input', content: { 'application/json': { schema: errorSchema } } };
  const who = route.roles ? `Roles: ${['admin', ...route.roles].join(', ')}.` : secured ? undefined : 'No authentication.';
  return {
    method: route.method,
    path: openApiPath(`${base}${route.path}`),
    summary: route.summary,
    description: [route.description, who].filter(Boolean).join('\n\n') || undefined,
    tags: route.tags,
    security: secured ? [{ bearer: [] }, { cookie: [] }] : [],
    request: {
      params: route.params,
      query: route.query,
      headers: route.headers,
      body: route.rawBody
        ? { description: route.rawBody.description, content: Object.fromEntries(Object.entries(route.rawBody.content).map(([type, schema]) => [type, { schema }])), required: true }
        : route.body
          ? { content: { 'application/json': { schema: route.body } }, required: true }
          : undefined,
    },
    responses,
  };
}

/**
 * The OpenAPI 3.1 document of every route described on `routers` (mounted at `base`) and
 * on `outside` (mounted at the root: POST /hooks/:id).
 */
export function buildOpenApiDocument(options: { base: string; routers: readonly Router[]; outside?: readonly Router[]; version: string }): Record<string, unknown> {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    description: 'A session token from POST /api/auth/login, or an API key (`agk_…`) from POST /api/keys.',
  });
  registry.registerComponent('securitySchemes', 'cookie', { type: 'apiKey', in: 'cookie', name: 'agentry_session', description: 'The browser session cookie (`__Host-agentry_session` in production).' });
  for (const router of options.routers) for (const route of descriptionsOf(router)) registry.registerPath(routeConfig(options.base, route));
  for (const router of options.outside ?? []) for (const route of descriptionsOf(router)) registry.registerPath(routeConfig('', route));
  const document = new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'Agentry API',
      version: options.version,
      description: 'Generated from the zod schemas that validate each request. Prose reference: docs/API.md.',
    },
    servers: [{ url: '/' }],
  });
  return document as unknown as Record<string, unknown>;
}
