package pgembed

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestLimits: the embedded server's processes cannot take the machine's
// memory or disk. A query building a value past BackendMemory fails with
// "out of memory" and the server keeps serving; a session's temporary
// files stop at TempFileLimit, which no non-superuser can raise.
func TestLimits(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := Start(ctx, Config{Dir: testDir(t), Logger: testLogger(t),
		Limits: Limits{BackendMemory: 128 << 20, TempFileLimit: 8 << 20, MaxConnections: 20}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop(context.Background()) })
	u, err := Provision(ctx, c.SuperuserURL("postgres"), "lim", "lim_owner")
	if err != nil {
		t.Fatal(err)
	}
	conn := connect(t, u)
	for name, want := range map[string]string{"temp_file_limit": "8MB", "max_connections": "20", "max_prepared_transactions": "0"} {
		if got := queryString(t, conn, "SELECT current_setting($1)", name); got != want {
			t.Errorf("%s = %s, want %s", name, got, want)
		}
	}
	tests := []struct {
		name, sql, code string
	}{
		{"a value within the cap", `SELECT length(repeat('x', 50000000))::text`, ""},
		{"a value past the cap", `SELECT length(repeat('x', 150000000))::text`, "53200"}, // out_of_memory
		{"an aggregate past the cap", `SELECT length(string_agg(repeat('x', 1000000), ''))::text FROM generate_series(1, 150)`, "53200"},
		{"a sort spilling past the temp file limit", `SELECT count(*)::text FROM (SELECT g FROM generate_series(1, 2000000) g ORDER BY g DESC OFFSET 0) s`, "53400"}, // configuration_limit_exceeded
		{"the server still answers", `SELECT 'ok'`, ""},
		{"raising the temp file limit, as a role the provisioned one made", `SELECT set_config('temp_file_limit', '-1', false)`, "42501"},
	}
	exec1(t, conn, "SET work_mem = '64kB'")
	exec1(t, conn, "CREATE ROLE lim_module NOLOGIN")
	exec1(t, conn, "GRANT lim_module TO CURRENT_USER")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if strings.Contains(tt.name, "as a role") {
				exec1(t, conn, "SET ROLE lim_module")
				defer exec1(t, conn, "RESET ROLE")
			}
			var s string
			err := conn.QueryRow(ctx, tt.sql).Scan(&s)
			var pe *pgconn.PgError
			switch {
			case tt.code == "" && err != nil:
				t.Fatal(err)
			case tt.code != "" && (!errors.As(err, &pe) || pe.Code != tt.code):
				t.Fatalf("error %v, want SQLSTATE %s", err, tt.code)
			}
		})
	}
}

// TestProvisionHardens: what only a superuser can do to bound the roles
// the provisioned role will make is done.
func TestProvisionHardens(t *testing.T) {
	t.Parallel()
	c := start(t, testDir(t))
	ctx := context.Background()
	u, err := Provision(ctx, c.SuperuserURL("postgres"), "hard", "hard_owner")
	if err != nil {
		t.Fatal(err)
	}
	conn := connect(t, u)
	exec1(t, conn, "CREATE ROLE hard_module LOGIN")
	exec1(t, conn, "ALTER ROLE hard_module SET temp_file_limit = '1MB'") // needs SET on the parameter
	for _, q := range []string{
		`SELECT has_function_privilege('hard_module', 'lo_from_bytea(oid, bytea)', 'EXECUTE')`,
		`SELECT has_function_privilege('hard_module', 'lo_create(oid)', 'EXECUTE')`,
		`SELECT has_function_privilege('hard_module', 'lo_put(oid, bigint, bytea)', 'EXECUTE')`,
		`SELECT has_schema_privilege('hard_module', 'public', 'CREATE')`,
	} {
		if got := queryString(t, conn, q+"::text"); got != "false" {
			t.Errorf("%s = %s", q, got)
		}
	}
	if !strings.Contains(queryString(t, conn, "SELECT array_to_string(rolconfig, ',') FROM pg_roles WHERE rolname = 'hard_module'"), "temp_file_limit=1MB") {
		t.Error("the role setting did not stick")
	}
}
