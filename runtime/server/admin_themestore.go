package server

import (
	"context"

	"github.com/websonic/websonic/runtime/internal/admin"
	"github.com/websonic/websonic/runtime/internal/updater"
)

// adminThemeStore carries the admin area's theme actions through the
// site's request queue (Console), as `websonic theme …` does; the
// catalogue is this runtime's updater's, refreshed from the registry.
type adminThemeStore struct {
	s *Server
	c *Console
}

var _ admin.ThemeStore = adminThemeStore{}

// themeStore is the admin area's ThemeStore: none without a registry.
func (s *Server) themeStore() admin.ThemeStore {
	if s.updater == nil {
		return nil
	}
	return adminThemeStore{s, &Console{db: s.db}}
}

func (t adminThemeStore) Installed(ctx context.Context) ([]updater.InstalledTheme, error) {
	return updater.ThemesFrom(ctx, t.s.db.Pool)
}

func (t adminThemeStore) Events(ctx context.Context, limit int) ([]updater.Event, error) {
	return updater.ThemeEventsFrom(ctx, t.s.db.Pool, limit)
}

func (t adminThemeStore) Catalogue(ctx context.Context) ([]updater.Offer, error) {
	return t.s.updater.ThemeCatalogue(ctx)
}

func (t adminThemeStore) Install(ctx context.Context, r admin.InstallRequest) (string, error) {
	return t.c.Request(ctx, ModuleRequest{Action: ThemeInstall, Module: r.Module, Version: r.Version, Channel: r.Channel,
		Policy: r.Policy, Digest: r.Digest, Actor: "admin:" + r.Actor}, RequestOptions{})
}

func (t adminThemeStore) Rollback(ctx context.Context, theme, actor string) (string, error) {
	return t.c.Request(ctx, ModuleRequest{Action: ThemeRollback, Module: theme, Actor: "admin:" + actor}, RequestOptions{})
}

func (t adminThemeStore) SetPolicy(ctx context.Context, theme, policy, channel, actor string) (string, error) {
	return t.c.Request(ctx, ModuleRequest{Action: ThemePolicy, Module: theme, Policy: policy, Channel: channel, Actor: "admin:" + actor}, RequestOptions{})
}

func (t adminThemeStore) Uninstall(ctx context.Context, theme, actor string) (string, error) {
	return t.c.Request(ctx, ModuleRequest{Action: ThemeUninstall, Module: theme, Actor: "admin:" + actor}, RequestOptions{})
}
