import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { CreateRunBody } from '../../shared/protocol.js';
import { hookFields, type Trigger } from '../../shared/hooks.js';
import { removeAudited, type AuditLog } from '../audit/types.js';
import type { AuthUser } from '../auth/types.js';
import { withTransaction } from '../db/transaction.js';
import { ConflictError, NotFoundError, ValidationError } from '../domain/errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import type { SubmitRun } from '../queue/submit.js';
import type { RunPlanner } from '../queue/types.js';
import type { Webhooks } from '../webhooks/types.js';
import { decryptSecret, encryptSecret } from './secrets.js';
import { deleteTrigger, insertTrigger, listTriggers, selectTrigger, setTriggerEnabled, type TriggerRow } from './sql/triggers.js';
import { renderTemplate } from './template.js';
import type { Received, Triggers } from './types.js';
import { verifyGithub, verifySlack, verifyStandard } from './verify.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DEFAULT_TEMPLATE = '{{$}}';

export interface TriggersDeps {
  logger: Logger;
  pool: pg.Pool;
  planner: Pick<RunPlanner, 'plan'>;
  submitRun: SubmitRun;
  audit: AuditLog;
  webhooks: Pick<Webhooks, 'secrets' | 'check'>;
  metrics?: Pick<Metrics, 'triggerDeliveriesTotal'>;
}

function toTrigger(row: TriggerRow): Trigger {
  return {
    ...hookFields(row, row.target),
    scheme: row.scheme,
    inputTemplate: row.input_template,
    callbackUrl: row.callback_url,
    url: `/hooks/${row.id}`,
  };
}

const ownerOf = (row: TriggerRow): AuthUser => ({ id: row.owner_id ?? undefined, username: row.owner, role: row.owner_role as AuthUser['role'] });

/** Generated secrets: Standard Webhooks wants `whsec_<base64>`; GitHub takes any string. */
const generateSecret = (scheme: TriggerRow['scheme']) => (scheme === 'standard' ? `whsec_${randomBytes(32).toString('base64')}` : randomBytes(32).toString('hex'));

/** The payload as an object: JSON, or a Slack form post (with its `payload` JSON, if any). */
function parsePayload(raw: Buffer, contentType: string | undefined): unknown {
  const text = raw.toString('utf8');
  if (contentType?.toLowerCase().startsWith('application/x-www-form-urlencoded')) {
    const form = Object.fromEntries(new URLSearchParams(text));
    if (typeof form.payload === 'string') {
      try {
        return { ...form, payload: JSON.parse(form.payload) as unknown };
      } catch {
        return form;
      }
    }
    return form;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ValidationError('the body is not JSON (nor a form post)');
  }
}

const field = (value: unknown, key: string): unknown => (typeof value === 'object' && value !== null && Object.hasOwn(value, key) ? (value as Record<string, unknown>)[key] : undefined);

/**
 * Inbound webhooks: admins define triggers; POST /hooks/<id> verifies the provider's
 * signature over the raw bytes, then starts a run of the trigger's target as the
 * trigger's owner, with the input picked from the payload. A delivery id seen before
 * names the same run (the idempotency key `trigger:<id>:<delivery id>`, unique per owner
 * in the runs table, so two instances receiving the same delivery make one run).
 */
export function createTriggers(deps: TriggersDeps): Triggers {
  const { pool, audit } = deps;
  const log = deps.logger.child({ part: 'triggers' });

  async function load(id: string): Promise<TriggerRow> {
    if (!UUID.test(id)) throw new NotFoundError('trigger');
    const row = await selectTrigger(pool, id);
    if (!row) throw new NotFoundError('trigger');
    return row;
  }


  const runBody = (row: Pick<TriggerRow, 'target'>, input: unknown): CreateRunBody => ({ ...row.target, input: input ?? null });

  return {
    name: 'triggers',
    async create(body, actor) {
      const target = { agent: body.agent, pattern: body.pattern, agents: body.agents, options: body.options };
      const template = body.inputTemplate === undefined ? DEFAULT_TEMPLATE : body.inputTemplate;
      // Plan once with an empty payload: an unknown agent or a bad option is refused now, not at the first delivery.
      await deps.planner.plan(runBody({ target }, renderTemplate(template, {})), actor);
      if (body.callbackUrl) deps.webhooks.check(body.callbackUrl);
      const secret = body.secret ?? generateSecret(body.scheme);
      if (body.scheme === 'standard') {
        if (!/^whsec_[A-Za-z0-9+/=]{20,}$/.test(secret)) throw new ValidationError('secret: a Standard Webhooks secret is whsec_ followed by base64 (omit it to have one generated)');
      }
      const { encryptionKey } = await deps.webhooks.secrets();
      const row = await withTransaction(pool, async (client) => {
        const inserted = await insertTrigger(client, {
          id: randomUUID(),
          name: body.name,
          owner: actor.username,
          owner_id: actor.id ?? null,
          owner_role: actor.role,
          scheme: body.scheme,
          secret_enc: encryptSecret(encryptionKey, secret),
          target: Object.fromEntries(Object.entries(target).filter(([, v]) => v !== undefined)),
          input_template: template,
          callback_url: body.callbackUrl ?? null,
          enabled: body.enabled ?? true,
        });
        await audit.record(client, { actor, action: 'trigger.create', target: { type: 'trigger', id: inserted.id }, detail: { name: inserted.name, scheme: inserted.scheme, target: inserted.target } });
        return inserted;
      });
      return { trigger: toTrigger(row), secret };
    },
    async list() {
      return (await listTriggers(pool)).map(toTrigger);
    },
    async get(id) {
      return toTrigger(await load(id));
    },
    async setEnabled(id, enabled, actor) {
      await load(id);
      const row = await withTransaction(pool, async (client) => {
        const updated = await setTriggerEnabled(client, id, enabled);
        if (!updated) throw new NotFoundError('trigger');
        await audit.record(client, { actor, action: enabled ? 'trigger.enable' : 'trigger.disable', target: { type: 'trigger', id } });
        return updated;
      });
      return toTrigger(row);
    },
    async remove(id, actor) {
      await load(id);
      await withTransaction(pool, (client) => removeAudited(client, audit, { actor, target: { type: 'trigger', id } }, () => deleteTrigger(client, id)));
    },
    async receive(id, headers, raw, contentType): Promise<Received> {
      const row = await load(id);
      const { encryptionKey } = await deps.webhooks.secrets();
      const secret = decryptSecret(encryptionKey, row.secret_enc);
      // The signature first: nothing of an unverified body is parsed or stored.
      let deliveryId: string | undefined;
      try {
        if (row.scheme === 'github') deliveryId = verifyGithub(secret, headers, raw);
        else if (row.scheme === 'slack') verifySlack(secret, headers, raw);
        else deliveryId = verifyStandard(secret, headers, raw);
      } catch (error) {
        deps.metrics?.triggerDeliveriesTotal.inc({ outcome: 'refused' });
        log.info({ triggerId: row.id, err: error }, 'trigger delivery refused');
        throw error;
      }
      const payload = parsePayload(raw, contentType);
      if (row.scheme === 'slack') {
        if (field(payload, 'type') === 'url_verification') {
          const challenge = field(payload, 'challenge');
          if (typeof challenge !== 'string') throw new ValidationError('url_verification without a challenge');
          return { kind: 'challenge', challenge };
        }
        const eventId = field(payload, 'event_id');
        deliveryId = typeof eventId === 'string' ? eventId : undefined;
      }
      if (row.scheme === 'github' && headers['x-github-event'] === 'ping') return { kind: 'ignored', reason: 'ping' };
      if (!row.enabled) throw new ConflictError('this trigger is disabled');
      // Without a provider id, the body itself identifies the delivery (a replay is the same bytes).
      const key = deliveryId && deliveryId.length <= 150 ? deliveryId : createHash('sha256').update(deliveryId ?? raw).digest('hex');
      const owner = ownerOf(row);
      const plan = await deps.planner.plan(runBody(row, renderTemplate(row.input_template, payload)), owner);
      const { run, created } = await deps.submitRun(plan, owner, { via: 'trigger', idempotencyKey: `trigger:${row.id}:${key}`, callbackUrl: row.callback_url });
      deps.metrics?.triggerDeliveriesTotal.inc({ outcome: created ? 'run' : 'duplicate' });
      log.info({ triggerId: row.id, runId: run.id, created, deliveryId: key }, created ? 'trigger started a run' : 'trigger delivery seen before');
      return { kind: 'run', runId: run.id, created };
    },
  };
}
