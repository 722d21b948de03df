-- Module extras (issue 9): `websonic module config` goes to a running
-- runtime through the request queue (action module_config), which checks
-- the settings against the running module's config_schema. The owner's
-- choices themselves live in websonic.modules (enabled, config) since 001.
--
-- The action is added to whatever list the constraint holds now, so that
-- other migrations extending it (in any order) keep their actions.
DO $$
DECLARE
  def text;
BEGIN
  SELECT pg_catalog.pg_get_constraintdef(c.oid) INTO STRICT def
    FROM pg_catalog.pg_constraint c
   WHERE c.conname = 'module_requests_action_check'
     AND c.conrelid = 'websonic.module_requests'::pg_catalog.regclass;
  IF def NOT LIKE '%''module_config''%' THEN
    IF def NOT LIKE '%ARRAY[%' THEN
      RAISE EXCEPTION 'unexpected module_requests_action_check: %', def;
    END IF;
    EXECUTE 'ALTER TABLE websonic.module_requests DROP CONSTRAINT module_requests_action_check, '
      || 'ADD CONSTRAINT module_requests_action_check '
      || pg_catalog.replace(def, 'ARRAY[', 'ARRAY[''module_config''::text, ');
  END IF;
END
$$;
