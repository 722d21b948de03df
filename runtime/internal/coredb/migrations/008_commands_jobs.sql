-- Admin commands and scheduled jobs (sdk/ABI.md sections 12 and 13).
--
-- `websonic exec MODULE COMMAND` reaches a running runtime through the
-- request queue (package requestq), which every runtime now serves: an exec
-- request names the command and its arguments (a JSON object, checked by
-- the runtime against the module's manifest) and who sent it; the result is
-- the command's answer as JSON ({"text": …} or {"columns": …, "rows": …}).
-- A commands request lists a module's commands.
ALTER TABLE websonic.module_requests
  ADD COLUMN command text NOT NULL DEFAULT '',
  ADD COLUMN args    jsonb CHECK (args IS NULL OR jsonb_typeof(args) = 'object'),
  ADD COLUMN actor   text NOT NULL DEFAULT '',
  DROP CONSTRAINT module_requests_action_check,
  ADD CONSTRAINT module_requests_action_check
    CHECK (action IN ('install', 'rollback', 'approve', 'policy', 'exec', 'commands'));

-- The scheduled jobs the runtimes have seen (a module's
-- capabilities.schedules): since is when the job was first seen, so that a
-- tick missed while no runtime ran (after since) runs once at the next
-- start, and a new job does not run for ticks before it existed.
CREATE TABLE websonic.jobs (
  module text NOT NULL,
  job    text NOT NULL,
  cron   text NOT NULL,
  since  timestamptz NOT NULL,
  seen   timestamptz NOT NULL,
  PRIMARY KEY (module, job)
);

-- One row per run of a job at a tick: the primary key decides which
-- replica runs it (INSERT … ON CONFLICT DO NOTHING), so that a tick runs
-- exactly once across replicas whatever their clocks say. A tick that found
-- the job's previous run still going is recorded as skipped. The newest
-- runs of each job are kept (package jobs prunes the rest). A run still
-- 'running' long past the call deadline belongs to a runtime that stopped.
CREATE TABLE websonic.job_runs (
  module      text NOT NULL,
  job         text NOT NULL,
  tick        timestamptz NOT NULL,
  status      text NOT NULL CHECK (status IN ('running', 'ok', 'error', 'timeout', 'skipped')),
  started_at  timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  duration_ms bigint,
  error       text NOT NULL DEFAULT '',
  PRIMARY KEY (module, job, tick)
);
CREATE INDEX job_runs_running ON websonic.job_runs (module, job) WHERE status = 'running';
