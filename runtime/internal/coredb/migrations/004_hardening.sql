-- Hardening (issue 7): module storage quotas, the runtime's private
-- notification channels, and views that keep their filters.

-- Each module's storage: what it uses, its quota (NULL: the runtime's
-- default) and the state the owner sees. 'exceeded' suspends the module's
-- database access until the quota is raised or the data shrinks.
ALTER TABLE websonic.modules
  ADD COLUMN storage_quota      bigint CHECK (storage_quota IS NULL OR storage_quota > 0),
  ADD COLUMN storage_used       bigint NOT NULL DEFAULT 0,
  -- the quota the runtime applied at its last check (own or default)
  ADD COLUMN storage_limit      bigint,
  ADD COLUMN storage_state      text NOT NULL DEFAULT 'ok' CHECK (storage_state IN ('ok', 'near', 'exceeded')),
  ADD COLUMN storage_checked_at timestamptz;

-- The names of the runtime's NOTIFY channels, one per purpose: random, so
-- that a module (which may NOTIFY any channel it can name) cannot name them.
CREATE TABLE websonic.channels (
  purpose text PRIMARY KEY CHECK (purpose ~ '^[a-z][a-z0-9_]{0,20}$'),
  name    text NOT NULL UNIQUE
);

-- A module's own functions in a query on these views must not see rows the
-- views filter out.
ALTER VIEW websonic_api.users SET (security_barrier = true);
ALTER VIEW websonic_api.user_emails SET (security_barrier = true);
