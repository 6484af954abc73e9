import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { JsonSchema } from '../shared/json-schema.js';
import type { ChatMessage, ModelRequest } from '../server/agents/model.js';
import { offlineAnswer, offlineToolCalls } from '../server/agents/offline-model.js';

/**
 * An OpenAI-compatible server on loopback for tests: real HTTP, real SSE streaming
 * of chat completions (with usage when asked), and scripted faults. Drive it with
 * the real `openai` SDK (or the app) by pointing OPENAI_BASE_URL at `url`.
 *
 *   const llm = await startOpenAiTestServer();
 *   llm.enqueue({ kind: 'status', status: 429, retryAfter: 1 }); // next request only
 *   llm.setDefault({ kind: 'reply', text: 'hello' });             // every other request
 *   ... llm.count() ... llm.requests[0].body.messages ...
 *   await llm.close();
 */

export interface ChatRequestBody {
  model: string;
  messages: { role: string; content: string | null; tool_calls?: { id: string; function: { name: string; arguments: string } }[]; tool_call_id?: string }[];
  tools?: { type: 'function'; function: { name: string; description?: string; parameters?: Record<string, unknown> } }[];
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  temperature?: number;
  max_tokens?: number;
  response_format?: { type: string; json_schema?: { name: string; schema: unknown } };
  [key: string]: unknown;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: ChatRequestBody;
  at: number;
  /** When the response ended or the client went away (null while still open). */
  closedAt: number | null;
}

export type Behaviour =
  /** A normal answer. `text` may be a function of the request; the default is a deterministic, input-dependent answer (valid JSON for json_schema requests). */
  | {
      kind: 'reply';
      text?: string | ((body: ChatRequestBody) => string);
      /** Pause between streamed chunks. */
      chunkDelayMs?: number;
      /** Characters per streamed chunk (default 8). */
      chunkSize?: number;
      /** Report usage in the stream even without stream_options (true) or never (false); default: as asked. */
      usage?: boolean;
      promptTokens?: number;
      completionTokens?: number;
    }
  /** An HTTP error with an OpenAI-shaped JSON body, e.g. 429 with Retry-After or 500. */
  | { kind: 'status'; status: number; retryAfter?: number | string; retryAfterMs?: number; message?: string }
  /** Accepts the request and never answers (no headers). */
  | { kind: 'hang' }
  /** Streams `chunks` chunks of an answer, then stops sending while keeping the connection open. */
  | { kind: 'stall'; chunks: number }
  /** Sends a 200 SSE stream whose data is not JSON. */
  | { kind: 'malformed' }
  /** Sends an error event inside an otherwise normal stream. */
  | { kind: 'stream-error'; message?: string }
  /** Closes the connection without answering. */
  | { kind: 'drop' };

export interface OpenAiTestServer {
  /** Base URL for the SDK (`…/v1`). */
  readonly url: string;
  readonly port: number;
  /** Every chat completion request received, oldest first. */
  readonly requests: RecordedRequest[];
  /** Number of chat completion requests received. */
  count(): number;
  /** Behaviours for the next requests, in order; once used up, the default applies. */
  enqueue(...behaviours: Behaviour[]): void;
  setDefault(behaviour: Behaviour): void;
  /** Forgets recorded requests and queued behaviours; restores the default reply. */
  reset(): void;
  /** Resolves once `n` requests have arrived. */
  waitForRequests(n: number, timeoutMs?: number): Promise<void>;
  /** Connections currently open (hung requests included). */
  openConnections(): number;
  close(): Promise<void>;
}

const estimate = (text: string) => (text.length === 0 ? 0 : Math.max(1, Math.ceil(text.length / 4)));

/** The default answer: deterministic and input-dependent, JSON matching the schema when one is asked for. */
/** The request as the offline model sees it, tool calls and results included. */
function asModelRequest(body: ChatRequestBody): ModelRequest {
  const schema = body.response_format?.type === 'json_schema' ? (body.response_format.json_schema?.schema as JsonSchema | undefined) : undefined;
  const messages: ChatMessage[] = body.messages.map((m): ChatMessage => {
    if (m.role === 'tool') return { role: 'tool', toolCallId: m.tool_call_id ?? '', content: String(m.content ?? '') };
    if (m.role === 'assistant') {
      const toolCalls = m.tool_calls?.map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments }));
      return { role: 'assistant', content: String(m.content ?? ''), ...(toolCalls?.length ? { toolCalls } : {}) };
    }
    return { role: m.role === 'system' ? 'system' : 'user', content: String(m.content ?? '') };
  });
  return {
    model: body.model,
    messages,
    temperature: body.temperature ?? 1,
    maxTokens: body.max_tokens ?? 2000,
    responseSchema: schema ? { name: body.response_format?.json_schema?.name ?? 'answer', schema } : undefined,
    ...(body.tools?.length ? { tools: body.tools.map((t) => ({ name: t.function.name, description: t.function.description ?? '', parameters: t.function.parameters ?? {} })) } : {}),
  };
}

export function defaultAnswer(body: ChatRequestBody): string {
  return offlineAnswer(asModelRequest(body));
}

/** The tool calls the offline model would make for this request (none without tools). */
export function defaultToolCalls(body: ChatRequestBody): { id: string; name: string; arguments: string }[] {
  return body.tools?.length ? offlineToolCalls(asModelRequest(body)) : [];
}

export async function startOpenAiTestServer(options: { defaultBehaviour?: Behaviour } = {}): Promise<OpenAiTestServer> {
  const requests: RecordedRequest[] = [];
  const queue: Behaviour[] = [];
  const initialDefault: Behaviour = options.defaultBehaviour ?? { kind: 'reply' };
  let fallback = initialDefault;
  const sockets = new Set<Socket>();
  const waiters: { n: number; resolve: () => void }[] = [];
  let nextId = 1;

  const chunkFrame = (model: string, id: string, delta: Record<string, unknown>, finish: string | null) => ({
    id,
    object: 'chat.completion.chunk',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
  });

  const sendError = (res: http.ServerResponse, status: number, message: string, headers: Record<string, string> = {}) => {
    const body = JSON.stringify({ error: { message, type: status === 429 ? 'rate_limit_exceeded' : 'server_error', code: null, param: null } });
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
    res.end(body);
  };

  async function reply(req: http.IncomingMessage, res: http.ServerResponse, body: ChatRequestBody, behaviour: Extract<Behaviour, { kind: 'reply' }> | { kind: 'stall'; chunks: number }) {
    const text =
      behaviour.kind === 'reply' && behaviour.text !== undefined
        ? typeof behaviour.text === 'function'
          ? behaviour.text(body)
          : behaviour.text
        : defaultAnswer(body);
    const model = body.model;
    const id = `chatcmpl-test-${nextId++}`;
    const promptTokens = (behaviour.kind === 'reply' ? behaviour.promptTokens : undefined) ?? body.messages.reduce((s, m) => s + 4 + estimate(String(m.content)), 2);
    const completionTokens = (behaviour.kind === 'reply' ? behaviour.completionTokens : undefined) ?? estimate(text);
    if (!body.stream) {
      const payload = JSON.stringify({
        id,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model,
        choices: [{ index: 0, message: { role: 'assistant', content: text, refusal: null }, finish_reason: 'stop', logprobs: null }],
        usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
      });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
      res.end(payload);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const send = (data: unknown) => res.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
    const size = behaviour.kind === 'reply' ? (behaviour.chunkSize ?? 8) : 8;
    const wantUsage = behaviour.kind === 'reply' ? (behaviour.usage ?? body.stream_options?.include_usage === true) : false;
    // Tool calls stream as OpenAI sends them: per call, a first delta with its index, id and
    // name, then pieces of the arguments' JSON; parallel calls interleave by index.
    const calls = behaviour.kind === 'reply' && behaviour.text === undefined ? defaultToolCalls(body) : [];
    if (calls.length > 0) {
      send(chunkFrame(model, id, { role: 'assistant', content: null }, null));
      calls.forEach((call, index) => send(chunkFrame(model, id, { tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } }] }, null)));
      const argPieces = calls.map((call) => call.arguments.match(new RegExp(`[\\s\\S]{1,${size}}`, 'g')) ?? []);
      for (let round = 0; argPieces.some((p) => round < p.length); round++) {
        for (const [index, pieces] of argPieces.entries()) {
          const piece = pieces[round];
          if (piece !== undefined) send(chunkFrame(model, id, { tool_calls: [{ index, function: { arguments: piece } }] }, null));
        }
      }
      send(chunkFrame(model, id, {}, 'tool_calls'));
      const toolTokens = estimate(calls.map((c) => c.name + c.arguments).join(''));
      if (wantUsage) send({ id, object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model, choices: [], usage: { prompt_tokens: promptTokens, completion_tokens: toolTokens, total_tokens: promptTokens + toolTokens } });
      send('[DONE]');
      res.end();
      return;
    }
    const pieces = text.match(new RegExp(`[\\s\\S]{1,${size}}`, 'g')) ?? [];
    send(chunkFrame(model, id, { role: 'assistant', content: '' }, null));
    for (let i = 0; i < pieces.length; i++) {
      if (behaviour.kind === 'stall' && i >= behaviour.chunks) return; // keep the connection open, send nothing more
      if (req.destroyed || res.destroyed) return;
      if (behaviour.kind === 'reply' && behaviour.chunkDelayMs) await new Promise((r) => setTimeout(r, behaviour.chunkDelayMs));
      send(chunkFrame(model, id, { content: pieces[i] }, null));
    }
    if (behaviour.kind === 'stall') return;
    send(chunkFrame(model, id, {}, 'stop'));
    if (wantUsage) {
      send({ id, object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model, choices: [], usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens } });
    }
    send('[DONE]');
    res.end();
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => undefined);
    res.on('error', () => undefined);
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0] ?? '';
      if (req.method === 'GET' && path.endsWith('/models')) {
        const payload = JSON.stringify({ object: 'list', data: [{ id: 'test-model', object: 'model', created: 0, owned_by: 'test' }] });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(payload);
        return;
      }
      if (req.method !== 'POST' || !path.endsWith('/chat/completions')) {
        sendError(res, 404, `no route ${req.method} ${path}`);
        return;
      }
      let body: ChatRequestBody;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ChatRequestBody;
      } catch {
        sendError(res, 400, 'body is not JSON');
        return;
      }
      const recorded: RecordedRequest = { method: req.method, path, headers: req.headers, body, at: Date.now(), closedAt: null };
      requests.push(recorded);
      res.on('close', () => {
        recorded.closedAt = Date.now();
      });
      for (const waiter of [...waiters]) {
        if (requests.length >= waiter.n) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve();
        }
      }
      const behaviour = queue.shift() ?? fallback;
      switch (behaviour.kind) {
        case 'reply':
        case 'stall':
          void reply(req, res, body, behaviour).catch(() => res.destroy());
          return;
        case 'status': {
          const headers: Record<string, string> = {};
          if (behaviour.retryAfter !== undefined) headers['retry-after'] = String(behaviour.retryAfter);
          if (behaviour.retryAfterMs !== undefined) headers['retry-after-ms'] = String(behaviour.retryAfterMs);
          // The SDK retries by itself only when told to; x-should-retry keeps the decision with the client under test.
          headers['x-should-retry'] = 'false';
          sendError(res, behaviour.status, behaviour.message ?? `test server answered ${behaviour.status}`, headers);
          return;
        }
        case 'hang':
          return;
        case 'malformed':
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write('data: {"id": "chatcmpl-broken", "choices": [{"delta": {"content": "Hel\n\n');
          res.write('data: this is not json\n\n');
          res.end();
          return;
        case 'stream-error':
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(`data: ${JSON.stringify(chunkFrame(body.model, 'chatcmpl-err', { role: 'assistant', content: 'Partial' }, null))}\n\n`);
          res.write(`data: ${JSON.stringify({ error: { message: behaviour.message ?? 'upstream model crashed', type: 'server_error' } })}\n\n`);
          res.end();
          return;
        case 'drop':
          req.socket.destroy();
          return;
      }
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}/v1`,
    port,
    requests,
    count: () => requests.length,
    enqueue: (...behaviours) => {
      queue.push(...behaviours);
    },
    setDefault: (behaviour) => {
      fallback = behaviour;
    },
    reset: () => {
      requests.length = 0;
      queue.length = 0;
      fallback = initialDefault;
    },
    waitForRequests: (n, timeoutMs = 10_000) =>
      requests.length >= n
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => {
              waiters.splice(waiters.indexOf(waiter), 1);
              reject(new Error(`test OpenAI server: expected ${n} requests, got ${requests.length}`));
            }, timeoutMs);
            const waiter = {
              n,
              resolve: () => {
                clearTimeout(timer);
                resolve();
              },
            };
            waiters.push(waiter);
          }),
    openConnections: () => sockets.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
