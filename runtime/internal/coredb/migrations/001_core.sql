-- Core schema of the runtime. Owned by the runtime's own (non-superuser) role.
CREATE SCHEMA websonic;
REVOKE ALL ON SCHEMA websonic FROM PUBLIC;

-- Nobody but the runtime connects or makes temp tables unless granted
-- (module roles get CONNECT one by one): the database's owner revokes
-- CONNECT and TEMPORARY from PUBLIC before this runs (runtime/internal/dbroles).

CREATE TABLE websonic.users (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  username      text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9][a-z0-9._-]{2,31}$'),
  display_name  text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 64),
  email         text CHECK (email IS NULL OR length(email) <= 254),
  password_hash text NOT NULL,
  role          text NOT NULL DEFAULT 'member' CHECK (role IN ('admin', 'staff', 'member')),
  created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE websonic.sessions (
  token_hash   bytea PRIMARY KEY,
  user_id      bigint NOT NULL REFERENCES websonic.users(id) ON DELETE CASCADE,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL
);
CREATE INDEX sessions_user_id ON websonic.sessions(user_id);
CREATE INDEX sessions_expires_at ON websonic.sessions(expires_at);

-- Append-only record of admin and security events.
CREATE TABLE websonic.audit_log (
  id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at       timestamptz NOT NULL DEFAULT now(),
  actor_id bigint,
  action   text NOT NULL,
  subject  text NOT NULL DEFAULT '',
  detail   jsonb NOT NULL DEFAULT '{}'
);

-- Installed modules and their database identities.
CREATE TABLE websonic.modules (
  name          text PRIMARY KEY,
  role_name     text NOT NULL UNIQUE,
  role_password text NOT NULL,
  version       text NOT NULL,
  enabled       boolean NOT NULL DEFAULT true,
  -- core data views the owner approved, e.g. {users}
  granted_views text[] NOT NULL DEFAULT '{}',
  config        jsonb NOT NULL DEFAULT '{}',
  installed_at  timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Each module's applied migrations live in its own schema
-- (mod_<name>._migrations, owned by the runtime, INSERT-only for the module),
-- so recording a migration commits in the same transaction that applies it.

-- Read-only views of core data, granted to module roles per capability.
-- Views run with their owner's rights, so a module granted a view reads it
-- and nothing of the tables behind it. Password hashes are never exposed.
CREATE SCHEMA websonic_api;
REVOKE ALL ON SCHEMA websonic_api FROM PUBLIC;

CREATE VIEW websonic_api.users AS
  SELECT id, username, display_name,
         CASE role WHEN 'admin' THEN ARRAY['admin','staff','member']
                   WHEN 'staff' THEN ARRAY['staff','member']
                   ELSE ARRAY['member'] END AS roles
  FROM websonic.users;

CREATE VIEW websonic_api.user_emails AS
  SELECT id AS user_id, email FROM websonic.users WHERE email IS NOT NULL;

REVOKE ALL ON ALL TABLES IN SCHEMA websonic_api FROM PUBLIC;
