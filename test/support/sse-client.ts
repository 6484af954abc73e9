/** A minimal Server-Sent Events reader over fetch, for tests: records every message and comment as it arrives. */
export interface SseMessage {
  id?: string;
  event: string;
  data: string;
}

export interface SseStream {
  status: number;
  headers: Headers;
  messages: SseMessage[];
  comments: string[];
  /** Resolves when the server ends the stream (or it breaks). */
  ended: Promise<void>;
  /** Resolves with the first message (received or future) matching `pred`. */
  next(pred: (m: SseMessage) => boolean, timeoutMs?: number): Promise<SseMessage>;
  /** Seqs of the stored events received (messages with an id), in order. */
  ids(): number[];
  close(): void;
  body: string;
}

export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
  const abort = new AbortController();
  const res = await fetch(url, { headers: { Accept: 'text/event-stream', ...headers }, signal: abort.signal });
  const messages: SseMessage[] = [];
  const comments: string[] = [];
  const waiters = new Set<{ pred: (m: SseMessage) => boolean; resolve: (m: SseMessage) => void }>();
  let body = '';
  let buffer = '';
  const dispatch = (block: string) => {
    const message: SseMessage = { event: 'message', data: '' };
    const data: string[] = [];
    let any = false;
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) {
        comments.push(line.slice(1).trim());
        continue;
      }
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') message.id = value;
      else if (field === 'event') message.event = value;
      else if (field === 'data') data.push(value);
      else continue;
      any = true;
    }
    if (!any || data.length === 0) return;
    message.data = data.join('\n');
    messages.push(message);
    for (const w of waiters) {
      if (w.pred(message)) {
        waiters.delete(w);
        w.resolve(message);
      }
    }
  };
  const ended = (async () => {
    if (!res.body || !res.headers.get('content-type')?.startsWith('text/event-stream')) {
      body = await res.text().catch(() => '');
      return;
    }
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        const text = decoder.decode(chunk, { stream: true });
        body += text;
        buffer += text;
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) !== -1) {
          dispatch(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
        }
      }
    } catch {
      // aborted or cut: the stream has ended either way
    }
  })();
  return {
    status: res.status,
    headers: res.headers,
    messages,
    comments,
    ended,
    get body() {
      return body;
    },
    next(pred, timeoutMs = 30_000) {
      const found = messages.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const waiter = { pred, resolve: (m: SseMessage) => (clearTimeout(timer), resolve(m)) };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`no matching SSE message within ${timeoutMs} ms; got ${messages.map((m) => `${m.id ?? '-'}:${m.event}`).join(' ')}`));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    ids: () => messages.filter((m) => m.id !== undefined).map((m) => Number(m.id)),
    close: () => abort.abort(),
  };
}
