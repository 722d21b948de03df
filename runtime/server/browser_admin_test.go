package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/sdk/manifest"
)

// withNav gives the versioned module a menu entry for everyone.
func withNav(label string) variant {
	return func(p *modhost.Package) {
		p.Manifest.Capabilities.Nav = []manifest.NavEntry{{Label: label, Path: "/versioned", Access: manifest.AccessPublic}}
	}
}

// TestBrowserOwnerJourney walks a real Chromium through the owner's admin
// UI against a real registry, the way an owner would: sign in, install a
// module after reading what it asks for in plain words, see it in the
// site's menu, update it and roll it back. Every admin page it visits is
// photographed (make test keeps them in build/test-artifacts/browser) and
// checked with axe-core.
func TestBrowserOwnerJourney(t *testing.T) {
	b := newBrowser(t)
	e := newUpdateEnv(t)
	e.publishVersion("1.0.0", withNav("Versioned"))
	e.publishVersion("1.1.0", withNav("Versioned"), withDistinctWasm("1.1.0"))
	runCtx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go e.updater().Run(runCtx)
	e.waitListener(t)
	const password = "admin-password-1234"
	if _, err := e.site.srv.CreateAdmin(context.Background(), "owner", "Owner", "", password); err != nil {
		t.Fatal(err)
	}
	as := httptest.NewServer(e.site.srv.AdminHandler())
	t.Cleanup(as.Close)
	admin := func(p string) string { return as.URL + "/admin" + p }
	type css = chromedp.CSS
	shot := func(name string) {
		t.Helper()
		ctx, cancel := b.step()
		defer cancel()
		p, err := b.screenshot(ctx, "admin-"+name)
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		t.Logf("screenshot: %s", p)
		b.checkAccessible("admin " + name)
	}

	b.do("sign in",
		chromedp.Navigate(admin("/login")),
		chromedp.SendKeys(css(`#username`), "owner"),
		chromedp.SendKeys(css(`#password`), password),
		chromedp.Submit(css(`#password`)),
		chromedp.WaitVisible(css(`nav.side`)),
	)
	shot("dashboard")

	// Install: the catalogue, then what the module asks for in plain words.
	b.do("open the catalogue", chromedp.Navigate(admin("/modules/available")), chromedp.WaitVisible(css(`#install-versioned`)))
	shot("available")
	b.do("choose version 1.0.0",
		chromedp.SetValue(css(`#version-versioned`), "1.0.0"),
		chromedp.Click(css(`#install-versioned`)),
		chromedp.WaitVisible(css(`#asked`)),
	)
	if asked := b.text("read what it asks", "#asked"); !strings.Contains(asked, "Read the list of user names") {
		t.Fatalf("the install page says it asks for %q", asked)
	}
	shot("install")
	b.do("approve and install",
		chromedp.Click(css(`#approve-all`)),
		chromedp.SendKeys(css(`#password`), password),
		chromedp.Click(css(`#confirm-install`)),
		chromedp.WaitVisible(css(`#message`)),
	)
	if m := b.text("read the answer", "#message"); !strings.Contains(m, "versioned@1.0.0 installed") {
		t.Fatalf("install answered %q", m)
	}

	// The site's menu shows it at once.
	b.do("open the site", chromedp.Navigate(e.site.URL+"/"), chromedp.WaitVisible(css(`main`)))
	if !run(b, "look for the menu entry", chromedp.Evaluate[bool](`[...document.querySelectorAll('nav a')].some(a => a.textContent.trim() === "Versioned")`)) {
		t.Fatal("the site's menu has no Versioned entry after the install")
	}
	b.do("follow the menu", chromedp.Click(`//nav//a[normalize-space()="Versioned"]`), chromedp.WaitVisible(css(`body`)))
	if got := b.text("read the module's page", "body"); !strings.Contains(got, "1.0.0") {
		t.Fatalf("the module's page says %q", got)
	}

	// Update now, then roll back.
	b.do("open the module", chromedp.Navigate(admin("/modules/versioned")), chromedp.WaitVisible(css(`#module-version`)))
	shot("module")
	b.do("update now",
		chromedp.Click(css(`#update-now`)),
		chromedp.WaitVisible(css(`#asked`)),
		chromedp.Click(css(`#approve-all`)),
		chromedp.SendKeys(css(`#password`), password),
		chromedp.Click(css(`#confirm-install`)),
		chromedp.WaitVisible(css(`#message`)),
	)
	if v := e.site.srv.Module("versioned").Manifest().Version; v != "1.1.0" {
		t.Fatalf("after update now: %s", v)
	}
	b.do("roll back",
		chromedp.Navigate(admin("/modules/versioned")),
		chromedp.Click(css(`#rollback`)),
		chromedp.WaitVisible(css(`#confirm-rollback`)),
	)
	shot("rollback")
	b.do("confirm the rollback", chromedp.Click(css(`#confirm-rollback`)), chromedp.WaitVisible(css(`#message`)))
	b.do("see the version", chromedp.Navigate(admin("/modules/versioned")), chromedp.WaitVisible(css(`#module-version`)))
	if v := b.text("read the version", "#module-version"); v != "1.0.0" {
		t.Fatalf("after the rollback the module page says %q", v)
	}

	// Disable: its page answers 404 and its menu entry goes, at once; enable:
	// both are back, with no restart.
	inMenu := func(step string) bool {
		b.do(step, chromedp.Navigate(e.site.URL+"/"), chromedp.WaitVisible(css(`main`)))
		return run(b, step+": look for the menu entry", chromedp.Evaluate[bool](`[...document.querySelectorAll('nav a')].some(a => a.textContent.trim() === "Versioned")`))
	}
	before := e.site.srv.Module("versioned")
	b.do("disable the module",
		chromedp.Navigate(admin("/modules/versioned")),
		chromedp.Click(css(`#module-toggle`)),
		chromedp.WaitVisible(css(`#toggle-result`)),
	)
	shot("module-disabled")
	if status, _ := get(t, http.DefaultClient, e.site.URL+"/versioned"); status != 404 {
		t.Fatalf("a disabled module's page answers %d", status)
	}
	if inMenu("the site, module disabled") {
		t.Fatal("a disabled module's menu entry is still on the site")
	}
	b.do("enable the module",
		chromedp.Navigate(admin("/modules/versioned")),
		chromedp.Click(css(`#module-toggle`)),
		chromedp.WaitVisible(css(`#toggle-result`)),
	)
	if status, _ := get(t, http.DefaultClient, e.site.URL+"/versioned"); status != 200 {
		t.Fatalf("an enabled module's page answers %d", status)
	}
	if !inMenu("the site, module enabled") {
		t.Fatal("the menu entry did not come back")
	}
	if e.site.srv.Module("versioned") != before {
		t.Fatal("the module was restarted by the toggle")
	}

	// A module setting, changed in its form, changes what the module says.
	b.do("open the module's settings", chromedp.Navigate(admin("/modules/versioned/settings")), chromedp.WaitVisible(css(`#settings-form`)))
	shot("module-settings")
	run(b, "clear the setting", chromedp.Evaluate[string](`document.querySelector("#setting-version").value = ""`))
	b.do("change the setting",
		chromedp.SendKeys(css(`#setting-version`), "chosen by the owner"),
		chromedp.Click(css(`#settings-save`)),
		chromedp.WaitVisible(css(`#settings-saved`)),
	)
	if _, body := get(t, http.DefaultClient, e.site.URL+"/versioned"); !strings.Contains(body, "chosen by the owner") {
		t.Fatalf("after the settings changed the module says %q", body)
	}

	// Site settings: the name the owner gives shows on the site.
	b.do("open the settings", chromedp.Navigate(admin("/settings")), chromedp.WaitVisible(css(`#name`)))
	shot("settings")
	run(b, "clear the name", chromedp.Evaluate[string](`document.querySelector("#name").value = ""`))
	b.do("rename the site",
		chromedp.SendKeys(css(`#name`), "Boulangerie Martin"),
		chromedp.Submit(css(`#name`)),
		chromedp.WaitVisible(css(`p.ok[role=status]`)),
	)
	b.do("open the site", chromedp.Navigate(e.site.URL+"/"), chromedp.WaitVisible(css(`main`)))
	if got := run(b, "read the title", chromedp.Title()); !strings.Contains(got, "Boulangerie Martin") {
		t.Fatalf("after renaming, the site's title is %q", got)
	}

	// Themes: preview, switch, and see the site change; every theme's pages
	// pass axe (TestThemesAndSettings renders a module page in each).
	b.do("open the themes", chromedp.Navigate(admin("/themes")), chromedp.WaitVisible(css(`#theme-harbor`)))
	shot("themes")
	for _, name := range []string{"harbor", "meadow", "builtin"} {
		b.do("use "+name,
			chromedp.Navigate(admin("/themes")),
			chromedp.Click(css(`#theme-`+name+` button`)),
			chromedp.WaitVisible(css(`p.ok[role=status]`)),
		)
		for _, p := range []string{"/", "/login", "/register", "/no-such-page"} {
			b.do(name+": open "+p, chromedp.Navigate(e.site.URL+p), chromedp.WaitVisible(css(`body`)))
			if !run(b, name+": which theme", chromedp.Evaluate[bool](`document.body.classList.contains("theme-`+name+`")`)) {
				t.Fatalf("%s: %s is not in the theme just chosen", name, p)
			}
			b.checkAccessible(name + " " + p)
		}
		ctx, cancel := b.step()
		if _, err := b.screenshot(ctx, "site-"+name); err != nil {
			t.Fatal(err)
		}
		cancel()
	}

	// Every other page of the side navigation, photographed and checked.
	for _, p := range []string{"/modules", "/updates", "/users", "/blocks", "/audit", "/logs", "/themes/available"} {
		b.do("open "+p, chromedp.Navigate(admin(p)), chromedp.WaitVisible(css(`main h1`)))
		shot(strings.ReplaceAll(strings.TrimPrefix(p, "/"), "/", "-"))
	}
	b.do("open a user", chromedp.Navigate(admin("/users")), chromedp.Click(css(`#user-owner a`)), chromedp.WaitVisible(css(`main h1`)))
	shot("user")
}
