package server

import (
	"archive/zip"
	"bytes"
	"context"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/internal/buildinfo"
	"github.com/websonic/websonic/runtime/internal/updater"
)

// adminSession signs in a new admin on the site's admin area and returns
// the client and its CSRF token.
func adminSession(t *testing.T, s *Server, adminURL string) (*adminClient, string) {
	t.Helper()
	const password = "admin-password-1234"
	if _, err := s.CreateAdmin(context.Background(), "root", "Root", "", password); err != nil {
		t.Fatal(err)
	}
	c := &adminClient{t: t, origin: adminURL}
	if resp := c.login("root", password); resp.StatusCode != 303 || c.cookie == nil {
		t.Fatalf("admin login: %d", resp.StatusCode)
	}
	_, page := c.do("GET", "/admin/", nil, nil)
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf token:\n%s", page)
	}
	return c, html.UnescapeString(m[1])
}

func schemaExists(t *testing.T, s *Server, schema string) bool {
	t.Helper()
	var ok bool
	if err := s.db.Pool.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

func audited(t *testing.T, s *Server, action, subject string) bool {
	t.Helper()
	var n int
	if err := s.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM websonic.audit_log WHERE action = $1 AND subject = $2 AND detail->>'ok' = 'true'`,
		action, subject).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// TestAdminModulesJourney: from a real registry, through the admin area
// over HTTP: the catalogue lists a published module with its description;
// installing it needs the approval box and the password; it then serves;
// update now, rollback, policy, export, and uninstall (a wrong typed name
// drops nothing; the right one drops its schema); every action audited.
func TestAdminModulesJourney(t *testing.T) {
	e := newUpdateEnv(t)
	ctx := context.Background()
	e.publishVersion("1.0.0", withMigrations(migNotes), withNotes)
	e.publishVersion("1.1.0", withMigrations(migNotes), withNotes, withDistinctWasm("1.1.0"))
	runCtx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	go e.updater().Run(runCtx)
	e.waitListener(t)
	as := httptest.NewServer(e.site.srv.AdminHandler())
	t.Cleanup(as.Close)
	c, csrf := adminSession(t, e.site.srv, as.URL)
	srv := e.site.srv

	_, page := c.do("GET", "/admin/modules/available", nil, nil)
	if !strings.Contains(page, `id="install-versioned"`) || !strings.Contains(page, "Test-only module whose answers name the version") ||
		!strings.Contains(page, `<option value="1.1.0">1.1.0 (stable)</option>`) || !strings.Contains(page, `<option value="1.0.0">`) {
		t.Fatalf("catalogue:\n%s", page)
	}
	resp, page := c.do("GET", "/admin/modules/install?module=versioned&version=1.0.0&channel=stable", nil, nil)
	d := digestRE.FindStringSubmatch(page)
	if resp.StatusCode != 200 || d == nil || !strings.Contains(page, "Read the list of user names") || !strings.Contains(page, `id="approve-all"`) {
		t.Fatalf("install confirmation: %d\n%s", resp.StatusCode, page)
	}
	install := url.Values{"csrf": {csrf}, "module": {"versioned"}, "version": {"1.0.0"}, "channel": {"stable"}, "policy": {"pinned"},
		"digest": {html.UnescapeString(d[1])}, "password": {"admin-password-1234"}}
	without := func(k string) url.Values {
		v := url.Values{}
		for kk, vv := range install {
			if kk != k {
				v[kk] = vv
			}
		}
		return v
	}
	if resp, b := c.do("POST", "/admin/modules/install", without("approve"), nil); resp.StatusCode != 400 || srv.Module("versioned") != nil {
		t.Fatalf("install without approval: %d %.300s", resp.StatusCode, b)
	}
	install.Set("approve", "all")
	wrong := without("password")
	wrong.Set("password", "not-the-password")
	if resp, _ := c.do("POST", "/admin/modules/install", wrong, nil); resp.StatusCode == 200 || srv.Module("versioned") != nil {
		t.Fatalf("install with a wrong password: %d", resp.StatusCode)
	}
	if resp, b := c.do("POST", "/admin/modules/install", install, nil); resp.StatusCode != 200 || !strings.Contains(b, "versioned@1.0.0 installed") {
		t.Fatalf("install: %d %.600s", resp.StatusCode, b)
	}
	if status, b := get(t, http.DefaultClient, e.site.URL+"/versioned"); status != 200 || !strings.Contains(b, "1.0.0") {
		t.Fatalf("GET /versioned = %d %q", status, b)
	}
	if _, err := srv.Module("versioned").DB().Pool().Exec(ctx, `INSERT INTO notes (body) VALUES ('kept in the export')`); err != nil {
		t.Fatal(err)
	}

	// Update now: the newest on its channel, confirmed the same way.
	resp, page = c.do("POST", "/admin/modules/versioned/update", url.Values{"csrf": {csrf}}, nil)
	if d = digestRE.FindStringSubmatch(page); resp.StatusCode != 200 || d == nil || !strings.Contains(page, `name="version" value="1.1.0"`) {
		t.Fatalf("update now: %d\n%s", resp.StatusCode, page)
	}
	install.Set("version", "1.1.0")
	install.Set("digest", html.UnescapeString(d[1]))
	if resp, b := c.do("POST", "/admin/modules/install", install, nil); resp.StatusCode != 200 || srv.Module("versioned").Manifest().Version != "1.1.0" {
		t.Fatalf("update: %d %.600s", resp.StatusCode, b)
	}

	// The detail page: what it may do, in plain words; rollback after a
	// confirmation step.
	_, page = c.do("GET", "/admin/modules/versioned", nil, nil)
	for _, want := range []string{`id="granted-list"`, "Read the list of user names", `id="rollback"`, "Roll back to 1.0.0", `id="export"`, `id="uninstall"`, `id="module-state"`} {
		if !strings.Contains(page, want) {
			t.Fatalf("detail page without %q:\n%s", want, page)
		}
	}
	if resp, b := c.do("POST", "/admin/modules/versioned/rollback", url.Values{"csrf": {csrf}}, nil); resp.StatusCode != 200 || !strings.Contains(b, `id="confirm-rollback"`) ||
		srv.Module("versioned").Manifest().Version != "1.1.0" {
		t.Fatalf("rollback without confirmation: %d %.300s", resp.StatusCode, b)
	}
	if resp, b := c.do("POST", "/admin/modules/versioned/rollback", url.Values{"csrf": {csrf}, "confirm": {"yes"}}, nil); resp.StatusCode != 200 ||
		srv.Module("versioned").Manifest().Version != "1.0.0" {
		t.Fatalf("rollback: %d %.300s", resp.StatusCode, b)
	}
	if resp, b := c.do("POST", "/admin/modules/versioned/policy", url.Values{"csrf": {csrf}, "policy": {"notify"}, "channel": {"beta"}}, nil); resp.StatusCode != 200 {
		t.Fatalf("policy: %d %.300s", resp.StatusCode, b)
	}
	ins, err := updater.ListFrom(ctx, srv.db.Pool)
	if err != nil || len(ins) != 1 || ins[0].Policy != updater.PolicyNotify || ins[0].Channel != "beta" {
		t.Fatalf("after policy: %+v %v", ins, err)
	}

	// Export, then uninstall. A GET never exports: a page of the site's
	// origin (same-site: the admin's cookie goes along) could otherwise
	// navigate the admin there, queueing an export (up to 64 MiB through
	// the request queue) and an audit entry at each load.
	if resp, b := c.do("GET", "/admin/modules/versioned/export", nil, map[string]string{"Sec-Fetch-Site": "same-site"}); resp.StatusCode == 200 ||
		resp.Header.Get("Content-Type") == "application/zip" || audited(t, srv, "admin.module_export", "versioned") {
		t.Fatalf("export by GET: %d %s %.200s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	resp, b := c.do("POST", "/admin/modules/versioned/export", url.Values{"csrf": {csrf}}, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/zip" {
		t.Fatalf("export: %d %.300s", resp.StatusCode, b)
	}
	zr, err := zip.NewReader(bytes.NewReader([]byte(b)), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	var notes string
	for _, f := range zr.File {
		if f.Name == "tables/notes.json" {
			r, _ := f.Open()
			nb, _ := io.ReadAll(r)
			notes = string(nb)
		}
	}
	if !strings.Contains(notes, "kept in the export") {
		t.Fatalf("export's notes: %q", notes)
	}
	resp, page = c.do("POST", "/admin/modules/versioned/uninstall", url.Values{"csrf": {csrf}}, nil)
	if resp.StatusCode != 200 || !strings.Contains(page, `id="confirm-name"`) || !strings.Contains(page, "mod_versioned") || !strings.Contains(page, "notes") {
		t.Fatalf("uninstall, first step: %d\n%s", resp.StatusCode, page)
	}
	if resp, b := c.do("POST", "/admin/modules/versioned/uninstall", url.Values{"csrf": {csrf}, "confirm": {"Versioned"}}, nil); resp.StatusCode != 400 ||
		!strings.Contains(b, `id="wrong-name"`) || !schemaExists(t, srv, "mod_versioned") || srv.Module("versioned") == nil {
		t.Fatalf("uninstall with a wrong name: %d, schema there: %v", resp.StatusCode, schemaExists(t, srv, "mod_versioned"))
	}
	if resp, b := c.do("POST", "/admin/modules/versioned/uninstall", url.Values{"csrf": {csrf}, "confirm": {"versioned"}}, nil); resp.StatusCode != 200 {
		t.Fatalf("uninstall: %d %.300s", resp.StatusCode, b)
	}
	if schemaExists(t, srv, "mod_versioned") || srv.Module("versioned") != nil {
		t.Fatal("after uninstall, the schema or the module is still there")
	}
	if status, _ := get(t, http.DefaultClient, e.site.URL+"/versioned"); status != 404 {
		t.Fatalf("GET /versioned after uninstall = %d", status)
	}

	// The runtime's own updates have a section of their own: this
	// binary's version, the policy in force (off: this test runtime has
	// no --self-update) and the runtime's events, not the modules'.
	if _, err := srv.db.Pool.Exec(context.Background(), `INSERT INTO websonic.update_events (kind, module, from_version, to_version, outcome, reason)
		VALUES ('runtime', 'websonic', '7.0.0', '7.1.0', 'rolled_back', 'the new runtime did not become ready: <b>exit 2</b>')`); err != nil {
		t.Fatal(err)
	}
	_, page = c.do("GET", "/admin/updates", nil, nil)
	for _, want := range []string{`id="update-history"`, "installed", "updated", "rolled back",
		`id="runtime-update"`, `<dd id="runtime-version">` + buildinfo.Version() + `</dd>`, "off: this runtime is updated by other means",
		`id="runtime-history"`, "7.0.0 → 7.1.0", "&lt;b&gt;exit 2&lt;/b&gt;"} {
		if !strings.Contains(page, want) {
			t.Fatalf("updates page without %q:\n%s", want, page)
		}
	}
	if history := page[strings.Index(page, `id="update-history"`):strings.Index(page, `id="runtime"`)]; strings.Contains(history, "7.1.0") {
		t.Fatalf("the runtime's event is listed with the modules':\n%s", history)
	}
	for _, action := range []string{"admin.module_install", "admin.module_rollback", "admin.module_policy", "admin.module_export", "admin.module_uninstall"} {
		if !audited(t, srv, action, "versioned") {
			t.Errorf("no audit entry %s", action)
		}
	}
}

// TestLocalModulesDenyByDefault: without ApproveLocalModules, a local
// module waits for the owner's approval before it first runs; approved in
// the admin area (password asked), it serves; a rebuild that asks for more
// waits again while the approved version serves, until approved through
// the request queue as `websonic module approve` does.
func TestLocalModulesDenyByDefault(t *testing.T) {
	built, err := modulesDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "hello"), os.DirFS(filepath.Join(built, "hello"))); err != nil {
		t.Fatal(err)
	}
	s := newSiteWith(t, dir, hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testLog{t}}), func(c *Config) { c.ApproveLocalModules = false })
	s.serve(t)
	if status, _ := get(t, http.DefaultClient, s.URL+"/guestbook"); status != 404 {
		t.Fatalf("GET /guestbook before approval = %d, want 404", status)
	}
	if aw := s.srv.AwaitingApproval(); len(aw) != 1 || aw[0].Module != "hello" || aw[0].Approved != nil {
		t.Fatalf("awaiting: %+v", aw)
	}
	as := httptest.NewServer(s.srv.AdminHandler())
	t.Cleanup(as.Close)
	c, csrf := adminSession(t, s.srv, as.URL)
	_, page := c.do("GET", "/admin/modules", nil, nil)
	d := digestRE.FindStringSubmatch(page)
	if d == nil || !strings.Contains(page, `id="approve-hello"`) || !strings.Contains(page, "Read the list of user names") ||
		!strings.Contains(page, "awaiting your approval") {
		t.Fatalf("modules page:\n%s", page)
	}
	form := url.Values{"csrf": {csrf}, "module": {"hello"}, "digest": {html.UnescapeString(d[1])}, "password": {"wrong-password-0000"}}
	if resp, _ := c.do("POST", "/admin/modules/approve", form, nil); resp.StatusCode == 200 || s.srv.Module("hello") != nil {
		t.Fatalf("approval with a wrong password: %d", resp.StatusCode)
	}
	form.Set("password", "admin-password-1234")
	if resp, b := c.do("POST", "/admin/modules/approve", form, nil); resp.StatusCode != 200 || s.srv.Module("hello") == nil {
		t.Fatalf("approve: %d %.400s", resp.StatusCode, b)
	}
	if status, _ := get(t, http.DefaultClient, s.URL+"/guestbook"); status != 200 {
		t.Fatalf("GET /guestbook after approval = %d", status)
	}
	if !audited(t, s.srv, "admin.module_approve", "hello") {
		t.Fatal("no audit entry")
	}

	// A rebuild asking for more waits; the approved version serves.
	mf := filepath.Join(dir, "hello", "module.json")
	raw, _ := os.ReadFile(mf)
	raw = bytes.Replace(raw, []byte(`"core_data":["users"]`), []byte(`"core_data":["users","user_emails"]`), 1)
	if !bytes.Contains(raw, []byte("user_emails")) {
		raw = regexp.MustCompile(`"core_data":\s*\[\s*"users"\s*\]`).ReplaceAll(raw, []byte(`"core_data": ["users", "user_emails"]`))
	}
	if err := os.WriteFile(mf, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		aw := s.srv.AwaitingApproval()
		return len(aw) == 1 && aw[0].Approved != nil && strings.Contains(strings.Join(aw[0].Grows, ","), "user_emails")
	})
	if status, _ := get(t, http.DefaultClient, s.URL+"/guestbook"); status != 200 {
		t.Fatalf("GET /guestbook while the rebuild waits = %d", status)
	}
	console := &Console{db: s.srv.db}
	p, err := console.Preview(context.Background(), ModuleRequest{Action: "approve", Module: "hello"}, RequestOptions{})
	if err != nil || len(p.New) == 0 || p.Digest == "" {
		t.Fatalf("preview: %+v %v", p, err)
	}
	if _, err := console.Request(context.Background(), ModuleRequest{Action: "approve", Module: "hello", Digest: "sha256-of-something-else"}, RequestOptions{}); err == nil {
		t.Fatal("an approval of another build was accepted")
	}
	if _, err := console.Request(context.Background(), ModuleRequest{Action: "approve", Module: "hello", Digest: p.Digest}, RequestOptions{}); err != nil {
		t.Fatal(err)
	}
	if aw := s.srv.AwaitingApproval(); len(aw) != 0 {
		t.Fatalf("still awaiting: %+v", aw)
	}
	var approved string
	if err := s.srv.db.Pool.QueryRow(context.Background(), `SELECT approved::text FROM websonic.local_module_approvals WHERE name = 'hello'`).Scan(&approved); err != nil ||
		!strings.Contains(approved, "user_emails") {
		t.Fatalf("recorded approval %q, %v", approved, err)
	}
}
