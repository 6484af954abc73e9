import type { Router } from 'express';
import type { z } from 'zod';

/**
 * How a part describes its HTTP routes for the OpenAPI document (GET /api/openapi.json),
 * next to where it mounts them and with the same zod schemas its handlers parse with:
 * one source of truth. `describeRoutes(router, [...])` attaches the descriptions to the
 * router object itself, so whoever mounts the router (server/http/express-app.ts) hands
 * both to the document at once. No global state: the map is keyed by router.
 */

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface RouteResponse {
  description: string;
  /** The body's schema (JSON unless `contentType` says otherwise); absent: described in words only. */
  schema?: z.ZodType;
  contentType?: string;
}

export interface RouteDescription {
  method: HttpMethod;
  /** The path as the router mounts it, Express style: `/runs/:id` (the document adds `/api`). */
  path: string;
  summary: string;
  description?: string;
  tags: string[];
  /** False for routes anyone may call (login, the document itself). Default true. */
  auth?: boolean;
  /** Roles allowed beyond admin, for the description (`['operator']`); absent: any signed-in role. */
  roles?: readonly string[];
  params?: z.ZodObject;
  query?: z.ZodObject;
  headers?: z.ZodObject;
  /** The JSON body, as the handler parses it. */
  body?: z.ZodType;
  /**
   * Instead of `body`, for a handler that reads the body raw (an inbound webhook, whose
   * signature covers the exact bytes): the media types it accepts and their shapes.
   */
  rawBody?: { description: string; content: Record<string, z.ZodType> };
  responses: Record<number, RouteResponse>;
}

const described = new WeakMap<object, RouteDescription[]>();

/** Records what `router`'s routes take and answer; call it where the routes are defined. */
export function describeRoutes(router: Router, routes: RouteDescription[]): void {
  const list = described.get(router) ?? [];
  list.push(...routes);
  described.set(router, list);
}

/** What was described for `router` (empty when nothing was). */
export function descriptionsOf(router: Router): readonly RouteDescription[] {
  return described.get(router) ?? [];
}
