-- Schedules (issue #16): a cron expression in a time zone starts a run with a fixed input.
-- Fire times up to checked_through have been handled; next_fire_at is when an instance
-- must look again (NULL while disabled).
CREATE TABLE IF NOT EXISTS schedules (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  owner text NOT NULL,
  owner_id uuid,
  owner_role text NOT NULL,
  cron text NOT NULL,
  timezone text NOT NULL DEFAULT 'UTC',
  request jsonb NOT NULL,
  missed_policy text NOT NULL DEFAULT 'skip',
  enabled boolean NOT NULL DEFAULT true,
  checked_through timestamptz NOT NULL DEFAULT now(),
  next_fire_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT schedules_missed_policy_check CHECK (missed_policy IN ('skip', 'run-once'))
);
CREATE INDEX IF NOT EXISTS schedules_next_fire_idx ON schedules (next_fire_at) WHERE enabled;

-- The unique fire key: one row, so one run, per (schedule, fire time) whichever instances
-- are up. run_id is set once the run is submitted (with the idempotency key
-- schedule:<id>:<fire time>, so a retry after a crash names the same run).
CREATE TABLE IF NOT EXISTS schedule_fires (
  schedule_id uuid NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
  fire_at timestamptz NOT NULL,
  missed boolean NOT NULL DEFAULT false,
  run_id uuid,
  error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (schedule_id, fire_at)
);
CREATE INDEX IF NOT EXISTS schedule_fires_unsubmitted_idx ON schedule_fires (created_at) WHERE run_id IS NULL AND error IS NULL;
