-- Themes installed from the registry (issue 9, package updater): the
-- desired state every runtime replica follows, as module_installs is for
-- modules. A row changes only after the new version was verified (TUF and
-- digest), unpacked into the package store and passed the theme
-- validator, so a refused theme leaves the installed one in place. Which
-- installed theme is active is a site setting, not this table's.
CREATE TABLE websonic.theme_installs (
  name              text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
  version           text NOT NULL,
  digest            text NOT NULL CHECK (digest ~ '^sha256:[0-9a-f]{64}$'),
  description       text NOT NULL DEFAULT '',
  -- the version installed before, kept on disk for `websonic theme rollback`
  previous_version  text,
  previous_digest   text CHECK (previous_digest ~ '^sha256:[0-9a-f]{64}$'),
  channel           text NOT NULL DEFAULT 'stable' CHECK (channel IN ('stable', 'beta')),
  -- auto: install updates; notify: record them only; pinned: stay on version
  policy            text NOT NULL DEFAULT 'auto' CHECK (policy IN ('auto', 'notify', 'pinned')),
  -- a newer release seen under the notify policy
  available_version text,
  installed_at      timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Theme outcomes share the update history with modules' (the admin UI's
-- Updates page shows both); kind tells them apart, and a theme and a
-- module of the same name stay apart.
ALTER TABLE websonic.update_events
  ADD COLUMN kind text NOT NULL DEFAULT 'module' CONSTRAINT update_events_kind_check CHECK (kind IN ('module', 'theme'));

-- The owner's theme requests go through the module request queue. The
-- list is every action known when this was written (013's too: a
-- database that applied 013 before this file existed runs this after it);
-- 013 lists the theme actions as well, for databases that run this first.
ALTER TABLE websonic.module_requests
  DROP CONSTRAINT module_requests_action_check,
  ADD CONSTRAINT module_requests_action_check
    CHECK (action IN ('install', 'rollback', 'approve', 'policy', 'exec', 'commands', 'user_export', 'user_erase',
                      'available', 'uninstall', 'module_export',
                      'theme_install', 'theme_rollback', 'theme_policy', 'theme_uninstall'));
