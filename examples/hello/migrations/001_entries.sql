-- Runs under the module's own role, in its own schema (mod_hello).
CREATE TABLE entries (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id    bigint NOT NULL,
  message    text NOT NULL CHECK (length(message) BETWEEN 1 AND 500),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX entries_created_at ON entries (created_at DESC);
