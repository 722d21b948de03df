-- The runtime's own record of each module's applied migrations. A module's
-- role can write its schema, including mod_<name>._migrations (which
-- commits together with each migration); this ledger is what counts.
CREATE TABLE websonic.module_migrations (
  seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  module     text NOT NULL,
  name       text NOT NULL,
  checksum   bytea NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (module, name)
);
