-- The site's incarnation: a random id that changes whenever a whole site is
-- switched in under the running runtimes (a backup restore or a site
-- import; see runtime/server/siteswitch.go). Every replica remembers the id
-- it took the site up with; when it finds another (the module_state
-- channel is notified with the switch, and read every 30 s), it takes the
-- switched-in site up as a restart would. One row.
CREATE TABLE websonic.site_incarnation (
  singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  id          uuid NOT NULL DEFAULT gen_random_uuid(),
  switched_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO websonic.site_incarnation DEFAULT VALUES;
