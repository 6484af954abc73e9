-- Budgets (server/budgets, docs/OPERATIONS.md "Budgets"). Daily limits per user and per
-- agent set by admins (PUT /api/budgets; the BUDGET_* variables are the defaults), a ledger
-- of what each limited scope spent and holds reserved per UTC day (or per run, for a run's
-- own `limits`), and one reservation per model-call step: the step key makes a replayed
-- step find its reservation instead of taking a second one.
CREATE TABLE IF NOT EXISTS budgets (
  scope text NOT NULL,
  subject text NOT NULL,
  daily_usd numeric(14, 6),
  daily_tokens bigint,
  updated_by text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT budgets_pkey PRIMARY KEY (scope, subject),
  CONSTRAINT budgets_scope_check CHECK (scope IN ('user', 'agent')),
  CONSTRAINT budgets_daily_usd_check CHECK (daily_usd >= 0),
  CONSTRAINT budgets_daily_tokens_check CHECK (daily_tokens >= 0)
);

CREATE TABLE IF NOT EXISTS budget_ledger (
  scope text NOT NULL,
  subject text NOT NULL,
  -- 'YYYY-MM-DD' (UTC) for daily budgets; 'run' for a run's own limits.
  period text NOT NULL,
  spent_usd numeric(14, 6) NOT NULL DEFAULT 0,
  reserved_usd numeric(14, 6) NOT NULL DEFAULT 0,
  spent_tokens bigint NOT NULL DEFAULT 0,
  reserved_tokens bigint NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT budget_ledger_pkey PRIMARY KEY (scope, subject, period),
  CONSTRAINT budget_ledger_scope_check CHECK (scope IN ('user', 'agent', 'run')),
  CONSTRAINT budget_ledger_reserved_check CHECK (reserved_usd >= 0 AND reserved_tokens >= 0)
);

CREATE TABLE IF NOT EXISTS budget_reservations (
  run_id uuid NOT NULL,
  step_key text NOT NULL,
  -- The ledger rows it holds: [{"scope","subject","period"}].
  entries jsonb NOT NULL,
  amount_usd numeric(14, 6) NOT NULL,
  amount_tokens bigint NOT NULL,
  status text NOT NULL DEFAULT 'reserved',
  spent_usd numeric(14, 6),
  spent_tokens bigint,
  created_at timestamptz NOT NULL DEFAULT now(),
  settled_at timestamptz,
  CONSTRAINT budget_reservations_pkey PRIMARY KEY (run_id, step_key),
  CONSTRAINT budget_reservations_run_id_fkey FOREIGN KEY (run_id) REFERENCES runs (id) ON DELETE CASCADE,
  CONSTRAINT budget_reservations_status_check CHECK (status IN ('reserved', 'settled', 'released'))
);
CREATE INDEX IF NOT EXISTS budget_reservations_open_idx ON budget_reservations (created_at) WHERE status = 'reserved';
