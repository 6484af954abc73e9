-- Runs belong to a user id, not a name: an account created later with a deleted user's
-- name must not read that user's runs and events (docs/SECURITY.md, "Deleted users").
-- The foreign key also orders a user's deletion against a run being created for them:
-- the insert's key-share lock and the delete's row lock cannot both win.
ALTER TABLE runs ADD COLUMN IF NOT EXISTS owner_id uuid REFERENCES users (id) ON DELETE SET NULL;
CREATE INDEX IF NOT EXISTS runs_owner_id_idx ON runs (owner_id);

UPDATE runs r SET owner_id = u.id FROM users u WHERE r.owner_id IS NULL AND lower(r.owner) = lower(u.username);

-- Runs of users deleted before this migration: retire the name they were kept under.
-- "deleted:" cannot start a username (no ':' allowed), so no account ever matches again;
-- admins still see them.
UPDATE runs SET owner = 'deleted:' || owner
 WHERE owner_id IS NULL AND owner NOT LIKE 'deleted:%'
   AND NOT EXISTS (SELECT 1 FROM users u WHERE lower(u.username) = lower(runs.owner));
