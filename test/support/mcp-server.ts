import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { IDEMPOTENCY_META_KEY } from '../../server/tools/mcp.js';

/**
 * A real MCP server for tests, built with the SDK's server over streamable HTTP
 * (stateful sessions, so list-changed notifications reach the client). Its tools
 * record what they were asked, so a test can count executions per idempotency key:
 *   - `echo`     read-only;
 *   - `charge`   destructive and not idempotent: every execution is a side effect;
 *   - `reserve`  destructive but idempotent: applies a key once, answers repeats from memory;
 *   - `wait`     never answers until its signal aborts (timeouts).
 * `hold(tool)` makes that tool's executions wait, once recorded and before they act,
 * until the test releases them: a crash test kills the caller while a call is in flight.
 */
export interface TestMcpServer {
  readonly url: string;
  readonly port: number;
  /** Every execution of a tool, in order: name and the idempotency key it carried. */
  readonly executions: { tool: string; key: string | undefined; args: Record<string, unknown> }[];
  /** Keys `reserve` has applied (a repeat finds its key here and changes nothing). */
  readonly applied: Map<string, string>;
  /** Executions of `tool` from now on are recorded, then wait before acting until `release()`. */
  hold(tool: string): { release(): void };
  /** Adds a tool to every open session (clients are told the list changed). */
  addTool(name: string): void;
  close(): Promise<void>;
}

export async function startTestMcpServer(options: { port?: number } = {}): Promise<TestMcpServer> {
  const executions: TestMcpServer['executions'] = [];
  const applied = new Map<string, string>();
  const extraTools: string[] = [];
  const sessions = new Map<string, { transport: StreamableHTTPServerTransport; server: McpServer }>();
  const holds = new Map<string, Promise<void>>();
  const held = (tool: string) => holds.get(tool) ?? Promise.resolve();

  const keyOf = (meta: Record<string, unknown> | undefined) => (typeof meta?.[IDEMPOTENCY_META_KEY] === 'string' ? (meta[IDEMPOTENCY_META_KEY] as string) : undefined);

  function build(): McpServer {
    const server = new McpServer({ name: 'agentry-test', version: '1.0.0' }, { capabilities: { tools: { listChanged: true } } });
    server.registerTool(
      'echo',
      { description: 'Repeats the text.', inputSchema: { text: z.string() }, annotations: { readOnlyHint: true } },
      async ({ text }, extra) => {
        executions.push({ tool: 'echo', key: keyOf(extra._meta), args: { text } });
        return { content: [{ type: 'text', text: `echo: ${text}` }] };
      },
    );
    server.registerTool(
      'charge',
      { description: 'Charges an amount (a side effect every time).', inputSchema: { amount: z.number() }, annotations: { destructiveHint: true, idempotentHint: false } },
      async ({ amount }, extra) => {
        executions.push({ tool: 'charge', key: keyOf(extra._meta), args: { amount } });
        await held('charge');
        return { content: [{ type: 'text', text: `charged ${amount}` }], structuredContent: { charged: amount } };
      },
    );
    server.registerTool(
      'reserve',
      { description: 'Reserves a seat; the same idempotency key reserves once.', inputSchema: { seat: z.string() }, annotations: { destructiveHint: true, idempotentHint: true } },
      async ({ seat }, extra) => {
        const key = keyOf(extra._meta);
        executions.push({ tool: 'reserve', key, args: { seat } });
        await held('reserve');
        if (key && applied.has(key)) return { content: [{ type: 'text', text: `already reserved ${applied.get(key)}` }] };
        if (key) applied.set(key, seat);
        return { content: [{ type: 'text', text: `reserved ${seat}` }] };
      },
    );
    server.registerTool('wait', { description: 'Never answers.', inputSchema: {}, annotations: { readOnlyHint: true } }, async (_args, extra) => {
      executions.push({ tool: 'wait', key: keyOf(extra._meta), args: {} });
      await new Promise<void>((resolve) => extra.signal.addEventListener('abort', () => resolve(), { once: true }));
      return { content: [{ type: 'text', text: 'aborted' }] };
    });
    for (const name of extraTools) addTo(server, name);
    return server;
  }

  function addTo(server: McpServer, name: string): void {
    server.registerTool(name, { description: `Added later: ${name}.`, inputSchema: {}, annotations: { readOnlyHint: true } }, async (_args, extra) => {
      executions.push({ tool: name, key: keyOf(extra._meta), args: {} });
      return { content: [{ type: 'text', text: name }] };
    });
  }

  const httpServer = http.createServer((req, res) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const body: unknown = chunks.length > 0 ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
      const sessionId = req.headers['mcp-session-id'];
      const existing = typeof sessionId === 'string' ? sessions.get(sessionId) : undefined;
      if (existing) {
        await existing.transport.handleRequest(req, res, body);
        return;
      }
      if (req.method === 'POST' && isInitializeRequest(body)) {
        const server = build();
        const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          onsessioninitialized: (id) => {
            sessions.set(id, { transport, server });
          },
        });
        transport.onclose = () => {
          if (transport.sessionId) sessions.delete(transport.sessionId);
        };
        await server.connect(transport);
        await transport.handleRequest(req, res, body);
        return;
      }
      res.writeHead(typeof sessionId === 'string' ? 404 : 400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message: 'no such session' }, id: null }));
    })().catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(error));
    });
  });
  await new Promise<void>((resolve) => httpServer.listen(options.port ?? 0, '127.0.0.1', resolve));
  const port = (httpServer.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}/mcp`,
    port,
    executions,
    applied,
    hold(tool) {
      let release!: () => void;
      holds.set(tool, new Promise<void>((resolve) => (release = resolve)));
      return {
        release() {
          holds.delete(tool);
          release();
        },
      };
    },
    addTool(name) {
      extraTools.push(name);
      for (const { server } of sessions.values()) addTo(server, name);
    },
    async close() {
      await Promise.all([...sessions.values()].map(({ server }) => server.close().catch(() => undefined)));
      sessions.clear();
      httpServer.closeAllConnections();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
    },
  };
}
