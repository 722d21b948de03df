package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/websonic/websonic/internal/i18n"
	"github.com/websonic/websonic/runtime/internal/admin"
	"github.com/websonic/websonic/runtime/internal/site"
	"github.com/websonic/websonic/sdk/manifest"
)

// adminExtras gives the admin area the module extras of this runtime
// (modstate.go, modpages.go): its running modules, their toggle,
// settings, commands and admin pages.
type adminExtras struct{ s *Server }

var _ admin.ModuleExtras = adminExtras{}

func (x adminExtras) Names() []string {
	mods := x.s.Modules()
	names := make([]string, 0, len(mods))
	for _, m := range mods {
		names = append(names, m.Manifest().Name)
	}
	return names
}

func (x adminExtras) Running(name string) *manifest.Manifest {
	if m := x.s.Module(name); m != nil {
		return m.Manifest()
	}
	return nil
}

func (x adminExtras) Enabled(name string) bool { return x.s.ModuleEnabled(name) }

func (x adminExtras) SetEnabled(ctx context.Context, user *site.User, name string, enabled bool) (bool, error) {
	return x.s.SetModuleEnabled(ctx, user, name, enabled)
}

func (x adminExtras) Settings(ctx context.Context, name string) (map[string]json.RawMessage, error) {
	set, err := x.s.Settings(ctx, name)
	if err != nil {
		return nil, err
	}
	return set.Values, nil
}

func (x adminExtras) SaveSettings(ctx context.Context, user *site.User, name string, values map[string]json.RawMessage) error {
	return x.s.SetSettings(ctx, user.ID, fmt.Sprintf("admin %s (id %d)", user.Username, user.ID), name, values)
}

func (x adminExtras) RunCommand(ctx context.Context, user *site.User, module, command string, args map[string]json.RawMessage) (*CommandResult, error) {
	return x.s.RunCommand(ctx, user, module, command, args)
}

func (x adminExtras) AdminPage(ctx context.Context, user *site.User, module, page, method, query string, form url.Values, lang string) (*admin.PageAnswer, error) {
	a, err := x.s.AdminPage(ctx, user, module, page, AdminPageCall{Method: method, Query: query, Form: form, Lang: lang})
	if err != nil {
		return nil, err
	}
	return &admin.PageAnswer{Status: a.Status, Fragment: a.Fragment, IsRedirect: a.IsRedirect, Redirect: a.Redirect}, nil
}

func (x adminExtras) Catalog(name string) *i18n.Catalog { return x.s.ModuleCatalog(name) }
