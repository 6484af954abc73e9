-- Model response cache: identical requests (model, messages, parameters) within the TTL
-- are answered from here. `key` is a SHA-256 of the canonical request.
CREATE TABLE IF NOT EXISTS llm_cache (
  key text PRIMARY KEY,
  model text NOT NULL,
  response jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  hits integer NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS llm_cache_expires_idx ON llm_cache (expires_at);

-- Global model rate limit, shared by every instance: one row per request sent in the
-- sliding window, per scope ('global', 'user:<name>').
CREATE TABLE IF NOT EXISTS llm_rate_slots (
  id bigserial PRIMARY KEY,
  scope text NOT NULL,
  taken_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS llm_rate_slots_scope_idx ON llm_rate_slots (scope, taken_at);

-- Takes one slot in every scope, or none: returns 0 when taken, else the milliseconds
-- until the oldest slot of a full scope leaves the window. Scopes are locked in the
-- order given (callers pass 'global' first), so two callers never deadlock.
CREATE OR REPLACE FUNCTION llm_take_slot(p_scopes text[], p_limits integer[], p_window_ms integer)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
  i integer;
  used integer;
  oldest timestamptz;
  t timestamptz;
  wait_ms integer := 0;
  win interval := make_interval(secs => p_window_ms / 1000.0);
BEGIN
  FOR i IN 1 .. coalesce(array_length(p_scopes, 1), 0) LOOP
    PERFORM pg_advisory_xact_lock(hashtext('llm_rate_slots'), hashtext(p_scopes[i]));
  END LOOP;
  t := clock_timestamp();
  FOR i IN 1 .. coalesce(array_length(p_scopes, 1), 0) LOOP
    DELETE FROM llm_rate_slots WHERE scope = p_scopes[i] AND taken_at <= t - win;
    SELECT count(*), min(taken_at) INTO used, oldest FROM llm_rate_slots WHERE scope = p_scopes[i];
    IF used >= p_limits[i] THEN
      wait_ms := greatest(wait_ms, ceil(extract(epoch FROM (oldest + win - t)) * 1000)::integer, 1);
    END IF;
  END LOOP;
  IF wait_ms > 0 THEN
    RETURN wait_ms;
  END IF;
  FOR i IN 1 .. coalesce(array_length(p_scopes, 1), 0) LOOP
    INSERT INTO llm_rate_slots (scope, taken_at) VALUES (p_scopes[i], t);
  END LOOP;
  RETURN 0;
END;
$$;
