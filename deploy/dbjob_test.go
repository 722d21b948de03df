package deploy

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	batchv1 "k8s.io/api/batch/v1"

	"github.com/websonic/websonic/internal/pgtest"
)

// TestDatabaseJob runs the script of the Job websonic-database, as the
// overlay builds it, against a real PostgreSQL as its superuser (with the
// role and database renamed to the test's prefix): it makes a role that
// logs in with the runtime's password, may create roles and is no
// superuser, owning its database, with the DBA's bounds; a second run
// changes nothing and keeps the data.
func TestDatabaseJob(t *testing.T) {
	needTool(t, "psql", "postgresql-client")
	needTool(t, "pg_isready", "postgresql-client")
	var script string
	for _, o := range build(t, filepath.Join("kubernetes", "overlays", "kubernetes")) {
		if j, ok := o.value.(*batchv1.Job); ok && j.Name == "websonic-database" {
			script = strings.Join(j.Spec.Template.Spec.Containers[0].Args, "\n")
		}
	}
	if script == "" {
		t.Fatal("no Job websonic-database")
	}
	ctx := context.Background()
	db := pgtest.NewDB(t)
	name := db.Prefix() + "site"
	script = strings.ReplaceAll(script, "websonic", name)
	su, admin := superuser(t, db, name)
	cc := admin.Config()
	run := func() {
		t.Helper()
		cmd := exec.Command("sh", "-ec", script)
		cmd.Env = append(os.Environ(), "PGHOST="+cc.Host, "PGPORT="+strconv.Itoa(int(cc.Port)), "PGUSER="+cc.User,
			"PGPASSWORD="+cc.Password, "PGDATABASE=postgres", "RUNTIME_PASSWORD=runtime-secret 'quoted'")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("the Job's script: %v\n%s", err, out)
		}
	}
	run()
	var super, createRole, createDB, login bool
	if err := admin.QueryRow(ctx, `SELECT rolsuper, rolcreaterole, rolcreatedb, rolcanlogin FROM pg_roles WHERE rolname = $1`, name).Scan(&super, &createRole, &createDB, &login); err != nil {
		t.Fatal(err)
	}
	if super || !createRole || !createDB || !login {
		t.Fatalf("role %s: superuser %v, createrole %v, createdb %v, login %v", name, super, createRole, createDB, login)
	}
	as := *su
	as.User, as.Path = url.UserPassword(name, "runtime-secret 'quoted'"), "/"+name
	conn, err := pgx.Connect(ctx, as.String())
	if err != nil {
		t.Fatalf("the runtime's role cannot log in with its password: %v", err)
	}
	defer conn.Close(ctx)
	var owner string
	var publicCreate bool
	if err := conn.QueryRow(ctx, `SELECT pg_get_userbyid(datdba), has_schema_privilege('public', 'public', 'CREATE')
		FROM pg_database WHERE datname = current_database()`).Scan(&owner, &publicCreate); err != nil {
		t.Fatal(err)
	}
	if owner != name || publicCreate {
		t.Fatalf("database owner %s, PUBLIC may create in public: %v", owner, publicCreate)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE kept (x int); INSERT INTO kept VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	run() // again: idempotent
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM kept`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("after a second run: %d rows, %v", n, err)
	}
}
