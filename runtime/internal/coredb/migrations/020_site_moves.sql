-- Site moves (issue 14, package sitemove): every `websonic site export`
-- and `site import` (and the migration portal's), with its progress while
-- it runs and its report when done. An import replaces this schema with
-- the source's, so the import's row is written again into the imported one.
CREATE TABLE websonic.site_moves (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind        text NOT NULL CHECK (kind IN ('export', 'import')),
  state       text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'done', 'failed')),
  dry_run     boolean NOT NULL DEFAULT false,
  actor       text NOT NULL DEFAULT '',
  -- the source's signing key (SHA256:…)
  fingerprint text NOT NULL DEFAULT '',
  step        text NOT NULL DEFAULT '',
  done        bigint NOT NULL DEFAULT 0,
  total       bigint NOT NULL DEFAULT 0,
  report      jsonb,
  error       text NOT NULL DEFAULT '',
  started_at  timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz
);
