import express from 'express';
import type { Config } from '../config/config.js';
import type { Part } from '../lifecycle/part.js';
import type { Logger } from '../log.js';
import { describeRoutes } from '../openapi/describe.js';
import { builtinTools } from './builtins.js';
import { httpTool } from './http-tools.js';
import { createMcpServers, type McpServers } from './mcp.js';
import { createToolRegistry, type ToolRegistry } from './registry.js';
import type { HttpToolSpec, McpServerSpec } from '../config/tool-specs.js';

export interface Tools extends Part {
  readonly registry: ToolRegistry;
  readonly mcp: McpServers;
  /** GET /api/tools: every tool an agent may declare, and the MCP servers' state. */
  readonly router: express.Router;
}

/**
 * The tools part: built-ins, the HTTP tools and MCP servers declared in the
 * environment and in the agents file. Starting it connects to every MCP server
 * (one that is down is retried in the background and reported in /health, not
 * fatal: its tools answer "unavailable" until it is back).
 */
export function createTools(deps: {
  config: Config;
  logger: Logger;
  /** Declarations from the agents file, added to the environment's. */
  fromFile?: { mcpServers: readonly McpServerSpec[]; httpTools: readonly HttpToolSpec[] };
  version?: string;
}): Tools {
  const { config, logger } = deps;
  const mcpSpecs = [...config.tools.mcpServers, ...(deps.fromFile?.mcpServers ?? [])] as McpServerSpec[];
  const httpSpecs = [...config.tools.httpTools, ...(deps.fromFile?.httpTools ?? [])] as HttpToolSpec[];
  for (const [label, names] of [
    ['MCP server', mcpSpecs.map((s) => s.name)],
    ['HTTP tool', httpSpecs.map((s) => s.name)],
  ] as const) {
    const twice = names.find((n, i) => names.indexOf(n) !== i);
    if (twice) throw new Error(`${label} "${twice}" is declared twice (environment and agents file)`);
  }
  const http = httpSpecs.map((spec) => httpTool(spec, { allowedHosts: config.tools.httpAllowedHosts }));
  const mcp = createMcpServers({ specs: mcpSpecs, logger: logger.child({ part: 'tools' }), clientVersion: deps.version ?? '0.1.0' });
  const registry = createToolRegistry({ builtins: builtinTools(logger.child({ part: 'tools' })), http, mcp, mcpServers: mcpSpecs.map((s) => s.name) });

  const router = express.Router();
  router.get('/tools', (_req, res) => {
    res.json({ tools: registry.available(), mcpServers: mcp.status() });
  });
  describeRoutes(router, [{ method: 'get', path: '/tools', tags: ['tools'], summary: 'Tools agents may be given, and the MCP servers', responses: { 200: { description: '{tools, mcpServers}' } } }]);

  return {
    name: 'tools',
    registry,
    mcp,
    router,
    async start() {
      await mcp.start();
      if (mcpSpecs.length > 0 || http.length > 0) logger.info({ mcpServers: mcp.status(), httpTools: http.map((t) => t.name) }, 'tools ready');
    },
    async stop() {
      await mcp.stop();
    },
    health() {
      return { mcpServers: mcp.status(), httpTools: http.length };
    },
  };
}
