package bench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/websonic/websonic/internal/pgembed"
)

// The custody benchmark's baseline: plain pg_dump and pg_restore of the
// whole site database, as a superuser, by the same client tools the dump
// engine uses (those of the server's major version).

// plainTools returns the folder of pg_dump and pg_restore of n's server's
// major version.
func (n *custodyNode) plainTools(b *testing.B) string {
	b.Helper()
	var num int
	if err := n.super.QueryRow(context.Background(), `SELECT current_setting('server_version_num')::int`).Scan(&num); err != nil {
		b.Fatal(err)
	}
	dir, err := pgembed.FindClientTools(num/10000, "")
	if err != nil {
		b.Fatal(err)
	}
	return dir
}

// plainTool runs a client tool against database dbname of the server
// superURL names, logged in as its user: the connection goes through the
// environment (PGPASSWORD, never argv).
func plainTool(b *testing.B, superURL, dbname, bin string, args ...string) {
	b.Helper()
	cc, err := pgx.ParseConfig(superURL)
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, append(args, "--dbname="+dbname)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "PGHOST="+cc.Host, "PGPORT="+strconv.Itoa(int(cc.Port)), "PGUSER="+cc.User, "PGPASSWORD="+cc.Password)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("%s: %v\n%s", filepath.Base(bin), err, out)
	}
}

// plainDump writes pg_dump --format=custom of n's whole database to file
// (the default compression, as the dump engine's).
func (n *custodyNode) plainDump(b *testing.B, tools, file string) {
	b.Helper()
	plainTool(b, n.db.AdminURL, n.db.Name, filepath.Join(tools, "pg_dump"), "--format=custom", "--file="+file)
}

// plainRestore restores file into the new database dbname, in one
// transaction as the dump engine restores (pg_restore's own default, a
// commit per object, is slower on small sites and no safer); the caller
// drops it (dropPlain).
func (n *custodyNode) plainRestore(b *testing.B, tools, file, dbname string) {
	b.Helper()
	if _, err := n.super.Exec(context.Background(), `CREATE DATABASE `+pgx.Identifier{dbname}.Sanitize()); err != nil {
		b.Fatal(err)
	}
	plainTool(b, n.db.AdminURL, dbname, filepath.Join(tools, "pg_restore"), "--exit-on-error", "--single-transaction", file)
}

// dropPlain drops a database plainRestore made.
func (n *custodyNode) dropPlain(b *testing.B, dbname string) {
	b.Helper()
	if _, err := n.super.Exec(context.Background(), `DROP DATABASE IF EXISTS `+pgx.Identifier{dbname}.Sanitize()+` WITH (FORCE)`); err != nil {
		b.Fatal(err)
	}
}

// plainCount is the number of rows of table in database dbname of n's
// server (read as the superuser).
func (n *custodyNode) plainCount(b *testing.B, dbname, table string) int64 {
	b.Helper()
	ctx := context.Background()
	cc, err := pgx.ParseConfig(n.db.AdminURL)
	if err != nil {
		b.Fatal(err)
	}
	cc.Database = dbname
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	var c int64
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&c); err != nil {
		b.Fatal(err)
	}
	return c
}
