package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/websonic/websonic/runtime/internal/locales"
	"github.com/websonic/websonic/runtime/internal/settings"
	"github.com/websonic/websonic/runtime/internal/theme"
)

// SiteSettings are the site's settings (package settings): name, accent
// colour, language, active theme, logo.
type SiteSettings = settings.Settings

// SettingsChange is a change of the site's settings: nil fields stay.
type SettingsChange = settings.Change

// settingsStore opens the site's settings on c's database.
func (c *Console) settingsStore(ctx context.Context) (*settings.Store, error) {
	cat, err := locales.Catalog()
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	return settings.Open(ctx, settings.Config{Pool: c.db.Pool, Languages: cat.Languages()})
}

// Settings reads the site's settings.
func (c *Console) Settings(ctx context.Context) (*SiteSettings, error) {
	st, err := c.settingsStore(ctx)
	if err != nil {
		return nil, err
	}
	return st.Current(), nil
}

// UpdateSettings changes the site's settings as the admin area's Site
// settings and Themes pages do, checked the same way; every running
// replica applies it at once. A theme must be the built-in one, a bundled
// one that loads, or one installed from the registry (checked when it was
// installed; a running replica that cannot load it keeps its theme).
func (c *Console) UpdateSettings(ctx context.Context, ch SettingsChange) error {
	st, err := c.settingsStore(ctx)
	if err != nil {
		return err
	}
	if ch.Theme != nil && *ch.Theme != theme.BuiltinName {
		if err := c.checkTheme(ctx, *ch.Theme); err != nil {
			return err
		}
	}
	return st.Update(ctx, 0, ch)
}

// checkTheme says whether name is a theme the site can use.
func (c *Console) checkTheme(ctx context.Context, name string) error {
	fsys, err := theme.Bundled().Files(ctx, name)
	switch {
	case err == nil:
		if _, err := theme.Load(fsys); err != nil {
			return fmt.Errorf("server: theme %s: %w", name, err)
		}
		return nil
	case !errors.Is(err, theme.ErrNotFound):
		return fmt.Errorf("server: theme %s: %w", name, err)
	}
	var n int
	if err := c.db.Pool.QueryRow(ctx, `SELECT count(*) FROM websonic.theme_installs WHERE name = $1`, name).Scan(&n); err != nil {
		return fmt.Errorf("server: theme %s: %w", name, err)
	}
	if n == 0 {
		return fmt.Errorf("server: there is no theme %q: use builtin, a bundled theme (harbor, meadow) or one installed with `websonic theme install`", name)
	}
	return nil
}
