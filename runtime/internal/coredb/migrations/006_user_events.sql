-- Changes to a user that other parts of the site must act on at once, on
-- every runtime replica: a session ended, the user was banned, suspended
-- or kicked, their roles or password changed. Whoever makes the change (a
-- runtime, or the owner's CLI against the database) appends a row and
-- notifies the site's "users" channel (package pgnotify); the realtime hub
-- of every replica reads the rows after the last it saw and re-checks the
-- sockets of those users. Rows are kept a day (site.Store sweeps them).
CREATE TABLE websonic.user_events (
  id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id bigint NOT NULL,
  kind    text NOT NULL CHECK (kind IN ('session_ended', 'banned', 'unbanned', 'suspended', 'kicked', 'roles', 'password')),
  at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX user_events_at ON websonic.user_events (at);
