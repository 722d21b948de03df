// Package pgtest is the one shared helper for tests against a real
// PostgreSQL. A test package opts in with
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// (or calls Run, when it has more to clean up) and each test takes a fresh
// database with NewDB. By default the package's tests share one private
// cluster (internal/pgembed) that is started lazily, on the first NewDB, so
// a `go test -run` that selects no database test costs nothing; it is
// stopped and removed when the tests end. Setting
// WEBSONIC_TEST_DATABASE_URL to a superuser URL of an external server uses
// that server instead.
//
// Each DB is owned by its own non-superuser CREATEROLE role, which is what the
// runtime gets in production. Roles are cluster-wide in PostgreSQL, so code
// under test that creates roles must name them with DB.Prefix(); at cleanup
// the database is dropped (its connections terminated first) and then every
// role whose name starts with the prefix, best effort.
//
// Set WEBSONIC_TEST_PG_LOG to an hclog level (debug, info, warn, error) to see
// the embedded server's log on stderr.
package pgtest

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/internal/pgembed"
)

// EnvDatabaseURL names the variable holding a superuser URL of an external
// server to test against instead of an embedded cluster.
const EnvDatabaseURL = "WEBSONIC_TEST_DATABASE_URL"

// envLog names the variable setting the embedded server's log level.
const envLog = "WEBSONIC_TEST_PG_LOG"

// server is the state Main sets up for the test package: set before m.Run,
// read by tests, so no further synchronization than once is needed.
type server struct {
	tag string // random, distinguishes test processes sharing an external server
	n   atomic.Int64

	once     sync.Once
	err      error
	external string           // superuser URL of an external server, or ""
	dir      string           // embedded: the cluster directory
	cluster  *pgembed.Cluster // embedded: started on first use
}

var current *server

// Main runs the test package's tests with a PostgreSQL server available to
// NewDB, then stops the server, removes its files and exits with the tests'
// code. Call it from TestMain.
func Main(m *testing.M) {
	os.Exit(Run(m))
}

// Run is Main without the exit, for a TestMain with more of its own to
// clean up afterwards: it returns the code to exit with.
func Run(m *testing.M) int {
	s := &server{tag: randomTag(), external: os.Getenv(EnvDatabaseURL)}
	current = s
	code := m.Run()
	if s.cluster != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := s.cluster.Stop(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
		cancel()
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
	return code
}

// adminURL returns a superuser URL for database dbname, starting the embedded
// cluster on first use.
func (s *server) adminURL(dbname string) (string, error) {
	s.once.Do(func() {
		if s.external != "" {
			return
		}
		// A 0755 directory in os.TempDir(): the unprivileged server user must
		// reach it when tests run as root.
		s.dir, s.err = os.MkdirTemp("", "wspgt-")
		if s.err != nil {
			return
		}
		if s.err = os.Chmod(s.dir, 0o755); s.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		s.cluster, s.err = pgembed.Start(ctx, pgembed.Config{Dir: s.dir, Logger: logger()})
	})
	if s.err != nil {
		return "", s.err
	}
	if s.cluster != nil {
		return s.cluster.SuperuserURL(dbname), nil
	}
	u, err := url.Parse(s.external)
	if err != nil {
		return "", fmt.Errorf("pgtest: %s is not a URL: %w", EnvDatabaseURL, err)
	}
	u.Path, u.RawPath = "/"+dbname, ""
	return u.String(), nil
}

func logger() hclog.Logger {
	level := os.Getenv(envLog)
	if level == "" {
		return hclog.NewNullLogger()
	}
	return hclog.New(&hclog.LoggerOptions{Name: "pgtest", Level: hclog.LevelFromString(level), Output: os.Stderr})
}

// randomTag returns 4 random characters from [a-z0-9].
func randomTag() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 4)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// DB is a fresh database for one test.
type DB struct {
	// URL connects as the database's owner: a non-superuser CREATEROLE role,
	// what the runtime uses.
	URL string
	// AdminURL connects to the same database as a superuser; for setup and
	// assertions only.
	AdminURL string
	// Name is the database name.
	Name string

	prefix string
}

// Prefix returns the short, lowercase, unique prefix of this DB's names (for
// example "tk3x7_"): the database is Prefix()+"db", its owner
// Prefix()+"owner". Code under test must start the names of the roles it
// creates with it, since roles are shared by all databases of a server; such
// roles are dropped at cleanup.
func (d *DB) Prefix() string { return d.prefix }

// NewDB creates a fresh database, owned by a fresh role made with
// pgembed.Provision, and registers a cleanup that drops both, along with
// every role named with Prefix(). It fails the test when Main was not called
// or the server cannot be reached. NewDB is safe to call from parallel tests.
func NewDB(t testing.TB) *DB {
	t.Helper()
	s := current
	if s == nil {
		t.Fatal("pgtest: NewDB needs pgtest.Main; add `func TestMain(m *testing.M) { pgtest.Main(m) }` to this test package")
	}
	admin, err := s.adminURL("postgres")
	if err != nil {
		t.Fatalf("pgtest: no PostgreSQL server for tests (set %s to use an external one): %v", EnvDatabaseURL, err)
	}
	if s.external != "" {
		// Keep the maintenance database given in the URL.
		admin = s.external
	}

	prefix := fmt.Sprintf("t%s%d_", s.tag, s.n.Add(1))
	d := &DB{Name: prefix + "db", prefix: prefix}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d.URL, err = pgembed.Provision(ctx, admin, d.Name, prefix+"owner")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if d.AdminURL, err = s.adminURL(d.Name); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() { d.drop(t, admin) })
	return d
}

// drop removes the database and the roles named with its prefix.
func (d *DB) drop(t testing.TB, admin string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Errorf("pgtest: dropping %s: %v", d.Name, err)
		return
	}
	defer conn.Close(context.Background())
	// WITH (FORCE) terminates the database's remaining connections (PostgreSQL 13+).
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{d.Name}.Sanitize()+" WITH (FORCE)"); err != nil {
		t.Errorf("pgtest: dropping %s: %v", d.Name, err)
		return
	}
	rows, err := conn.Query(ctx, "SELECT rolname::text FROM pg_roles WHERE starts_with(rolname, $1) ORDER BY rolname DESC", d.prefix)
	if err != nil {
		t.Errorf("pgtest: listing roles of %s: %v", d.Name, err)
		return
	}
	roles, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Errorf("pgtest: listing roles of %s: %v", d.Name, err)
		return
	}
	for _, r := range roles {
		// DROP OWNED here takes the role's privileges on shared objects
		// (GRANT SET ON PARAMETER, from pgembed.Provision).
		if _, err := conn.Exec(ctx, "DROP OWNED BY "+pgx.Identifier{r}.Sanitize()); err != nil {
			t.Logf("pgtest: role %s: %v", r, err)
		}
		if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{r}.Sanitize()); err != nil {
			t.Logf("pgtest: leaving role %s behind: %v", r, err)
		}
	}
}

// Pool opens a pool on the database as its owner role (as the runtime
// connects), closed when t ends, and applies migrate to it first if it is
// not nil, e.g. db.Pool(t, coredb.Migrate).
func (d *DB) Pool(t testing.TB, migrate func(context.Context, *pgxpool.Pool) error) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), d.URL)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(pool.Close)
	if migrate != nil {
		if err := migrate(context.Background(), pool); err != nil {
			t.Fatalf("pgtest: migrate: %v", err)
		}
	}
	return pool
}
