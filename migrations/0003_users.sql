-- Accounts. Usernames are unique regardless of case so "Alice" cannot pose as "alice";
-- the stored spelling is the one shown and used as the owner of runs.
CREATE TABLE IF NOT EXISTS users (
  id uuid PRIMARY KEY,
  username text NOT NULL CHECK (username ~ '^[A-Za-z0-9_.-]{1,64}$'),
  -- scrypt$<log2 N>$<r>$<p>$<salt b64url>$<hash b64url>: parameters travel with the hash so they can be raised later.
  password_hash text NOT NULL,
  role text NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
  -- Carried in every token; bumped by a password or role change to revoke every session at once.
  token_version integer NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS users_username_lower_idx ON users (lower(username));

-- Failed logins per key ('user:<name>' or 'ip:<address>'), shared by every instance.
CREATE TABLE IF NOT EXISTS login_attempts (
  key text PRIMARY KEY,
  failures integer NOT NULL,
  window_ends_at timestamptz NOT NULL,
  locked_until timestamptz
);
CREATE INDEX IF NOT EXISTS login_attempts_sweep_idx ON login_attempts (window_ends_at);

-- Tokens ended by logout before their expiry; rows are useless once expires_at has passed.
CREATE TABLE IF NOT EXISTS revoked_tokens (
  jti uuid PRIMARY KEY,
  expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS revoked_tokens_expires_idx ON revoked_tokens (expires_at);
