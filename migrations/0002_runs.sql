-- Runs are rows: the job and its domain state in one table, so claiming,
-- fencing and status changes are single statements.
CREATE TABLE IF NOT EXISTS runs (
  id uuid PRIMARY KEY,
  owner text NOT NULL,
  agent text,
  pattern text,
  agents jsonb,
  options jsonb,
  input jsonb NOT NULL,
  status text NOT NULL DEFAULT 'queued'
    CHECK (status IN ('queued', 'running', 'awaiting_input', 'succeeded', 'failed', 'cancelled')),
  output jsonb,
  error jsonb,
  priority integer NOT NULL DEFAULT 0,
  idempotency_key text,
  attempts integer NOT NULL DEFAULT 0,
  max_attempts integer NOT NULL DEFAULT 3,
  -- When a queued run may be claimed (later than now while backing off).
  run_at timestamptz NOT NULL DEFAULT now(),
  -- Lease: who runs it, until when, and the fencing token every worker write must match.
  lease_owner text,
  lease_token uuid,
  lease_expires_at timestamptz,
  cancel_requested boolean NOT NULL DEFAULT false,
  -- Someone waits on this run (Prefer: wait): the final write sends a NOTIFY.
  finish_waiters boolean NOT NULL DEFAULT false,
  model text,
  offline boolean NOT NULL DEFAULT false,
  prompt_tokens bigint NOT NULL DEFAULT 0,
  completion_tokens bigint NOT NULL DEFAULT 0,
  cost_usd numeric(14, 6) NOT NULL DEFAULT 0,
  cached_requests integer NOT NULL DEFAULT 0,
  -- Human input: the open question, and the answers given so far (oldest first).
  pending_input jsonb,
  input_answers jsonb NOT NULL DEFAULT '[]'::jsonb,
  last_seq integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  finished_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK ((agent IS NULL) <> (pattern IS NULL))
);

-- The claim query: highest priority, then oldest ready run.
CREATE INDEX IF NOT EXISTS runs_claim_idx ON runs (priority DESC, run_at, created_at) WHERE status = 'queued';
-- The lease sweeper.
CREATE INDEX IF NOT EXISTS runs_lease_idx ON runs (lease_expires_at) WHERE status = 'running';
-- Lists, newest first, for everyone (admin) and per owner; optionally by status.
CREATE INDEX IF NOT EXISTS runs_list_idx ON runs (created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS runs_owner_list_idx ON runs (owner, created_at DESC, id DESC);
-- Filtered lists; also counts active statuses for the queue stats.
CREATE INDEX IF NOT EXISTS runs_status_list_idx ON runs (status, created_at DESC, id DESC);
-- Retention of finished runs.
CREATE INDEX IF NOT EXISTS runs_finished_idx ON runs (finished_at) WHERE finished_at IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS runs_idempotency_idx ON runs (owner, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- One row per completed step: a retried or resumed run returns these instead of calling the model again.
CREATE TABLE IF NOT EXISTS run_steps (
  run_id uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  key text NOT NULL,
  idx integer NOT NULL,
  agent text,
  status text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
  output jsonb,
  meta jsonb,
  model text,
  prompt_tokens integer NOT NULL DEFAULT 0,
  completion_tokens integer NOT NULL DEFAULT 0,
  cost_usd numeric(14, 6) NOT NULL DEFAULT 0,
  cached boolean NOT NULL DEFAULT false,
  started_at timestamptz,
  finished_at timestamptz,
  PRIMARY KEY (run_id, key)
);
CREATE INDEX IF NOT EXISTS run_steps_order_idx ON run_steps (run_id, idx);

-- Ordered event history: seq is 1, 2, 3… per run with no gaps (taken from runs.last_seq).
CREATE TABLE IF NOT EXISTS run_events (
  run_id uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  seq integer NOT NULL,
  type text NOT NULL,
  data jsonb NOT NULL DEFAULT '{}'::jsonb,
  at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (run_id, seq)
);
