package server

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"

	"github.com/websonic/websonic/internal/pgtest"
	"github.com/websonic/websonic/internal/tufrepo"
	"github.com/websonic/websonic/runtime/internal/engine"
	"github.com/websonic/websonic/runtime/internal/sitemove"
	"github.com/websonic/websonic/runtime/internal/updater"
)

// startTarget starts a second runtime next to e's, on its own database
// and data folder, installing from the same registry.
func (e *updateEnv) startTarget(t *testing.T) *testSite {
	t.Helper()
	db := pgtest.NewDB(t)
	grantCreateDB(t, db)
	srv, err := Open(context.Background(), Config{
		DataDir: siteDataDir(t), DatabaseURL: db.URL, RolePrefix: db.Prefix(),
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

// TestSiteMove: a site with a user and a module with data, exported from
// one runtime and imported into a fresh one: same module version (from
// the registry, same digest), same login, same rows; a tampered archive,
// the wrong recipient, the wrong source key and a revoked module version
// are each refused with the target unchanged.
func TestSiteMove(t *testing.T) {
	e := newUpdateEnv(t)
	ctx := context.Background()
	e.publishVersion("1.0.0")
	e.publishVersion("1.1.0", withMigrations(migNotes), withNotes)
	if _, err := e.updater().Install(ctx, "versioned", "1.1.0", tufrepo.ChannelStable, updater.PolicyPinned); err != nil {
		t.Fatal(err)
	}
	a := e.site
	a.wantServing(t, "1.1.0")
	if _, err := a.srv.CreateAdmin(ctx, "alice", "Alice", "alice@example.com", "correct horse battery"); err != nil {
		t.Fatal(err)
	}

	b := e.startTarget(t)
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
	if !rep.OK() || len(rep.Plan) != 1 || rep.Plan[0].Version != "1.1.0" {
		t.Fatalf("dry run report:\n%s", rep.Text())
	}
	if got := fingerprintDB(t, b); got != before {
		t.Fatal("the dry run changed the target")
	}

	// The import.
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
	waitFor(t, func() bool {
		m := b.srv.Module("versioned")
		return m != nil && m.Manifest().Version == "1.1.0"
	})
	b.wantServing(t, "1.1.0")
	var digestA, digestB string
	a.srv.db.Pool.QueryRow(ctx, `SELECT digest FROM websonic.module_installs WHERE name = 'versioned'`).Scan(&digestA)
	b.srv.db.Pool.QueryRow(ctx, `SELECT digest FROM websonic.module_installs WHERE name = 'versioned'`).Scan(&digestB)
	if digestA == "" || digestA != digestB {
		t.Fatalf("digests: source %q, target %q", digestA, digestB)
	}
	if resp := loginFrom(t, b.client(t), b.URL, "192.0.2.7", "alice", "correct horse battery"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("alice's login on the target: %s", resp.Status)
	}
	if resp := loginFrom(t, b.client(t), b.URL, "192.0.2.8", "alice", "wrong horse battery"); resp.StatusCode == http.StatusSeeOther {
		t.Fatal("a wrong password logs in on the target")
	}
	// Every table compared (the module's read as its role): users and
	// the module's notes among them.
	seen := map[string]bool{}
	for _, tc := range rep.Data.Tables {
		if !tc.OK {
			t.Fatalf("table %s.%s: %+v", tc.Schema, tc.Table, tc)
		}
		seen[tc.Schema+"."+tc.Table] = true
	}
	if !seen["websonic.users"] || !seen["mod_versioned.notes"] {
		t.Fatalf("tables compared: %v", seen)
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

// TestSiteMoveRevokedModule: an archive naming a module version the
// registry revoked is refused before anything changes.
func TestSiteMoveRevokedModule(t *testing.T) {
	e := newUpdateEnv(t)
	ctx := context.Background()
	e.publishVersion("1.0.0")
	e.publishVersion("1.1.0")
	if _, err := e.updater().Install(ctx, "versioned", "1.0.0", tufrepo.ChannelStable, updater.PolicyPinned); err != nil {
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
	if err := e.pub.Revoke(ctx, "versioned", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	before := fingerprintDB(t, b)
	if _, err := b.srv.ImportSite(ctx, archive, sitemove.ImportOptions{SourceFingerprint: exp.Fingerprint}, MoveOptions{}); !errors.Is(err, sitemove.ErrRefused) {
		t.Fatalf("err = %v, want ErrRefused", err)
	}
	if fingerprintDB(t, b) != before {
		t.Fatal("the target changed")
	}
}
