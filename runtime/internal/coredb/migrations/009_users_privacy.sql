-- Core user services and privacy (issue 8): several roles per user, bans,
-- suspensions, the addresses users come from, blocked addresses, erased
-- accounts, and the check values of the site's data keys.

-- Bans (until lifted) and suspensions (until a time); by: who banned
-- ('terminal', 'user:<id>', 'module:<name>'), so that a module lifts only
-- its own bans. An erased account keeps its id and nothing personal.
ALTER TABLE websonic.users
  ADD COLUMN banned_at       timestamptz,
  ADD COLUMN ban_reason      text NOT NULL DEFAULT '' CHECK (length(ban_reason) <= 500),
  ADD COLUMN banned_by       text NOT NULL DEFAULT '',
  ADD COLUMN suspended_until timestamptz,
  ADD COLUMN suspend_reason  text NOT NULL DEFAULT '' CHECK (length(suspend_reason) <= 500),
  ADD COLUMN erased_at       timestamptz;

-- Roles: every user is a member; the rows here are the roles granted on
-- top (admin implies staff; auditor implies nothing). users.role goes.
CREATE TABLE websonic.user_roles (
  user_id    bigint NOT NULL REFERENCES websonic.users(id) ON DELETE CASCADE,
  role       text NOT NULL CHECK (role IN ('admin', 'staff', 'auditor')),
  granted_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, role)
);
CREATE INDEX user_roles_role ON websonic.user_roles (role);
INSERT INTO websonic.user_roles (user_id, role)
  SELECT id, role FROM websonic.users WHERE role IN ('admin', 'staff');

-- The same columns as before (modules read it, grants stay): the roles held
-- with those they imply, most powerful first. Erased accounts are gone.
CREATE OR REPLACE VIEW websonic_api.users WITH (security_barrier = true) AS
  SELECT u.id, u.username, u.display_name,
         ARRAY(SELECT o.r FROM unnest(ARRAY['admin', 'staff', 'auditor', 'member']) WITH ORDINALITY AS o(r, n)
               WHERE o.r = 'member'
                  OR EXISTS (SELECT 1 FROM websonic.user_roles g WHERE g.user_id = u.id
                             AND (g.role = o.r OR (g.role = 'admin' AND o.r = 'staff')))
               ORDER BY o.n) AS roles
  FROM websonic.users u
  WHERE u.erased_at IS NULL;
CREATE OR REPLACE VIEW websonic_api.user_emails WITH (security_barrier = true) AS
  SELECT id AS user_id, email FROM websonic.users WHERE email IS NOT NULL AND erased_at IS NULL;

ALTER TABLE websonic.users DROP COLUMN role;

-- The addresses a user signed in or used a session from (IPv4 as /32,
-- IPv6 as the /64 the login guard counts), at most 20 per user (the oldest
-- go): a ban refuses them at login and registration.
CREATE TABLE websonic.user_ips (
  user_id    bigint NOT NULL REFERENCES websonic.users(id) ON DELETE CASCADE,
  ip         cidr NOT NULL,
  first_seen timestamptz NOT NULL DEFAULT now(),
  last_seen  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, ip)
);
CREATE INDEX user_ips_ip ON websonic.user_ips USING gist (ip inet_ops);

-- Blocked addresses and networks, refused on every request while the block
-- lasts (until NULL: until lifted).
CREATE TABLE websonic.ip_blocks (
  prefix     cidr PRIMARY KEY,
  reason     text NOT NULL DEFAULT '' CHECK (length(reason) <= 500),
  until      timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by text NOT NULL DEFAULT ''
);

-- The site's data keys are never stored here: only, per key id, a check
-- value (an HMAC of a fixed text under the key) by which a runtime knows a
-- missing or wrong key file at start instead of sealing with a new key.
CREATE TABLE websonic.data_keys (
  id         integer PRIMARY KEY CHECK (id > 0),
  check_mac  bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  retired_at timestamptz
);


-- The owner's personal data exports and erasures go to a running runtime
-- through the request queue (they call modules).
ALTER TABLE websonic.module_requests
  DROP CONSTRAINT module_requests_action_check,
  ADD CONSTRAINT module_requests_action_check
    CHECK (action IN ('install', 'rollback', 'approve', 'policy', 'exec', 'commands', 'user_export', 'user_erase'));
