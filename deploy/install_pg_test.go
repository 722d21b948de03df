package deploy

import (
	"context"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/websonic/websonic/internal/pgtest"
)

// TestInstallScriptPostgreSQL: without --database-url, install.sh (under
// --root, psql pointed at the test server by WEBSONIC_INSTALL_PSQL) makes
// the role and the database for real: a LOGIN CREATEROLE role that is not
// a superuser, owning the database, with the three superuser bounds the
// runtime asks for; it writes the unix-socket URL that pgx reads as such,
// and the drop-in that starts postgresql.service with the runtime. A
// second run keeps the role, the database and its data and changes no
// file; a database of the same name owned by another role is refused.
func TestInstallScriptPostgreSQL(t *testing.T) {
	arch := hostArch(t)
	ctx := context.Background()
	script := writeScript(t)
	k := newKey(t, "ed25519")
	f := makeRepo(t, repoSpec{rootKeys: []fakeKey{k}, threshold: 1, signers: []fakeKey{k},
		releases: []fakeRelease{{"1.0.0", arch, "stable", []byte("#!/bin/sh\necho websonic 1.0.0\n"), false}}})
	regURL := f.serve(t)
	db := pgtest.NewDB(t)
	name := db.Prefix() + "site"
	su, admin := superuser(t, db, name, db.Prefix()+"taken")
	psql := needTool(t, "psql", "postgresql-client")
	env := []string{"WEBSONIC_INSTALL_PSQL=" + psql + " " + su.String(), "WEBSONIC_INSTALL_DB=" + name}
	root := t.TempDir()
	args := []string{"--registry", regURL, "--root", root, "--root-sha256", f.rootSHA()}
	out, err := runScript(t, script, env, args...)
	if err != nil {
		t.Fatalf("install.sh: %v\n%s", err, out)
	}
	if !strings.Contains(out, "role and database "+name) {
		t.Errorf("summary:\n%s", out)
	}
	envFile, err := os.ReadFile(filepath.Join(root, "etc/websonic/websonic.env"))
	if err != nil {
		t.Fatal(err)
	}
	wantURL := "postgres:///" + name + "?host=/var/run/postgresql"
	if !slices.Contains(strings.Split(string(envFile), "\n"), "WEBSONIC_DATABASE_URL="+wantURL) {
		t.Fatalf("websonic.env lacks WEBSONIC_DATABASE_URL=%s:\n%s", wantURL, envFile)
	}
	cc, err := pgx.ParseConfig(wantURL)
	if err != nil || cc.Host != "/var/run/postgresql" || cc.Database != name {
		t.Fatalf("pgx reads %s as host %q database %q (%v)", wantURL, cc.Host, cc.Database, err)
	}
	dropin, err := os.ReadFile(filepath.Join(root, "etc/systemd/system/websonic.service.d/postgresql.conf"))
	if err != nil || !strings.Contains(string(dropin), "\nWants=postgresql.service\nAfter=postgresql.service\n") {
		t.Fatalf("drop-in: %v\n%s", err, dropin)
	}

	check := func(t *testing.T) {
		t.Helper()
		var super, createRole, login, createDB bool
		err := admin.QueryRow(ctx, "SELECT rolsuper, rolcreaterole, rolcanlogin, rolcreatedb FROM pg_roles WHERE rolname = $1", name).Scan(&super, &createRole, &login, &createDB)
		if err != nil || super || !createRole || !login || !createDB {
			t.Fatalf("role %s: super %v createrole %v login %v createdb %v (%v)", name, super, createRole, login, createDB, err)
		}
		var owner string
		if err := admin.QueryRow(ctx, "SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = $1", name).Scan(&owner); err != nil || owner != name {
			t.Fatalf("database %s owned by %q (%v)", name, owner, err)
		}
		var v int
		admin.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&v)
		if v >= 150000 {
			var set bool
			if err := admin.QueryRow(ctx, "SELECT has_parameter_privilege($1, 'temp_file_limit', 'SET')", name).Scan(&set); err != nil || !set {
				t.Errorf("%s may not SET temp_file_limit (%v)", name, err)
			}
		}
		site := *su
		site.Path = "/" + name
		c, err := pgx.Connect(ctx, site.String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		for _, fn := range []string{"lo_create(oid)", "lo_creat(integer)", "lo_from_bytea(oid, bytea)", "lo_import(text)", "lo_import(text, oid)", "lo_put(oid, bigint, bytea)"} {
			var ok bool
			if err := c.QueryRow(ctx, "SELECT has_function_privilege('public', 'pg_catalog."+fn+"', 'EXECUTE')").Scan(&ok); err != nil || ok {
				t.Errorf("PUBLIC may execute %s in %s (%v)", fn, name, err)
			}
		}
		var create bool
		if err := c.QueryRow(ctx, "SELECT has_schema_privilege('public', 'public', 'CREATE')").Scan(&create); err != nil || create {
			t.Errorf("PUBLIC may create in schema public of %s (%v)", name, err)
		}
	}
	check(t)

	// Again: the role and the database are kept with their data; no file changes.
	site := *su
	site.Path = "/" + name
	c, err := pgx.Connect(ctx, site.String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('site data')"); err != nil {
		t.Fatal(err)
	}
	c.Close(ctx)
	files := tree(t, root)
	if out, err := runScript(t, script, env, args...); err != nil {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	check(t)
	if again := tree(t, root); !maps.Equal(files, again) {
		t.Fatalf("the second run changed files")
	}
	c, err = pgx.Connect(ctx, site.String())
	if err != nil {
		t.Fatal(err)
	}
	var v string
	if err := c.QueryRow(ctx, "SELECT v FROM kept").Scan(&v); err != nil || v != "site data" {
		t.Fatalf("the site's data after a second run: %q %v", v, err)
	}
	c.Close(ctx)

	// A database of that name that belongs to another role: refused, named.
	taken := db.Prefix() + "taken"
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+taken); err != nil {
		t.Fatal(err)
	}
	fresh := t.TempDir()
	out, err = runScript(t, script, []string{env[0], "WEBSONIC_INSTALL_DB=" + taken}, "--registry", regURL, "--root", fresh, "--root-sha256", f.rootSHA())
	if err == nil || !strings.Contains(out, "exists and belongs to") || !strings.Contains(out, "--database-url") {
		t.Fatalf("a database owned by another role: %v\n%s", err, out)
	}

}

// superuser connects to the test server's postgres database as its
// superuser (su is that URL), and drops the databases named at the end of
// the test, before pgtest drops the roles of the prefix (cleanups run last
// first).
func superuser(t *testing.T, db *pgtest.DB, databases ...string) (su *url.URL, admin *pgx.Conn) {
	t.Helper()
	su, err := url.Parse(db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	su.Path = "/postgres"
	admin, err = pgx.Connect(context.Background(), su.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, d := range databases {
			admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{d}.Sanitize()+" WITH (FORCE)")
		}
		admin.Close(context.Background())
	})
	return su, admin
}
