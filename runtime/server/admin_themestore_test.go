package server

import (
	"context"
	"fmt"
	"html"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/websonic/websonic/internal/tufrepo"
	"github.com/websonic/websonic/runtime/internal/theme"
	"github.com/websonic/websonic/runtime/internal/updater"
)

// publishRealTheme publishes name@version made from the built-in theme (so
// the site's full validator passes it), its body class "theme-<name>-<version>"
// telling which version a page was rendered with; extra files are added or
// replace.
func (e *updateEnv) publishRealTheme(name, version string, extra map[string]string) {
	e.t.Helper()
	dir := filepath.Join(e.pkgs, "theme-"+name+"-"+version)
	err := fs.WalkDir(theme.BuiltinFS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(theme.BuiltinFS(), p)
		if err != nil {
			return err
		}
		switch p {
		case "theme.json":
			b = fmt.Appendf(nil, `{"name":%q,"version":%q,"description":"A warm theme for %s","theme_version":1}`, name, version, name)
		case "layout.html":
			b = []byte(strings.Replace(string(b), "theme-builtin", "theme-"+name+"-"+version, 1))
		}
		if x, ok := extra[p]; ok {
			b = []byte(x)
		}
		out := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		return os.WriteFile(out, b, 0o644)
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.pub.PublishTheme(context.Background(), dir, tufrepo.ChannelStable, nil); err != nil {
		e.t.Fatal(err)
	}
}

// TestAdminThemesFromRegistry: through the admin area over HTTP, with a
// real registry: the catalogue lists a published theme; installing it is
// confirmed (version, what changes) and bound to the release shown; the
// site can then use it; an update offered under notify is shown and
// installed from the page; the policy and channel change; rollback after
// a confirmation step; a broken release is refused with its reason on the
// page and in the theme's history, the installed version serving; removal
// is refused for the active theme, then, after switching, needs the
// theme's name typed; every action is audited.
func TestAdminThemesFromRegistry(t *testing.T) {
	e := newUpdateEnv(t)
	ctx := context.Background()
	srv := e.site.srv
	e.publishRealTheme("sunrise", "1.0.0", nil)
	e.publishRealTheme("sunrise", "1.1.0", nil)
	runCtx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	go e.updater().Run(runCtx)
	e.waitListener(t)
	as := httptest.NewServer(srv.AdminHandler())
	t.Cleanup(as.Close)
	c, csrf := adminSession(t, srv, as.URL)
	installed := func() []updater.InstalledTheme {
		t.Helper()
		ts, err := srv.InstalledThemes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	siteShows := func(version string) {
		t.Helper()
		waitFor(t, func() bool {
			_, b := get(t, http.DefaultClient, e.site.URL+"/")
			return strings.Contains(b, `class="theme-sunrise-`+version+` `)
		})
	}
	must := func(resp *http.Response, page string, status int, wants ...string) {
		t.Helper()
		if resp.StatusCode != status {
			t.Fatalf("%s %s = %d, want %d:\n%s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, status, page)
		}
		for _, w := range wants {
			if !strings.Contains(page, w) {
				t.Fatalf("%s %s: no %q in:\n%s", resp.Request.Method, resp.Request.URL.Path, w, page)
			}
		}
	}
	post := func(path string, v url.Values) (*http.Response, string) {
		if v == nil {
			v = url.Values{}
		}
		v.Set("csrf", csrf)
		return c.do("POST", path, v, nil)
	}

	// What the registry offers.
	resp, page := c.do("GET", "/admin/themes", nil, nil)
	must(resp, page, 200, `id="add-themes"`)
	resp, page = c.do("GET", "/admin/themes/available", nil, nil)
	must(resp, page, 200, `id="offer-sunrise"`, "A warm theme for sunrise", `<option value="1.1.0">1.1.0 (stable)</option>`, `<option value="1.0.0">`, `id="install-sunrise"`)

	// The confirmation names the version and what changes; the install is
	// bound to the release shown.
	resp, page = c.do("GET", "/admin/themes/install?theme=sunrise&version=1.0.0&channel=stable", nil, nil)
	must(resp, page, 200, "sunrise 1.0.0", "The site keeps its current look until you choose to use it.", `id="confirm-install"`)
	d := digestRE.FindStringSubmatch(page)
	if d == nil {
		t.Fatalf("no digest:\n%s", page)
	}
	install := url.Values{"theme": {"sunrise"}, "version": {"1.0.0"}, "channel": {"stable"}, "policy": {"notify"}, "digest": {html.UnescapeString(d[1])}}
	wrong := url.Values{"theme": {"sunrise"}, "version": {"1.1.0"}, "channel": {"stable"}, "policy": {"notify"}, "digest": {html.UnescapeString(d[1])}}
	resp, page = post("/admin/themes/install", wrong)
	must(resp, page, 409, "Nothing changed", "changed since it was confirmed")
	if ts := installed(); len(ts) != 0 {
		t.Fatalf("installed after a mismatched digest: %+v", ts)
	}
	resp, page = post("/admin/themes/install", install)
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/admin/themes/sunrise/manage?done=installed" {
		t.Fatalf("install: %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), page)
	}
	resp, page = c.do("GET", "/admin/themes/sunrise/manage?done=installed", nil, nil)
	must(resp, page, 200, "sunrise 1.0.0 is installed.", `<dd id="theme-version">1.0.0</dd>`, `<option value="notify" selected>`, `id="uninstall"`)

	// The site can use it.
	resp, page = post("/admin/themes/activate", url.Values{"theme": {"sunrise"}})
	if resp.StatusCode != 303 {
		t.Fatalf("activate: %d\n%s", resp.StatusCode, page)
	}
	siteShows("1.0.0")

	// Notify: the newer release is shown, and installed from the page.
	if err := e.updater().Check(ctx); err != nil {
		t.Fatal(err)
	}
	resp, page = c.do("GET", "/admin/themes", nil, nil)
	must(resp, page, 200, "Version 1.1.0 is available.", `id="manage-sunrise"`)
	resp, page = c.do("GET", "/admin/themes/sunrise/manage", nil, nil)
	must(resp, page, 200, `id="update-available"`, `id="install-available"`, `id="remove-active"`)
	if strings.Contains(page, `id="uninstall"`) {
		t.Fatalf("the active theme offers removal:\n%s", page)
	}
	resp, page = c.do("GET", "/admin/themes/install?theme=sunrise&version=1.1.0&channel=stable", nil, nil)
	must(resp, page, 200, "Version 1.0.0 is installed: this replaces it with version 1.1.0.", "every visitor sees the new version at once", `<option value="notify" selected>`)
	install.Set("version", "1.1.0")
	install.Set("digest", html.UnescapeString(digestRE.FindStringSubmatch(page)[1]))
	if resp, page = post("/admin/themes/install", install); resp.StatusCode != 303 {
		t.Fatalf("update: %d\n%s", resp.StatusCode, page)
	}
	siteShows("1.1.0")

	// Policy and channel.
	resp, page = post("/admin/themes/sunrise/policy", url.Values{"policy": {"sometimes"}, "channel": {"stable"}})
	must(resp, page, 400)
	if resp, page = post("/admin/themes/sunrise/policy", url.Values{"policy": {"pinned"}, "channel": {"beta"}}); resp.StatusCode != 303 {
		t.Fatalf("policy: %d\n%s", resp.StatusCode, page)
	}
	if ts := installed(); len(ts) != 1 || ts[0].Policy != updater.PolicyPinned || ts[0].Channel != tufrepo.ChannelBeta {
		t.Fatalf("after the policy change: %+v", ts)
	}
	resp, page = c.do("GET", "/admin/themes/sunrise/manage?done=policy", nil, nil)
	must(resp, page, 200, "The updates policy is saved.", `<option value="pinned" selected>`, `<option value="beta" selected>`, `id="rollback"`)

	// Rollback, after a confirmation step.
	resp, page = post("/admin/themes/sunrise/rollback", nil)
	must(resp, page, 200, `id="confirm-rollback"`, "sunrise goes back from version 1.1.0 to version 1.0.0", "every visitor sees the older version at once")
	if ts := installed(); ts[0].Version != "1.1.0" {
		t.Fatalf("rolled back before the confirmation: %+v", ts)
	}
	if resp, page = post("/admin/themes/sunrise/rollback", url.Values{"confirm": {"yes"}}); resp.StatusCode != 303 {
		t.Fatalf("rollback: %d\n%s", resp.StatusCode, page)
	}
	if ts := installed(); ts[0].Version != "1.0.0" {
		t.Fatalf("after the rollback: %+v", ts)
	}
	siteShows("1.0.0")

	// A broken release: refused with its reason, on the page and in the
	// history; 1.0.0 serves on.
	e.publishRealTheme("sunrise", "1.2.0", map[string]string{
		"pages/home.html": `{{define "content"}}<h1>{{.Site.Name}}</h1><img src="{{asset "images/missing-hero.png"}}" alt="">{{end}}`,
	})
	resp, page = c.do("GET", "/admin/themes/install?theme=sunrise&version=1.2.0&channel=stable", nil, nil)
	must(resp, page, 200, `id="confirm-install"`)
	install.Set("version", "1.2.0")
	install.Set("digest", html.UnescapeString(digestRE.FindStringSubmatch(page)[1]))
	resp, page = post("/admin/themes/install", install)
	must(resp, page, 409, "Nothing changed: the site keeps the themes it had.", "missing-hero.png")
	if ts := installed(); ts[0].Version != "1.0.0" {
		t.Fatalf("after the broken release: %+v", ts)
	}
	siteShows("1.0.0")
	resp, page = c.do("GET", "/admin/themes/sunrise/manage", nil, nil)
	must(resp, page, 200, `<li class="error">`, "failed 1.0.0 → 1.2.0", "missing-hero.png", "rolled back 1.1.0 → 1.0.0", "installed  → 1.0.0")

	// Removal: refused while the site uses it.
	resp, page = post("/admin/themes/sunrise/uninstall", url.Values{"confirm": {"sunrise"}})
	must(resp, page, 409, "The site uses sunrise now, so it cannot be removed.")
	if len(installed()) != 1 {
		t.Fatal("the active theme was removed")
	}
	// After switching, it needs its name typed (and the form's token).
	if resp, page = post("/admin/themes/activate", url.Values{"theme": {theme.BuiltinName}}); resp.StatusCode != 303 {
		t.Fatalf("switching back: %d\n%s", resp.StatusCode, page)
	}
	resp, page = post("/admin/themes/sunrise/uninstall", nil)
	must(resp, page, 200, `id="confirm-name"`, `id="confirm-uninstall"`)
	resp, page = post("/admin/themes/sunrise/uninstall", url.Values{"confirm": {"Sunrise"}})
	must(resp, page, 400, `id="wrong-name"`)
	resp, page = c.do("POST", "/admin/themes/sunrise/uninstall", url.Values{"confirm": {"sunrise"}}, nil)
	must(resp, page, 403)
	if len(installed()) != 1 {
		t.Fatal("removed by a wrong name or without the form's token")
	}
	resp, page = post("/admin/themes/sunrise/uninstall", url.Values{"confirm": {"sunrise"}})
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/admin/themes?removed=sunrise" {
		t.Fatalf("uninstall: %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), page)
	}
	if ts := installed(); len(ts) != 0 {
		t.Fatalf("after the removal: %+v", ts)
	}
	resp, page = c.do("GET", "/admin/themes?removed=sunrise", nil, nil)
	must(resp, page, 200, "The theme sunrise is removed.")
	if strings.Contains(page, `id="theme-sunrise"`) {
		t.Fatalf("the removed theme is still listed:\n%s", page)
	}

	for _, action := range []string{"admin.theme_install", "admin.theme_policy", "admin.theme_rollback", "admin.theme_uninstall"} {
		if !audited(t, srv, action, "sunrise") {
			t.Errorf("%s not audited", action)
		}
	}
}
