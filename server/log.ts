import { context, trace } from '@opentelemetry/api';
import pino, { type DestinationStream, type Logger } from 'pino';

/** Paths pino blanks out wherever they appear in a log record. */
export const REDACT_PATHS = [
  // Request and response headers, as pino-http and error serializers shape them.
  'req.headers.authorization',
  'req.headers["proxy-authorization"]',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers["proxy-authorization"]',
  'headers.cookie',
  'headers["set-cookie"]',
  'headers["x-api-key"]',
  '*.headers.authorization',
  '*.headers.Authorization',
  '*.headers.cookie',
  '*.headers["set-cookie"]',
  '*.headers["x-api-key"]',
  '*.headers["api-key"]',
  // SDK and HTTP-client errors keep the request they sent (err.config.headers, err.request.headers).
  '*.*.headers.authorization',
  '*.*.headers.Authorization',
  '*.*.headers.cookie',
  '*.*.headers["x-api-key"]',
  '*.*.headers["api-key"]',
  // Request bodies that carry credentials (login, user management, password change).
  'body.password',
  'body.currentPassword',
  'body.newPassword',
  'req.body.password',
  'req.body.currentPassword',
  'req.body.newPassword',
  // The same names anywhere one or two levels down.
  'password',
  'passwordHash',
  'currentPassword',
  'newPassword',
  'token',
  'accessToken',
  'refreshToken',
  'apiKey',
  'secret',
  'authorization',
  'cookie',
  '*.password',
  '*.passwordHash',
  '*.password_hash',
  '*.currentPassword',
  '*.newPassword',
  '*.token',
  '*.accessToken',
  '*.refreshToken',
  '*.apiKey',
  '*.api_key',
  '*.jwtSecret',
  '*.previousJwtSecrets',
  '*.metricsToken',
  '*.adminPassword',
  '*.secret',
  '*.authorization',
  '*.cookie',
  '*.*.password',
  '*.*.token',
  '*.*.apiKey',
  // Raw environment and the frozen config.
  '*.JWT_SECRET',
  '*.JWT_SECRET_PREVIOUS',
  '*.ADMIN_PASSWORD',
  '*.METRICS_TOKEN',
  '*.OPENAI_API_KEY',
  '*.DATABASE_URL',
  '*.DATABASE_URL_DIRECT',
  'config.auth',
  'config.openai.apiKey',
  // Vendor API keys travel in the OTLP headers (Honeycomb's x-honeycomb-team).
  '*.OTEL_EXPORTER_OTLP_HEADERS',
  'config.telemetry.headers',
];

/** A query parameter whose name, once decoded, mentions any of these carries a credential. */
const SENSITIVE_PARAM = /token|key|pass|secret|auth|session|cookie|jwt|sig|credential/i;

function decodeName(name: string): string {
  try {
    return decodeURIComponent(name.replace(/\+/g, ' '));
  } catch {
    return name;
  }
}

/**
 * A URL with credential-bearing query parameters (`token`, `access_token`, `api_key`…)
 * blanked, for logging. Names are matched after decoding (`%74oken=` is `token=`), and `;`
 * counts as a separator as well as `&` (some proxies and frameworks split on it, so
 * `x;token=…` may be a token to someone); a part whose decoded name matches loses its value.
 */
export function redactUrl(url: string | undefined): string | undefined {
  if (!url) return url;
  const q = url.indexOf('?');
  if (q === -1) return url;
  const parts = url.slice(q + 1).split(/([&;])/);
  for (let i = 0; i < parts.length; i += 2) {
    const part = parts[i]!;
    const eq = part.indexOf('=');
    const name = eq === -1 ? part : part.slice(0, eq);
    if (!SENSITIVE_PARAM.test(decodeName(name))) continue;
    parts[i] = eq === -1 ? '[redacted]' : `${name}=[redacted]`;
  }
  return `${url.slice(0, q + 1)}${parts.join('')}`;
}

export type { Logger };

const INVALID_TRACE_ID = '00000000000000000000000000000000';

export function createLogger(options: { level: string; name?: string }, destination?: DestinationStream): Logger {
  return pino(
    {
      level: options.level,
      name: options.name ?? 'agentry',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      // A line written inside a request or a run attempt names its trace (server/telemetry):
      // the active span comes from the one context manager the process registers.
      mixin() {
        const span = trace.getSpanContext(context.active());
        return span && span.traceId !== INVALID_TRACE_ID ? { trace_id: span.traceId, span_id: span.spanId } : {};
      },
    },
    destination ?? pino.destination({ sync: false }),
  );
}
