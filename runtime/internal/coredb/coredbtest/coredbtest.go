// Package coredbtest gives a test the runtime's database as the runtime
// opens it: a fresh database (internal/pgtest) whose given role provisions
// the serving role, connected as that serving role and migrated.
package coredbtest

import (
	"context"
	"testing"

	"github.com/websonic/websonic/internal/pgtest"
	"github.com/websonic/websonic/runtime/internal/coredb"
)

// Open returns the runtime's database on a fresh test database; role names
// start with the test database's prefix. Everything is closed when t ends.
func Open(t testing.TB) (*coredb.DB, *pgtest.DB) {
	t.Helper()
	db := pgtest.NewDB(t)
	prov := db.Pool(t, nil)
	cdb, err := coredb.Open(context.Background(), coredb.OpenConfig{Provisioning: prov, RolePrefix: db.Prefix(), AppName: "websonic test"})
	if err != nil {
		t.Fatalf("coredbtest: %v", err)
	}
	t.Cleanup(cdb.Pool.Close)
	return cdb, db
}
