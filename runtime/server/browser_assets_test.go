package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// ranOn opens a page of the assets test module and returns the scripts
// that ran on it (window.ran, which the page's report.js shows in #ran).
func ranOn(b *browser, u string) []string {
	b.t.Helper()
	b.do("open "+u,
		chromedp.Navigate(u),
		chromedp.WaitVisible(chromedp.Search(`//p[@id="ran" and normalize-space()!="not loaded"]`)),
	)
	var ran []string
	if err := json.Unmarshal([]byte(b.text("read what ran", "#ran")), &ran); err != nil {
		b.t.Fatal(err)
	}
	return ran
}

// TestBrowserModuleScripts: on a module page, Chromium runs the module
// version's own asset script, and blocks an inline script, an inline event
// handler, eval, a script served by a module route and another module's
// asset script.
func TestBrowserModuleScripts(t *testing.T) {
	b := newBrowser(t)
	s := newAssetSite(t)
	_, own := s.srv.Module("assets").Assets()
	_, other := s.srv.Module("other").Assets()
	if own == "" || other == "" || own == other {
		t.Fatalf("asset prefixes %q, %q", own, other)
	}
	want := []string{"asset:" + s.URL + own + "app.js"}
	for _, p := range []string{"/assets/page", "/assets/framed"} {
		ran := ranOn(b, s.URL+p+"?other="+url.QueryEscape(s.URL+other+"app.js"))
		if !slices.Equal(ran, want) {
			t.Errorf("%s: scripts that ran: %q, want only %q", p, ran, want)
		}
	}
	// The other module's script does run on its own pages: what blocked
	// it above was the policy, not the file.
	if status, _ := get(t, http.DefaultClient, s.URL+other+"app.js"); status != 200 {
		t.Fatalf("other's app.js: %d", status)
	}
}

// adminRecorder notes the admin area's answers to POST /admin/modules/approve.
type adminRecorder struct {
	mu       sync.Mutex
	statuses []int
}

func (a *adminRecorder) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/admin/modules/approve" {
			next.ServeHTTP(w, r)
			return
		}
		sw := &statusWriter{ResponseWriter: w} // middleware.go's
		next.ServeHTTP(sw, r)
		a.mu.Lock()
		a.statuses = append(a.statuses, sw.status)
		a.mu.Unlock()
	})
}

func (a *adminRecorder) seen() []int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.statuses)
}

// TestBrowserAdminIsolation: an admin signed in to the site and to the
// admin area opens a module page whose asset script tries every way to
// approve its own module's staged update (given even the admin's
// password); nothing is approved. The admin then approves it in the admin
// area, which works.
func TestBrowserAdminIsolation(t *testing.T) {
	b := newBrowser(t)
	rec := &adminRecorder{}
	e, adminURL := newStagedAssetsEnv(t, rec.wrap)
	const password = "admin-password-1234"
	if _, err := e.site.srv.CreateAdmin(t.Context(), "root", "Root", "", password); err != nil {
		t.Fatal(err)
	}
	type css = chromedp.CSS
	button := func(label string) chromedp.Search {
		return chromedp.Search(fmt.Sprintf(`//button[normalize-space()=%q]`, label))
	}
	b.do("sign in to the site",
		chromedp.Navigate(e.site.URL+"/login"),
		chromedp.SendKeys(css(`#username`), "root"),
		chromedp.SendKeys(css(`#password`), password),
		chromedp.Click(button("Log in")),
		chromedp.WaitVisible(button("Log out")),
	)
	b.do("sign in to the admin area",
		chromedp.Navigate(adminURL+"/admin/login"),
		chromedp.SendKeys(css(`#username`), "root"),
		chromedp.SendKeys(css(`#password`), password),
		chromedp.Click(button("Sign in")),
		chromedp.WaitVisible(css(`nav.side`)),
		chromedp.Navigate(adminURL+"/admin/modules"),
		chromedp.WaitVisible(css(`#approval-assets`)),
	)
	digest := run(b, "read the release's digest", chromedp.Evaluate[string](`document.querySelector('input[name=digest]').value`))
	if !strings.HasPrefix(digest, "sha256:") {
		t.Fatalf("digest %q", digest)
	}

	q := url.Values{"admin": {adminURL}, "module": {"assets"}, "digest": {digest}, "password": {password}}
	b.do("open the attacking module page",
		chromedp.Navigate(e.site.URL+"/assets/attack?"+q.Encode()),
		chromedp.WaitVisible(css(`body[data-done="1"] #out`)),
	)
	var results map[string]string
	if err := json.Unmarshal([]byte(b.text("read the attack's results", "#out")), &results); err != nil {
		t.Fatal(err)
	}
	for k, v := range results {
		t.Logf("%-32s %s", k, v)
	}
	if len(results) < 13 {
		t.Fatalf("the attack script did not run every attempt: %v", results)
	}
	if c := results["document.cookie"]; strings.Contains(c, "websonic_admin") || strings.Contains(c, "websonic_session") {
		t.Errorf("the script read a session cookie: %q", c)
	}
	for _, k := range []string{"iframe", "window.open"} {
		if strings.HasPrefix(results[k], "read:") {
			t.Errorf("%s: the script read the admin page: %q", k, results[k])
		}
	}
	if r := results["read the admin page"]; !strings.HasPrefix(r, "error") {
		t.Errorf("the script read the admin page with fetch: %q", r)
	}
	for k, v := range results {
		if strings.HasPrefix(k, "site /") && v != "status 404" && v != "status 405" {
			t.Errorf("%s: %s", k, v)
		}
	}
	// Every post the script sent (fetch and XHR with and without
	// credentials, the forms) reached the admin area and was refused.
	waitFor(t, func() bool { return len(rec.seen()) >= 6 })
	for _, st := range rec.seen() {
		if st != http.StatusForbidden {
			t.Fatalf("the admin area answered an attacking post with %d (all: %v)", st, rec.seen())
		}
	}
	wantStaged(t, e)

	// The admin approves in the admin area.
	b.do("approve in the admin area",
		chromedp.Navigate(adminURL+"/admin/modules"),
		chromedp.SendKeys(css(`#approval-assets input[name=password]`), password),
		chromedp.Click(button("Approve assets 1.1.0")),
		chromedp.WaitVisible(css(`#message`)),
	)
	if got := b.text("read the answer", "#message"); !strings.Contains(got, "1.1.0") {
		t.Fatalf("approval answered %q", got)
	}
	if m := e.site.srv.Module("assets"); m == nil || m.Manifest().Version != "1.1.0" {
		t.Fatalf("after the admin's approval, running %v", m)
	}
	if st := rec.seen(); st[len(st)-1] != 200 {
		t.Fatalf("admin area statuses %v", st)
	}
}
