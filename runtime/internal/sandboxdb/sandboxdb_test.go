package sandboxdb

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/internal/pgtest"
	"github.com/websonic/websonic/runtime/internal/coredb/coredbtest"
	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/manifest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func newBroker(t testing.TB, cfg Config) (*Broker, *pgxpool.Pool, *pgtest.DB) {
	t.Helper()
	cdb, db := coredbtest.Open(t)
	cfg.DB, cfg.Roles = cdb.Pool, cdb.Roles
	return New(cfg), cdb.Pool, db
}

func testManifest(name string, views []string, migrations ...string) *manifest.Manifest {
	return &manifest.Manifest{
		ManifestVersion: 1, Name: name, Version: "1.0.0", ABIVersion: abi.Version,
		Capabilities: manifest.Capabilities{CoreData: views},
		Migrations:   migrations,
	}
}

func query(t *testing.T, d *ModuleDB, sql string) *abi.DBResult {
	t.Helper()
	s := d.Session()
	defer s.Close()
	return doQuery(t, s, sql)
}

// doQuery runs sql on connection 1 of a guest call's session.
func doQuery(t *testing.T, s *Session, sql string) *abi.DBResult {
	t.Helper()
	req := abi.DBRequest{Op: abi.DBQuery, Conn: 1, SQL: sql}
	var res abi.DBResult
	if err := res.Unmarshal(s.Do(context.Background(), req.AppendMarshal(nil))); err != nil {
		t.Fatal(err)
	}
	return &res
}

func TestRoleIsSandboxed(t *testing.T) {
	b, admin, _ := newBroker(t, Config{})
	d, err := b.Open(context.Background(), testManifest("alpha", nil), nil, nil, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var super, createrole, createdb, inherit, replication, bypass bool
	var connLimit int
	var config []string
	err = admin.QueryRow(context.Background(), `SELECT rolsuper, rolcreaterole, rolcreatedb, rolinherit, rolreplication, rolbypassrls, rolconnlimit, rolconfig
		FROM pg_roles WHERE rolname = $1`, b.Role("alpha")).Scan(&super, &createrole, &createdb, &inherit, &replication, &bypass, &connLimit, &config)
	if err != nil {
		t.Fatal(err)
	}
	if super || createrole || createdb || inherit || replication || bypass {
		t.Errorf("role powers: super=%v createrole=%v createdb=%v inherit=%v replication=%v bypassrls=%v", super, createrole, createdb, inherit, replication, bypass)
	}
	if connLimit != 8 {
		t.Errorf("connection limit = %d, want 8 (two pools of 4: running and warming)", connLimit)
	}
	for _, want := range []string{"statement_timeout=5000", "search_path=mod_alpha", "idle_in_transaction_session_timeout=10000"} {
		if !strings.Contains(strings.Join(config, " "), want) {
			t.Errorf("role config %q lacks %q", config, want)
		}
	}
	var memberships int
	if err := admin.QueryRow(context.Background(), `SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = $1`,
		b.Role("alpha")).Scan(&memberships); err != nil || memberships != 0 {
		t.Errorf("module role is a member of %d roles (%v), want none", memberships, err)
	}
}

func TestCoreViewsOnlyWhenApproved(t *testing.T) {
	b, admin, _ := newBroker(t, Config{})
	if _, err := admin.Exec(context.Background(), `INSERT INTO websonic.users (username, display_name, email, password_hash) VALUES ('ann', 'Ann', 'ann@example.com', 'x')`); err != nil {
		t.Fatal(err)
	}
	m := testManifest("viewer", []string{manifest.CoreUsers, manifest.CoreUserEmails})
	tests := []struct {
		name    string
		views   []string
		sql     string
		wantErr string
	}{
		{"nothing approved: users", nil, "SELECT username FROM websonic_api.users", "permission denied"},
		{"users approved", []string{manifest.CoreUsers}, "SELECT username FROM websonic_api.users", ""},
		{"users approved, emails not", []string{manifest.CoreUsers}, "SELECT email FROM websonic_api.user_emails", "permission denied"},
		{"emails approved", []string{manifest.CoreUsers, manifest.CoreUserEmails}, "SELECT email FROM websonic_api.user_emails", ""},
		{"approval withdrawn again", nil, "SELECT username FROM websonic_api.users", "permission denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := b.Open(context.Background(), m, tt.views, nil, OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			res := query(t, d, tt.sql)
			switch {
			case tt.wantErr == "" && res.Err != nil:
				t.Fatalf("error: %v", res.Err)
			case tt.wantErr != "" && (res.Err == nil || !strings.Contains(res.Err.Message, tt.wantErr)):
				t.Fatalf("got %+v, want an error containing %q", res, tt.wantErr)
			}
		})
	}
	if _, err := b.Open(context.Background(), testManifest("greedy", nil), []string{manifest.CoreUsers}, nil, OpenOptions{}); err == nil {
		t.Fatal("approving a view the manifest does not ask for must fail")
	}
}

func TestMigrations(t *testing.T) {
	b, admin, _ := newBroker(t, Config{})
	ctx := context.Background()
	one := "migrations/001_one.sql"
	two := "migrations/002_two.sql"
	files := map[string][]byte{
		one: []byte(`CREATE TABLE items (id int PRIMARY KEY); INSERT INTO items VALUES (1);`),
		two: []byte(`ALTER TABLE items ADD COLUMN name text;`),
	}
	open := func(migs []string, files map[string][]byte) error {
		d, err := b.Open(ctx, testManifest("shop", nil, migs...), nil, files, OpenOptions{})
		if err == nil {
			d.Close()
		}
		return err
	}
	if err := open([]string{one}, files); err != nil {
		t.Fatal(err)
	}
	// Applied once: a second start does not run 001 again (it would fail on
	// the duplicate key).
	if err := open([]string{one, two}, files); err != nil {
		t.Fatal(err)
	}
	var owner string
	if err := admin.QueryRow(ctx, `SELECT tableowner FROM pg_tables WHERE schemaname = 'mod_shop' AND tablename = 'items'`).Scan(&owner); err != nil || owner != b.Role("shop") {
		t.Fatalf("items owned by %q (%v), want the module role", owner, err)
	}
	tests := []struct {
		name    string
		migs    []string
		files   map[string][]byte
		wantErr string
	}{
		{"changed after applied", []string{one, two}, map[string][]byte{one: []byte(`SELECT 1`), two: files[two]}, "was changed after it was applied"},
		{"removed from the package", []string{one}, files, "no longer lists it"},
		{"listed but missing", []string{one, two, "migrations/003_three.sql"}, files, "not in the package"},
		{"failing migration", []string{one, two, "migrations/003_bad.sql"}, map[string][]byte{
			one: files[one], two: files[two], "migrations/003_bad.sql": []byte(`CREATE TABLE half (a int); SELECT * FROM mod_other.secret;`),
		}, "does not exist"},
		{"migration escaping its role", []string{one, two, "migrations/003_escape.sql"}, map[string][]byte{
			one: files[one], two: files[two], "migrations/003_escape.sql": []byte(`RESET ROLE; CREATE TABLE websonic.evil (a int);`),
		}, "permission denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := open(tt.migs, tt.files)
			if !errors.Is(err, ErrMigration) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want ErrMigration containing %q", err, tt.wantErr)
			}
		})
	}
	// The failing migration left nothing behind (one transaction).
	var half bool
	if err := admin.QueryRow(ctx, `SELECT to_regclass('mod_shop.half') IS NOT NULL`).Scan(&half); err != nil || half {
		t.Fatalf("a failed migration left a table behind (%v)", err)
	}
}

func TestResultCap(t *testing.T) {
	b, _, _ := newBroker(t, Config{MaxResultBytes: 64 << 10})
	d, err := b.Open(context.Background(), testManifest("big", nil), nil, nil, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if res := query(t, d, `SELECT repeat('x', 1000) FROM generate_series(1, 50)`); res.Err != nil || len(res.Rows) != 50 {
		t.Fatalf("small result: %+v", res.Err)
	}
	// One row far larger than the cap fails without pgx buffering it.
	if res := query(t, d, `SELECT repeat('x', 50000000)`); res.Err == nil {
		t.Fatal("a 50 MB row got through a 64 KiB cap")
	}
	if res := query(t, d, `SELECT 1`); res.Err != nil {
		t.Fatalf("the module's next query: %v", res.Err)
	}
	if res := query(t, d, `SELECT FROM generate_series(1, 3)`); res.Err != nil || len(res.Rows) != 0 || res.RowsAffected != 3 {
		t.Fatalf("rows without columns: %+v", res)
	}
	res := query(t, d, `SELECT repeat('x', 1000) FROM generate_series(1, 1000)`)
	if res.Err == nil || res.Err.Code != "54000" || !strings.Contains(res.Err.Message, "result exceeds 65536 bytes") {
		t.Fatalf("big result: %+v", res.Err)
	}
}

func TestSessionLimits(t *testing.T) {
	b, _, _ := newBroker(t, Config{ConnLimit: 2})
	d, err := b.Open(context.Background(), testManifest("conns", nil), nil, nil, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	s := d.Session()
	defer s.Close()
	do := func(conn uint32, op abi.DBOp, sql string) *abi.DBResult {
		req := abi.DBRequest{Op: op, Conn: conn, SQL: sql}
		var res abi.DBResult
		if err := res.Unmarshal(s.Do(context.Background(), req.AppendMarshal(nil))); err != nil {
			t.Fatal(err)
		}
		return &res
	}
	if r := do(1, abi.DBQuery, "SELECT 1"); r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := do(2, abi.DBQuery, "SELECT 1"); r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := do(3, abi.DBQuery, "SELECT 1"); r.Err == nil || !strings.Contains(r.Err.Message, "more than 2 database connections") {
		t.Fatalf("third connection: %+v", r.Err)
	}
	if r := do(1, abi.DBBegin, "DROP TABLE x"); r.Err == nil {
		t.Fatal("begin accepted a statement that is not BEGIN")
	}
	var res abi.DBResult
	if err := res.Unmarshal(s.Do(context.Background(), []byte{0xff})); err != nil || res.Err == nil || !strings.Contains(res.Err.Message, "malformed") {
		t.Fatalf("malformed request: %v %+v", err, res.Err)
	}
}

func TestCommitOfFailedTransaction(t *testing.T) {
	b, _, _ := newBroker(t, Config{})
	d, err := b.Open(context.Background(), testManifest("txs", nil), nil, nil, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	s := d.Session()
	defer s.Close()
	do := func(op abi.DBOp, sql string) *abi.DBResult {
		req := abi.DBRequest{Op: op, Conn: 1, SQL: sql}
		var res abi.DBResult
		if err := res.Unmarshal(s.Do(context.Background(), req.AppendMarshal(nil))); err != nil {
			t.Fatal(err)
		}
		return &res
	}
	if r := do(abi.DBCommit, ""); r.Err == nil || r.Err.Code != "25P01" {
		t.Fatalf("commit without a transaction: %+v", r.Err)
	}
	do(abi.DBBegin, "BEGIN")
	if r := do(abi.DBExec, "SELECT 1/0"); r.Err == nil {
		t.Fatal("division by zero succeeded")
	}
	if r := do(abi.DBCommit, ""); r.Err == nil || r.Err.Code != "40000" {
		t.Fatalf("commit of a failed transaction: %+v, want an error", r.Err)
	}
}

func TestMigrationDeadline(t *testing.T) {
	b, _, _ := newBroker(t, Config{MigrationTimeout: time.Second})
	mig := "migrations/001_slow.sql"
	_, err := b.Open(context.Background(), testManifest("slow", nil, mig), nil, map[string][]byte{
		mig: []byte(`SET statement_timeout = 0; SELECT pg_sleep(30);`),
	}, OpenOptions{})
	if !errors.Is(err, ErrMigration) || !strings.Contains(err.Error(), "ran longer than 1s") {
		t.Fatalf("err = %v", err)
	}
}

func TestRollbackMigrations(t *testing.T) {
	b, admin, _ := newBroker(t, Config{})
	ctx := context.Background()
	mig := func(n int) string { return fmt.Sprintf("migrations/%03d_m.sql", n) }
	files := map[string][]byte{}
	for n := 1; n <= 5; n++ {
		files[mig(n)] = []byte(fmt.Sprintf(`CREATE TABLE t%d (id int);`, n))
	}
	changed := maps.Clone(files)
	changed[mig(2)] = []byte(`CREATE TABLE t2 (id bigint);`)
	applied := []string{mig(1), mig(2), mig(3)}
	tests := []struct {
		name     string
		migs     []string
		files    map[string][]byte
		rollback bool
		wantErr  string // "" for success
	}{
		{"previous version", []string{mig(1), mig(2)}, files, true, ""},
		{"first version", nil, files, true, ""},
		{"same migrations", applied, files, true, ""},
		{"without rollback", []string{mig(1), mig(2)}, files, false, "no longer lists it"},
		{"a gap", []string{mig(1), mig(3)}, files, true, "not a prefix"},
		{"not from the start", []string{mig(2), mig(3)}, files, true, "not a prefix"},
		{"another order", []string{mig(2), mig(1)}, files, true, "not a prefix"},
		{"a migration of its own", []string{mig(1), mig(2), mig(4)}, files, true, "not a prefix"},
		{"a changed migration", []string{mig(1), mig(2)}, changed, true, "was changed after it was applied"},
		{"forward with rollback set", []string{mig(1), mig(2), mig(3), mig(4)}, files, true, ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := fmt.Sprintf("rb%d", i)
			d, err := b.Open(ctx, testManifest(name, nil, applied...), nil, files, OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			d.Close()
			d, err = b.Open(ctx, testManifest(name, nil, tt.migs...), nil, tt.files, OpenOptions{Update: true, Rollback: tt.rollback})
			if err == nil {
				d.Close()
			}
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (!errors.Is(err, ErrMigration) || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			// A refused package applied nothing, not even its new migrations.
			var t4 bool
			if err := admin.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, Schema(name)+".t4").Scan(&t4); err != nil {
				t.Fatal(err)
			}
			if want := slices.Contains(tt.migs, mig(4)) && tt.wantErr == ""; t4 != want {
				t.Errorf("table t4 exists: %v, want %v", t4, want)
			}
		})
	}
	// After a rollback the newer version starts again without rerunning
	// what it had applied (it would fail: the tables exist).
	d, err := b.Open(ctx, testManifest("rb0", nil, applied...), nil, files, OpenOptions{})
	if err != nil {
		t.Fatalf("forward again after the rollback: %v", err)
	}
	d.Close()
}

// TestSecondOpenKeepsTheCredential: a second ModuleDB of a module (an
// update warming up) leaves the role's password as it is, so the running
// version's pool keeps opening connections.
func TestSecondOpenKeepsTheCredential(t *testing.T) {
	b, _, db := newBroker(t, Config{})
	ctx := context.Background()
	super, err := pgx.Connect(ctx, db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer super.Close(ctx)
	verifier := func() string {
		t.Helper()
		var v string
		if err := super.QueryRow(ctx, `SELECT rolpassword FROM pg_authid WHERE rolname = $1`, b.Role("twice")).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	// fresh makes d's pool open a new connection and query on it.
	fresh := func(name string, d *ModuleDB) {
		t.Helper()
		d.Pool().Reset()
		if res := query(t, d, `SELECT 1`); res.Err != nil {
			t.Fatalf("%s: new connection: %v", name, res.Err)
		}
	}
	m := testManifest("twice", nil)
	running, err := b.Open(ctx, m, nil, nil, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer running.Close()
	before := verifier()
	m2 := *m
	m2.Version = "1.1.0"
	next, err := b.Open(ctx, &m2, nil, nil, OpenOptions{Update: true})
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	if after := verifier(); after != before {
		t.Error("opening the module again changed its role's password")
	}
	fresh("running version", running)
	fresh("next version", next)

	// Changed behind the runtime's back: the next Open sets the module's
	// password again, which is the one the running pool has too.
	if _, err := super.Exec(ctx, `ALTER ROLE `+pgx.Identifier{b.Role("twice")}.Sanitize()+` PASSWORD 'changed-outside'`); err != nil {
		t.Fatal(err)
	}
	third, err := b.Open(ctx, &m2, nil, nil, OpenOptions{Update: true})
	if err != nil {
		t.Fatalf("open after an outside password change: %v", err)
	}
	third.Close()
	fresh("running version after the repair", running)
}

// TestUpdateGrants: while an update is prepared both versions' views are
// granted and the module's record stays the running version's; Grant then
// settles on one version's views.
func TestUpdateGrants(t *testing.T) {
	b, admin, _ := newBroker(t, Config{})
	ctx := context.Background()
	if _, err := admin.Exec(ctx, `INSERT INTO websonic.users (username, display_name, email, password_hash) VALUES ('ann', 'Ann', 'ann@example.com', 'x')`); err != nil {
		t.Fatal(err)
	}
	all := []string{manifest.CoreUsers, manifest.CoreUserEmails}
	v1 := testManifest("upd", all)
	v2 := testManifest("upd", all)
	v2.Version = "2.0.0"
	users := []string{manifest.CoreUsers}
	emails := []string{manifest.CoreUserEmails}
	running, err := b.Open(ctx, v1, users, nil, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer running.Close()
	next, err := b.Open(ctx, v2, emails, nil, OpenOptions{Update: true, RunningViews: users})
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	check := func(step, version string, wantUsers, wantEmails bool) {
		t.Helper()
		for _, c := range []struct {
			sql  string
			want bool
		}{
			{"SELECT username FROM websonic_api.users", wantUsers},
			{"SELECT email FROM websonic_api.user_emails", wantEmails},
		} {
			if res := query(t, running, c.sql); (res.Err == nil) != c.want {
				t.Errorf("%s: %s: error %v, want access %v", step, c.sql, res.Err, c.want)
			}
		}
		var v string
		if err := admin.QueryRow(ctx, `SELECT version FROM websonic.modules WHERE name = 'upd'`).Scan(&v); err != nil || v != version {
			t.Errorf("%s: recorded version %q (%v), want %q", step, v, err, version)
		}
	}
	check("both versions running", "1.0.0", true, true)
	if err := b.Grant(ctx, v2, emails); err != nil {
		t.Fatal(err)
	}
	check("after the update", "2.0.0", false, true)
	if err := b.Grant(ctx, v1, users); err != nil {
		t.Fatal(err)
	}
	check("back to the first version", "1.0.0", true, false)
	if err := b.Grant(ctx, testManifest("upd", nil), users); err == nil {
		t.Error("Grant accepted a view the manifest does not ask for")
	}
}

// TestMigrationLedger: the runtime's ledger, not the module-writable marks
// in mod_<name>._migrations, says what was applied. A module cannot pin
// itself with a forged mark, nor by replacing the marks table; a mark left
// by a crash between a migration's commit and its ledger entry is adopted,
// so the migration does not run twice.
func TestMigrationLedger(t *testing.T) {
	b, admin, _ := newBroker(t, Config{})
	ctx := context.Background()
	one, two := "migrations/001_one.sql", "migrations/002_two.sql"
	files := map[string][]byte{
		one: []byte(`CREATE TABLE items (id int PRIMARY KEY);`),
		two: []byte(`ALTER TABLE items ADD COLUMN name text;`),
	}
	open := func(migs ...string) error {
		d, err := b.Open(ctx, testManifest("shop", nil, migs...), nil, files, OpenOptions{Update: true})
		if err == nil {
			d.Close()
		}
		return err
	}
	asModule := func(sql, refused string) {
		t.Helper()
		d, err := b.Open(ctx, testManifest("shop", nil, one), nil, files, OpenOptions{Update: true})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		_, err = d.Pool().Exec(ctx, sql)
		switch {
		case refused == "" && err != nil:
			t.Fatalf("%s: %v", sql, err)
		case refused != "" && (err == nil || !strings.Contains(err.Error(), refused)):
			t.Fatalf("%s: got error %v, want %q", sql, err, refused)
		}
	}
	if err := open(one); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name    string
		module  string // what the module does with its own role first
		refused string // how PostgreSQL refuses it, if it does
	}{
		{"a forged mark", `INSERT INTO _migrations (name, checksum) VALUES ('zz_pin', '\x00')`, ""},
		{"a forged mark of the next migration", `INSERT INTO _migrations (name, checksum) VALUES ('migrations/002_two.sql', '\x00')`, ""},
		// The serving role owns the schema and the table: the module can
		// neither drop nor replace them (a schema made by an earlier runtime
		// is TestLegacySchemaAdopted's).
		{"a marks table of its own", `DROP TABLE _migrations; CREATE TABLE _migrations (name text PRIMARY KEY, checksum bytea NOT NULL, applied_at timestamptz NOT NULL DEFAULT now()); INSERT INTO _migrations (name, checksum) VALUES ('zz_pin', '\x00')`, "must be owner of table _migrations"},
		{"a renamed marks table", `ALTER TABLE _migrations RENAME TO old`, "must be owner of table _migrations"},
		{"its schema", `DROP SCHEMA mod_shop CASCADE`, "must be owner of schema mod_shop"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			asModule(st.module, st.refused)
			if err := open(one); err != nil {
				t.Fatalf("the same version after %s: %v", st.name, err)
			}
		})
	}
	if err := open(one, two); err != nil {
		t.Fatalf("the next version after the module's forgeries: %v", err)
	}
	var hasName bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'mod_shop.items'::regclass AND attname = 'name')`).Scan(&hasName); err != nil || !hasName {
		t.Fatalf("002 did not run (%v)", err)
	}
	// A crash after 002 committed and before its ledger entry: the mark is
	// adopted, 002 is not run again (ADD COLUMN would fail).
	if _, err := admin.Exec(ctx, `DELETE FROM websonic.module_migrations WHERE module = 'shop' AND name = $1`, two); err != nil {
		t.Fatal(err)
	}
	if err := open(one, two); err != nil {
		t.Fatalf("after a crash between a migration and its ledger entry: %v", err)
	}
	var n int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM websonic.module_migrations WHERE module = 'shop'`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("ledger has %d entries (%v), want 2", n, err)
	}
}
