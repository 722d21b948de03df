-- The site's settings (issue 9, package settings): one row the owner edits
-- in the admin area: the site's name, accent colour, language, logo and
-- active theme. Every replica keeps a copy, refreshed when the "settings"
-- pgnotify channel says it changed. The checks repeat the package's, so a
-- bad value cannot land whoever writes it.
CREATE TABLE websonic.site_settings (
  id         boolean PRIMARY KEY DEFAULT true CHECK (id),
  name       text NOT NULL DEFAULT '' CHECK (char_length(name) <= 80),
  accent     text NOT NULL DEFAULT '' CHECK (accent = '' OR accent ~ '^#[0-9a-f]{6}$'),
  language   text NOT NULL DEFAULT 'auto' CHECK (language ~ '^(auto|[a-z]{2,3}(-[A-Za-z0-9]{2,8})*)$'),
  theme      text NOT NULL DEFAULT 'builtin' CHECK (theme ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
  -- theme_revision counts changes of the installed themes' files (an
  -- install, update or rollback): every replica loads its theme again.
  theme_revision bigint NOT NULL DEFAULT 0,
  logo       bytea CHECK (logo IS NULL OR octet_length(logo) <= 524288),
  logo_type  text NOT NULL DEFAULT '' CHECK (logo_type IN ('', 'image/png', 'image/jpeg', 'image/webp')),
  version    bigint NOT NULL DEFAULT 1,
  updated_at timestamptz NOT NULL DEFAULT now(),
  updated_by bigint REFERENCES websonic.users(id) ON DELETE SET NULL,
  CHECK ((logo IS NULL) = (logo_type = ''))
);
INSERT INTO websonic.site_settings DEFAULT VALUES;
