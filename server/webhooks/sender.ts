import http from 'node:http';
import https from 'node:https';
import { guardedLookup } from './url-guard.js';

export interface AttemptResult {
  ok: boolean;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

const MAX_ERROR_BODY = 500;

/**
 * POSTs `body` once: 2xx is delivered; anything else (status, timeout, refused address,
 * connection error) is a failed attempt with the reason. Redirects are not followed
 * (a redirect could lead past the address check).
 */
export function postOnce(
  url: string,
  body: string,
  headers: Record<string, string>,
  options: { timeoutMs: number; allowPrivate: boolean; signal: AbortSignal },
): Promise<AttemptResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  return new Promise((resolve) => {
    const target = new URL(url);
    const client = target.protocol === 'https:' ? https : http;
    const signal = AbortSignal.any([options.signal, AbortSignal.timeout(options.timeoutMs)]);
    let settled = false;
    const done = (result: Omit<AttemptResult, 'durationMs'>) => {
      if (settled) return;
      settled = true;
      resolve({ ...result, durationMs: elapsed() });
    };
    const req = client.request(
      target,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), 'user-agent': 'Agentry-Webhooks/1', ...headers },
        lookup: guardedLookup(options.allowPrivate),
        signal,
      },
      (res) => {
        const status = res.statusCode ?? 0;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (text.length < MAX_ERROR_BODY) text += chunk;
        });
        res.on('error', () => undefined);
        res.on('end', () => {
          if (status >= 200 && status < 300) done({ ok: true, statusCode: status, error: null });
          else done({ ok: false, statusCode: status, error: `HTTP ${status}${text ? `: ${text.slice(0, MAX_ERROR_BODY)}` : ''}` });
        });
      },
    );
    req.on('error', (error: NodeJS.ErrnoException) => {
      const reason = signal.aborted ? (options.signal.aborted ? 'aborted: the instance is shutting down' : `timed out after ${options.timeoutMs} ms`) : error.message;
      done({ ok: false, statusCode: null, error: reason });
    });
    req.end(body);
  });
}
