-- The registry's TUF repository: every root version, and the current
-- targets, snapshot and timestamp, as signed.
CREATE SCHEMA IF NOT EXISTS registry;

CREATE TABLE registry.tuf_roots (
	version    bigint PRIMARY KEY CHECK (version > 0),
	body       bytea NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE registry.tuf_metadata (
	role       text PRIMARY KEY CHECK (role IN ('targets', 'snapshot', 'timestamp')),
	version    bigint NOT NULL CHECK (version > 0),
	body       bytea NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now()
);
