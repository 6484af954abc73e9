import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { CallToolResult, ErrorCode, McpError, Tool as McpTool } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from '../log.js';
import { type McpServerSpec } from '../config/tool-specs.js';
import { modelToolName, ToolError, type ApprovalPolicy, type Tool, type ToolInputSchema } from './types.js';

/** The key under which a call's idempotency key travels in `_meta` (MCP reserves unprefixed and modelcontextprotocol.* names). */
export const IDEMPOTENCY_META_KEY = 'io.agentry/idempotency-key';

const RECONNECT_MIN_MS = 500;
const RECONNECT_MAX_MS = 30_000;
/** Transport errors (the SDK's own messages): the server could not be reached again / a stream broke. */
const SERVER_GONE = /Maximum reconnection attempts|Failed to reconnect/;
const STREAM_BROKEN = /SSE stream disconnected/;

/** The parts of the MCP SDK used at run time. */
interface Sdk {
  Client: typeof Client;
  StdioClientTransport: typeof StdioClientTransport;
  StreamableHTTPClientTransport: typeof StreamableHTTPClientTransport;
  McpError: typeof McpError;
  ErrorCode: typeof ErrorCode;
}

interface Connection {
  spec: McpServerSpec;
  client?: Client;
  tools: Tool[];
  connected: boolean;
  lastError?: string;
  failures: number;
  retryTimer?: NodeJS.Timeout;
  /** Bumped on every (re)connect so a late close of an old transport is ignored. */
  generation: number;
}

export interface McpServerStatus {
  name: string;
  transport: 'http' | 'stdio';
  connected: boolean;
  tools: number;
  error?: string;
}

export interface McpServers {
  /** Connects to every server (failures are logged and retried in the background, not thrown). */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The tools of one server as they are now (empty while it is down). */
  tools(server: string): readonly Tool[];
  has(server: string): boolean;
  connected(server: string): boolean;
  status(): McpServerStatus[];
  /** Resolves when `server` has connected (or the signal aborts): for tests and start-up checks. */
  whenConnected(server: string, signal?: AbortSignal): Promise<void>;
}

/**
 * One MCP client per configured server, over streamable HTTP or stdio, with the
 * official SDK. Tools are listed at connect and refreshed when the server says its
 * list changed; a server that goes away is reconnected with backoff, and its tools
 * answer "unavailable" meanwhile rather than hanging a run.
 */
export function createMcpServers(deps: { specs: readonly McpServerSpec[]; logger: Logger; clientVersion: string }): McpServers {
  const { logger } = deps;
  const connections = new Map<string, Connection>(deps.specs.map((spec) => [spec.name, { spec, tools: [], connected: false, failures: 0, generation: 0 }]));
  const waiters = new Map<string, Set<() => void>>();
  let stopping = false;
  // The SDK and its schemas (about 5 MB resident) load with the first server to connect:
  // an instance with no MCP server configured does not carry them.
  let sdk: Promise<Sdk> | undefined;
  const loadSdk = (): Promise<Sdk> =>
    (sdk ??= Promise.all([
      import('@modelcontextprotocol/sdk/client/index.js'),
      import('@modelcontextprotocol/sdk/client/stdio.js'),
      import('@modelcontextprotocol/sdk/client/streamableHttp.js'),
      import('@modelcontextprotocol/sdk/types.js'),
    ]).then(([client, stdio, http, types]) => ({
      Client: client.Client,
      StdioClientTransport: stdio.StdioClientTransport,
      StreamableHTTPClientTransport: http.StreamableHTTPClientTransport,
      McpError: types.McpError,
      ErrorCode: types.ErrorCode,
    })));

  function transportFor(spec: McpServerSpec, { StdioClientTransport, StreamableHTTPClientTransport }: Sdk): Transport {
    if (spec.transport === 'http') return new StreamableHTTPClientTransport(new URL(spec.url), { requestInit: { headers: spec.headers } });
    return new StdioClientTransport({
      command: spec.command,
      args: spec.args,
      env: { ...(process.env as Record<string, string>), ...spec.env },
      cwd: spec.cwd,
      stderr: 'pipe',
    });
  }

  function approvalFor(spec: McpServerSpec, tool: string): ApprovalPolicy {
    return spec.toolApprovals[tool] ?? spec.approval ?? 'when-destructive';
  }

  function toTool(conn: Connection, mcp: McpTool, { McpError, ErrorCode }: Sdk): Tool {
    const { spec } = conn;
    const hints = mcp.annotations ?? {};
    // The MCP spec's defaults: a tool that says nothing may write, destructively, and is not idempotent.
    const readOnly = hints.readOnlyHint ?? false;
    const annotations = { readOnly, destructive: readOnly ? false : (hints.destructiveHint ?? true), idempotent: readOnly || (hints.idempotentHint ?? false) };
    return {
      id: `mcp:${spec.name}/${mcp.name}`,
      name: modelToolName(`${spec.name}__${mcp.name}`),
      source: 'mcp',
      description: (mcp.description ?? mcp.title ?? mcp.name).slice(0, 1024),
      inputSchema: { ...(mcp.inputSchema as ToolInputSchema), type: 'object' },
      annotations,
      approval: approvalFor(spec, mcp.name),
      timeoutMs: spec.timeoutMs,
      async execute(args, ctx) {
        const client = conn.connected ? conn.client : undefined;
        if (!client) throw new ToolError('unavailable', `MCP server "${spec.name}" is not connected${conn.lastError ? ` (${conn.lastError})` : ''}`);
        let result: CallToolResult;
        try {
          result = (await client.callTool({ name: mcp.name, arguments: args, _meta: { [IDEMPOTENCY_META_KEY]: ctx.idempotencyKey } }, undefined, {
            signal: ctx.signal,
            timeout: spec.timeoutMs,
          })) as CallToolResult;
        } catch (error) {
          if (ctx.signal.aborted) throw error;
          const message = (error as Error).message;
          if (error instanceof McpError && error.code === ErrorCode.RequestTimeout) {
            throw new ToolError('timeout', `MCP tool ${spec.name}/${mcp.name} did not answer within ${spec.timeoutMs} ms`, { cause: error });
          }
          // A protocol error is the server's answer; anything else (refused, reset, a session the
          // server no longer knows after a restart) means the connection is gone: start again.
          const gone = !(error instanceof McpError) || error.code === ErrorCode.ConnectionClosed;
          if (gone) lost(conn, conn.generation, message);
          throw new ToolError(gone ? 'unavailable' : 'failed', `MCP tool ${spec.name}/${mcp.name} failed: ${message}`, { cause: error });
        }
        const text = result.content
          .map((part) => (part.type === 'text' ? part.text : part.type === 'resource' && 'text' in part.resource ? part.resource.text : `[${part.type}]`))
          .join('\n');
        const content = text.length > 0 ? text : result.structuredContent !== undefined ? JSON.stringify(result.structuredContent) : '';
        return { content, isError: result.isError === true, structured: result.structuredContent };
      },
    };
  }

  async function listAll(client: Client): Promise<McpTool[]> {
    const all: McpTool[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.listTools(cursor ? { cursor } : undefined);
      all.push(...page.tools);
      cursor = page.nextCursor;
    } while (cursor && all.length < 10_000);
    return all;
  }

  function scheduleReconnect(conn: Connection): void {
    if (stopping || conn.retryTimer) return;
    const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** Math.min(conn.failures, 10));
    conn.failures++;
    conn.retryTimer = setTimeout(() => {
      conn.retryTimer = undefined;
      void connect(conn);
    }, delay);
    conn.retryTimer.unref();
  }

  function lost(conn: Connection, generation: number, reason: string): void {
    if (conn.generation !== generation || stopping) return;
    if (conn.connected) logger.warn({ server: conn.spec.name, reason }, 'MCP server disconnected; reconnecting');
    conn.connected = false;
    conn.lastError = reason;
    scheduleReconnect(conn);
  }

  async function connect(conn: Connection): Promise<void> {
    if (stopping) return;
    const generation = ++conn.generation;
    const old = conn.client;
    conn.client = undefined;
    if (old) await old.close().catch(() => undefined);
    let mod: Sdk;
    try {
      mod = await loadSdk();
    } catch (error) {
      sdk = undefined;
      conn.lastError = `the MCP SDK could not be loaded: ${(error as Error).message}`;
      logger.error({ err: error, server: conn.spec.name }, 'loading the MCP SDK failed');
      scheduleReconnect(conn);
      return;
    }
    if (conn.generation !== generation || stopping) return;
    const client: Client = new mod.Client(
      { name: 'agentry', version: deps.clientVersion },
      {
        listChanged: {
          tools: {
            onChanged: (error, tools) => {
              if (conn.generation !== generation) return;
              if (error || !tools) {
                logger.warn({ err: error, server: conn.spec.name }, 'refreshing MCP tools failed');
                return;
              }
              conn.tools = tools.map((t) => toTool(conn, t, mod));
              logger.info({ server: conn.spec.name, tools: conn.tools.length }, 'MCP tools changed');
            },
          },
        },
      },
    );
    client.onerror = (error) => {
      logger.debug({ err: error, server: conn.spec.name }, 'MCP transport error');
      // The SDK leaves a call pending when the stream that should carry its answer breaks
      // (the server died or restarted): it would wait out timeoutMs. When the server is gone,
      // mark it lost and close this client now, which fails the calls in flight as
      // "unavailable". A broken stream alone may be a proxy's idle timeout on a live server:
      // only a failed ping says the server is gone.
      const gone = () => {
        if (conn.generation !== generation) return;
        lost(conn, generation, error.message);
        void client.close().catch(() => undefined);
      };
      if (SERVER_GONE.test(error.message)) gone();
      else if (STREAM_BROKEN.test(error.message)) void client.ping({ timeout: Math.min(conn.spec.timeoutMs, 5000) }).catch(gone);
    };
    client.onclose = () => lost(conn, generation, 'connection closed');
    try {
      const transport = transportFor(conn.spec, mod);
      if (transport instanceof mod.StdioClientTransport) {
        transport.stderr?.on('data', (chunk: Buffer) => logger.debug({ server: conn.spec.name, stderr: chunk.toString('utf8').slice(0, 2000) }, 'MCP server stderr'));
      }
      await client.connect(transport, { timeout: conn.spec.timeoutMs });
      const tools = await listAll(client);
      if (conn.generation !== generation) {
        await client.close().catch(() => undefined);
        return;
      }
      conn.client = client;
      conn.tools = tools.map((t) => toTool(conn, t, mod));
      conn.connected = true;
      conn.failures = 0;
      conn.lastError = undefined;
      logger.info({ server: conn.spec.name, transport: conn.spec.transport, tools: conn.tools.length }, 'MCP server connected');
      for (const resolve of waiters.get(conn.spec.name) ?? []) resolve();
    } catch (error) {
      await client.close().catch(() => undefined);
      if (conn.generation !== generation) return;
      conn.lastError = (error as Error).message;
      logger.warn({ err: error, server: conn.spec.name, retryInFailures: conn.failures }, 'MCP server unreachable; retrying with backoff');
      scheduleReconnect(conn);
    }
  }

  return {
    async start() {
      await Promise.all([...connections.values()].map((conn) => connect(conn)));
    },
    async stop() {
      stopping = true;
      await Promise.all(
        [...connections.values()].map(async (conn) => {
          clearTimeout(conn.retryTimer);
          conn.connected = false;
          conn.generation++;
          await conn.client?.close().catch(() => undefined);
          conn.client = undefined;
        }),
      );
    },
    tools(server) {
      const conn = connections.get(server);
      return conn?.connected ? conn.tools : [];
    },
    has: (server) => connections.has(server),
    connected: (server) => connections.get(server)?.connected ?? false,
    status() {
      return [...connections.values()].map((c) => ({
        name: c.spec.name,
        transport: c.spec.transport,
        connected: c.connected,
        tools: c.tools.length,
        ...(c.connected || !c.lastError ? {} : { error: c.lastError }),
      }));
    },
    whenConnected(server, signal) {
      const conn = connections.get(server);
      if (!conn) return Promise.reject(new Error(`no MCP server "${server}"`));
      if (conn.connected) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const set = waiters.get(server) ?? new Set();
        waiters.set(server, set);
        const done = () => {
          set.delete(done);
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = () => {
          set.delete(done);
          reject(signal?.reason);
        };
        set.add(done);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    },
  };
}

export { mcpServerSpecSchema, type McpServerSpec } from '../config/tool-specs.js';
