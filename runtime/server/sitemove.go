package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"

	"github.com/websonic/websonic/internal/buildinfo"
	"github.com/websonic/websonic/runtime/internal/coredb"
	"github.com/websonic/websonic/runtime/internal/privacy"
	"github.com/websonic/websonic/runtime/internal/requestq"
	"github.com/websonic/websonic/runtime/internal/sitedump"
	"github.com/websonic/websonic/runtime/internal/sitemove"
	"github.com/websonic/websonic/runtime/internal/updater"
)

// Moving a site (package sitemove): `websonic site export|import` run in
// the owner's command through the Console; the migration portal through
// the Server. Both use moveSite, the site as sitemove's Source and Target.

// MoveOptions say who moves the site and who watches.
type MoveOptions struct {
	// Actor names who asked ("terminal" when empty); ActorID is the
	// admin's user id for the audit log (0: none).
	Actor   string
	ActorID int64
	// Progress, when not nil, sees each step.
	Progress func(sitemove.Progress)
}

// ActionSiteReload asks the runtimes to take up a site an import switched
// in (the queue's action; see moveSite.Finish).
const ActionSiteReload = "site_reload"

// moveSite is the site as package sitemove sees it.
type moveSite struct {
	db      *database
	dataDir string
	log     hclog.Logger
	// request sends a module request to the runtimes serving the site
	// (the request queue) and returns the answer.
	request releaseRequest
	// move is the archive's move.json (Check keeps it).
	move *sitemove.Move
	// live are the live site's logins, read before a switch and kept in
	// the imported schema by Finish.
	live siteLogins
	// incoming holds the archive's files until the switch.
	incoming string
}

// preview asks the runtime what installing a module release would do
// (the updater's Preview: signed, not revoked, and its digest).
func (m *moveSite) preview(ctx context.Context, r updater.Request) (*updater.Preview, error) {
	res, err := m.request(ctx, r)
	if err != nil {
		return nil, err
	}
	var p updater.Preview
	if err := json.Unmarshal([]byte(res), &p); err != nil {
		return nil, fmt.Errorf("the runtime's preview: %w", err)
	}
	return &p, nil
}

var (
	_ sitemove.Source = (*moveSite)(nil)
	_ sitemove.Target = (*moveSite)(nil)
)

// Info describes the site for move.json: installed modules (with the
// owner's approvals and settings) and themes, the core migrations and the
// site key.
func (m *moveSite) Info(ctx context.Context) (*sitemove.Move, error) {
	info := &sitemove.Move{Source: sitemove.Origin{RuntimeVersion: buildinfo.Version()}}
	rows, err := m.db.Pool.Query(ctx, `SELECT i.name, i.version, i.digest, i.channel, i.policy, i.approved, m.config
		FROM websonic.module_installs i LEFT JOIN websonic.modules m ON m.name = i.name ORDER BY i.name`)
	if err != nil {
		return nil, fmt.Errorf("server: site info: %w", err)
	}
	info.Modules, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (sitemove.Module, error) {
		var mod sitemove.Module
		var settings []byte
		err := r.Scan(&mod.Name, &mod.Version, &mod.Digest, &mod.Channel, &mod.Policy, &mod.Approved, &settings)
		if len(settings) > 0 && settings[0] == '{' {
			mod.Settings = settings
		}
		return mod, err
	})
	if err != nil {
		return nil, fmt.Errorf("server: site info: %w", err)
	}
	rows, err = m.db.Pool.Query(ctx, `SELECT t.name, t.version, t.digest, t.channel, t.policy, s.theme IS NOT DISTINCT FROM t.name
		FROM websonic.theme_installs t LEFT JOIN websonic.site_settings s ON true ORDER BY t.name`)
	if err != nil {
		return nil, fmt.Errorf("server: site info: %w", err)
	}
	if info.Themes, err = pgx.CollectRows(rows, pgx.RowToStructByPos[sitemove.Theme]); err != nil {
		return nil, fmt.Errorf("server: site info: %w", err)
	}
	rows, err = m.db.Pool.Query(ctx, `SELECT name FROM public.websonic_schema_migrations ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("server: site info: %w", err)
	}
	if info.CoreMigrations, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return nil, fmt.Errorf("server: site info: %w", err)
	}
	key, err := os.ReadFile(filepath.Join(m.dataDir, privacy.KeyFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		m.log.Warn("the site key is not in the data folder (WEBSONIC_SITE_KEY?): carry it to the new site by hand")
	case err != nil:
		return nil, fmt.Errorf("server: site key: %w", err)
	default:
		info.SiteKey = key
	}
	return info, nil
}

// Dump writes the site's dump stream (package sitedump).
func (m *moveSite) Dump(ctx context.Context, w io.Writer, progress func(sitemove.Progress)) error {
	_, err := sitedump.Dump(ctx, m.db.dumpConfig(m.log), w, sitedump.DumpOptions{
		Dir: m.dataDir, Files: moveFiles,
		Progress: func(p sitedump.Progress) { progress(sitemove.Progress{Step: p.Step, Done: p.Done, Total: p.Total}) },
	})
	return err
}

// moveFiles are the data folder's files a move carries (relative paths;
// those missing are skipped). Installed packages come again from the
// registry, verified; the site key travels in move.json; the embedded
// cluster, caches, TLS keys and the import and signing keys stay.
var moveFiles = []string{"uploads"}

// Check refuses what this runtime cannot take: a core migration it does
// not know (a newer runtime's), a module or theme release the registry
// does not sign with the archive's digest, or revoked.
func (m *moveSite) Check(ctx context.Context, mv *sitemove.Move) ([]sitemove.ModulePlan, error) {
	m.move = mv
	known := coredb.MigrationNames()
	for _, c := range mv.CoreMigrations {
		if !slices.Contains(known, c) {
			return nil, fmt.Errorf("%w: the source's core schema has migration %s, which this runtime (%s) does not know: update this runtime first",
				sitemove.ErrRefused, c, buildinfo.Version())
		}
	}
	installed := map[string]string{}
	rows, err := m.db.Pool.Query(ctx, `SELECT name, version FROM websonic.module_installs`)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	for rows.Next() {
		var n, v string
		if err := rows.Scan(&n, &v); err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
		installed[n] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	var plan []sitemove.ModulePlan
	for _, mod := range mv.Modules {
		p, err := m.preview(ctx, updater.Request{Action: "install", Module: mod.Name, Version: mod.Version, Channel: mod.Channel, DryRun: true})
		if err != nil {
			return nil, fmt.Errorf("%w: module %s %s: %w", sitemove.ErrRefused, mod.Name, mod.Version, err)
		}
		if p.Digest != mod.Digest {
			return nil, fmt.Errorf("%w: module %s %s: the registry signs digest %s, the archive names %s", sitemove.ErrRefused, mod.Name, mod.Version, p.Digest, mod.Digest)
		}
		plan = append(plan, sitemove.ModulePlan{Kind: "module", Name: mod.Name, Version: mod.Version, Digest: mod.Digest, Installed: installed[mod.Name]})
	}
	for _, t := range mv.Themes {
		// Checked like the modules before anything changes; the runtimes
		// fetch them after the switch (verified again there).
		p, err := m.preview(ctx, updater.Request{Action: updater.ActionThemeInstall, Module: t.Name, Version: t.Version, Channel: t.Channel, DryRun: true})
		if err != nil {
			return nil, fmt.Errorf("%w: theme %s %s: %w", sitemove.ErrRefused, t.Name, t.Version, err)
		}
		if p.Digest != t.Digest {
			return nil, fmt.Errorf("%w: theme %s %s: the registry signs digest %s, the archive names %s", sitemove.ErrRefused, t.Name, t.Version, p.Digest, t.Digest)
		}
		plan = append(plan, sitemove.ModulePlan{Kind: "theme", Name: t.Name, Version: t.Version, Digest: t.Digest, Installed: p.Installed})
	}
	return plan, nil
}

// HasData says whether the site has users or modules of its own.
func (m *moveSite) HasData(ctx context.Context) (bool, error) {
	var has bool
	err := m.db.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM websonic.users) OR EXISTS (SELECT 1 FROM websonic.module_installs)`).Scan(&has)
	return has, err
}

// Backup exports the live site to itself (its own import identity and
// signing key) into DATA_DIR/import/replaced-<time>.age: `websonic site
// import` of that file (with this site's fingerprint and
// --replace-live-site) brings it back.
func (m *moveSite) Backup(ctx context.Context) (string, error) {
	rcpt, err := sitemove.Prepare(m.dataDir)
	if err != nil {
		return "", err
	}
	path := filepath.Join(m.dataDir, sitemove.ImportDir, "replaced-"+time.Now().UTC().Format("20060102T150405Z")+".age")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("server: backup: %w", err)
	}
	_, err = sitemove.Export(ctx, sitemove.ExportConfig{DataDir: m.dataDir, Source: m, Logger: m.log}, f, rcpt, nil)
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return "", err
	}
	return path, nil
}

// Replace makes sure every module the dump names has its role (the
// restore runs as it), remembers the live channels, and loads the dump
// through sitedump.Replace.
func (m *moveSite) Replace(ctx context.Context, dump io.Reader, dryRun bool, progress func(sitemove.Progress)) (*sitemove.DataReport, error) {
	var err error
	if m.live, err = readSiteLogins(ctx, m.db); err != nil {
		return nil, err
	}
	return m.replace(ctx, dump, dryRun, progress)
}

// Finish takes up the switched-in site (sitedump.Replace applied the core
// migrations the source lacked): the archive's files and the site key in
// place (the old key kept beside it), the module roles named and logged
// into as this site does,
// the live channels kept, and the runtimes told to reload.
func (m *moveSite) Finish(ctx context.Context, mv *sitemove.Move, _ *sitemove.Report) error {
	if len(mv.SiteKey) > 0 {
		if err := replaceFile(filepath.Join(m.dataDir, privacy.KeyFile), mv.SiteKey); err != nil {
			return fmt.Errorf("server: site key: %w", err)
		}
	}
	if err := m.placeFiles(); err != nil {
		return err
	}
	var names []string
	for _, mod := range mv.Modules {
		names = append(names, mod.Name)
	}
	if err := m.live.keep(ctx, m.db, names); err != nil {
		return err
	}
	if _, err := requestq.Enqueue(ctx, m.db.Pool, requestq.Request{Action: ActionSiteReload, Actor: "site import"}); err != nil {
		return fmt.Errorf("server: reload: %w", err)
	}
	return nil
}

// replaceFile writes b to path atomically (0600), keeping what was there
// as path.replaced-<time>.
func replaceFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	if _, err := os.Stat(path); err == nil {
		if err := os.Link(path, path+".replaced-"+time.Now().UTC().Format("20060102T150405Z")); err != nil {
			os.Remove(tmp)
			return err
		}
	}
	return os.Rename(tmp, path)
}

// moveSite is the Server's site for a move: its own updater checks and
// installs the releases.
func (s *Server) moveSite() *moveSite {
	return &moveSite{db: s.db, dataDir: s.cfg.DataDir, log: s.log.Named("sitemove"), request: s.releaseRequester()}
}

// PrepareImport makes (or returns) this site's import recipient.
func (s *Server) PrepareImport() (string, error) { return sitemove.Prepare(s.cfg.DataDir) }

// ExportSite writes the site as a move archive for recipient to w (the
// migration portal's export).
func (s *Server) ExportSite(ctx context.Context, w io.Writer, recipient string, o MoveOptions) (*sitemove.ExportResult, error) {
	return sitemove.Export(ctx, sitemove.ExportConfig{DataDir: s.cfg.DataDir, Source: s.moveSite(), DB: s.db.Pool, Actor: o.Actor, ActorID: o.ActorID, Logger: s.log.Named("sitemove")}, w, recipient, o.Progress)
}

// ImportSite imports the move archive at path (the migration portal's
// import); see sitemove.Import.
func (s *Server) ImportSite(ctx context.Context, path string, opts sitemove.ImportOptions, o MoveOptions) (*sitemove.Report, error) {
	return sitemove.Import(ctx, sitemove.ImportConfig{DataDir: s.cfg.DataDir, Target: s.moveSite(), DB: s.db.Pool, Actor: o.Actor, ActorID: o.ActorID, Logger: s.log.Named("sitemove")}, path, opts, o.Progress)
}

// moveSite is the console's site for a move; module releases are checked
// and installed by a runtime serving the site (through the request queue).
func (c *Console) moveSite(dataDir string, log hclog.Logger) *moveSite {
	return &moveSite{db: c.db, dataDir: dataDir, log: log, request: c.releaseRequester("site import")}
}

// ExportSite writes the site (in dataDir) as a move archive for recipient
// to w: `websonic site export`. No runtime needs to serve it.
func (c *Console) ExportSite(ctx context.Context, dataDir string, w io.Writer, recipient string, o MoveOptions, log hclog.Logger) (*sitemove.ExportResult, error) {
	return sitemove.Export(ctx, sitemove.ExportConfig{DataDir: dataDir, Source: c.moveSite(dataDir, log), DB: c.db.Pool, Actor: o.Actor, ActorID: o.ActorID, Logger: log}, w, recipient, o.Progress)
}

// ImportSite imports the move archive at path into the site in dataDir:
// `websonic site import`. A runtime must serve the site (it checks the
// registry's releases, and installs the modules after the switch).
func (c *Console) ImportSite(ctx context.Context, dataDir, path string, opts sitemove.ImportOptions, o MoveOptions, log hclog.Logger) (*sitemove.Report, error) {
	return sitemove.Import(ctx, sitemove.ImportConfig{DataDir: dataDir, Target: c.moveSite(dataDir, log), DB: c.db.Pool, Actor: o.Actor, ActorID: o.ActorID, Logger: log}, path, opts, o.Progress)
}

// What the owner's commands see of package sitemove (cmd may not import
// runtime/internal).
type (
	// MoveProgress is a step of an export or import.
	MoveProgress = sitemove.Progress
	// MoveExport is what an export wrote.
	MoveExport = sitemove.ExportResult
	// MoveReport is an import's report.
	MoveReport = sitemove.Report
	// MoveImportOptions tune an import.
	MoveImportOptions = sitemove.ImportOptions
)

// PrepareSiteImport makes (or returns) the import recipient of the site in
// dataDir (sitemove.Prepare).
func PrepareSiteImport(dataDir string) (string, error) { return sitemove.Prepare(dataDir) }

// CheckMoveRecipient checks an import recipient (age1…).
func CheckMoveRecipient(s string) error {
	_, err := sitemove.ParseRecipient(s)
	return err
}
