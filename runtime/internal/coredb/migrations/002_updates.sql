-- Modules installed from the registry: the desired state every runtime
-- replica reconciles to. A row changes only after the new version was
-- verified, migrated, warmed and passed its health check.
CREATE TABLE websonic.module_installs (
  name              text PRIMARY KEY,
  version           text NOT NULL,
  digest            text NOT NULL CHECK (digest ~ '^sha256:[0-9a-f]{64}$'),
  -- the version served before, kept on disk for `websonic module rollback`
  previous_version  text,
  previous_digest   text,
  channel           text NOT NULL DEFAULT 'stable' CHECK (channel IN ('stable', 'beta')),
  -- auto: install updates; notify: record them only; pinned: stay on version
  policy            text NOT NULL DEFAULT 'auto' CHECK (policy IN ('auto', 'notify', 'pinned')),
  -- the capabilities the owner approved (manifest "capabilities" object)
  approved          jsonb NOT NULL,
  -- an update waiting for the owner's approval of more capabilities
  staged_version    text,
  staged_reason     text,
  installed_at      timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);

-- What the updater did and why, newest last: installs, updates, rollbacks,
-- refusals (bad signature, expired metadata, revoked...), staged updates.
-- The admin UI shows these to the owner.
CREATE TABLE websonic.update_events (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at           timestamptz NOT NULL DEFAULT now(),
  module       text NOT NULL DEFAULT '',
  from_version text,
  to_version   text,
  outcome      text NOT NULL CHECK (outcome IN ('installed', 'updated', 'rolled_back', 'failed', 'staged', 'available', 'alert', 'approved')),
  reason       text NOT NULL DEFAULT ''
);
CREATE INDEX update_events_module ON websonic.update_events (module, id);

-- Requests from `websonic module install|rollback|approve` (and the admin
-- UI) to the running runtime, which answers in status/result.
CREATE TABLE websonic.module_requests (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  action      text NOT NULL CHECK (action IN ('install', 'rollback', 'approve', 'policy')),
  module      text NOT NULL,
  version     text NOT NULL DEFAULT '',
  channel     text NOT NULL DEFAULT '',
  policy      text NOT NULL DEFAULT '',
  status      text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done', 'failed')),
  result      text NOT NULL DEFAULT '',
  done_at     timestamptz
);
CREATE INDEX module_requests_pending ON websonic.module_requests (id) WHERE status = 'pending';
