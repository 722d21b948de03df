-- Backups (issue 14, package backup): the owner's settings, one row, and
-- every backup run with its outcome. Runs are made by the runtime's
-- schedule (one replica per day: the unique slot) and on demand
-- (`websonic backup now`, the admin area, before a restore).
CREATE TABLE websonic.backup_settings (
  singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  -- scheduled backups run daily at this UTC hour unless disabled
  enabled       boolean NOT NULL DEFAULT true,
  hour          smallint NOT NULL DEFAULT 3 CHECK (hour BETWEEN 0 AND 23),
  -- retention (package backup's Retention); manual 0 keeps every manual backup
  keep_daily    integer NOT NULL DEFAULT 7 CHECK (keep_daily BETWEEN 0 AND 1000),
  keep_weekly   integer NOT NULL DEFAULT 4 CHECK (keep_weekly BETWEEN 0 AND 1000),
  keep_monthly  integer NOT NULL DEFAULT 6 CHECK (keep_monthly BETWEEN 0 AND 1000),
  keep_manual   integer NOT NULL DEFAULT 0 CHECK (keep_manual BETWEEN 0 AND 1000),
  -- the owner's age recipients, one a line (public keys only), besides
  -- DATA_DIR/backup-recipients.txt
  recipients    text NOT NULL DEFAULT '' CHECK (length(recipients) <= 65536),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  CHECK (keep_daily + keep_weekly + keep_monthly > 0)
);
INSERT INTO websonic.backup_settings DEFAULT VALUES;

CREATE TABLE websonic.backup_runs (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  started_at   timestamptz NOT NULL DEFAULT now(),
  finished_at  timestamptz,
  trigger      text NOT NULL CHECK (trigger IN ('schedule', 'manual', 'restore')),
  -- the UTC day a scheduled run is for: one per day across replicas
  slot         date CHECK ((trigger = 'schedule') = (slot IS NOT NULL)),
  status       text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'ok', 'failed')),
  -- where a failed run stopped: keys, dump, write, verify, prune
  stage        text NOT NULL DEFAULT '',
  file         text NOT NULL DEFAULT '',
  size         bigint,
  -- true: restored into a scratch database and every count and checksum
  -- matched; false: that failed; NULL: not verified
  verified     boolean,
  error        text NOT NULL DEFAULT '',
  -- the advisory lock key the run holds while it runs (see backup.go in
  -- runtime/server): a running row whose lock is free was left by a
  -- runtime that stopped
  runner       text NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX backup_runs_slot ON websonic.backup_runs (slot) WHERE slot IS NOT NULL;
CREATE INDEX backup_runs_newest ON websonic.backup_runs (id DESC);

-- A failed backup alerts the owner like a failed update: an update event
-- of kind 'backup'; added to whatever the kind list holds now (see 018).
DO $$
DECLARE
  def text;
BEGIN
  SELECT pg_catalog.pg_get_constraintdef(c.oid) INTO STRICT def
    FROM pg_catalog.pg_constraint c
   WHERE c.conname = 'update_events_kind_check'
     AND c.conrelid = 'websonic.update_events'::pg_catalog.regclass;
  IF def NOT LIKE '%''backup''%' THEN
    IF def NOT LIKE '%ARRAY[%' THEN
      RAISE EXCEPTION 'unexpected update_events_kind_check: %', def;
    END IF;
    EXECUTE 'ALTER TABLE websonic.update_events DROP CONSTRAINT update_events_kind_check, '
      || 'ADD CONSTRAINT update_events_kind_check '
      || pg_catalog.replace(def, 'ARRAY[', 'ARRAY[''backup''::text, ');
  END IF;
END
$$;
