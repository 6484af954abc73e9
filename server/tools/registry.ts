import type { Tool } from './types.js';
import type { McpServers } from './mcp.js';

/**
 * Turns what an agent declares (`tools: ["current_time", "http:weather", "mcp:files/*"]`)
 * into the tools it is offered. Built-in and HTTP tools are fixed at start; an MCP
 * server's tools are whatever it lists now, so `mcp:files/*` follows its changes.
 */
export interface ToolRegistry {
  /** Throws one clear message naming the agent and the first declaration that cannot work. */
  check(agent: string, declared: readonly string[]): void;
  /** The tools behind the declarations, now (an MCP server that is down contributes none). */
  resolve(declared: readonly string[]): Tool[];
  /** Every declaration an agent could use (for the agents page and the editor). */
  available(): { id: string; description: string; source: Tool['source'] }[];
}

export function createToolRegistry(deps: { builtins: readonly Tool[]; http: readonly Tool[]; mcp: McpServers; mcpServers: readonly string[] }): ToolRegistry {
  const fixed = new Map<string, Tool>();
  for (const tool of [...deps.builtins, ...deps.http]) fixed.set(tool.id, tool);

  function parseMcp(declaration: string): { server: string; tool: string } | undefined {
    const m = /^mcp:([a-z][a-z0-9_-]*)\/(\*|[^/]+)$/.exec(declaration);
    return m ? { server: m[1]!, tool: m[2]! } : undefined;
  }

  return {
    check(agent, declared) {
      const seen = new Set<string>();
      for (const declaration of declared) {
        if (seen.has(declaration)) throw new Error(`agent "${agent}": tool "${declaration}" is declared twice`);
        seen.add(declaration);
        if (declaration === 'http:*' || fixed.has(declaration)) continue;
        if (declaration.startsWith('mcp:')) {
          const ref = parseMcp(declaration);
          if (!ref) throw new Error(`agent "${agent}": "${declaration}" is not a valid MCP tool reference (mcp:<server>/<tool> or mcp:<server>/*)`);
          if (!deps.mcp.has(ref.server)) {
            throw new Error(`agent "${agent}": no MCP server "${ref.server}" is configured (MCP_SERVERS has: ${deps.mcpServers.join(', ') || 'none'})`);
          }
          if (ref.tool !== '*' && deps.mcp.connected(ref.server) && !deps.mcp.tools(ref.server).some((t) => t.id === declaration)) {
            throw new Error(`agent "${agent}": MCP server "${ref.server}" has no tool "${ref.tool}"`);
          }
          continue;
        }
        const known = [...fixed.keys()];
        throw new Error(`agent "${agent}": unknown tool "${declaration}" (known: ${known.join(', ')}${deps.mcpServers.length > 0 ? ', mcp:<server>/<tool>' : ''})`);
      }
    },
    resolve(declared) {
      const out = new Map<string, Tool>();
      for (const declaration of declared) {
        if (declaration === 'http:*') {
          for (const tool of deps.http) out.set(tool.name, tool);
          continue;
        }
        const tool = fixed.get(declaration);
        if (tool) {
          out.set(tool.name, tool);
          continue;
        }
        const ref = parseMcp(declaration);
        if (!ref) continue;
        for (const t of deps.mcp.tools(ref.server)) if (ref.tool === '*' || t.id === declaration) out.set(t.name, t);
      }
      return [...out.values()];
    },
    available() {
      const list = [...fixed.values()].map((t) => ({ id: t.id, description: t.description, source: t.source }));
      for (const server of deps.mcpServers) {
        list.push({ id: `mcp:${server}/*`, description: `every tool of MCP server "${server}"`, source: 'mcp' });
        for (const t of deps.mcp.tools(server)) list.push({ id: t.id, description: t.description, source: t.source });
      }
      return list;
    },
  };
}
