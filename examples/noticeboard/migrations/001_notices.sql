-- Runs under the module's own role, in its own schema (mod_noticeboard).
-- The notice's text is sealed (sdk.Seal): only this site's runtime, for
-- this module and the purpose "notice", can open it; a copy of the
-- database alone reveals nothing of it.
CREATE TABLE notices (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id    bigint NOT NULL,
  sealed     bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notices_created_at ON notices (created_at DESC);
CREATE INDEX notices_user ON notices (user_id);
