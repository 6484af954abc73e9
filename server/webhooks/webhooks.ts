import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type express from 'express';
import type pg from 'pg';
import { Webhook } from 'standardwebhooks';
import type { Config } from '../config/config.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import { selectFinalRuns, type RunOutcomeRow } from '../queue/reads.js';
import { webhookRoutes } from './routes.js';
import { postOnce } from './sender.js';
import { claimDue, deleteDelivery, deleteFinishedBefore, deleteOrphans, insertDelivery, loadSettings, markReady, recordAttempt, selectWaiting } from './sql/deliveries.js';
import { checkCallbackUrl } from './url-guard.js';
import type { HookSecrets, Webhooks } from './types.js';

const WAITING_PAGE = 500;
const CLAIM_BATCH = 10;
/** An attempt's lease: well beyond its timeout, so only a dead instance's attempt is taken over. */
const leaseSeconds = (timeoutMs: number) => Math.ceil(timeoutMs / 1000) * 3 + 30;
/** A registration whose run does not exist after this long was never created (or is gone). */
const ORPHAN_AFTER_SECONDS = 600;
const RETENTION_EVERY_MS = 10 * 60_000;

/** The Standard Webhooks message a receiver gets when a run ends. */
export function callbackPayload(run: RunOutcomeRow): Record<string, unknown> {
  return {
    type: `run.${run.status}`,
    timestamp: run.finishedAt.toISOString(),
    data: { runId: run.id, status: run.status, output: run.output ?? null, error: run.error, finishedAt: run.finishedAt.toISOString() },
  };
}

/** Delay before attempt `attempt + 1`: base·2^(attempt-1), capped, with 50–100 % jitter. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number): number {
  const raw = Math.min(maxMs, baseMs * 2 ** Math.min(30, attempt - 1));
  return Math.round(raw * (0.5 + Math.random() / 2));
}

export interface WebhooksDeps {
  config: Config;
  logger: Logger;
  pool: pg.Pool;
  metrics?: Pick<Metrics, 'webhookAttemptsTotal'>;
}

/**
 * Outbound webhooks: a run may name a callback URL; when it ends, a signed Standard
 * Webhooks POST is delivered at least once, retried with backoff for up to
 * WEBHOOK_MAX_AGE_MS, across restarts. Every instance runs the same loop: find callbacks
 * whose run ended (the registration was stored before the run, so nothing is lost if the
 * instance that ran it dies), then claim due attempts with SKIP LOCKED.
 */
export function createWebhooks(deps: WebhooksDeps): Webhooks & { router: express.Router } {
  const { config, pool } = deps;
  const hooks = config.hooks;
  const log = deps.logger.child({ part: 'webhooks' });
  const stopping = new AbortController();
  let loop: Promise<void> | undefined;
  let loaded: Promise<HookSecrets> | undefined;
  let signer: Webhook | undefined;
  let cursor: { createdAt: Date; runId: string } | null = null;
  let lastRetention = 0;
  let delivered = 0;
  let failed = 0;
  let lastError: string | null = null;

  const secrets = (): Promise<HookSecrets> => {
    loaded ??= loadSettings(pool, {
      signingSecret: `whsec_${randomBytes(32).toString('base64')}`,
      encryptionKey: randomBytes(32).toString('base64'),
    }).then((row) => ({ signingSecret: hooks.signingSecret ?? row.signing_secret, encryptionKey: hooks.encryptionKey ?? row.encryption_key }));
    loaded.catch(() => {
      loaded = undefined;
    });
    return loaded;
  };

  async function promoteFinished(): Promise<void> {
    const page = await selectWaiting(pool, cursor, WAITING_PAGE);
    const last = page.at(-1);
    cursor = page.length === WAITING_PAGE && last ? { createdAt: last.created_at, runId: last.run_id } : null;
    if (page.length === 0) return;
    const { final, missing } = await selectFinalRuns(pool, page.map((r) => r.run_id));
    await markReady(pool, final.map((run) => ({ runId: run.id, payload: callbackPayload(run) })));
    await deleteOrphans(pool, missing, ORPHAN_AFTER_SECONDS);
  }

  async function attempt(claimed: Awaited<ReturnType<typeof claimDue>>[number]): Promise<void> {
    if (!signer) signer = new Webhook((await secrets()).signingSecret);
    const body = JSON.stringify(claimed.payload);
    const msgId = `msg_${claimed.run_id}`;
    const now = new Date();
    const headers = { 'webhook-id': msgId, 'webhook-timestamp': String(Math.floor(now.getTime() / 1000)), 'webhook-signature': signer.sign(msgId, now, body) };
    const result = await postOnce(claimed.url, body, headers, { timeoutMs: hooks.timeoutMs, allowPrivate: hooks.allowPrivateAddresses, signal: stopping.signal });
    let state: 'pending' | 'delivered' | 'failed' = 'delivered';
    let nextInMs: number | null = null;
    if (!result.ok && stopping.signal.aborted) {
      // Cut short by this instance's shutdown: due again at once, for another instance.
      state = 'pending';
      nextInMs = 0;
    } else if (!result.ok) {
      nextInMs = backoffMs(claimed.attempts, hooks.retryBaseMs, hooks.retryMaxMs);
      const age = Date.now() - claimed.ready_at.getTime();
      if (age + nextInMs > hooks.maxAgeMs) {
        state = 'failed';
        nextInMs = null;
      } else state = 'pending';
    }
    await recordAttempt(pool, { runId: claimed.run_id, attempt: claimed.attempts, statusCode: result.statusCode, error: result.error, durationMs: result.durationMs, state, nextInMs });
    if (state === 'delivered') delivered++;
    if (state === 'failed') failed++;
    deps.metrics?.webhookAttemptsTotal.inc({ outcome: state === 'delivered' ? 'delivered' : state === 'failed' ? 'given_up' : 'retry' });
    const fields = { runId: claimed.run_id, attempt: claimed.attempts, statusCode: result.statusCode, ms: result.durationMs };
    if (result.ok) log.info(fields, 'callback delivered');
    else log[state === 'failed' ? 'warn' : 'info']({ ...fields, error: result.error, nextInMs }, state === 'failed' ? 'callback given up' : 'callback attempt failed');
  }

  async function cycle(): Promise<void> {
    await promoteFinished();
    for (;;) {
      if (stopping.signal.aborted) return;
      const due = await claimDue(pool, CLAIM_BATCH, leaseSeconds(hooks.timeoutMs));
      if (due.length === 0) break;
      await Promise.all(due.map((d) => attempt(d).catch((error: unknown) => log.error({ err: error, runId: d.run_id }, 'callback attempt could not be recorded'))));
      if (due.length < CLAIM_BATCH) break;
    }
    if (Date.now() - lastRetention > RETENTION_EVERY_MS) {
      lastRetention = Date.now();
      await deleteFinishedBefore(pool, config.queue.retentionDays);
    }
  }

  async function run(): Promise<void> {
    while (!stopping.signal.aborted) {
      try {
        await cycle();
        lastError = null;
      } catch (error) {
        lastError = (error as Error).message;
        log.warn({ err: error }, 'webhook cycle failed; retrying');
      }
      await delay(hooks.pollMs, undefined, { signal: stopping.signal }).catch(() => undefined);
    }
  }

  return {
    name: 'webhooks',
    router: webhookRoutes({ pool, secrets }),
    secrets,
    check(url) {
      checkCallbackUrl(url, hooks.allowPrivateAddresses);
    },
    async register(runId, url) {
      await insertDelivery(pool, runId, url);
    },
    async forget(runId) {
      await deleteDelivery(pool, runId);
    },
    async start() {
      await secrets();
      loop = run();
    },
    async stop() {
      stopping.abort();
      await loop;
    },
    health() {
      return { delivered, failed, lastError };
    },
  };
}
