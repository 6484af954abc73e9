import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { type HttpToolSpec } from '../config/tool-specs.js';
import { ToolError, type ApprovalPolicy, type Tool, type ToolInputSchema } from './types.js';

export { httpToolSpecSchema, type HttpToolSpec } from '../config/tool-specs.js';


/** Never a destination, even when allow-listed: link-local (cloud metadata lives there) and "this host". */
export function forbiddenAddress(address: string): boolean {
  const family = net.isIP(address);
  if (family === 4) {
    const [a, b] = address.split('.').map(Number) as [number, number];
    return a === 169 && b === 254 ? true : a === 0;
  }
  if (family === 6) {
    const lower = address.toLowerCase();
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
    if (mapped) return forbiddenAddress(mapped[1]!);
    // fe80::/10 link-local; fd00:ec2::254 is AWS's IPv6 metadata address; :: is unspecified.
    return /^fe[89ab]/.test(lower) || lower === 'fd00:ec2::254' || lower === '::';
  }
  return true;
}

const METADATA_HOSTS = new Set(['metadata.google.internal', 'metadata', 'instance-data', 'metadata.azure.com']);

function hostAllowed(host: string, allowed: readonly string[]): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return allowed.some((entry) => {
    const e = entry.toLowerCase();
    return e.startsWith('*.') ? h.endsWith(e.slice(1)) && h.length > e.length - 1 : h === e;
  });
}

/** Fills `{name}` from the arguments; a placeholder with no argument is an error the model can read. */
export function fillTemplate(template: string, args: Record<string, unknown>): string {
  return template.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, key: string) => {
    const value = args[key];
    if (value === undefined || value === null) throw new ToolError('bad_arguments', `missing argument "${key}"`);
    return encodeURIComponent(typeof value === 'object' ? JSON.stringify(value) : String(value));
  });
}

function fillHeader(value: string, env: NodeJS.ProcessEnv, tool: string): string {
  return value.replace(/\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
    const found = env[name];
    if (found === undefined) throw new ToolError('unavailable', `tool "${tool}" needs the environment variable ${name}, which is not set`);
    return found;
  });
}

export interface HttpToolOptions {
  /** Hosts an HTTP tool may reach (`api.example.com`, `*.example.com`, `127.0.0.1`). Empty: none. */
  allowedHosts: readonly string[];
  env?: NodeJS.ProcessEnv;
}

/** Checks a declaration against the allow-list at start-up, so a typo is a clear error then and not a failed call later. */
export function checkHttpToolSpec(spec: HttpToolSpec, options: HttpToolOptions): void {
  const probe = spec.url.replace(/\{[A-Za-z_][A-Za-z0-9_]*\}/g, 'x');
  let url: URL;
  try {
    url = new URL(probe);
  } catch {
    throw new Error(`HTTP tool "${spec.name}": "${spec.url}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`HTTP tool "${spec.name}": only http and https URLs are allowed`);
  const authority = spec.url.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').split(/[/?#]/)[0] ?? '';
  if (authority.includes('{')) {
    throw new Error(`HTTP tool "${spec.name}": the host may not come from arguments`);
  }
  if (!hostAllowed(url.hostname, options.allowedHosts)) {
    throw new Error(`HTTP tool "${spec.name}": host "${url.hostname}" is not in TOOL_HTTP_ALLOWED_HOSTS`);
  }
  if (METADATA_HOSTS.has(url.hostname.toLowerCase()) || (net.isIP(url.hostname.replace(/^\[|\]$/g, '')) && forbiddenAddress(url.hostname.replace(/^\[|\]$/g, '')))) {
    throw new Error(`HTTP tool "${spec.name}": link-local and metadata addresses are never reachable`);
  }
}

/**
 * Connects only to addresses that pass `forbiddenAddress` at connect time: a name
 * that resolves to a metadata address (DNS rebinding included) is refused.
 */
const guardedLookup: net.LookupFunction = (hostname, options, callback) => {
  dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) return callback(error, '', 0);
    const list = addresses as dns.LookupAddress[];
    const bad = list.find((a) => forbiddenAddress(a.address));
    if (bad) return callback(Object.assign(new Error(`refusing to connect to ${bad.address} (link-local or metadata address)`), { code: 'EFORBIDDEN' }), '', 0);
    if (options.all) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, list);
    const first = list[0];
    if (!first) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '', 0);
    callback(null, first.address, first.family);
  });
};

export function httpTool(spec: HttpToolSpec, options: HttpToolOptions): Tool {
  checkHttpToolSpec(spec, options);
  const env = options.env ?? process.env;
  const writes = spec.method !== 'GET';
  const annotations = {
    readOnly: spec.annotations.readOnly ?? !writes,
    destructive: spec.annotations.destructive ?? writes,
    idempotent: spec.annotations.idempotent ?? (spec.method === 'GET' || spec.method === 'PUT' || spec.method === 'DELETE'),
  };
  const approval: ApprovalPolicy = spec.approval ?? 'when-destructive';
  return {
    id: `http:${spec.name}`,
    name: spec.name,
    source: 'http',
    description: spec.description,
    inputSchema: spec.input as ToolInputSchema,
    annotations,
    approval,
    timeoutMs: spec.timeoutMs,
    async execute(args, ctx) {
      const url = new URL(fillTemplate(spec.url, args));
      if (!hostAllowed(url.hostname, options.allowedHosts)) throw new ToolError('refused', `host "${url.hostname}" is not allowed`);
      const headers: Record<string, string> = { accept: 'application/json, text/plain;q=0.9, */*;q=0.5', 'idempotency-key': ctx.idempotencyKey };
      for (const [name, value] of Object.entries(spec.headers)) headers[name.toLowerCase()] = fillHeader(value, env, spec.name);
      let body: Buffer | undefined;
      if (spec.method !== 'GET' && spec.method !== 'DELETE') {
        body = Buffer.from(JSON.stringify(args));
        headers['content-type'] = 'application/json';
        headers['content-length'] = String(body.length);
      }
      const response = await send(url, spec.method, headers, body, spec.maxResponseBytes, ctx.signal);
      const text = response.body.toString('utf8') + (response.truncated ? `\n[truncated: the response was larger than ${spec.maxResponseBytes} bytes]` : '');
      let structured: unknown;
      if (/json/i.test(response.contentType) && !response.truncated) {
        try {
          structured = JSON.parse(text);
        } catch {
          structured = undefined;
        }
      }
      if (response.status >= 400) return { content: `HTTP ${response.status}: ${text.slice(0, 2000)}`, isError: true, structured };
      return { content: text, isError: false, structured };
    },
  };
}

function send(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: Buffer | undefined,
  maxBytes: number,
  signal: AbortSignal,
): Promise<{ status: number; contentType: string; body: Buffer; truncated: boolean }> {
  return new Promise((resolve, reject) => {
    const request = (url.protocol === 'https:' ? https : http).request(url, { method, headers, lookup: guardedLookup, signal }, (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let truncated = false;
      response.on('data', (chunk: Buffer) => {
        if (truncated) return;
        const room = maxBytes - size;
        if (chunk.length > room) {
          chunks.push(chunk.subarray(0, room));
          size = maxBytes;
          truncated = true;
          response.destroy();
          finish();
          return;
        }
        chunks.push(chunk);
        size += chunk.length;
      });
      const finish = () =>
        resolve({ status: response.statusCode ?? 0, contentType: String(response.headers['content-type'] ?? ''), body: Buffer.concat(chunks), truncated });
      response.on('end', finish);
      response.on('error', (error) => (truncated ? undefined : reject(new ToolError('unavailable', `reading the response failed: ${error.message}`, { cause: error }))));
    });
    request.on('error', (error: NodeJS.ErrnoException) => {
      if (signal.aborted) reject(signal.reason instanceof Error ? signal.reason : new ToolError('timeout', 'the call was aborted'));
      else if (error.code === 'EFORBIDDEN') reject(new ToolError('refused', error.message, { cause: error }));
      else reject(new ToolError('unavailable', `${method} ${url.origin}${url.pathname} failed: ${error.message}`, { cause: error }));
    });
    request.end(body);
  });
}
