package dbroles_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/websonic/websonic/internal/pgtest"
	"github.com/websonic/websonic/runtime/internal/dbroles"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func open(t *testing.T, db *pgtest.DB, prefix string) (*dbroles.Roles, error) {
	t.Helper()
	return dbroles.New(context.Background(), dbroles.Config{Pool: db.Pool(t, nil), Prefix: prefix})
}

// TestServingRole: the serving role has no power but LOGIN, owns what the
// provisioning role made before (an earlier runtime's core schema), and a
// second start changes nothing.
func TestServingRole(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t)
	prov := db.Pool(t, nil)
	// What an earlier runtime made as the provisioning role.
	for _, q := range []string{
		`CREATE SCHEMA websonic`,
		`CREATE TABLE websonic.users (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text)`,
		`CREATE VIEW websonic.names AS SELECT name FROM websonic.users`,
		`CREATE TABLE public.websonic_schema_migrations (name text PRIMARY KEY)`,
	} {
		if _, err := prov.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for i := range 2 {
		r, err := dbroles.New(ctx, dbroles.Config{Pool: prov, Prefix: db.Prefix()})
		if err != nil {
			t.Fatal(err)
		}
		app, err := r.OpenServing(ctx, dbroles.ServingConfig{AppName: "test"})
		if err != nil {
			t.Fatalf("start %d: %v", i+1, err)
		}
		var who, path string
		var super, createrole, createdb bool
		if err := app.QueryRow(ctx, `SELECT current_user::text, current_setting('search_path'), rolsuper, rolcreaterole, rolcreatedb
			FROM pg_roles WHERE rolname = current_user`).Scan(&who, &path, &super, &createrole, &createdb); err != nil {
			t.Fatal(err)
		}
		if who != r.ServingRole() || path != "pg_catalog, pg_temp" || super || createrole || createdb {
			t.Errorf("serving as %s, search_path %q, super=%v createrole=%v createdb=%v", who, path, super, createrole, createdb)
		}
		var notMine []string
		rows, err := app.Query(ctx, `SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname IN ('websonic', 'public') AND c.relkind IN ('r', 'v', 'S') AND c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = current_user)`)
		if err != nil {
			t.Fatal(err)
		}
		if notMine, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil || len(notMine) > 0 {
			t.Errorf("start %d: the serving role does not own %q (%v)", i+1, notMine, err)
		}
		if _, err := app.Exec(ctx, `INSERT INTO websonic.users (name) VALUES ('x')`); err != nil {
			t.Errorf("start %d: the serving role cannot use the core tables: %v", i+1, err)
		}
		app.Close()
	}
}

// TestPrefixRecorded: the site's role prefix is recorded at its first
// start; no prefix takes it, another is refused.
func TestPrefixRecorded(t *testing.T) {
	db := pgtest.NewDB(t)
	r, err := open(t, db, db.Prefix())
	if err != nil {
		t.Fatal(err)
	}
	if r.ModuleRole("x") != db.Prefix()+"mod_x" {
		t.Errorf("module role %s", r.ModuleRole("x"))
	}
	again, err := open(t, db, "")
	if err != nil || again.ServingRole() != db.Prefix()+"app" {
		t.Errorf("no prefix: %v, serving role %s", err, again.ServingRole())
	}
	if _, err := open(t, db, "other_"); err == nil || !strings.Contains(err.Error(), "cannot change") {
		t.Errorf("another prefix = %v, want refused", err)
	}
	for _, bad := range []string{"Bad", "x-y", "mod_", "websonic_mod_", strings.Repeat("a", 21)} {
		if err := dbroles.CheckPrefix(bad); err == nil {
			t.Errorf("prefix %q accepted", bad)
		}
	}
}

// TestUnsafeServingRole: a serving role that a superuser gave powers is
// refused, not used.
func TestUnsafeServingRole(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t)
	r, err := open(t, db, db.Prefix())
	if err != nil {
		t.Fatal(err)
	}
	app, err := r.OpenServing(ctx, dbroles.ServingConfig{})
	if err != nil {
		t.Fatal(err)
	}
	app.Close()
	super, err := pgx.Connect(ctx, db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer super.Close(ctx)
	if _, err := super.Exec(ctx, `ALTER ROLE `+r.ServingRole()+` BYPASSRLS`); err != nil {
		t.Fatal(err)
	}
	if _, err := r.OpenServing(ctx, dbroles.ServingConfig{}); !errors.Is(err, dbroles.ErrUnsafeRole) {
		t.Fatalf("OpenServing with a BYPASSRLS serving role = %v, want ErrUnsafeRole", err)
	}
}

// TestEnsureModuleFindings: what a module (or anyone) changed on its role is
// found, reported and undone.
func TestEnsureModuleFindings(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t)
	r, err := open(t, db, db.Prefix())
	if err != nil {
		t.Fatal(err)
	}
	m := dbroles.ModuleRole{Name: r.ModuleRole("m"), Password: "p", ConnLimit: 8,
		Settings: map[string]string{"statement_timeout": "5000", "search_path": "mod_m"}}
	if f, err := r.EnsureModule(ctx, m); err != nil || len(f) != 0 {
		t.Fatalf("first ensure: %v %v", f, err)
	}
	super, err := pgx.Connect(ctx, db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer super.Close(ctx)
	for _, q := range []string{
		`ALTER ROLE ` + m.Name + ` SET work_mem = '1GB'`,
		`ALTER ROLE ` + m.Name + ` SET statement_timeout = 0`,
		`ALTER ROLE ` + m.Name + ` CREATEDB CONNECTION LIMIT 50`,
		`GRANT pg_read_all_data TO ` + m.Name,
	} {
		if _, err := super.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	f, err := r.EnsureModule(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range f {
		got = append(got, x.What)
	}
	all := strings.Join(got, "; ")
	for _, want := range []string{"work_mem=1GB", "statement_timeout=0", "createdb=true", "connection limit changed to 50", "was a member of pg_read_all_data"} {
		if !strings.Contains(all, want) {
			t.Errorf("findings %q lack %q", all, want)
		}
	}
	var createdb bool
	var limit, members int
	var config []string
	if err := super.QueryRow(ctx, `SELECT rolcreatedb, rolconnlimit, coalesce(rolconfig, '{}'),
		(SELECT count(*) FROM pg_auth_members WHERE member = r.oid) FROM pg_roles r WHERE rolname = $1`, m.Name).Scan(&createdb, &limit, &config, &members); err != nil {
		t.Fatal(err)
	}
	if createdb || limit != 8 || members != 0 || strings.Contains(strings.Join(config, ","), "work_mem") {
		t.Errorf("not undone: createdb=%v limit=%d memberships=%d config=%q", createdb, limit, members, config)
	}
}
