import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkHttpToolSpec, fillTemplate, forbiddenAddress, httpTool, httpToolSpecSchema } from './http-tools.js';
import { needsApproval, safeToRepeat, ToolError } from './types.js';

describe('HTTP tools (a real service on loopback)', () => {
  let server: http.Server;
  let base: string;
  const seen: { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString() });
        if (req.url!.startsWith('/big')) {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end('x'.repeat(1024 * 1024));
        } else if (req.url!.startsWith('/hang')) {
          // never answers
        } else if (req.url!.startsWith('/missing')) {
          res.writeHead(404, { 'content-type': 'application/json' });
          res.end('{"error":"no such order"}');
        } else {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ ok: true, path: req.url }));
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const allowed = { allowedHosts: ['127.0.0.1'], env: { ORDERS_TOKEN: 'tok-123' } };
  const ctx = (key = 'run-1:turn-1:call_1', signal = new AbortController().signal) => ({ signal, idempotencyKey: key });

  it('GET fills URL placeholders (encoded), sends the idempotency key and env-filled headers, parses JSON', async () => {
    const tool = httpTool(
      httpToolSpecSchema.parse({
        name: 'order',
        description: 'Looks up an order',
        url: `${base}/orders/{id}?q={q}`,
        headers: { Authorization: 'Bearer ${env:ORDERS_TOKEN}' },
        input: { type: 'object', properties: { id: { type: 'string' }, q: { type: 'string' } }, required: ['id'] },
      }),
      allowed,
    );
    expect(tool).toMatchObject({ id: 'http:order', name: 'order', approval: 'when-destructive' });
    expect(tool.annotations).toEqual({ readOnly: true, destructive: false, idempotent: true });
    expect(needsApproval(tool)).toBe(false);
    const result = await tool.execute({ id: 'a/b', q: 'x y' }, ctx('run-7:k'));
    expect(result.isError).toBe(false);
    expect(result.structured).toEqual({ ok: true, path: '/orders/a%2Fb?q=x%20y' });
    const req = seen.at(-1)!;
    expect(req.headers['idempotency-key']).toBe('run-7:k');
    expect(req.headers.authorization).toBe('Bearer tok-123');
  });

  it('POST sends the arguments as JSON, and by default needs approval and is not repeated unasked', async () => {
    const tool = httpTool(httpToolSpecSchema.parse({ name: 'refund', description: 'Refunds', url: `${base}/refunds`, method: 'POST' }), allowed);
    expect(tool.annotations).toEqual({ readOnly: false, destructive: true, idempotent: false });
    expect(needsApproval(tool)).toBe(true);
    expect(safeToRepeat(tool)).toBe(false);
    await tool.execute({ order: 'A1', amount: 3 }, ctx());
    expect(seen.at(-1)).toMatchObject({ method: 'POST', body: '{"order":"A1","amount":3}' });
    expect(seen.at(-1)!.headers['content-type']).toBe('application/json');
  });

  it('an HTTP error is a result the model can read', async () => {
    const tool = httpTool(httpToolSpecSchema.parse({ name: 'missing', description: 'x', url: `${base}/missing` }), allowed);
    const result = await tool.execute({}, ctx());
    expect(result).toMatchObject({ isError: true });
    expect(result.content).toMatch(/^HTTP 404: .*no such order/);
  });

  it('caps the response size with a marker the model can see', async () => {
    const tool = httpTool(httpToolSpecSchema.parse({ name: 'big', description: 'x', url: `${base}/big`, maxResponseBytes: 2048 }), allowed);
    const result = await tool.execute({}, ctx());
    expect(result.content.startsWith('x'.repeat(2048))).toBe(true);
    expect(result.content).toMatch(/\[truncated: the response was larger than 2048 bytes\]$/);
  });

  it('stops when the signal aborts (the per-tool timeout or a cancelled run)', async () => {
    const tool = httpTool(httpToolSpecSchema.parse({ name: 'hang', description: 'x', url: `${base}/hang` }), allowed);
    const controller = new AbortController();
    const pending = tool.execute({}, ctx('k', controller.signal));
    await new Promise<void>((resolve) => {
      const check = () => (seen.some((s) => s.url === '/hang') ? resolve() : setTimeout(check, 10));
      check();
    });
    controller.abort(new ToolError('timeout', 'tool took too long'));
    await expect(pending).rejects.toMatchObject({ code: 'timeout' });
  });

  it('a missing argument or environment variable is a clear error', async () => {
    const tool = httpTool(httpToolSpecSchema.parse({ name: 'order2', description: 'x', url: `${base}/orders/{id}`, headers: { 'X-Key': '${env:NOPE}' } }), allowed);
    await expect(tool.execute({}, ctx())).rejects.toThrow(/missing argument "id"/);
    await expect(tool.execute({ id: '1' }, ctx())).rejects.toThrow(/environment variable NOPE/);
  });

  it('refuses hosts off the allow-list, hosts taken from arguments, and link-local or metadata addresses even when listed', () => {
    const spec = (url: string) => httpToolSpecSchema.parse({ name: 't', description: 'x', url });
    expect(() => checkHttpToolSpec(spec('http://example.com/x'), allowed)).toThrow(/not in TOOL_HTTP_ALLOWED_HOSTS/);
    expect(() => checkHttpToolSpec(spec('http://{host}/x'), { allowedHosts: ['*'] })).toThrow(/host may not come from arguments/);
    expect(() => checkHttpToolSpec(spec('http://169.254.169.254/latest/meta-data'), { allowedHosts: ['169.254.169.254'] })).toThrow(/link-local and metadata/);
    expect(() => checkHttpToolSpec(spec('http://metadata.google.internal/'), { allowedHosts: ['metadata.google.internal'] })).toThrow(/link-local and metadata/);
    expect(() => checkHttpToolSpec(spec('http://[fe80::1]/'), { allowedHosts: ['fe80::1'] })).toThrow(/link-local and metadata/);
    expect(() => checkHttpToolSpec(spec('file:///etc/passwd'), allowed)).toThrow(/only http and https/);
    expect(() => checkHttpToolSpec(spec('https://api.example.com/x'), { allowedHosts: ['*.example.com'] })).not.toThrow();
    expect(() => checkHttpToolSpec(spec('https://example.com.evil.net/x'), { allowedHosts: ['*.example.com'] })).toThrow(/not in/);
  });

  it('classifies addresses: link-local, metadata and unspecified are forbidden, others are not', () => {
    for (const a of ['169.254.169.254', '169.254.0.1', '0.0.0.0', 'fe80::1', '::ffff:169.254.169.254', 'fd00:ec2::254', '::', 'not-an-ip']) expect(forbiddenAddress(a)).toBe(true);
    for (const a of ['127.0.0.1', '10.0.0.1', '93.184.216.34', '::1', '2001:db8::1']) expect(forbiddenAddress(a)).toBe(false);
  });

  it('fills templates without letting an argument change the path structure', () => {
    expect(fillTemplate('/a/{x}', { x: '../../etc' })).toBe('/a/..%2F..%2Fetc');
    expect(fillTemplate('/a/{x}', { x: { y: 1 } })).toBe('/a/%7B%22y%22%3A1%7D');
  });
});
