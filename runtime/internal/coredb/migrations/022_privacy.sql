-- GDPR duties (issue 14, helper C): self-service account erasure with a
-- grace period, the owner's retention rules for core data, and the
-- personal data declarations of the running modules (the record of
-- processing).

-- erase_after: the user asked to delete their account (from /account/
-- privacy); the erasure job erases it once this time has passed, unless
-- they cancel first. last_login_at: the newest sign-in, for the inactive
-- accounts rule (NULL: none since this column exists; created_at counts).
ALTER TABLE websonic.users
  ADD COLUMN erase_after   timestamptz,
  ADD COLUMN last_login_at timestamptz;
CREATE INDEX users_erase_after ON websonic.users (erase_after) WHERE erase_after IS NOT NULL;

-- The owner's privacy settings, one row (`websonic privacy retention`,
-- Admin -> Privacy). Each retention rule is off (NULL) or a number:
--   audit_days:      audit log entries older than this are deleted;
--   ip_days:         addresses users came from (user_ips) and the
--                    addresses in audit details older than this go;
--   inactive_months: accounts with no sign-in for this long are erased
--                    (through every module's erasure entry point).
-- erase_grace_days: how long a requested account deletion waits (0: at
-- the next run of the erasure job).
CREATE TABLE websonic.privacy_settings (
  singleton        boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  erase_grace_days integer NOT NULL DEFAULT 14 CHECK (erase_grace_days BETWEEN 0 AND 365),
  audit_days       integer CHECK (audit_days BETWEEN 1 AND 36500),
  ip_days          integer CHECK (ip_days BETWEEN 1 AND 36500),
  inactive_months  integer CHECK (inactive_months BETWEEN 1 AND 1200),
  updated_at       timestamptz NOT NULL DEFAULT now()
);
INSERT INTO websonic.privacy_settings DEFAULT VALUES;

-- The personal data each running module declares (its manifest's
-- personal_data), as a runtime last saw it: the record of processing read
-- without a runtime (`websonic privacy record`). A runtime refreshes it.
CREATE TABLE websonic.processing_declarations (
  module       text PRIMARY KEY,
  version      text NOT NULL,
  declarations jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(declarations) = 'array'),
  seen_at      timestamptz NOT NULL DEFAULT now()
);
