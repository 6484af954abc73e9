import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestMcpServer, type TestMcpServer } from '../../test/support/mcp-server.js';
import { createLogger } from '../log.js';
import { createMcpServers, mcpServerSpecSchema, type McpServers } from './mcp.js';
import { createToolRegistry } from './registry.js';
import { builtinTools } from './builtins.js';
import { needsApproval, safeToRepeat, ToolError, type Tool } from './types.js';

const logger = createLogger({ level: 'silent', name: 'mcp-test' });

async function until(check: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const call = (tool: Tool, args: Record<string, unknown>, key = 'run-1:step-1', signal = new AbortController().signal) => tool.execute(args, { signal, idempotencyKey: key });

describe('MCP over streamable HTTP (an SDK server built in the test)', () => {
  let server: TestMcpServer;
  let mcp: McpServers;

  beforeAll(async () => {
    server = await startTestMcpServer();
    mcp = createMcpServers({
      specs: [mcpServerSpecSchema.parse({ name: 'shop', transport: 'http', url: server.url, timeoutMs: 2000 })],
      logger,
      clientVersion: 'test',
    });
    await mcp.start();
  });

  afterAll(async () => {
    await mcp.stop();
    await server.close();
  });

  const tool = (name: string) => {
    const found = mcp.tools('shop').find((t) => t.id === `mcp:shop/${name}`);
    if (!found) throw new Error(`no tool ${name}`);
    return found;
  };

  it('lists the tools with their annotations, MCP defaults applied, and names a model accepts', () => {
    expect(mcp.connected('shop')).toBe(true);
    const echo = tool('echo');
    expect(echo.name).toBe('shop__echo');
    expect(echo.annotations).toEqual({ readOnly: true, destructive: false, idempotent: true });
    expect(needsApproval(echo)).toBe(false);
    const charge = tool('charge');
    expect(charge.annotations).toEqual({ readOnly: false, destructive: true, idempotent: false });
    expect(needsApproval(charge)).toBe(true);
    expect(safeToRepeat(charge)).toBe(false);
    expect(safeToRepeat(tool('reserve'))).toBe(true);
    expect(charge.inputSchema).toMatchObject({ type: 'object', properties: { amount: { type: 'number' } } });
  });

  it('sends the idempotency key in _meta, and returns text and structured content', async () => {
    const result = await call(tool('charge'), { amount: 5 }, 'run-9:turn-1:call_a');
    expect(result).toEqual({ content: 'charged 5', isError: false, structured: { charged: 5 } });
    expect(server.executions.at(-1)).toEqual({ tool: 'charge', key: 'run-9:turn-1:call_a', args: { amount: 5 } });
  });

  it('an idempotent tool given the same key twice applies it once', async () => {
    await call(tool('reserve'), { seat: '12A' }, 'run-2:k');
    const again = await call(tool('reserve'), { seat: '12A' }, 'run-2:k');
    expect(again.content).toBe('already reserved 12A');
    expect(server.executions.filter((e) => e.key === 'run-2:k')).toHaveLength(2);
    expect([...server.applied.entries()].filter(([k]) => k === 'run-2:k')).toEqual([['run-2:k', '12A']]);
  });

  it('bad arguments come back as an error result from the server, not a crash', async () => {
    const result = await call(tool('charge'), { amount: 'lots' });
    expect(result.isError).toBe(true);
  });

  it('a call that outlives the server timeout fails with a timeout error', async () => {
    await expect(call(tool('wait'), {})).rejects.toMatchObject({ code: 'timeout' });
  });

  it('the run signal aborts a call in flight', async () => {
    const controller = new AbortController();
    const pending = call(tool('wait'), {}, 'k', controller.signal);
    await until(() => server.executions.some((e) => e.tool === 'wait' && e.key === 'k'), 'the call to arrive');
    controller.abort(new Error('run cancelled'));
    await expect(pending).rejects.toThrow();
  });

  it('refreshes the list when the server says it changed', async () => {
    server.addTool('late_tool');
    await until(() => mcp.tools('shop').some((t) => t.id === 'mcp:shop/late_tool'), 'the new tool to be listed');
    expect((await call(tool('late_tool'), {})).content).toBe('late_tool');
  });

  it('the registry resolves wildcards and checks declarations with clear errors', () => {
    const registry = createToolRegistry({ builtins: builtinTools(), http: [], mcp, mcpServers: ['shop'] });
    expect(registry.resolve(['calculator', 'mcp:shop/*']).map((t) => t.id)).toEqual(expect.arrayContaining(['calculator', 'mcp:shop/echo', 'mcp:shop/charge']));
    expect(registry.resolve(['mcp:shop/echo']).map((t) => t.id)).toEqual(['mcp:shop/echo']);
    expect(() => registry.check('writer', ['calculator', 'mcp:shop/echo'])).not.toThrow();
    expect(() => registry.check('writer', ['calculater'])).toThrow(/agent "writer": unknown tool "calculater"/);
    expect(() => registry.check('writer', ['mcp:nope/*'])).toThrow(/no MCP server "nope"/);
    expect(() => registry.check('writer', ['mcp:shop/refund'])).toThrow(/MCP server "shop" has no tool "refund"/);
    expect(() => registry.check('writer', ['calculator', 'calculator'])).toThrow(/declared twice/);
  });
});

describe('MCP server down and back', () => {
  let mcp: McpServers | undefined;
  afterEach(async () => {
    await mcp?.stop();
  });

  it('answers "unavailable" while the server is down and reconnects when it is back on the same address', async () => {
    let server = await startTestMcpServer();
    const port = server.port;
    mcp = createMcpServers({ specs: [mcpServerSpecSchema.parse({ name: 'svc', transport: 'http', url: server.url, timeoutMs: 2000 })], logger, clientVersion: 'test' });
    await mcp.start();
    const echo = () => mcp!.tools('svc').find((t) => t.id === 'mcp:svc/echo');
    expect(echo()).toBeDefined();
    const before = echo()!;
    await server.close();
    const failure = await call(before, { text: 'hi' }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ToolError);
    expect((failure as ToolError).code).toBe('unavailable');
    await until(() => !mcp!.connected('svc'), 'the client to notice');
    expect(mcp.status()[0]).toMatchObject({ name: 'svc', connected: false });
    await expect(call(before, { text: 'hi' })).rejects.toMatchObject({ code: 'unavailable' });
    server = await startTestMcpServer({ port });
    try {
      await mcp.whenConnected('svc', AbortSignal.timeout(60_000));
      expect((await call(echo()!, { text: 'back' })).content).toBe('echo: back');
    } finally {
      await server.close();
    }
  });

  it('a call in flight when the server goes away fails as "unavailable" at once, not after timeoutMs', async () => {
    const server = await startTestMcpServer();
    // A timeout far beyond the test's: before the fix the call waited it out.
    mcp = createMcpServers({ specs: [mcpServerSpecSchema.parse({ name: 'gone', transport: 'http', url: server.url, timeoutMs: 600_000 })], logger, clientVersion: 'test' });
    await mcp.start();
    const wait = mcp.tools('gone').find((t) => t.id === 'mcp:gone/wait')!;
    const pending = call(wait, {}, 'gone-1').catch((e: unknown) => e);
    await until(() => server.executions.some((e) => e.key === 'gone-1'), 'the call to arrive');
    await server.close();
    const failure = await pending;
    expect(failure).toBeInstanceOf(ToolError);
    expect((failure as ToolError).code).toBe('unavailable');
    expect(mcp.connected('gone')).toBe(false);
  });

  it('starts with the server down and connects once it comes up', async () => {
    const probe = await startTestMcpServer();
    const port = probe.port;
    await probe.close();
    mcp = createMcpServers({ specs: [mcpServerSpecSchema.parse({ name: 'late', transport: 'http', url: `http://127.0.0.1:${port}/mcp` })], logger, clientVersion: 'test' });
    await mcp.start();
    expect(mcp.connected('late')).toBe(false);
    const server = await startTestMcpServer({ port });
    try {
      await mcp.whenConnected('late', AbortSignal.timeout(60_000));
      expect(mcp.tools('late').length).toBeGreaterThan(0);
    } finally {
      await server.close();
    }
  });
});

describe('MCP over stdio (the published @modelcontextprotocol/server-filesystem)', () => {
  let dir: string;
  let mcp: McpServers;

  beforeAll(async () => {
    dir = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'agentry-mcp-fs-')));
    await fs.writeFile(path.join(dir, 'notes.txt'), 'hello from a file\n');
    mcp = createMcpServers({
      specs: [
        mcpServerSpecSchema.parse({
          name: 'files',
          transport: 'stdio',
          command: process.execPath,
          args: [path.resolve('node_modules/@modelcontextprotocol/server-filesystem/dist/index.js'), dir],
        }),
      ],
      logger,
      clientVersion: 'test',
    });
    await mcp.start();
  });

  afterAll(async () => {
    await mcp.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const tool = (name: string) => {
    const found = mcp.tools('files').find((t) => t.id === `mcp:files/${name}`);
    if (!found) throw new Error(`no tool ${name}; have ${mcp.tools('files').map((t) => t.id).join(', ')}`);
    return found;
  };

  it('reads its annotations: reading is read-only, writing is destructive and needs approval', () => {
    expect(tool('read_text_file').annotations.readOnly).toBe(true);
    expect(needsApproval(tool('read_text_file'))).toBe(false);
    expect(tool('write_file').annotations).toMatchObject({ readOnly: false, destructive: true });
    expect(needsApproval(tool('write_file'))).toBe(true);
  });

  it('calls its tools for real', async () => {
    const read = await call(tool('read_text_file'), { path: path.join(dir, 'notes.txt') });
    expect(read).toMatchObject({ isError: false });
    expect(read.content).toContain('hello from a file');
    const written = await call(tool('write_file'), { path: path.join(dir, 'out.txt'), content: 'written by an agent' });
    expect(written.isError).toBe(false);
    expect(await fs.readFile(path.join(dir, 'out.txt'), 'utf8')).toBe('written by an agent');
    const outside = await call(tool('read_text_file'), { path: '/etc/passwd' });
    expect(outside.isError).toBe(true);
  });
});
