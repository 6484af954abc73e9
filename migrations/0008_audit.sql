-- Who changed what: agents, API keys, triggers, schedules, budgets. Rows are only ever
-- inserted; an entry is written in the same transaction as the change it describes, so
-- the log never shows a change that did not commit, nor misses one that did.
CREATE TABLE IF NOT EXISTS audit_log (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  actor text NOT NULL,
  actor_id uuid,
  action text NOT NULL,
  target_type text NOT NULL,
  target_id text NOT NULL,
  detail jsonb NOT NULL DEFAULT '{}'::jsonb,
  CONSTRAINT audit_log_action_check CHECK (action ~ '^[a-z_]+\.[a-z_.]+$')
);
CREATE INDEX IF NOT EXISTS audit_log_target_idx ON audit_log (target_type, target_id, id);
CREATE INDEX IF NOT EXISTS audit_log_at_idx ON audit_log (at);
