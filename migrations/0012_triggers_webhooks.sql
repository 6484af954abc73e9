-- Inbound webhooks (triggers) and outbound webhooks (run callbacks), issue #16.

-- A trigger: POST /hooks/<id>, verified by its scheme and secret, starts a run of its
-- target with an input picked from the payload. The secret is stored encrypted
-- (AES-256-GCM, server/triggers/secrets.ts) and never returned after creation.
CREATE TABLE IF NOT EXISTS triggers (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  owner text NOT NULL,
  owner_id uuid,
  owner_role text NOT NULL,
  scheme text NOT NULL,
  secret_enc text NOT NULL,
  target jsonb NOT NULL,
  input_template jsonb NOT NULL,
  callback_url text,
  enabled boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT triggers_scheme_check CHECK (scheme IN ('github', 'slack', 'standard'))
);

-- One callback per run. `waiting` until the run is final (a sweeper on every instance
-- finds it then, so an instance dying as the run ends loses nothing), `pending` while
-- attempts are due, then `delivered` or `failed` (gave up after WEBHOOK_MAX_AGE_MS).
-- A claimed attempt pushes next_attempt_at forward: that is its lease.
CREATE TABLE IF NOT EXISTS webhook_deliveries (
  run_id uuid PRIMARY KEY,
  url text NOT NULL,
  state text NOT NULL DEFAULT 'waiting',
  attempts integer NOT NULL DEFAULT 0,
  payload jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  ready_at timestamptz,
  next_attempt_at timestamptz,
  finished_at timestamptz,
  last_error text,
  CONSTRAINT webhook_deliveries_state_check CHECK (state IN ('waiting', 'pending', 'delivered', 'failed'))
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS webhook_deliveries_waiting_idx ON webhook_deliveries (created_at) WHERE state = 'waiting';

-- Every attempt, for GET /api/runs/:id/deliveries.
CREATE TABLE IF NOT EXISTS webhook_attempts (
  id bigserial PRIMARY KEY,
  run_id uuid NOT NULL REFERENCES webhook_deliveries (run_id) ON DELETE CASCADE,
  attempt integer NOT NULL,
  at timestamptz NOT NULL DEFAULT now(),
  status_code integer,
  error text,
  duration_ms integer NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_attempts_run_idx ON webhook_attempts (run_id, id);

-- One row (id 1): the generated signing secret when WEBHOOK_SIGNING_SECRET is not set, and
-- the generated key for trigger secrets when neither HOOKS_ENCRYPTION_KEY nor JWT_SECRET is.
CREATE TABLE IF NOT EXISTS webhook_settings (
  id integer PRIMARY KEY,
  signing_secret text NOT NULL,
  encryption_key text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT webhook_settings_single_check CHECK (id = 1)
);
