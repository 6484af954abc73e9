import { createHmac, timingSafeEqual } from 'node:crypto';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { DomainError } from '../domain/errors.js';

/** A delivery refused before anything was parsed or stored. */
export class SignatureError extends DomainError {
  constructor(code: 'bad_signature' | 'stale_timestamp', message: string) {
    super(code, message);
    this.name = 'SignatureError';
  }
}

/** Slack's documented tolerance for X-Slack-Request-Timestamp. */
export const SLACK_TOLERANCE_SECONDS = 5 * 60;

type Headers = Record<string, string | string[] | undefined>;
const header = (headers: Headers, name: string): string | undefined => {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
};

/** Constant-time comparison of two hex digests (different lengths are simply unequal). */
function sameHex(expected: string, given: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(given, 'utf8');
  // timingSafeEqual needs equal lengths; comparing a with itself keeps the time independent of b.
  if (a.length !== b.length) {
    timingSafeEqual(a, a);
    return false;
  }
  return timingSafeEqual(a, b);
}

/** GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`. Returns the delivery id. */
export function verifyGithub(secret: string, headers: Headers, raw: Buffer): string | undefined {
  const given = header(headers, 'x-hub-signature-256');
  if (!given?.startsWith('sha256=')) throw new SignatureError('bad_signature', 'missing or malformed X-Hub-Signature-256');
  const expected = `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`;
  if (!sameHex(expected, given)) throw new SignatureError('bad_signature', 'X-Hub-Signature-256 does not match the body');
  return header(headers, 'x-github-delivery');
}

/**
 * Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:<timestamp>:<raw body>">` with
 * `X-Slack-Request-Timestamp` within five minutes of now (replays of old requests refused).
 */
export function verifySlack(secret: string, headers: Headers, raw: Buffer, nowMs = Date.now()): void {
  const timestamp = header(headers, 'x-slack-request-timestamp');
  const given = header(headers, 'x-slack-signature');
  if (!timestamp || !/^\d{1,12}$/.test(timestamp) || !given?.startsWith('v0=')) throw new SignatureError('bad_signature', 'missing or malformed X-Slack-Signature / X-Slack-Request-Timestamp');
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > SLACK_TOLERANCE_SECONDS) throw new SignatureError('stale_timestamp', 'X-Slack-Request-Timestamp is more than 5 minutes from now');
  const mac = createHmac('sha256', secret).update(`v0:${timestamp}:`).update(raw).digest('hex');
  if (!sameHex(`v0=${mac}`, given)) throw new SignatureError('bad_signature', 'X-Slack-Signature does not match the body');
}

/** Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature; 5-minute tolerance). Returns the message id. */
export function verifyStandard(secret: string, headers: Headers, raw: Buffer): string {
  const id = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp');
  const signature = header(headers, 'webhook-signature');
  if (!id || !timestamp || !signature) throw new SignatureError('bad_signature', 'missing webhook-id, webhook-timestamp or webhook-signature');
  try {
    new Webhook(secret).verify(raw, { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': signature }, { jsonParse: false });
  } catch (error) {
    if (error instanceof WebhookVerificationError && /timestamp/i.test(error.message)) throw new SignatureError('stale_timestamp', `webhook-timestamp: ${error.message}`);
    throw new SignatureError('bad_signature', 'webhook-signature does not match the body');
  }
  return id;
}
