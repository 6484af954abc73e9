-- Agents in the database (issue #14): each agent has one mutable draft and immutable,
-- numbered versions; `published_version` is the one new runs use. Versions are never
-- updated or deleted, so a run pinned to writer@7 finds the same spec for ever.
--
-- Specs are `json`, not `jsonb`: jsonb reorders object keys, and the order of an output
-- schema's properties reaches the model's prompt and the exported file. `json` keeps the
-- text as validated, so export(import(file)) is the file's own spelling.
CREATE TABLE IF NOT EXISTS agents (
  name text PRIMARY KEY,
  -- Creation order: the catalog lists agents as the seed file (then imports and creates)
  -- had them, as it always did, and list cursors point into it.
  ordinal bigserial NOT NULL,
  draft json NOT NULL,
  -- Optimistic concurrency for editors: a save names the revision it started from.
  draft_revision integer NOT NULL DEFAULT 1,
  published_version integer NOT NULL,
  -- Copied from the published spec so search and tag filters need not open the json.
  description text NOT NULL,
  tags text[] NOT NULL,
  archived_at timestamptz,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT agents_name_check CHECK (name ~ '^[a-z0-9][a-z0-9_-]*$' AND length(name) <= 64),
  CONSTRAINT agents_draft_revision_check CHECK (draft_revision >= 1),
  CONSTRAINT agents_published_version_check CHECK (published_version >= 1)
);
CREATE INDEX IF NOT EXISTS agents_tags_idx ON agents USING gin (tags);

CREATE TABLE IF NOT EXISTS agent_versions (
  agent text NOT NULL REFERENCES agents (name),
  version integer NOT NULL,
  spec json NOT NULL,
  note text,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT agent_versions_pkey PRIMARY KEY (agent, version),
  CONSTRAINT agent_versions_version_check CHECK (version >= 1)
);
