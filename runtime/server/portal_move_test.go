package server

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/websonic/websonic/internal/tufrepo"
	"github.com/websonic/websonic/runtime/internal/admin"
	"github.com/websonic/websonic/runtime/internal/movelink"
	"github.com/websonic/websonic/runtime/internal/updater"
)

// portalAdmin signs username in to s's admin area (its own origin) and
// returns the client and a form token.
func portalAdmin(t *testing.T, s *testSite, username, password string) (*adminClient, string) {
	t.Helper()
	as := httptest.NewServer(s.srv.AdminHandler())
	t.Cleanup(as.Close)
	c := &adminClient{t: t, origin: as.URL}
	if resp := c.login(username, password); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("admin login %s: %d", username, resp.StatusCode)
	}
	return c, c.csrf()
}

// csrf is a form token of c's session (from the import page).
func (c *adminClient) csrf() string {
	c.t.Helper()
	resp, body := c.do("GET", "/admin/migration/import", nil, nil)
	m := csrfRE.FindStringSubmatch(body)
	if resp.StatusCode != 200 || m == nil {
		c.t.Fatalf("import page: %d, token %v", resp.StatusCode, m)
	}
	return m[1]
}

// waitMoveJob waits until s's portal has finished a job of kind and
// returns it.
func waitMoveJob(t *testing.T, s *testSite, kind string) admin.MoveJob {
	t.Helper()
	var j admin.MoveJob
	waitFor(t, func() bool {
		p := s.srv.portal
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.job == nil || p.job.Kind != kind || p.job.Running {
			return false
		}
		j = *p.job
		return true
	})
	return j
}

// cutOnce is a proxy in front of site that cuts the first download of a
// one-time link after its first 4 KiB (asked of the source as a range,
// so the link is not spent), as a network failure would.
func cutOnce(t *testing.T, site string) (proxy string, cuts, resumed *atomic.Int32) {
	t.Helper()
	cuts, resumed = new(atomic.Int32), new(atomic.Int32)
	src, _ := url.Parse(site)
	rp := httputil.NewSingleHostReverseProxy(src)
	ps := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		link := r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, movelink.LinkPath)
		if link && r.Header.Get("Range") != "" {
			resumed.Add(1)
		}
		if !link || r.Header.Get("Range") != "" || cuts.Add(1) != 1 {
			rp.ServeHTTP(w, r)
			return
		}
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, site+r.URL.Path, nil)
		req.Header.Set("Range", "bytes=0-4095")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		var total int64
		if _, err := fmt.Sscanf(resp.Header.Get("Content-Range"), "bytes 0-4095/%d", &total); err != nil || resp.StatusCode != http.StatusPartialContent {
			http.Error(w, "the archive is too small to cut", http.StatusBadGateway)
			return
		}
		w.Header().Set("ETag", resp.Header.Get("ETag"))
		w.Header().Set("Accept-Ranges", "bytes")
		w.Header().Set("Content-Length", strconv.FormatInt(total, 10))
		w.WriteHeader(http.StatusOK)
		io.Copy(w, resp.Body)
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // the connection drops in the middle
	}))
	t.Cleanup(ps.Close)
	return ps.URL, cuts, resumed
}

var (
	recipientRE   = regexp.MustCompile(`id="recipient" readonly value="(age1[^"]+)"`)
	linkRE        = regexp.MustCompile(`id="link" readonly value="([^"]+)"`)
	fingerprintRE = regexp.MustCompile(`<code id="fingerprint">(SHA256:[^<]+)</code>`)
)

// TestMigrationPortalMove moves a site between two real runtimes through
// the migration portal's pages only: the target's recipient pasted on the
// source's export page, its one-time link pasted on the target's import
// page; the target downloads it (cut once, resumed), checks it (the dry
// run's report), imports it with the fingerprint confirmed and this
// site's own data replaced (backed up first), shows the final report and
// what to do next, and serves the source's site at once; after a restart
// the import page still shows that last import.
func TestMigrationPortalMove(t *testing.T) {
	e := newUpdateEnv(t)
	ctx := context.Background()
	e.publishVersion("1.0.0")
	if _, err := e.updater().Install(ctx, "versioned", "1.0.0", tufrepo.ChannelStable, updater.PolicyPinned); err != nil {
		t.Fatal(err)
	}
	a := e.site
	const pass = "admin-password-1234"
	if _, err := a.srv.CreateAdmin(ctx, "owner", "Owner", "", pass); err != nil {
		t.Fatal(err)
	}
	if _, err := a.srv.CreateAdmin(ctx, "dora", "Dora", "", "maple-harbor-5678"); err != nil {
		t.Fatal(err)
	}
	proxy, cuts, resumed := cutOnce(t, a.URL)
	a.srv.cfg.PublicURL = proxy // the links the source's pages show

	db := newTargetDB(t)
	dataDir := siteDataDir(t)
	b := e.startTargetOn(t, db, dataDir)
	serveWatching(t, b) // the request queue: the import's reload
	if _, err := b.srv.CreateAdmin(ctx, "newowner", "New owner", "", "target-password-1234"); err != nil {
		t.Fatal(err)
	}
	ta, tcsrf := portalAdmin(t, b, "newowner", "target-password-1234")
	sa, scsrf := portalAdmin(t, a, "owner", pass)

	// The source exports to the target's recipient.
	_, page := ta.do("GET", "/admin/migration/import", nil, nil)
	m := recipientRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the import page shows no recipient:\n%s", page)
	}
	resp, page := sa.do("POST", "/admin/migration/export", url.Values{"csrf": {scsrf}, "recipient": {m[1]}}, nil)
	lm := linkRE.FindStringSubmatch(page)
	if resp.StatusCode != 200 || lm == nil || !strings.HasPrefix(lm[1], proxy+movelink.LinkPath) {
		t.Fatalf("export: %d, link %v", resp.StatusCode, lm)
	}
	if j := waitMoveJob(t, a, "export"); j.Err != "" {
		t.Fatalf("export: %s", j.Err)
	}
	_, page = sa.do("GET", "/admin/migration/export", nil, nil)
	fm := fingerprintRE.FindStringSubmatch(page)
	if fm == nil {
		t.Fatalf("the export page shows no fingerprint:\n%s", page)
	}

	// The target fetches the link (cut once, resumed) and checks it.
	if resp, _ := ta.do("POST", "/admin/migration/import/fetch", url.Values{"csrf": {tcsrf}, "link": {lm[1]}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("fetch: %d", resp.StatusCode)
	}
	if j := waitMoveJob(t, b, "fetch"); j.Err != "" {
		t.Fatalf("fetch: %s", j.Err)
	}
	if cuts.Load() != 1 || resumed.Load() != 1 {
		t.Fatalf("the download was cut %d times and resumed %d times, want once each", cuts.Load(), resumed.Load())
	}
	if resp, _ := ta.do("POST", "/admin/migration/import/check", url.Values{"csrf": {tcsrf}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("check: %d", resp.StatusCode)
	}
	if j := waitMoveJob(t, b, "check"); j.Err != "" {
		t.Fatalf("check: %s", j.Err)
	}
	_, page = ta.do("GET", "/admin/migration/import", nil, nil)
	for _, want := range []string{`id="report-ok"`, `id="report-tables"`, "module versioned 1.0.0", fm[1], `id="import"`} {
		if !strings.Contains(page, want) {
			t.Fatalf("the dry run's report lacks %s:\n%s", want, page)
		}
	}
	if strings.Contains(page, `id="next"`) {
		t.Fatal("the dry run shows what to do after an import")
	}

	// A wrong fingerprint is refused; the right one imports over this
	// site's own data (backed up first).
	if resp, _ := ta.do("POST", "/admin/migration/import/run", url.Values{"csrf": {tcsrf}, "fingerprint": {"SHA256:not-the-source"}, "replace": {"1"}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("import with a wrong fingerprint: %d", resp.StatusCode)
	}
	if j := waitMoveJob(t, b, "import"); !strings.Contains(j.Err, "not signed by the confirmed source") {
		t.Fatalf("import with a wrong fingerprint: %q", j.Err)
	}
	if resp, _ := ta.do("POST", "/admin/migration/import/run", url.Values{"csrf": {tcsrf}, "fingerprint": {html.UnescapeString(fm[1])}, "replace": {"1"}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("import: %d", resp.StatusCode)
	}
	j := waitMoveJob(t, b, "import")
	if j.Err != "" || j.Report == nil || !j.Report.Switched || j.Report.Backup == "" {
		t.Fatalf("import: %q %+v", j.Err, j.Report)
	}

	// The target serves the source's site at once: its admin signs in
	// there (the target's own accounts went with its data), sees the
	// report and what to do next; its module serves.
	if resp, _ := ta.do("GET", "/admin/migration/import", nil, nil); resp.StatusCode == 200 {
		t.Fatal("the replaced site's admin session still works")
	}
	ta2, _ := portalAdmin(t, b, "owner", pass)
	_, page = ta2.do("GET", "/admin/migration/import", nil, nil)
	for _, want := range []string{`id="report-ok"`, `id="next"`, "DNS"} {
		if !strings.Contains(page, want) {
			t.Fatalf("the import's report lacks %s:\n%s", want, page)
		}
	}
	waitFor(t, func() bool { m := b.srv.Module("versioned"); return m != nil })
	b.wantServing(t, "1.0.0")
	if resp := loginFrom(t, b.client(t), b.URL, "192.0.2.9", "dora", "maple-harbor-5678"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("dora's login on the target: %s", resp.Status)
	}

	// After a restart (a new process on the same site) the page shows the
	// last import, from websonic.site_moves.
	c := e.startTargetOn(t, db, dataDir)
	ca, _ := portalAdmin(t, c, "owner", pass)
	_, page = ca.do("GET", "/admin/migration/import", nil, nil)
	for _, want := range []string{`id="job-done"`, `id="report-ok"`, `id="next"`, fm[1]} {
		if !strings.Contains(page, want) {
			t.Fatalf("after a restart the import page lacks %s:\n%s", want, page)
		}
	}
}
