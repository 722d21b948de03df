package server

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/runtime/internal/sandboxdb"
)

// TestRuntimeReadsModuleDataBounded: what a module can write and the
// runtime reads — the marks in its migrations table, its role's settings —
// is read and reported within bounds. Unbounded, 32 marks of 8 MiB each
// (a few hundred KiB on disk, compressed) were read whole into the
// runtime's memory at every start, update and rollback of the module
// (enough of them take the whole site down at every restart); and a role
// setting of megabytes was copied into the log and the audit log at every
// start.
func TestRuntimeReadsModuleDataBounded(t *testing.T) {
	s := newSite(t, roomyLimits) // MiB-sized statements
	ctx := context.Background()
	const marks, markMiB = 32, 8
	// As the module, on a fresh connection each (many 8 MiB values built on
	// one server process can leave its memory fragmented past the cluster's
	// per-process limit, 256 MiB, which is not what this test is about).
	cc := s.srv.Module("hostile").DB().Pool().Config().ConnConfig
	for i := range marks {
		conn, err := pgx.ConnectConfig(ctx, cc.Copy())
		if err != nil {
			t.Fatal(err)
		}
		q := fmt.Sprintf(`INSERT INTO _migrations (name, checksum) VALUES ('junk%d', pg_catalog.convert_to(pg_catalog.repeat('x', %d), 'UTF8'))`, i, markMiB<<20)
		_, err = conn.Exec(ctx, q)
		conn.Close(ctx)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, setting := range []string{"application_name", "local_preload_libraries"} {
		q := `DO $$ BEGIN EXECUTE pg_catalog.format('ALTER ROLE CURRENT_USER SET ` + setting + ` = %L', pg_catalog.repeat('a', 1 << 20)); END $$`
		if out := s.moduleSQL(t, q); out.Error != "" {
			t.Fatalf("%s: %.300s", q, out.Error)
		}
	}
	// What every start, update and rollback of the module does: provision
	// it and run its pending migrations (the compilation around it in a
	// start allocates more than the marks would, so it is left out here).
	mods, err := modulesDir()
	if err != nil {
		t.Fatal(err)
	}
	hostile, err := modhost.LoadDir(filepath.Join(mods, "hostile"))
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	d, err := s.srv.broker.Open(ctx, hostile.Manifest, nil, hostile.Migrations, sandboxdb.OpenOptions{Update: true, RunningViews: []string{"users", "user_emails"}})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	if got := after.TotalAlloc - before.TotalAlloc; got > marks*markMiB<<20/4 {
		t.Errorf("opening the module's database allocated %d MiB with %d MiB of marks in its table", got>>20, marks*markMiB)
	}
	s = reopen(t, s)
	assertHelloServes(t, s)
	super, err := pgx.Connect(ctx, s.db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer super.Close(ctx)
	var n, longest int
	if err := super.QueryRow(ctx, `SELECT count(*), coalesce(max(octet_length(detail::text)), 0) FROM websonic.audit_log
		WHERE action = 'module.tampering' AND subject = 'hostile' AND detail->>'what' LIKE '%role setting%'`).Scan(&n, &longest); err != nil {
		t.Fatal(err)
	}
	if n == 0 || longest > 1024 {
		t.Errorf("the changed role settings: %d reports, the longest %d bytes", n, longest)
	}
}
