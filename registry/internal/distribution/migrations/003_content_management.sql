-- Content management: who stored what (quotas), what references what
-- (deletion and garbage collection), and every stored blob once (the
-- collector's ledger).

-- Every blob in the BlobStore. stored_at is when a push last confirmed the
-- file: the collector leaves a blob that no repository links alone for
-- its grace period after it.
CREATE TABLE distribution.blobs (
	digest    text PRIMARY KEY,
	size      bigint NOT NULL CHECK (size >= 0),
	stored_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO distribution.blobs (digest, size)
	SELECT digest, max(size) FROM distribution.repository_blobs GROUP BY digest;

-- account: who is charged for the link (a publisher; '' before quotas).
-- touched_at: when a push last used the link (its upload, or a manifest
-- naming it); an unreferenced link older than the grace period is
-- collected.
ALTER TABLE distribution.repository_blobs
	ADD FOREIGN KEY (digest) REFERENCES distribution.blobs,
	ADD COLUMN account text NOT NULL DEFAULT '',
	ADD COLUMN touched_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX repository_blobs_digest ON distribution.repository_blobs (digest);
CREATE INDEX repository_blobs_account ON distribution.repository_blobs (account);

-- refs_indexed: the manifest's references are in manifest_refs (the
-- registry indexes manifests stored before this migration at start).
ALTER TABLE distribution.manifests
	ADD COLUMN account text NOT NULL DEFAULT '',
	ADD COLUMN refs_indexed boolean NOT NULL DEFAULT false;
CREATE INDEX manifests_account ON distribution.manifests (account);
CREATE INDEX manifests_unindexed ON distribution.manifests (repository_id) WHERE NOT refs_indexed;

-- What a manifest references in its repository: its config and layers
-- (kind 'blob'), an index's manifests (kind 'manifest').
CREATE TABLE distribution.manifest_refs (
	repository_id   bigint NOT NULL,
	manifest_digest text NOT NULL,
	kind            text NOT NULL CHECK (kind IN ('blob', 'manifest')),
	digest          text NOT NULL,
	PRIMARY KEY (repository_id, manifest_digest, kind, digest),
	FOREIGN KEY (repository_id, manifest_digest) REFERENCES distribution.manifests ON DELETE CASCADE
);
CREATE INDEX manifest_refs_target ON distribution.manifest_refs (repository_id, kind, digest);

-- account: who is charged for the bytes so far; credential: the token
-- (or other credential) that opened it, whose open sessions are capped.
ALTER TABLE distribution.uploads
	ADD COLUMN account text NOT NULL DEFAULT '',
	ADD COLUMN credential text NOT NULL DEFAULT '';
CREATE INDEX uploads_account ON distribution.uploads (account);
CREATE INDEX uploads_credential ON distribution.uploads (credential);
CREATE INDEX uploads_updated ON distribution.uploads (updated_at);
