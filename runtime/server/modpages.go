package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/websonic/websonic/internal/i18n"
	"github.com/websonic/websonic/runtime/internal/engine"
	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/runtime/internal/site"
	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/abi/abihttp"
)

// AdminPageCall is what an admin page's host call carries to the module
// (sdk/ABI.md section 18): the admin's request to the page.
type AdminPageCall struct {
	Method string     `json:"method"` // GET or POST
	Query  string     `json:"query"`  // the page URL's query, without "?"
	Form   url.Values `json:"form"`   // a POST's form, without the shell's csrf field
	// Lang is the admin area's language, which a page the host renders
	// for the module (sdk.Render) is translated into; the module does
	// not receive it.
	Lang string `json:"-"`
}

// AdminPageAnswer is a module's answer to an admin page call.
type AdminPageAnswer struct {
	Status int
	// Fragment is the HTML fragment to place in the admin layout, not
	// yet sanitized (the admin area does it).
	Fragment []byte
	// Redirect, when the module answered 3xx, is the query (without "?")
	// of the page to show next: a redirect never leaves the page.
	Redirect string
	// IsRedirect says the module answered 3xx.
	IsRedirect bool
}

// maxAdminFragment bounds an admin page's fragment.
const maxAdminFragment = 1 << 20

// ErrUnknownPage: the module declares no such admin page.
var ErrUnknownPage = errors.New("no such admin page")

// AdminPage calls a module's admin page for user (an admin) with the
// admin's request. The page must be declared in the module's manifest
// (capabilities.admin_pages) and the module enabled. A POST is audited
// (module.admin_page).
func (s *Server) AdminPage(ctx context.Context, user *site.User, module, page string, call AdminPageCall) (*AdminPageAnswer, error) {
	if !user.Has(site.RoleAdmin) {
		return nil, ErrNotAdmin
	}
	m := s.Module(module)
	if m == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownModule, module)
	}
	if s.moduleDisabled(module) {
		return nil, fmt.Errorf("%w: %s", ErrModuleDisabled, module)
	}
	if m.Manifest().Capabilities.AdminPage(page) == nil {
		return nil, fmt.Errorf("%w: %s has no admin page %q", ErrUnknownPage, module, page)
	}
	if call.Form == nil {
		call.Form = url.Values{}
	}
	body, err := json.Marshal(call)
	if err != nil {
		return nil, err
	}
	au := &abi.User{ID: user.ID, Username: user.Username, DisplayName: user.DisplayName, Roles: user.Roles()}
	resp, err := m.Call(ctx, abi.AdminPagePathPrefix+page, au, body, "admin-"+randomID())
	if call.Method == http.MethodPost {
		detail := map[string]any{"module": module, "page": page, "version": m.Manifest().Version, "outcome": "ok"}
		if err != nil {
			detail["outcome"], detail["error"] = "error", err.Error()
		} else {
			detail["status"] = resp.Status
		}
		s.auditBy(ctx, user.ID, "module.admin_page", module+" "+page, detail)
	}
	switch {
	case errors.Is(err, engine.ErrTimeout):
		return nil, fmt.Errorf("%w: %s's page %s did not answer within its deadline", ErrCommandFailed, module, page)
	case err != nil && resp != nil:
		return nil, fmt.Errorf("%w: %s declares the page %s but does not serve it", ErrUnknownPage, module, page)
	case err != nil:
		return nil, fmt.Errorf("server: %s's page %s: %w", module, page, err)
	}
	if name, ok := abihttp.Render(resp); ok && (resp.Status < 300 || resp.Status >= 400) {
		p := s.catalog.Printer(s.catalog.Negotiate(call.Lang, "")).With(s.catalogOf(m))
		if resp.Body, err = m.RenderPage(name, resp.Body, p); err != nil {
			return nil, fmt.Errorf("server: %s's page %s: %w", module, page, err)
		}
	}
	if len(resp.Body) > maxAdminFragment {
		return nil, fmt.Errorf("server: %s's page %s: a fragment of %d bytes, more than %d", module, page, len(resp.Body), maxAdminFragment)
	}
	a := &AdminPageAnswer{Status: resp.Status, Fragment: resp.Body}
	if resp.Status >= 300 && resp.Status < 400 {
		// The SDK answers a redirect's target in the body (a host call's
		// answer carries no headers); a Location header says the same.
		a.IsRedirect, a.Fragment = true, nil
		loc := string(resp.Body)
		for _, h := range resp.Headers {
			if http.CanonicalHeaderKey(h.Name) == "Location" {
				loc = h.Value
			}
		}
		if u, err := url.Parse(strings.TrimSpace(loc)); err == nil {
			a.Redirect = u.RawQuery
		}
	}
	return a, nil
}

// moduleCatalog is a module version's message catalogue (nil: none, or
// one that does not parse).
type moduleCatalog struct{ c *i18n.Catalog }

// ModuleCatalog returns the running module's own message catalogue: the
// files locales/LANG.json among its assets (package i18n's format), or nil
// when it ships none (or they do not parse: logged once per version).
func (s *Server) ModuleCatalog(name string) *i18n.Catalog {
	m := s.Module(name)
	if m == nil {
		return nil
	}
	return s.catalogOf(m)
}

func (s *Server) catalogOf(m *modhost.Module) *i18n.Catalog {
	if v, ok := s.mstate.catalogs.Load(m); ok {
		return v.(*moduleCatalog).c
	}
	mc := &moduleCatalog{}
	set, _ := m.Assets()
	files := map[string][]byte{}
	if set != nil {
		for _, lang := range s.catalog.Languages() {
			if b, ok := set.File(path.Join("locales", lang+".json")); ok {
				files[lang+".json"] = b
			}
		}
	}
	if len(files) > 0 {
		c, err := i18n.Parse(files)
		if err != nil {
			s.log.Warn("the module's message catalogue does not parse; its texts stay untranslated",
				"module", m.Manifest().Name, "version", m.Manifest().Version, "error", err)
		} else {
			mc.c = c
		}
	}
	s.mstate.catalogs.Store(m, mc)
	return mc.c
}
