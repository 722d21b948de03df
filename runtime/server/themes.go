package server

import (
	"context"
	"errors"
	"fmt"
	"github.com/websonic/websonic/runtime/internal/theme"
	"io/fs"
	"path"
	"strings"
	"sync"
	"text/template/parse"

	"github.com/websonic/websonic/internal/ocipkg"
	"github.com/websonic/websonic/internal/tufrepo"
	"github.com/websonic/websonic/runtime/internal/updater"
)

// Themes installed from the registry (issue 9, distribution). The updater
// verifies, stores, validates, updates and rolls them back (package
// updater, themes.go); the site's theme layer renders them. What the site
// calls:
//
//	s.SetThemeHooks(ThemeHooks{Validate: theme.Validate, Active: activeTheme, Changed: reload})
//	s.InstalledThemes(ctx)      // the records, for the admin UI
//	s.ThemeFiles(ctx, name)     // the installed version's files, verified and validated
//	s.ThemeReleases()           // what the registry offers
//
// Changes go through the request queue (updater.ActionTheme*: `websonic
// theme install|rollback|policy|uninstall`, the admin UI), and every
// replica's Changed hook runs when the installed themes change.

// InstalledTheme is a theme's installation record.
type InstalledTheme = updater.InstalledTheme

// ErrNoRegistry: themes come from a registry, and this runtime has none.
var ErrNoRegistry = errors.New("server: no registry: themes are installed from one (--registry)")

// ThemeHooks are what the site's theme layer gives the distribution path.
// Zero fields keep the defaults.
type ThemeHooks struct {
	// Validate judges a theme's files before it is installed or served;
	// a theme it refuses is never installed and the installed version
	// stays. Default: ValidateThemeSyntax; the site sets the theme
	// package's Validate (every page rendered, every asset present; see
	// appearance.go).
	Validate func(fs.FS) error
	// Active names the site's active theme (site settings; "" for the
	// built-in layout): it cannot be uninstalled.
	Active func(ctx context.Context) (string, error)
	// Changed runs when the installed themes change, on this replica or
	// another (pgnotify through the request queue's channel): the site
	// reads its active theme's files again. It must not block.
	Changed func()
}

// themeHooks holds the hooks; the updater calls them at any time.
type themeHooks struct {
	mu sync.Mutex
	h  ThemeHooks
}

func (t *themeHooks) get() ThemeHooks {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.h
}

// SetThemeHooks installs the site's theme hooks (replacing earlier ones).
func (s *Server) SetThemeHooks(h ThemeHooks) {
	s.themes.mu.Lock()
	defer s.themes.mu.Unlock()
	s.themes.h = h
}

// validateTheme is the updater's Config.ValidateTheme.
func (s *Server) validateTheme(fsys fs.FS) error {
	if v := s.themes.get().Validate; v != nil {
		return v(fsys)
	}
	return ValidateThemeSyntax(fsys)
}

// themesChanged is the updater's Config.ThemesChanged.
func (s *Server) themesChanged() {
	if f := s.themes.get().Changed; f != nil {
		f()
	}
}

// themeInUse is the updater's Config.ThemeInUse.
func (s *Server) themeInUse(ctx context.Context, name string) (bool, error) {
	active := s.themes.get().Active
	if active == nil {
		return false, nil
	}
	cur, err := active(ctx)
	return cur == name, err
}

// InstalledThemes returns the themes installed from the registry (none
// without one).
func (s *Server) InstalledThemes(ctx context.Context) ([]InstalledTheme, error) {
	if s.updater == nil {
		return nil, nil
	}
	return s.updater.Themes(ctx)
}

// ThemeFiles returns the files of the installed version of theme name,
// verified and validated (updater.ThemeFiles): what the site renders.
func (s *Server) ThemeFiles(ctx context.Context, name string) (fs.FS, error) {
	if s.updater == nil {
		return nil, ErrNoRegistry
	}
	return s.updater.ThemeFiles(ctx, name)
}

// ThemeReleases lists the theme releases the registry offers (as of the
// updater's last metadata refresh).
func (s *Server) ThemeReleases() ([]*tufrepo.Release, error) {
	if s.updater == nil {
		return nil, ErrNoRegistry
	}
	return s.updater.ThemeReleases()
}

// ValidateThemeSyntax is the theme check that needs no theme package:
// theme.json names the theme (ocipkg.DecodeThemeMeta) and every .html
// file parses as a Go template (functions are not resolved: the theme
// package's FuncMap is not known here). The CLI runs it before a theme is
// published, and the runtime until the site sets ThemeHooks.Validate.
func ValidateThemeSyntax(fsys fs.FS) error {
	raw, err := fs.ReadFile(fsys, ocipkg.ThemeManifestFile)
	if err != nil {
		return fmt.Errorf("theme: %w", err)
	}
	if _, err := ocipkg.DecodeThemeMeta(raw); err != nil {
		return err
	}
	return fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.EqualFold(path.Ext(p), ".html") {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return fmt.Errorf("theme: %w", err)
		}
		t := parse.New(p)
		t.Mode = parse.SkipFuncCheck | parse.ParseComments
		if _, err := t.Parse(string(b), "{{", "}}", map[string]*parse.Tree{}); err != nil {
			return fmt.Errorf("theme: %s does not parse: %w", p, err)
		}
		return nil
	})
}

// The request actions of `websonic theme …` and the admin UI
// (ModuleRequest.Module names the theme).
const (
	ThemeInstall   = updater.ActionThemeInstall
	ThemeRollback  = updater.ActionThemeRollback
	ThemePolicy    = updater.ActionThemePolicy
	ThemeUninstall = updater.ActionThemeUninstall
)

// Themes lists the site's installed themes and its newest theme update
// events (at most events), running or not.
func (c *Console) Themes(ctx context.Context, events int) ([]InstalledTheme, []UpdateEvent, error) {
	ts, err := updater.ThemesFrom(ctx, c.db.Pool)
	if err != nil {
		return nil, nil, err
	}
	evs, err := updater.ThemeEventsFrom(ctx, c.db.Pool, events)
	return ts, evs, err
}

// ValidateTheme is the whole check a site makes of a theme before it uses
// it (package theme: templates executed against sample pages, assets
// referenced present, no script): the publisher's tools run it before a
// theme is published, so that no site has to refuse it.
func ValidateTheme(fsys fs.FS) error { return theme.Validate(fsys) }
