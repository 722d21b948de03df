-- Publisher accounts, their bearer tokens and the audit log of everything
-- they publish. Only the sha256 of a token is stored.
CREATE SCHEMA IF NOT EXISTS registry;

CREATE TABLE registry.publishers (
	id         bigserial PRIMARY KEY,
	name       text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
	created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE registry.tokens (
	id           bigserial PRIMARY KEY,
	publisher_id bigint NOT NULL REFERENCES registry.publishers ON DELETE CASCADE,
	hash         bytea NOT NULL UNIQUE CHECK (length(hash) = 32),
	-- Module names the token may publish, or '*' for every module.
	modules      text[] NOT NULL,
	-- An admin token may also change the repository's root.
	admin        boolean NOT NULL DEFAULT false,
	created_at   timestamptz NOT NULL DEFAULT now(),
	expires_at   timestamptz,
	revoked_at   timestamptz,
	last_used_at timestamptz
);

-- Append-only: the registry's role is never granted UPDATE or DELETE on it
-- by the application, and no code path issues them.
CREATE TABLE registry.audit (
	id           bigserial PRIMARY KEY,
	at           timestamptz NOT NULL DEFAULT now(),
	publisher    text NOT NULL,
	token_id     bigint,
	action       text NOT NULL,
	subject      text NOT NULL,
	details      jsonb NOT NULL DEFAULT '{}',
	remote_addr  text NOT NULL DEFAULT ''
);
CREATE INDEX audit_subject ON registry.audit (subject, at);
