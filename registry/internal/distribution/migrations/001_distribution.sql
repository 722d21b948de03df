-- Metadata of the OCI Distribution API. Blob bytes live in the BlobStore;
-- these tables say which repository may serve which blob, and hold the
-- manifests themselves (small, bounded to 4 MiB).
CREATE SCHEMA IF NOT EXISTS distribution;

CREATE TABLE distribution.repositories (
	id         bigserial PRIMARY KEY,
	name       text NOT NULL UNIQUE,
	created_at timestamptz NOT NULL DEFAULT now()
);

-- A blob is linked to a repository once its digest was verified on upload.
CREATE TABLE distribution.repository_blobs (
	repository_id bigint NOT NULL REFERENCES distribution.repositories ON DELETE CASCADE,
	digest        text NOT NULL,
	size          bigint NOT NULL CHECK (size >= 0),
	created_at    timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (repository_id, digest)
);

-- Manifests are immutable: a digest's bytes never change.
CREATE TABLE distribution.manifests (
	repository_id  bigint NOT NULL REFERENCES distribution.repositories ON DELETE CASCADE,
	digest         text NOT NULL,
	media_type     text NOT NULL,
	artifact_type  text NOT NULL DEFAULT '',
	annotations    jsonb,
	content        bytea NOT NULL,
	subject_digest text,
	created_at     timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (repository_id, digest)
);
CREATE INDEX manifests_subject ON distribution.manifests (repository_id, subject_digest)
	WHERE subject_digest IS NOT NULL;

CREATE TABLE distribution.tags (
	repository_id bigint NOT NULL,
	name          text COLLATE "C" NOT NULL,
	digest        text NOT NULL,
	updated_at    timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (repository_id, name),
	FOREIGN KEY (repository_id, digest) REFERENCES distribution.manifests (repository_id, digest)
);

-- An upload session; its bytes so far are in a file named by id in the
-- handler's upload directory.
CREATE TABLE distribution.uploads (
	id            text PRIMARY KEY,
	repository_id bigint NOT NULL REFERENCES distribution.repositories ON DELETE CASCADE,
	"offset"      bigint NOT NULL DEFAULT 0 CHECK ("offset" >= 0),
	created_at    timestamptz NOT NULL DEFAULT now(),
	updated_at    timestamptz NOT NULL DEFAULT now()
);
