package site

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/internal/pgtest"
	"github.com/websonic/websonic/runtime/internal/coredb"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// newPool returns a pool on a fresh, migrated database (connected as its
// non-superuser owner, as the runtime is) that lives as long as t.
func newPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return pgtest.NewDB(t).Pool(t, coredb.Migrate)
}
