package pgembed

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
)

func TestProvision(t *testing.T) {
	t.Parallel()
	c := start(t, testDir(t))
	ctx := context.Background()
	admin := connect(t, c.SuperuserURL("postgres"))

	// provision calls Provision and checks the contract on the result.
	provision := func(t *testing.T, db, role string) string {
		t.Helper()
		u, err := Provision(ctx, c.SuperuserURL("postgres"), db, role)
		if err != nil {
			t.Fatalf("Provision: %v", err)
		}
		conn := connect(t, u)
		if got := queryString(t, conn, "SELECT current_user || '@' || current_database()"); got != role+"@"+db {
			t.Errorf("connected as %s, want %s@%s", got, role, db)
		}
		var super, createrole, createdb, repl, bypass bool
		if err := conn.QueryRow(ctx, `SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls
			FROM pg_roles WHERE rolname = current_user`).Scan(&super, &createrole, &createdb, &repl, &bypass); err != nil {
			t.Fatal(err)
		}
		if super || !createrole || !createdb || repl || bypass {
			t.Errorf("attributes super=%v createrole=%v createdb=%v replication=%v bypassrls=%v; want only createrole and createdb",
				super, createrole, createdb, repl, bypass)
		}
		if got := queryString(t, conn, "SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = current_database()"); got != role {
			t.Errorf("database owner = %s, want %s", got, role)
		}
		// It cannot act as anybody else.
		for _, sql := range []string{
			"SET ROLE " + Superuser,
			"SET SESSION AUTHORIZATION " + Superuser,
			"SELECT set_config('role', '" + Superuser + "', false)",
			"ALTER ROLE " + role + " SUPERUSER",
		} {
			if _, err := conn.Exec(ctx, sql); err == nil {
				t.Errorf("%s: succeeded as %s", sql, role)
			}
		}
		if got := queryString(t, conn, "SELECT current_user::text"); got != role {
			t.Errorf("current_user = %s after escape attempts", got)
		}
		// It owns its database and may build in it, and it may make (and
		// drop) the scratch databases of backups and imports.
		exec1(t, conn, "CREATE TABLE IF NOT EXISTS mine (v int)")
		exec1(t, conn, "CREATE DATABASE "+role+"_scratch")
		exec1(t, conn, "DROP DATABASE "+role+"_scratch")
		return u
	}

	t.Run("idempotent", func(t *testing.T) {
		u1 := provision(t, "app", "app_owner")
		u2 := provision(t, "app", "app_owner")
		if u1 != u2 {
			t.Errorf("URLs differ: %s vs %s", u1, u2)
		}
		if got := queryString(t, admin, "SELECT count(*)::text FROM pg_roles WHERE rolname = 'app_owner'"); got != "1" {
			t.Errorf("%s roles", got)
		}
	})

	t.Run("resets drifted attributes and owner", func(t *testing.T) {
		provision(t, "drift", "drift_owner")
		exec1(t, admin, "ALTER ROLE drift_owner SUPERUSER CREATEDB")
		exec1(t, admin, "ALTER DATABASE drift OWNER TO "+Superuser)
		provision(t, "drift", "drift_owner")
	})

	t.Run("existing role and database", func(t *testing.T) {
		exec1(t, admin, "CREATE ROLE pre_owner NOLOGIN")
		exec1(t, admin, "CREATE DATABASE pre")
		provision(t, "pre", "pre_owner")
	})

	t.Run("concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Go(func() {
				_, err := Provision(ctx, c.SuperuserURL("postgres"), "race", "race_owner")
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		provision(t, "race", "race_owner")
	})

	t.Run("password when the superuser URL has one", func(t *testing.T) {
		su, _ := url.Parse(c.SuperuserURL("postgres"))
		su.User = url.UserPassword(Superuser, "ignored-by-trust")
		u, err := Provision(ctx, su.String(), "pw", "pw_owner")
		if err != nil {
			t.Fatal(err)
		}
		ru, _ := url.Parse(u)
		if p, ok := ru.User.Password(); !ok || len(p) < 32 {
			t.Errorf("role URL has no generated password: %s", u)
		}
		if got := queryString(t, admin, "SELECT (rolpassword IS NOT NULL)::text FROM pg_authid WHERE rolname = 'pw_owner'"); got != "true" {
			t.Errorf("role has no password")
		}
	})

	t.Run("invalid names", func(t *testing.T) {
		for _, tt := range []struct{ db, role string }{
			{"", "r"},
			{"d", ""},
			{"Upper", "r"},
			{"d", "has-dash"},
			{"1digit", "r"},
			{`quo"te`, "r"},
			{strings.Repeat("a", 64), "r"},
			{"d", "semi;colon"},
		} {
			_, err := Provision(ctx, c.SuperuserURL("postgres"), tt.db, tt.role)
			if !errors.Is(err, ErrInvalidName) {
				t.Errorf("Provision(%q, %q): err = %v, want ErrInvalidName", tt.db, tt.role, err)
			}
		}
	})
}
