-- Runtime self-updates (issue 13, package updater's runtime.go): the
-- runtime binary follows its own signed releases (tufrepo.KindRuntime)
-- as modules follow theirs. One row: the site's policy and channel for
-- the runtime, what the self-updater last did, and the versions it must
-- never install again on its own.
CREATE TABLE websonic.runtime_update (
  singleton         boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  -- the owner's policy (`websonic runtime policy`): auto replaces the
  -- binary and restarts into it, notify records newer releases only,
  -- pinned does nothing; NULL follows each runtime's --self-update
  policy            text CHECK (policy IN ('auto', 'notify', 'pinned')),
  channel           text NOT NULL DEFAULT 'stable' CHECK (channel IN ('stable', 'beta')),
  -- the version the last self-update installed, and the one it replaced
  -- (kept on disk as websonic.previous)
  current_version   text,
  previous_version  text,
  -- a newer release seen under the notify policy
  available_version text,
  -- set just before a restart into a new binary; the new process records
  -- 'updated' and clears it once it serves
  pending_version   text,
  pending_from      text,
  -- releases that failed (not ready, wrong version, refused): never
  -- installed again automatically; `websonic runtime update` may force one
  refused_versions  text[] NOT NULL DEFAULT '{}',
  updated_at        timestamptz NOT NULL DEFAULT now()
);
INSERT INTO websonic.runtime_update DEFAULT VALUES;

ALTER TABLE websonic.update_events
  DROP CONSTRAINT update_events_kind_check,
  ADD CONSTRAINT update_events_kind_check CHECK (kind IN ('module', 'theme', 'runtime'));

-- The owner's runtime requests (`websonic runtime update|policy`) go
-- through the request queue; added to whatever the list holds now (see 014).
DO $$
DECLARE
  def text;
BEGIN
  SELECT pg_catalog.pg_get_constraintdef(c.oid) INTO STRICT def
    FROM pg_catalog.pg_constraint c
   WHERE c.conname = 'module_requests_action_check'
     AND c.conrelid = 'websonic.module_requests'::pg_catalog.regclass;
  IF def NOT LIKE '%''runtime_update''%' THEN
    IF def NOT LIKE '%ARRAY[%' THEN
      RAISE EXCEPTION 'unexpected module_requests_action_check: %', def;
    END IF;
    EXECUTE 'ALTER TABLE websonic.module_requests DROP CONSTRAINT module_requests_action_check, '
      || 'ADD CONSTRAINT module_requests_action_check '
      || pg_catalog.replace(def, 'ARRAY[', 'ARRAY[''runtime_update''::text, ''runtime_policy''::text, ');
  END IF;
END
$$;
