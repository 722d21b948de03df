package server

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/jackc/pgx/v5"

	"github.com/websonic/websonic/internal/tufrepo"
	"github.com/websonic/websonic/runtime/internal/updater"
)

// TestBackupRestoreFreshServer: a backup of a site running a module from
// the registry is restored onto a fresh server (an empty site whose
// runtime serves it, no modules): the module is installed from the
// registry at exactly the backup's version first, then the data; the
// same user signs in, the module serves its rows, the runtime reloaded.
// Onto another fresh server, once the registry revoked that version, the
// restore is refused and the server stays as it was.
func TestBackupRestoreFreshServer(t *testing.T) {
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
	adminA, err := pgx.Connect(ctx, a.db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer adminA.Close(ctx)
	if _, err := adminA.Exec(ctx, `INSERT INTO mod_versioned.notes (body) SELECT 'note ' || i FROM generate_series(1, 25) i`); err != nil {
		t.Fatal(err)
	}
	owner, _ := age.GenerateX25519Identity()
	st, _ := backupSettings(ctx, a.srv.db.Pool)
	st.Recipients = owner.Recipient().String()
	if err := saveBackupSettings(ctx, a.srv.db.Pool, st); err != nil {
		t.Fatal(err)
	}
	// A lost server's key file went with it: the backup carries it.
	made, err := (&Console{db: a.srv.db}).Backup(ctx, a.srv.cfg, BackupOptions{SiteKey: true})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(a.srv.cfg.DataDir, "backups", made.Info.Name)
	want := siteRows(t, adminA)

	b := e.startTarget(t)
	defer serveRequests(t, b)() // its runtime answers the owner's requests, as under Serve
	res, err := (&Console{db: b.srv.db}).Restore(ctx, b.srv.cfg, file, RestoreOptions{Identities: []age.Identity{owner}})
	if err != nil {
		if res != nil && res.Report != nil {
			t.Log(res.Report.Text())
		}
		t.Fatal(err)
	}
	if len(res.Installed) != 1 || res.Installed[0] != "versioned 1.1.0" || !res.Reloaded || !res.Report.OK {
		t.Fatalf("restore: installed %v, reloaded %v", res.Installed, res.Reloaded)
	}
	b.wantServing(t, "1.1.0") // its handler reads table notes as the module's role
	var digestA, digestB string
	a.srv.db.Pool.QueryRow(ctx, `SELECT digest FROM websonic.module_installs WHERE name = 'versioned'`).Scan(&digestA)
	b.srv.db.Pool.QueryRow(ctx, `SELECT digest FROM websonic.module_installs WHERE name = 'versioned'`).Scan(&digestB)
	if digestA == "" || digestA != digestB {
		t.Fatalf("digests: backup's site %q, restored %q", digestA, digestB)
	}
	if resp := loginFrom(t, b.client(t), b.URL, "192.0.2.7", "alice", "correct horse battery"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("alice's sign-in on the restored server: %s", resp.Status)
	}
	adminB, err := pgx.Connect(ctx, b.db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer adminB.Close(ctx)
	got := siteRows(t, adminB)
	for _, tb := range []string{"websonic.users", "websonic.modules", "websonic.module_installs", "mod_versioned.notes"} {
		if got[tb] != want[tb] || want[tb] == 0 {
			t.Errorf("%s: %d rows restored, %d in the backup", tb, got[tb], want[tb])
		}
	}
	// Revoked: refused, the next fresh server unchanged.
	if err := e.pub.Revoke(ctx, "versioned", "1.1.0"); err != nil {
		t.Fatal(err)
	}
	c := e.startTarget(t)
	defer serveRequests(t, c)()
	before := fingerprintDB(t, c)
	_, err = (&Console{db: c.srv.db}).Restore(ctx, c.srv.cfg, file, RestoreOptions{Identities: []age.Identity{owner}})
	if !errors.Is(err, updater.ErrFailed) || !strings.Contains(err.Error(), "revoked") || !strings.Contains(err.Error(), "nothing was restored") {
		t.Fatalf("restoring a revoked module version: %v, want the runtime's refusal naming it", err)
	}
	if fingerprintDB(t, c) != before {
		t.Fatal("the refused restore changed the server")
	}
}

// serveRequests has s answer the owner's requests (the queue, as Serve
// does) and waits until it listens; the returned func stops it.
func serveRequests(t *testing.T, s *testSite) (stop func()) {
	t.Helper()
	stop = s.srv.serveRequestsAndJobs(context.Background())
	waitFor(t, func() bool {
		n, err := updater.Listeners(context.Background(), s.srv.db.Pool)
		return err == nil && n > 0
	})
	return stop
}
