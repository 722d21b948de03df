-- Sessions of the admin area (package admin), which lives on an origin of
-- its own: separate from websonic.sessions, so that a site session never
-- opens the admin area and an admin session never serves the site. Only
-- the SHA-256 of a token is kept; a session lasts hours, not weeks.
CREATE TABLE websonic.admin_sessions (
  token_hash bytea PRIMARY KEY,
  user_id    bigint NOT NULL REFERENCES websonic.users(id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);
CREATE INDEX admin_sessions_user_id ON websonic.admin_sessions (user_id);
CREATE INDEX admin_sessions_expires_at ON websonic.admin_sessions (expires_at);
