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

-- After an import switches the site in, the importer asks the runtimes to
-- take it up (action site_reload); added to whatever the list holds now
-- (see 018).
DO $$
DECLARE
  def text;
BEGIN
  SELECT pg_catalog.pg_get_constraintdef(c.oid) INTO STRICT def
    FROM pg_catalog.pg_constraint c
   WHERE c.conname = 'module_requests_action_check'
     AND c.conrelid = 'websonic.module_requests'::pg_catalog.regclass;
  IF def NOT LIKE '%''site_reload''%' THEN
    IF def NOT LIKE '%ARRAY[%' THEN
      RAISE EXCEPTION 'unexpected module_requests_action_check: %', def;
    END IF;
    EXECUTE 'ALTER TABLE websonic.module_requests DROP CONSTRAINT module_requests_action_check, '
      || 'ADD CONSTRAINT module_requests_action_check '
      || pg_catalog.replace(def, 'ARRAY[', 'ARRAY[''site_reload''::text, ');
  END IF;
END
$$;
