-- Module requests say which runtime took them and can be cancelled, so that
-- the CLI reports exactly what happened: never taken (cancelled), taken and
-- still running (by a runtime whose session is alive), or taken by a runtime
-- that stopped. A dry run answers what the request would do (the release and
-- the capabilities it asks for) without doing it; digest binds a request to
-- the release the owner saw and approved.
ALTER TABLE websonic.module_requests
  ADD COLUMN taken_by integer,        -- backend pid of the taking runtime's request listener
  ADD COLUMN taken_at timestamptz,
  ADD COLUMN dry_run  boolean NOT NULL DEFAULT false,
  ADD COLUMN digest   text NOT NULL DEFAULT '',
  DROP CONSTRAINT module_requests_status_check,
  ADD CONSTRAINT module_requests_status_check CHECK (status IN ('pending', 'running', 'done', 'failed', 'cancelled'));
