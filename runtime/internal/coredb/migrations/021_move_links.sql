-- The migration portal (issue 14, package movelink): one-time download
-- links to a site's export archive, and the archive a target receives
-- (uploaded in chunks or fetched from such a link), both resumable.

-- One-time links. Only the SHA-256 of a link's token is kept. A link
-- serves one client (the first address that uses it), resumes a cut
-- download with HTTP Range, and is spent once every byte was delivered.
CREATE TABLE websonic.move_links (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  token_hash   bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
  -- the archive's file name under DATA_DIR/export/links; NULL while the
  -- export that will fill it runs
  archive      text CHECK (archive ~ '^[A-Za-z0-9_-]{1,64}\.age$'),
  size         bigint CHECK (size > 0),
  sha256       text CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  created_by   bigint REFERENCES websonic.users(id) ON DELETE SET NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,
  -- the one client that may use it: the first address that did
  client       inet,
  -- bytes delivered without a gap from the start of the archive
  delivered    bigint NOT NULL DEFAULT 0 CHECK (delivered >= 0),
  completed_at timestamptz,
  revoked_at   timestamptz,
  CHECK ((archive IS NULL) = (size IS NULL) AND (size IS NULL) = (sha256 IS NULL))
);
CREATE INDEX move_links_expires_at ON websonic.move_links (expires_at);

-- The archive a target receives: uploaded by the owner's browser in
-- chunks, or fetched by the runtime from a source's one-time link. Only
-- the newest row is in use; the file is DATA_DIR/import/incoming/<id>.age.
CREATE TABLE websonic.move_incoming (
  id           text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{22}$'),
  source       text NOT NULL CHECK (source IN ('upload', 'link')),
  -- upload: the file's name as the browser gave it; link: the link itself
  -- (with its token: a resumed fetch needs it), never shown in full
  origin       text NOT NULL DEFAULT '' CHECK (length(origin) <= 2048),
  -- link: the source's ETag, sent back in If-Range when resuming
  etag         text NOT NULL DEFAULT '' CHECK (length(etag) <= 200),
  size         bigint CHECK (size > 0), -- NULL: a fetch has not learnt it yet
  received     bigint NOT NULL DEFAULT 0 CHECK (received >= 0 AND (size IS NULL OR received <= size)),
  created_by   bigint REFERENCES websonic.users(id) ON DELETE SET NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  completed_at timestamptz
);
