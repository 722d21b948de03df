package pgtest_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/websonic/websonic/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestIsolation(t *testing.T) {
	var (
		mu  sync.Mutex
		dbs = map[string]*pgtest.DB{}
	)
	// The group returns once both parallel subtests and their cleanups are done.
	t.Run("group", func(t *testing.T) {
		for _, name := range []string{"a", "b"} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				db := pgtest.NewDB(t)
				mu.Lock()
				dbs[name] = db
				mu.Unlock()
				ctx := context.Background()
				conn := connect(t, db.URL)

				var user, dbname string
				var super bool
				if err := conn.QueryRow(ctx, `SELECT current_user::text, current_database()::text, rolsuper
				FROM pg_roles WHERE rolname = current_user`).Scan(&user, &dbname, &super); err != nil {
					t.Fatal(err)
				}
				if dbname != db.Name || super || !strings.HasPrefix(user, db.Prefix()) {
					t.Errorf("connected as %s (superuser %v) to %s; want a non-superuser %s... on %s", user, super, dbname, db.Prefix(), db.Name)
				}
				// A fresh database: no table of the other test is visible.
				var tables int
				if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&tables); err != nil {
					t.Fatal(err)
				}
				if tables != 0 {
					t.Errorf("fresh database has %d tables", tables)
				}
				if _, err := conn.Exec(ctx, "CREATE TABLE secret (v text); INSERT INTO secret VALUES ('"+name+"')"); err != nil {
					t.Fatal(err)
				}
				// Namespaced roles, as module code would create them.
				if _, err := conn.Exec(ctx, "CREATE ROLE "+db.Prefix()+"mod_x LOGIN"); err != nil {
					t.Fatal(err)
				}
				// AdminURL is a superuser on the same database.
				admin := connect(t, db.AdminURL)
				var v string
				if err := admin.QueryRow(ctx, "SELECT v FROM secret WHERE current_setting('is_superuser') = 'on'").Scan(&v); err != nil || v != name {
					t.Errorf("admin sees %q, %v", v, err)
				}
			})
		}
	})

	// Both parallel subtests are done and cleaned up here.
	a, b := dbs["a"], dbs["b"]
	if a == nil || b == nil {
		t.Fatal("subtests did not run")
	}
	if a.Name == b.Name || a.Prefix() == b.Prefix() || a.URL == b.URL {
		t.Errorf("databases not distinct: %+v %+v", a, b)
	}
	if len(a.Prefix()) > 12 || strings.ToLower(a.Prefix()) != a.Prefix() {
		t.Errorf("prefix %q should be short and lowercase", a.Prefix())
	}

	// Cleanup dropped databases and prefixed roles.
	probe := pgtest.NewDB(t)
	conn := connect(t, probe.AdminURL)
	var left int
	if err := conn.QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM pg_database WHERE datname IN ($1, $2)) +
		(SELECT count(*) FROM pg_roles WHERE starts_with(rolname, $3) OR starts_with(rolname, $4))`,
		a.Name, b.Name, a.Prefix(), b.Prefix()).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("%d databases or roles left after cleanup", left)
	}
}

func TestCrossDatabaseAccess(t *testing.T) {
	a, b := pgtest.NewDB(t), pgtest.NewDB(t)
	ctx := context.Background()
	ca := connect(t, a.URL)
	if _, err := ca.Exec(ctx, "CREATE TABLE private (v int); INSERT INTO private VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	// b's owner may connect to a's database (PUBLIC has CONNECT by default) but
	// cannot read a's table nor create anything there.
	u := strings.Replace(b.URL, "/"+b.Name+"?", "/"+a.Name+"?", 1)
	cb := connect(t, u)
	if _, err := cb.Exec(ctx, "SELECT * FROM private"); err == nil {
		t.Error("another test's owner read a private table")
	}
	if _, err := cb.Exec(ctx, "CREATE TABLE intruder (v int)"); err == nil {
		t.Error("another test's owner created a table in a foreign database")
	}
}
