import { createRequire } from 'node:module';
import path from 'node:path';
import express, { type Router } from 'express';
import { z } from 'zod';
import { notFound } from '../http/errors.js';
import { describeRoutes } from './describe.js';
import { buildOpenApiDocument } from './document.js';

const require = createRequire(import.meta.url);

/** The swagger-ui-dist files the reference page loads, served from our own origin. */
const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui-standalone-preset.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

// The page has no inline script or style: the CSP (script-src 'self', style-src 'self') stays as it is.
const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Agentry API reference</title>
<link rel="stylesheet" href="/api/docs/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="/api/docs/assets/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/api/docs/assets/swagger-ui-bundle.js"></script>
<script src="/api/docs/assets/swagger-ui-standalone-preset.js"></script>
<script src="/api/docs/init.js"></script>
</body>
</html>
`;

// validatorUrl null: the page would otherwise send the document to validator.swagger.io.
const INIT = `window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({
    url: '/api/openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    validatorUrl: null,
    withCredentials: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: 'BaseLayout'
  });
});
`;

const assetParams = z.object({ file: z.enum(Object.keys(ASSETS) as [string, ...string[]]) });

/**
 * GET /api/openapi.json (built from every mounted router's descriptions, once) and the
 * interactive reference at GET /api/docs. Both public: the description is no secret, and
 * "Try it out" sends the reader's own credential.
 */
export function createApiDocs(options: { routers: () => readonly Router[]; outside?: () => readonly Router[]; version: string }): { router: Router } {
  const router = express.Router();
  const dist = path.dirname(require.resolve('swagger-ui-dist/package.json'));
  let document: string | undefined;

  router.get('/openapi.json', (_req, res) => {
    document ??= JSON.stringify(buildOpenApiDocument({ base: '/api', routers: options.routers(), outside: options.outside?.() ?? [], version: options.version }));
    res.type('application/json').send(document);
  });
  router.get('/docs', (_req, res) => {
    res.type('html').send(PAGE);
  });
  router.get('/docs/init.js', (_req, res) => {
    res.type('text/javascript').send(INIT);
  });
  router.get('/docs/assets/:file', (req, res, next) => {
    const file = String(req.params.file);
    const type = ASSETS[file];
    if (!type) throw notFound('asset');
    res.type(type).sendFile(path.join(dist, file), { headers: { 'Cache-Control': 'public, max-age=86400' } }, (error) => {
      if (error) next(error);
    });
  });

  describeRoutes(router, [
    { method: 'get', path: '/openapi.json', tags: ['reference'], auth: false, summary: 'This document (OpenAPI 3.1)', responses: { 200: { description: 'the document' } } },
    { method: 'get', path: '/docs', tags: ['reference'], auth: false, summary: 'Interactive API reference (HTML)', responses: { 200: { description: 'an HTML page', contentType: 'text/html' } } },
    { method: 'get', path: '/docs/init.js', tags: ['reference'], auth: false, summary: "The reference page's start-up script", responses: { 200: { description: 'JavaScript' } } },
    {
      method: 'get',
      path: '/docs/assets/:file',
      tags: ['reference'],
      auth: false,
      summary: "The reference page's Swagger UI files, served from this origin",
      params: assetParams,
      responses: { 200: { description: 'the file' }, 404: { description: 'not one of the page’s files' } },
    },
  ]);
  return { router };
}
