package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"

	"github.com/websonic/websonic/internal/pgtest"
	"github.com/websonic/websonic/internal/tufrepo"
	"github.com/websonic/websonic/runtime/internal/engine"
	"github.com/websonic/websonic/runtime/internal/settings"
	"github.com/websonic/websonic/runtime/internal/site"
	"github.com/websonic/websonic/runtime/internal/sitemove"
	"github.com/websonic/websonic/runtime/internal/updater"
)

// startTarget starts a second runtime next to e's, on its own database
// and data folder, installing from the same registry.
func (e *updateEnv) startTarget(t *testing.T) *testSite {
	t.Helper()
	return e.startTargetOn(t, newTargetDB(t), siteDataDir(t))
}

// newTargetDB is a fresh database for a target site.
func newTargetDB(t *testing.T) *pgtest.DB {
	t.Helper()
	db := pgtest.NewDB(t)
	grantCreateDB(t, db)
	return db
}

// startTargetOn starts a runtime on db and dataDir (a restarted target:
// the same site again) installing from e's registry.
func (e *updateEnv) startTargetOn(t *testing.T, db *pgtest.DB, dataDir string) *testSite {
	t.Helper()
	srv, err := Open(context.Background(), Config{
		DataDir: dataDir, DatabaseURL: db.URL, RolePrefix: db.Prefix(),
		Registry: e.proxy.URL, TrustedRoot: e.root, UpdateInterval: time.Hour, PlainLoopbackRegistry: true,
		StatementTimeout: time.Second, MemoryLimitPages: 1024,
		Pool:   engine.PoolConfig{Size: 2, CallTimeout: 5 * time.Second},
		Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testLog{t}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Close(context.Background()) })
	return &testSite{Server: hs, srv: srv, db: db}
}

// grantCreateDB lets the site's provisioning role make the scratch
// databases an import verifies in: on an external server that is the
// owner's part (sitedump.ErrNoScratch says so).
func grantCreateDB(t *testing.T, db *pgtest.DB) {
	t.Helper()
	cc, err := pgx.ParseConfig(db.URL)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.Connect(context.Background(), db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(context.Background(), "ALTER ROLE "+pgx.Identifier{cc.User}.Sanitize()+" CREATEDB"); err != nil {
		t.Fatal(err)
	}
}

// fingerprintDB is a digest of what a site holds: users, installed
// modules, and every module schema's tables by name and size.
func fingerprintDB(t *testing.T, s *testSite) string {
	t.Helper()
	var sum string
	err := s.srv.db.Pool.QueryRow(context.Background(), `SELECT md5(
		coalesce((SELECT string_agg(id || ':' || username || ':' || password_hash, ',' ORDER BY id) FROM websonic.users), '') || '|' ||
		coalesce((SELECT string_agg(name || ':' || version || ':' || digest, ',' ORDER BY name) FROM websonic.module_installs), '') || '|' ||
		coalesce((SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_catalog.pg_namespace WHERE nspname NOT LIKE 'pg\_%'), ''))`).Scan(&sum)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// moveSource is the site on e's runtime: hello, chat and tickets
// installed from the registry, a theme from the registry active, a site
// name, and users who wrote in each module through its HTTP routes (a
// guestbook entry, chat messages in a public room and in a private
// conversation, which the chat seals with the site key, tickets with a
// reply).
func (e *updateEnv) moveSource(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	hello, err := modulesDir()
	if err != nil {
		t.Fatal(err)
	}
	chat, err := chatRoomsModules()
	if err != nil {
		t.Fatal(err)
	}
	tickets, err := ticketsModules()
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{filepath.Join(hello, "hello"), filepath.Join(chat, "chat"), filepath.Join(tickets, "tickets")} {
		if _, err := e.pub.Publish(ctx, dir, tufrepo.ChannelStable); err != nil {
			t.Fatal(err)
		}
	}
	e.publishRealTheme("sunrise", "1.0.0", nil)
	a := e.site
	for _, name := range []string{"hello", "chat", "tickets"} {
		if _, err := e.updater().Install(ctx, name, "", tufrepo.ChannelStable, updater.PolicyPinned); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.updater().InstallTheme(ctx, "sunrise", "1.0.0", tufrepo.ChannelStable, updater.PolicyPinned); err != nil {
		t.Fatal(err)
	}
	if err := a.srv.look.activate(ctx, 0, "sunrise"); err != nil {
		t.Fatal(err)
	}
	name := "Moving Co"
	if err := a.srv.look.settings.Update(ctx, 0, settings.Change{Name: &name}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.srv.CreateAdmin(ctx, "alice", "Alice", "alice@example.com", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	bob := a.member(t, "bob", "192.0.2.10", site.RoleMember)
	carol := a.member(t, "carol", "192.0.2.11", site.RoleMember)
	if resp := postForm(t, bob.c, a.URL+"/guestbook", url.Values{"message": {"Bob was here"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("guestbook: %d", resp.StatusCode)
	}
	general := bob.rooms(t)["General"].ID
	bob.post(t, general, "Hello everyone")
	carol.post(t, general, "Hi Bob")
	var req struct{ ID int64 }
	bob.must(t, "POST", "/chat/api/friends/requests", map[string]string{"username": "carol"}, 200, &req)
	carol.must(t, "POST", fmt.Sprintf("/chat/api/friends/requests/%d/accept", req.ID), nil, http.StatusNoContent, nil)
	var dm struct{ ID int64 }
	bob.must(t, "POST", "/chat/api/dms", map[string]string{"username": "carol"}, 200, &dm)
	bob.post(t, dm.ID, "A secret for Carol")
	var panels struct {
		Panels []struct{ ID int64 } `json:"panels"`
	}
	carol.must(t, "GET", "/tickets/api/panels", nil, 200, &panels)
	if len(panels.Panels) == 0 {
		t.Fatal("tickets has no panel")
	}
	var tk tkTicket
	carol.must(t, "POST", "/tickets/api/tickets", map[string]any{"panel_id": panels.Panels[0].ID, "subject": "My order",
		"description": "It never came."}, 201, &tk)
	carol.must(t, "POST", fmt.Sprintf("/tickets/api/tickets/%d/replies", tk.ID), map[string]any{"body": "Any news?"}, 201, nil)
}

// movePages are what a site's visitors see, for comparing two sites:
// anonymous pages and the signed-in users' views of their modules, read
// through HTTP (the modules' own queries, on their own pools).
func movePages(t *testing.T, base string) map[string]string {
	t.Helper()
	out := map[string]string{}
	anon := newChatter(t, base, "", "192.0.2.50")
	for _, p := range []string{"/", "/guestbook"} {
		_, b := anon.get(t, p)
		out["anonymous "+p] = b
	}
	for _, who := range []string{"bob", "carol"} {
		c := newChatter(t, base, who, "192.0.2.51")
		if st, b := c.login(t, chatPassword); st != http.StatusSeeOther {
			t.Fatalf("%s's login on %s: %d %.300s", who, base, st, b)
		}
		var rooms struct{ Rooms []chatRoom }
		c.must(t, "GET", "/chat/api/rooms", nil, 200, &rooms)
		for _, r := range rooms.Rooms {
			_, b := c.api(t, "GET", fmt.Sprintf("/chat/api/rooms/%d/messages", r.ID), nil)
			out[fmt.Sprintf("%s room %s", who, r.Name)] = string(b)
		}
		for _, p := range []string{"/tickets/api/tickets", "/guestbook", "/chat"} {
			_, b := c.get(t, p)
			out[who+" "+p] = b
		}
	}
	for k, v := range out {
		v = volatileRE.ReplaceAllString(v, "…")
		v = blankLinesRE.ReplaceAllString(v, "\n")
		out[k] = navRE.ReplaceAllStringFunc(v, func(nav string) string {
			items := strings.SplitAfter(strings.TrimSuffix(strings.TrimPrefix(nav, "<ul>"), "</ul>"), "</li>")
			slices.Sort(items)
			return "<ul>" + strings.Join(items, "") + "</ul>"
		})
	}
	return out
}

var (
	// volatileRE matches what differs between two pages of the same
	// site: the per-session form tokens and the per-response nonces.
	volatileRE = regexp.MustCompile(`(name="csrf" value="|nonce="|data-csrf="|"csrf":")[^"]*`)
	// blankLinesRE: templates leave whitespace-only lines that differ.
	blankLinesRE = regexp.MustCompile(`\n[ \t]*(\n[ \t]*)+\n`)
	// navRE is the site's menu, whose entries follow the modules' start
	// order: the order of installs on a live site, by name after a start.
	navRE = regexp.MustCompile(`<ul>(<li><a href="[^"]*">[^<]*</a></li>)+</ul>`)
)

// TestSiteMove: the site (users, hello, chat, tickets with data
// in each, a registry theme) exported from one runtime and imported into
// a fresh running one: the target serves the same pages and the same
// users log in, without a restart; the same module and theme versions
// (from the registry, same digests); every table's rows and checksum
// equal. A tampered archive, the wrong recipient and the wrong source key
// are each refused with the target unchanged, and a dry run changes
// nothing.
func TestSiteMove(t *testing.T) {
	e := newUpdateEnv(t)
	ctx := context.Background()
	e.moveSource(t)
	a := e.site
	want := movePages(t, a.URL)
	if !strings.Contains(want["anonymous /guestbook"], "Bob was here") || !strings.Contains(want["bob room carol"], "A secret for Carol") ||
		!strings.Contains(want["carol /tickets/api/tickets"], "My order") || !strings.Contains(want["anonymous /"], "theme-sunrise-1.0.0") ||
		!strings.Contains(want["anonymous /"], "Moving Co") {
		t.Fatalf("the source's pages lack its data: %v", want)
	}

	b := e.startTarget(t)
	serveWatching(t, b) // the request queue: the import's reload
	rcpt, err := b.srv.PrepareImport()
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "site.move.age")
	f, err := os.Create(archive)
	if err != nil {
		t.Fatal(err)
	}
	exp, err := a.srv.ExportSite(ctx, f, rcpt, MoveOptions{Actor: "test"})
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	before := fingerprintDB(t, b)

	// Refusals: the target stays as it was.
	other := e.startTarget(t)
	otherRcpt, _ := other.srv.PrepareImport()
	wrongRcpt := filepath.Join(t.TempDir(), "other.move.age")
	wf, _ := os.Create(wrongRcpt)
	if _, err := a.srv.ExportSite(ctx, wf, otherRcpt, MoveOptions{}); err != nil {
		t.Fatal(err)
	}
	wf.Close()
	raw, _ := os.ReadFile(archive)
	tampered := filepath.Join(t.TempDir(), "tampered.move.age")
	os.WriteFile(tampered, flip(raw), 0o600)
	otherFP, _ := sitemove.SourceFingerprint(t.TempDir())
	for _, tc := range []struct {
		name, path, fp string
		want           error
	}{
		{"wrong recipient", wrongRcpt, exp.Fingerprint, sitemove.ErrWrongRecipient},
		{"tampered", tampered, exp.Fingerprint, sitemove.ErrArchive},
		{"wrong source key", archive, otherFP, sitemove.ErrSourceKey},
	} {
		if _, err := b.srv.ImportSite(ctx, tc.path, sitemove.ImportOptions{SourceFingerprint: tc.fp}, MoveOptions{}); !errors.Is(err, tc.want) {
			t.Fatalf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
		if got := fingerprintDB(t, b); got != before {
			t.Fatalf("%s: the target changed", tc.name)
		}
	}

	// A dry run reports and changes nothing.
	rep, err := b.srv.ImportSite(ctx, archive, sitemove.ImportOptions{SourceFingerprint: exp.Fingerprint, DryRun: true}, MoveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var planned []string
	for _, p := range rep.Plan {
		planned = append(planned, p.Kind+" "+p.Name+" "+p.Version)
	}
	if !rep.OK() || strings.Join(planned, ",") != "module chat 1.0.0,module hello 1.0.0,module tickets 1.0.0,theme sunrise 1.0.0" {
		t.Fatalf("dry run plan %v, report:\n%s", planned, rep.Text())
	}
	if got := fingerprintDB(t, b); got != before {
		t.Fatal("the dry run changed the target")
	}

	// The import, into the running target.
	rep, err = b.srv.ImportSite(ctx, archive, sitemove.ImportOptions{SourceFingerprint: exp.Fingerprint}, MoveOptions{Actor: "test"})
	if err != nil {
		if rep != nil {
			t.Log(rep.Text())
		}
		t.Fatal(err)
	}
	if !rep.OK() || !rep.Switched {
		t.Fatalf("report:\n%s", rep.Text())
	}
	seen := map[string]bool{}
	for _, tc := range rep.Data.Tables {
		if !tc.OK {
			t.Fatalf("table %s.%s: %+v", tc.Schema, tc.Table, tc)
		}
		seen[tc.Schema+"."+tc.Table] = true
	}
	for _, tb := range []string{"websonic.users", "mod_hello.entries", "mod_chat.messages", "mod_tickets.tickets"} {
		if !seen[tb] {
			t.Fatalf("%s not compared: %v", tb, seen)
		}
	}
	// The running target takes the site up (the queue's site_reload):
	// the same pages, the same logins, with no restart.
	waitFor(t, func() bool {
		var done int
		b.srv.db.Pool.QueryRow(ctx, `SELECT count(*) FROM websonic.module_requests WHERE action = $1 AND status <> 'pending' AND status <> 'running'`, ActionSiteReload).Scan(&done)
		return done > 0
	})
	var status, result string
	b.srv.db.Pool.QueryRow(ctx, `SELECT status, coalesce(result, '') FROM websonic.module_requests WHERE action = $1`, ActionSiteReload).Scan(&status, &result)
	if status != "done" {
		t.Fatalf("the reload: %s: %s", status, result)
	}
	got := movePages(t, b.URL)
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s differs on the target:\n--- source\n%.3000s\n--- target\n%.3000s", k, w, got[k])
		}
	}
	if len(got) != len(want) {
		t.Errorf("pages: source %d, target %d", len(want), len(got))
	}
	if resp := loginFrom(t, b.client(t), b.URL, "192.0.2.7", "alice", "correct horse battery"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("alice's login on the target: %s", resp.Status)
	}
	if resp := loginFrom(t, b.client(t), b.URL, "192.0.2.8", "alice", "wrong horse battery"); resp.StatusCode == http.StatusSeeOther {
		t.Fatal("a wrong password logs in on the target")
	}
	installs := func(s *testSite) string {
		var out string
		s.srv.db.Pool.QueryRow(ctx, `SELECT string_agg(name || '@' || version || ':' || digest, ',' ORDER BY name) FROM
			(SELECT name, version, digest FROM websonic.module_installs UNION ALL SELECT 'theme ' || name, version, digest FROM websonic.theme_installs) i`).Scan(&out)
		return out
	}
	if ia, ib := installs(a), installs(b); ia == "" || ia != ib {
		t.Fatalf("installed releases: source %s, target %s", ia, ib)
	}
	for _, name := range []string{"hello", "chat", "tickets"} {
		if m := b.srv.Module(name); m == nil || m.Manifest().Version != "1.0.0" {
			t.Fatalf("module %s does not serve on the target", name)
		}
	}
	recs, err := sitemove.Moves(ctx, b.srv.db.Pool, 5)
	if err != nil || len(recs) == 0 || recs[0].Kind != "import" || recs[0].State != "done" {
		t.Fatalf("site_moves after the import: %+v %v", recs, err)
	}
	var audits int
	b.srv.db.Pool.QueryRow(ctx, `SELECT count(*) FROM websonic.audit_log WHERE action = 'site.import'`).Scan(&audits)
	if audits == 0 {
		t.Fatal("the import is not in the target's audit log")
	}
}

// TestSiteMoveRevokedModule: an archive naming a theme or a module
// version the registry revoked is refused before anything changes.
func TestSiteMoveRevokedModule(t *testing.T) {
	e := newUpdateEnv(t)
	ctx := context.Background()
	e.publishVersion("1.0.0")
	e.publishVersion("1.1.0")
	if _, err := e.updater().Install(ctx, "versioned", "1.0.0", tufrepo.ChannelStable, updater.PolicyPinned); err != nil {
		t.Fatal(err)
	}
	e.publishRealTheme("dawn", "1.0.0", nil)
	if _, err := e.updater().InstallTheme(ctx, "dawn", "1.0.0", tufrepo.ChannelStable, updater.PolicyPinned); err != nil {
		t.Fatal(err)
	}
	b := e.startTarget(t)
	rcpt, _ := b.srv.PrepareImport()
	archive := filepath.Join(t.TempDir(), "site.move.age")
	f, _ := os.Create(archive)
	exp, err := e.site.srv.ExportSite(ctx, f, rcpt, MoveOptions{})
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	before := fingerprintDB(t, b)
	for _, tc := range []struct {
		name   string
		revoke func() error
		want   string
	}{
		{"theme", func() error { return e.pub.RevokeTheme(ctx, "dawn", "1.0.0") }, "theme dawn 1.0.0"},
		{"module", func() error { return e.pub.Revoke(ctx, "versioned", "1.0.0") }, "module versioned 1.0.0"},
	} {
		if err := tc.revoke(); err != nil {
			t.Fatal(err)
		}
		for _, dry := range []bool{true, false} {
			_, err := b.srv.ImportSite(ctx, archive, sitemove.ImportOptions{SourceFingerprint: exp.Fingerprint, DryRun: dry}, MoveOptions{})
			if !errors.Is(err, sitemove.ErrRefused) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%s revoked (dry run %v): err = %v, want ErrRefused naming %s", tc.name, dry, err, tc.want)
			}
			if fingerprintDB(t, b) != before {
				t.Fatalf("%s revoked: the target changed", tc.name)
			}
		}
	}
}
