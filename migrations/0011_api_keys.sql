-- API keys for services (docs/API.md, "API keys"). The secret is never stored: only the
-- SHA-256 of its random part (hex), compared in constant time. A key acts as the principal
-- `key:<name>` (no username contains ':'), so names are unique for good, revoked keys
-- included: a later key of the same name would otherwise see the first one's runs.
CREATE TABLE IF NOT EXISTS api_keys (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  role text NOT NULL,
  -- NULL: any agent; otherwise the only agents its runs may use.
  agents text[],
  secret_hash text NOT NULL,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  -- Written at most once a minute per instance, not on every request.
  last_used_at timestamptz,
  revoked_at timestamptz,
  revoked_by text,
  CONSTRAINT api_keys_name_check CHECK (name ~ '^[A-Za-z0-9_.-]{1,64}$'),
  CONSTRAINT api_keys_role_check CHECK (role IN ('admin', 'operator', 'viewer'))
);
CREATE UNIQUE INDEX IF NOT EXISTS api_keys_name_lower_idx ON api_keys (lower(name));
