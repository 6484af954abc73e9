-- Evaluations (server/evals): datasets of cases, experiments that run an agent or a
-- pattern over a dataset as one queued run, and one result per experiment and case.
CREATE TABLE IF NOT EXISTS eval_datasets (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  description text NOT NULL DEFAULT '',
  -- {agent} or {pattern, agents, options}: what the cases are for, unless an experiment says otherwise.
  target jsonb NOT NULL,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT eval_datasets_name_key UNIQUE (name)
);

-- Cases are immutable once added: an experiment's results refer to what the case was.
CREATE TABLE IF NOT EXISTS eval_cases (
  id uuid PRIMARY KEY,
  dataset_id uuid NOT NULL,
  idx integer NOT NULL,
  input jsonb NOT NULL,
  expectation jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT eval_cases_dataset_id_fkey FOREIGN KEY (dataset_id) REFERENCES eval_datasets (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX IF NOT EXISTS eval_cases_dataset_idx ON eval_cases (dataset_id, idx);

-- run_id has no foreign key: run retention deletes old runs, and an experiment's results
-- (and its final status, copied here when the run finishes its cases) outlive its run.
CREATE TABLE IF NOT EXISTS eval_experiments (
  id uuid PRIMARY KEY,
  dataset_id uuid NOT NULL,
  run_id uuid,
  agent text,
  pattern text,
  agents jsonb,
  options jsonb,
  version text,
  concurrency integer NOT NULL,
  case_count integer NOT NULL,
  status text,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  CONSTRAINT eval_experiments_dataset_id_fkey FOREIGN KEY (dataset_id) REFERENCES eval_datasets (id) ON DELETE CASCADE,
  CONSTRAINT eval_experiments_concurrency_check CHECK (concurrency >= 1)
);
CREATE INDEX IF NOT EXISTS eval_experiments_dataset_idx ON eval_experiments (dataset_id, created_at DESC);
CREATE INDEX IF NOT EXISTS eval_experiments_agent_idx ON eval_experiments (agent, created_at DESC);
CREATE INDEX IF NOT EXISTS eval_experiments_run_idx ON eval_experiments (run_id);

-- Written by the experiment's run from its checkpoints only (a pure function of them), so a
-- replay or a late write of a lost attempt writes the same row again.
CREATE TABLE IF NOT EXISTS eval_results (
  experiment_id uuid NOT NULL,
  case_id uuid NOT NULL,
  passed boolean NOT NULL,
  score double precision NOT NULL,
  output jsonb,
  reason text,
  error jsonb,
  prompt_tokens integer NOT NULL DEFAULT 0,
  completion_tokens integer NOT NULL DEFAULT 0,
  cost_usd numeric(14, 6) NOT NULL DEFAULT 0,
  latency_ms integer NOT NULL DEFAULT 0,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT eval_results_pkey PRIMARY KEY (experiment_id, case_id),
  CONSTRAINT eval_results_experiment_id_fkey FOREIGN KEY (experiment_id) REFERENCES eval_experiments (id) ON DELETE CASCADE,
  CONSTRAINT eval_results_case_id_fkey FOREIGN KEY (case_id) REFERENCES eval_cases (id) ON DELETE CASCADE,
  CONSTRAINT eval_results_score_check CHECK (score >= 0 AND score <= 1)
);
