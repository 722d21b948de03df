-- The site owner's approvals of local modules (websonic serve
-- --modules-dir): a local module's folder is unsigned, so the owner approves
-- what it asks for before it first runs, and again when a rebuilt folder
-- asks for more (updater.Grows). One row per module name: the capabilities
-- approved (a manifest.Capabilities document), the version and package
-- digest the owner was shown, who approved and when.
CREATE TABLE websonic.local_module_approvals (
  name        text PRIMARY KEY,
  approved    jsonb NOT NULL,
  version     text NOT NULL,
  digest      text NOT NULL,
  approved_by text NOT NULL DEFAULT '',
  approved_at timestamptz NOT NULL DEFAULT now()
);

-- The owner's module requests this adds: the registry's catalogue
-- (available), uninstall, and a module's data export (module_export).
ALTER TABLE websonic.module_requests
  DROP CONSTRAINT module_requests_action_check,
  ADD CONSTRAINT module_requests_action_check
    CHECK (action IN ('install', 'rollback', 'approve', 'policy', 'exec', 'commands', 'user_export', 'user_erase',
                      'available', 'uninstall', 'module_export'));
