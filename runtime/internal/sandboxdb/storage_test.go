package sandboxdb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/runtime/internal/dbroles"
)

// TestStorageQuota: a module that writes past its quota loses its database
// access — PostgreSQL refuses its role's connections, its open pools answer
// a clear error, a new start is refused — and gets it back when the owner
// raises the quota; every change is an alert and an audit entry.
func TestStorageQuota(t *testing.T) {
	b, app, db := newBroker(t, Config{StorageQuota: 512 << 10})
	ctx := context.Background()
	super, err := pgx.Connect(ctx, db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer super.Close(ctx)
	m := testManifest("hoard", nil, "migrations/001.sql")
	files := map[string][]byte{"migrations/001.sql": []byte(`CREATE TABLE junk (v text)`)}
	d, err := b.Open(ctx, m, nil, files, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	state := func() (string, int64) {
		t.Helper()
		var st string
		var used int64
		if err := app.QueryRow(ctx, `SELECT storage_state, storage_used FROM websonic.modules WHERE name = 'hoard'`).Scan(&st, &used); err != nil {
			t.Fatal(err)
		}
		return st, used
	}
	connLimit := func() int {
		t.Helper()
		var n int
		if err := super.QueryRow(ctx, `SELECT rolconnlimit FROM pg_roles WHERE rolname = $1`, b.Role("hoard")).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if _, err := b.CheckStorage(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := state(); st != stateOK {
		t.Fatalf("empty module: state %s", st)
	}

	// Past the quota: text that does not compress, and a function's source.
	if res := query(t, d, `INSERT INTO junk SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 40) g, generate_series(1, 400) r GROUP BY r`); res.Err != nil {
		t.Fatal(res.Err.Message)
	}
	if res := query(t, d, `CREATE FUNCTION big() RETURNS int LANGUAGE sql AS $$ SELECT 1 /* `+strings.Repeat("x", 100<<10)+` */ $$`); res.Err != nil {
		t.Fatal(res.Err.Message)
	}
	usage, err := b.CheckStorage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st, used := state(); st != stateExceeded || used <= 512<<10 || len(usage) != 1 || usage[0].Used != used {
		t.Fatalf("after writing past the quota: state %s, used %d, usage %+v", st, used, usage)
	}
	res := query(t, d, `SELECT count(*) FROM junk`)
	if res.Err == nil || res.Err.Code != "53100" || !strings.Contains(res.Err.Message, "storage quota exceeded") {
		t.Fatalf("a suspended module's query = %+v, want 53100 naming the quota", res.Err)
	}
	if n := connLimit(); n != 0 {
		t.Errorf("a suspended module's role has connection limit %d, want 0", n)
	}
	if _, err := b.Open(ctx, m, nil, files, OpenOptions{Update: true}); !errors.Is(err, ErrSuspended) {
		t.Errorf("starting a suspended module = %v, want ErrSuspended", err)
	}

	if err := b.SetQuota(ctx, "hoard", 64<<20); err != nil {
		t.Fatal(err)
	}
	if _, err := b.CheckStorage(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := state(); st != stateOK {
		t.Fatalf("after the owner raised the quota: state %s", st)
	}
	if res := query(t, d, `SELECT count(*) FROM junk`); res.Err != nil {
		t.Fatalf("after the quota was raised: %s", res.Err.Message)
	}
	if n := connLimit(); n != 2*4 {
		t.Errorf("connection limit %d after the quota was raised, want 8", n)
	}
	var alerts, audits int
	if err := app.QueryRow(ctx, `SELECT (SELECT count(*) FROM websonic.update_events WHERE module = 'hoard' AND outcome = 'alert'),
		(SELECT count(*) FROM websonic.audit_log WHERE subject = 'hoard' AND action LIKE 'module.storage_%')`).Scan(&alerts, &audits); err != nil {
		t.Fatal(err)
	}
	if alerts != 2 || audits != 2 {
		t.Errorf("%d alerts and %d audit entries, want 2 each (suspended, restored)", alerts, audits)
	}
}

// TestModuleSessionSettings: the limits a module's sessions start with are
// the runtime's, whatever the module set on its own role; what it changes
// in a session does not outlive the call; temp_file_limit it cannot change.
func TestModuleSessionSettings(t *testing.T) {
	b, _, _ := newBroker(t, Config{})
	ctx := context.Background()
	d, err := b.Open(ctx, testManifest("fiddle", nil), nil, nil, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`ALTER ROLE CURRENT_USER SET statement_timeout = 0`,
		`ALTER ROLE CURRENT_USER SET work_mem = '1GB'`,
		`ALTER ROLE CURRENT_USER SET search_path = public`,
	} {
		if res := query(t, d, q); res.Err != nil {
			t.Fatalf("%s: %s", q, res.Err.Message)
		}
	}
	defer d.Close()
	// New connections of the running pool start with the runtime's limits:
	// they are connection parameters, which outrank role settings.
	d.Pool().Reset()
	show := func(name string) string {
		t.Helper()
		res := query(t, d, `SELECT current_setting('`+name+`')`)
		if res.Err != nil {
			t.Fatal(res.Err.Message)
		}
		return string(res.Rows[0][0].Bytes)
	}
	want := map[string]string{"statement_timeout": "5s", "work_mem": "4MB", "search_path": `"mod_fiddle"`, "temp_file_limit": "256MB"}
	for name, v := range want {
		if got := show(name); got != v {
			t.Errorf("%s = %q, want %q", name, got, v)
		}
	}
	// Changed within a call, back at the next.
	s := d.Session()
	for _, q := range []string{`SET work_mem = '512MB'`, `SELECT pg_advisory_lock(42)`, `LISTEN somewhere`} {
		if res := doQuery(t, s, q); res.Err != nil {
			t.Fatalf("%s: %s", q, res.Err.Message)
		}
	}
	s.Close()
	for range 4 { // whichever pooled connection the next call gets
		if got := show("work_mem"); got != "4MB" {
			t.Errorf("work_mem after the call = %q", got)
		}
		res := query(t, d, `SELECT (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()) || '/' || (SELECT count(*) FROM pg_listening_channels())`)
		if res.Err != nil || string(res.Rows[0][0].Bytes) != "0/0" {
			t.Errorf("advisory locks/channels kept after the call: %+v", res)
		}
	}
	if res := query(t, d, `SET temp_file_limit = -1`); res.Err == nil || !strings.Contains(res.Err.Message, "permission denied") {
		t.Errorf("raising temp_file_limit = %+v, want permission denied", res.Err)
	}
	// The next start puts the role's settings back and reports the change.
	d2, err := b.Open(ctx, testManifest("fiddle", nil), nil, nil, OpenOptions{Update: true})
	if err != nil {
		t.Fatal(err)
	}
	d2.Close()
	var config []string
	var reported int
	if err := b.cfg.DB.QueryRow(ctx, `SELECT coalesce((SELECT setconfig FROM pg_db_role_setting WHERE setrole = $1::regrole AND setdatabase = 0), '{}'),
		(SELECT count(*) FROM websonic.audit_log WHERE action = 'module.tampering' AND subject = 'fiddle')`, b.Role("fiddle")).Scan(&config, &reported); err != nil {
		t.Fatal(err)
	}
	for _, c := range config {
		if c == "statement_timeout=0" || c == "work_mem=1GB" || c == "search_path=public" {
			t.Errorf("the module's role setting %s survived its next start: %q", c, config)
		}
	}
	if reported != 3 {
		t.Errorf("%d tampering reports, want 3 (one per setting)", reported)
	}
}

// TestLegacySchemaAdopted: a schema that an earlier runtime let the module
// own, with the marks table replaced by the module's view, is taken over
// at the next start without running the view: the serving role owns the
// schema, the view is gone (reported as tampering), the provisioning
// role's old membership in the module's role is revoked, and the applied
// migrations stay known from the runtime's ledger.
func TestLegacySchemaAdopted(t *testing.T) {
	b, app, db := newBroker(t, Config{})
	ctx := context.Background()
	super, err := pgx.Connect(ctx, db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer super.Close(ctx)
	m := testManifest("relic", nil, "migrations/001.sql")
	files := map[string][]byte{"migrations/001.sql": []byte(`CREATE TABLE things (id int)`)}
	d, err := b.Open(ctx, m, nil, files, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	role, prov := b.Role("relic"), db.Prefix()+"owner"
	// What an earlier runtime and a hostile release of the module left.
	for _, q := range []string{
		`ALTER SCHEMA mod_relic OWNER TO ` + role,
		`GRANT ` + role + ` TO ` + prov,
		`DROP TABLE mod_relic._migrations`,
		`SET ROLE ` + role,
		`CREATE SEQUENCE mod_relic.fired`,
		`GRANT USAGE, UPDATE ON SEQUENCE mod_relic.fired TO PUBLIC`,
		`CREATE FUNCTION mod_relic.canary() RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_catalog.nextval('mod_relic.fired'); RETURN 'x'; END $$`,
		`CREATE VIEW mod_relic._migrations AS SELECT mod_relic.canary() AS name, ''::bytea AS checksum, now() AS applied_at`,
		`RESET ROLE`,
	} {
		if _, err := super.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	d, err = b.Open(ctx, m, nil, files, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	var owner, kind string
	var fired bool
	var members, reports int
	if err := super.QueryRow(ctx, `SELECT pg_get_userbyid(nspowner)::text FROM pg_namespace WHERE nspname = 'mod_relic'`).Scan(&owner); err != nil || owner != db.Prefix()+"app" {
		t.Errorf("schema owner %q (%v), want the serving role", owner, err)
	}
	if err := super.QueryRow(ctx, `SELECT relkind::text FROM pg_class WHERE oid = 'mod_relic._migrations'::regclass`).Scan(&kind); err != nil || kind != "r" {
		t.Errorf("_migrations is of kind %q (%v), want a table again", kind, err)
	}
	if err := super.QueryRow(ctx, `SELECT is_called FROM mod_relic.fired`).Scan(&fired); err != nil || fired {
		t.Errorf("the module's view ran (%v)", err)
	}
	if err := super.QueryRow(ctx, `SELECT count(*) FROM pg_auth_members WHERE roleid = $1::regrole`, role).Scan(&members); err != nil || members != 0 {
		t.Errorf("%d members of the module's role (%v), want none", members, err)
	}
	if err := app.QueryRow(ctx, `SELECT count(*) FROM websonic.audit_log WHERE action = 'module.tampering' AND subject = 'relic' AND detail->>'what' LIKE '%_migrations was replaced%'`).Scan(&reports); err != nil || reports != 1 {
		t.Errorf("%d tampering reports (%v), want 1", reports, err)
	}
	// The ledger still knows 001: it did not run again (CREATE TABLE would fail).
	d, err = b.Open(ctx, m, nil, files, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
}

// TestConcurrentProvisioning hammers what replicas and the owner's
// commands do at once on one database: open the serving role, provision
// modules, change a module role's connection limit. PostgreSQL answers
// concurrent writes of one catalog row with "tuple concurrently updated";
// none may reach the caller (a second `make run` failed an update so).
func TestConcurrentProvisioning(t *testing.T) {
	b, _, db := newBroker(t, Config{})
	ctx := context.Background()
	prov := db.Pool(t, nil)
	const workers, rounds = 4, 5
	errs := make(chan error, workers*rounds*3)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				r, err := dbroles.New(ctx, dbroles.Config{Pool: prov})
				if err == nil {
					var p *pgxpool.Pool
					if p, err = r.OpenServing(ctx, dbroles.ServingConfig{}); err == nil {
						p.Close()
					}
				}
				errs <- err
				name := fmt.Sprintf("m%d", (w+i)%3) // modules shared between workers
				d, err := b.Open(ctx, testManifest(name, nil), nil, nil, OpenOptions{Update: true})
				if err == nil {
					d.Close()
				}
				errs <- err
				errs <- b.cfg.Roles.SetConnLimit(ctx, b.Role(name), 8)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}
