-- The hub's catch-up of the `runs` topic after its LISTEN connection was away reads lifecycle
-- events by time and pages through them in (at, run_id, seq) order; without this index every
-- catch-up scanned the whole history. Created in the migration's transaction (a plain CREATE
-- INDEX): writes to run_events wait while it builds, once, on the first start of this version.
CREATE INDEX IF NOT EXISTS run_events_at_idx ON run_events (at, run_id, seq);
