-- Conversations (issue #15): a thread names what answers it (an agent, or a pattern over
-- agents) and holds its messages once. Runs reference a thread and a message seq
-- (runs.plan {"thread": {"id", "throughSeq"}}); they never copy the conversation.
CREATE TABLE IF NOT EXISTS threads (
  id uuid PRIMARY KEY,
  owner text NOT NULL,
  owner_id uuid REFERENCES users (id) ON DELETE SET NULL,
  agent text,
  pattern text,
  agents jsonb,
  options jsonb,
  title text,
  policy text NOT NULL DEFAULT 'enqueue' CHECK (policy IN ('enqueue', 'reject', 'interrupt')),
  -- Seq of the newest message, of the newest user message, and of the newest message a
  -- run has been submitted for: last_user_seq > dispatched_seq means a message waits.
  last_seq integer NOT NULL DEFAULT 0,
  last_user_seq integer NOT NULL DEFAULT 0,
  dispatched_seq integer NOT NULL DEFAULT 0,
  -- The run answering now (or that answered last): at most one per thread at a time.
  active_run_id uuid,
  -- The running summary of every message with seq <= summary_through.
  summary text,
  summary_through integer NOT NULL DEFAULT 0,
  archived_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK ((agent IS NULL) <> (pattern IS NULL))
);
CREATE INDEX IF NOT EXISTS threads_owner_list_idx ON threads (owner, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS threads_owner_id_idx ON threads (owner_id);
-- A run's end finds the thread it answers (the next waiting message is answered then).
CREATE INDEX IF NOT EXISTS threads_active_run_idx ON threads (active_run_id) WHERE active_run_id IS NOT NULL;
-- The dispatcher's backstop sweep: threads with a message no run was submitted for.
CREATE INDEX IF NOT EXISTS threads_pending_idx ON threads (updated_at) WHERE last_user_seq > dispatched_seq;

CREATE TABLE IF NOT EXISTS thread_messages (
  thread_id uuid NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
  seq integer NOT NULL,
  role text NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
  -- 'escalation': a question the answering run asks a person (router below threshold).
  kind text NOT NULL DEFAULT 'message' CHECK (kind IN ('message', 'escalation', 'error')),
  content text NOT NULL,
  -- A user message: the run that answers it; an assistant/system message: the run that wrote it.
  run_id uuid,
  author text,
  -- A run's writes are keyed ('answer:<run id>', 'escalation:<run id>:<n>'): a replay adds nothing.
  dedupe_key text,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (thread_id, seq)
);
CREATE UNIQUE INDEX IF NOT EXISTS thread_messages_dedupe_idx ON thread_messages (thread_id, dedupe_key) WHERE dedupe_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS thread_messages_run_idx ON thread_messages (run_id) WHERE run_id IS NOT NULL;
