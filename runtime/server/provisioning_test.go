package server

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/jackc/pgx/v5"
)

// reopen closes s's runtime and opens it again on the same database, as a
// restart does: provisioning runs over everything left in the database.
func reopen(t *testing.T, s *testSite) *testSite {
	t.Helper()
	ctx := context.Background()
	cfg := s.srv.cfg
	s.Server.Close()
	if err := s.srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
	srv, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		hs.Close()
		srv.Close(context.Background())
	})
	return &testSite{Server: hs, srv: srv, db: s.db}
}

// plantedLookups are functions named and typed to win the provisioning
// role's unqualified lookups over pg_catalog's (a more exact match than a
// polymorphic or variadic one wins wherever it is on the search_path):
// unnest(text[]) over unnest(anyarray), format(text, name, text) over
// format(text, VARIADIC "any"). Each records who ran it and tries to make a
// role that can run programs on the server, which only a CREATEROLE role
// can; ran is the table it records in, backdoor the role it tries to make.
func plantedLookups(schema, planter, ran, backdoor string) []string {
	body := fmt.Sprintf(`IF current_user::pg_catalog.text <> %[1]s THEN
		  INSERT INTO %[2]s VALUES (current_user);
		  BEGIN
		    EXECUTE pg_catalog.format('CREATE ROLE %%I IN ROLE pg_execute_server_program', %[3]s);
		  EXCEPTION WHEN OTHERS THEN NULL; END;
		END IF;`, quoteLit(planter), ran, quoteLit(backdoor))
	return []string{
		`CREATE TABLE IF NOT EXISTS ` + ran + ` (who text)`,
		`GRANT INSERT ON ` + ran + ` TO PUBLIC`,
		`CREATE OR REPLACE FUNCTION ` + schema + `.unnest(pg_catalog.text[]) RETURNS SETOF pg_catalog.text LANGUAGE plpgsql AS $$
		BEGIN ` + body + ` RETURN QUERY SELECT x FROM pg_catalog.unnest($1) x; END $$`,
		`CREATE OR REPLACE FUNCTION ` + schema + `.format(pg_catalog.text, pg_catalog.name, pg_catalog.text) RETURNS pg_catalog.text LANGUAGE plpgsql AS $$
		BEGIN ` + body + ` RETURN pg_catalog.format($1, $2, $3); END $$`,
		`GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ` + schema + ` TO PUBLIC`,
	}
}

func quoteLit(s string) string { return "'" + s + "'" }

// TestProvisioningRoleRunsNothingPlanted is DESIGN decision 6 for the
// provisioning role (CREATEROLE, owner of the database): none of its
// lookups may resolve to a function that someone with less power planted.
// Two planters are tried: the hostile module, on a server whose schema
// public is writable by everyone (PostgreSQL 14 and earlier, and clusters
// upgraded from them, where the runtime's REVOKE is a no-op because public
// belongs to the bootstrap superuser; the runtime only warns), and the
// serving role, which may create in public and may create a schema named
// like the provisioning role ("$user" on the default search_path). After a
// restart, which provisions every module again, nobody but the planter ran
// the functions and no role can run programs on the server.
func TestProvisioningRoleRunsNothingPlanted(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		// plant makes the functions as the planter; it returns the
		// planter's role.
		plant func(t *testing.T, s *testSite, super *pgx.Conn, ran, backdoor string) string
	}{
		{"the module, in a public schema everyone may write", func(t *testing.T, s *testSite, super *pgx.Conn, ran, backdoor string) string {
			// What PostgreSQL 14 gives every database, and pg_upgrade keeps.
			for _, q := range []string{`ALTER SCHEMA public OWNER TO CURRENT_USER`, `GRANT USAGE, CREATE ON SCHEMA public TO PUBLIC`} {
				if _, err := super.Exec(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			module := s.db.Prefix() + "mod_hostile"
			for _, q := range plantedLookups("public", module, ran, backdoor) {
				if out := s.moduleSQL(t, q); out.Error != "" {
					t.Fatalf("%s: %s", q, out.Error)
				}
			}
			return module
		}},
		{"the serving role, in public", func(t *testing.T, s *testSite, super *pgx.Conn, ran, backdoor string) string {
			app := s.db.Prefix() + "app"
			asRole(t, super, app, plantedLookups("public", app, ran, backdoor))
			return app
		}},
		{"the serving role, in a schema named like the provisioning role", func(t *testing.T, s *testSite, super *pgx.Conn, ran, backdoor string) string {
			app, prov := s.db.Prefix()+"app", s.db.Prefix()+"owner"
			asRole(t, super, app, append([]string{`CREATE SCHEMA ` + prov, `GRANT USAGE ON SCHEMA ` + prov + ` TO PUBLIC`},
				plantedLookups(prov, app, ran, backdoor)...))
			return app
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newSite(t)
			super, err := pgx.Connect(ctx, s.db.AdminURL)
			if err != nil {
				t.Fatal(err)
			}
			defer super.Close(ctx)
			ran, backdoor := "public.ran", s.db.Prefix()+"backdoor"
			planter := tt.plant(t, s, super, ran, backdoor)
			s = reopen(t, s)
			assertHelloServes(t, s)
			rows, err := super.Query(ctx, `SELECT who FROM `+ran+` WHERE who <> $1`, planter)
			if err != nil {
				t.Fatal(err)
			}
			who, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			var backdoors int
			if err := super.QueryRow(ctx, `SELECT count(*) FROM pg_roles WHERE rolname = $1`, backdoor).Scan(&backdoors); err != nil {
				t.Fatal(err)
			}
			if len(who) > 0 || backdoors > 0 {
				t.Fatalf("functions planted by %s ran as %q; backdoor roles made: %d", planter, who, backdoors)
			}
		})
	}
}

// asRole runs stmts as role (the test's superuser connection switching to
// it).
func asRole(t *testing.T, super *pgx.Conn, role string, stmts []string) {
	t.Helper()
	ctx := context.Background()
	if _, err := super.Exec(ctx, `SET ROLE `+pgx.Identifier{role}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	defer super.Exec(ctx, `RESET ROLE`)
	for _, q := range stmts {
		if _, err := super.Exec(ctx, q); err != nil {
			t.Fatalf("as %s: %s: %v", role, q, err)
		}
	}
}
