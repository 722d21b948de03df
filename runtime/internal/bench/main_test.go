package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/internal/modbuild"
	"github.com/websonic/websonic/internal/pgtest"
	"github.com/websonic/websonic/runtime/internal/coredb"
	"github.com/websonic/websonic/runtime/internal/engine"
	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/runtime/internal/sandboxdb"
	"github.com/websonic/websonic/runtime/internal/testmodules/bench/handler"
	"github.com/websonic/websonic/runtime/server"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// Module sources, relative to this package.
const (
	benchSrc = "../testmodules/bench"
	helloSrc = "../../../examples/hello"
)

// scratch is where the benchmarks keep what is worth reusing across runs:
// the module packages and a shared compilation cache (so only the startup
// benchmark's "cold" case pays for compiling).
var scratch = filepath.Join(os.TempDir(), "websonic-bench")

// sharedCache is the compilation cache of every benchmark but the startup
// one, which manages its own. server.Open with DataDir scratch uses it too
// (it puts the cache under DataDir/cache/wazero).
var sharedCache = filepath.Join(scratch, "cache", "wazero")

// packages builds the bench module and hello once per test binary, each into
// a folder of its own that server.Config.ModulesDir can point at:
// <dir>/bench/bench and <dir>/hello/hello.
var packages = sync.OnceValues(func() (string, error) {
	dir := filepath.Join(scratch, "packages")
	for _, src := range []string{benchSrc, helloSrc} {
		name := filepath.Base(src)
		if err := modbuild.Package(context.Background(), src, filepath.Join(dir, name, name)); err != nil {
			return "", err
		}
	}
	return dir, nil
})

// modulesDir returns a folder holding only the named module's package.
func modulesDir(b *testing.B, name string) string {
	b.Helper()
	dir, err := packages()
	if err != nil {
		b.Fatal(err)
	}
	return filepath.Join(dir, name)
}

// logger passes on errors only: a failed module call shows, the development
// mode warnings of every server.Open do not.
func logger() hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "bench", Level: hclog.Error, Output: os.Stderr})
}

// instancesPerCore sizes the module pools of the HTTP and database
// benchmarks: 2 instances per core.
const instancesPerCore = 2

// site is a runtime with the bench module, plus one chi router that mounts
// both the module (under /wasm) and the same handler compiled natively
// (under /native), served on loopback.
type site struct {
	srv *server.Server
	mod *modhost.Module
	// URL serves the chi router with /wasm/* and /native/*.
	URL string
	// FullURL serves the runtime's whole handler (request ids, access log,
	// metrics, CSRF protection, sessions), in front of the same module.
	FullURL string
	// NoDeadlinesURL serves the same kind of router with /wasm/* going to a
	// copy of the module (named bench_nd, its own schema with the same rows)
	// on an engine without per-call deadlines: a diagnostic, not a
	// configuration the runtime offers.
	NoDeadlinesURL string
}

func newSite(b *testing.B) *site {
	b.Helper()
	ctx := context.Background()
	db := pgtest.NewDB(b)
	size := instancesPerCore * runtime.GOMAXPROCS(0)
	pool := engine.PoolConfig{Size: size, MinWarm: size}
	srv, err := server.Open(ctx, server.Config{
		DataDir:             scratch,
		DatabaseURL:         db.URL,
		ModulesDir:          modulesDir(b, "bench"),
		ApproveLocalModules: true,
		RolePrefix:          db.Prefix(),
		Pool:                pool,
		Logger:              logger(),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close(context.Background()) })
	s := &site{srv: srv}
	for _, m := range srv.Modules() {
		if m.Manifest().Name == "bench" {
			s.mod = m
		}
	}
	if s.mod == nil {
		b.Fatal("bench module not running")
	}
	// The native handler reads as the module, through a pool configured
	// like the module's own (the same role, search_path, limits as
	// connection parameters, table and connection limit) but without the
	// per-call session reset, which a native application does not need:
	// what the module pays for it shows in the ratio.
	pc := s.mod.DB().Pool().Config().Copy()
	pc.AfterRelease, pc.PrepareConn, pc.ShouldPing = nil, nil, nil
	nativePool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nativePool.Close)
	native := handler.New("/native", pgxStore{nativePool}, nativeRender(b))
	r := chi.NewRouter()
	r.Handle("/wasm/*", s.mod)
	r.Handle("/native/*", native)
	s.URL = serve(b, r)
	s.FullURL = serve(b, srv.Handler())

	nd := startNoDeadlines(b, db, pool)
	r = chi.NewRouter()
	r.Handle("/wasm/*", nd)
	s.NoDeadlinesURL = serve(b, r)

	s.checkSame(b, "/hello?name=Ada")
	s.checkSame(b, "/greet?name=Ada")
	s.checkSame(b, "/page?name=Ada")
	s.checkSame(b, "/items/42")
	s.checkSame(b, "/items?after=42")
	return s
}

// nativeRender renders the bench module's page templates natively with
// html/template, as a native application would: what sdk.Render has the
// host do for the module.
func nativeRender(b *testing.B) handler.Render {
	t, err := template.ParseGlob(filepath.Join(benchSrc, "assets", "templates", "*.html"))
	if err != nil {
		b.Fatal(err)
	}
	return func(w http.ResponseWriter, status int, name string, data any) error {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		return t.ExecuteTemplate(w, name, data)
	}
}

// serve serves h on a loopback listener until the benchmark ends.
func serve(b *testing.B, h http.Handler) string {
	hs := httptest.NewServer(h)
	b.Cleanup(hs.Close)
	return hs.URL
}

// startNoDeadlines starts a copy of the bench module named bench_nd on an
// engine with per-call deadlines turned off, through the same modhost path
// server.Open uses.
func startNoDeadlines(b *testing.B, db *pgtest.DB, pool engine.PoolConfig) *modhost.Module {
	b.Helper()
	ctx := context.Background()
	cdb := openCore(b, db)
	e, err := engine.New(ctx, engine.Config{CacheDir: sharedCache, Deadlines: engine.DeadlineNone, Logger: logger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close(context.Background()) })
	p, err := modhost.LoadDir(filepath.Join(modulesDir(b, "bench"), "bench"))
	if err != nil {
		b.Fatal(err)
	}
	p.Manifest.Name = "bench_nd"
	h := modhost.New(modhost.Config{
		Engine: e,
		Broker: sandboxdb.New(sandboxdb.Config{DB: cdb.Pool, Roles: cdb.Roles, Logger: logger()}),
		Pool:   pool,
		Logger: logger(),
	})
	m, err := h.Start(ctx, p, modhost.ApproveAll(p.Manifest), modhost.StartOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close(context.Background()) })
	return m
}

// openCore opens db's core database, migrated, for the benchmark's
// length.
func openCore(b *testing.B, db *pgtest.DB) *coredb.DB {
	b.Helper()
	ctx := context.Background()
	admin, err := pgxpool.New(ctx, db.URL)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(admin.Close)
	cdb, err := coredb.Open(ctx, coredb.OpenConfig{Provisioning: admin, RolePrefix: db.Prefix(), Logger: logger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cdb.Pool.Close)
	return cdb
}

// checkSame makes sure both sides do the same work: same status, same body
// (but for the path the hello page echoes).
func (s *site) checkSame(b *testing.B, path string) {
	b.Helper()
	get := func(u string) (int, string) {
		resp, err := http.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		return resp.StatusCode, buf.String()
	}
	ns, nb := get(s.URL + "/native" + path)
	ws, wb := get(s.URL + "/wasm" + path)
	if ns != 200 || ws != 200 || nb != strings.ReplaceAll(wb, "/wasm/", "/native/") {
		b.Fatalf("native and wasm differ on %s:\nnative %d %s\nwasm %d %s", path, ns, nb, ws, wb)
	}
}

// pgxStore is the native Store: pgx, no database/sql.
type pgxStore struct{ pool *pgxpool.Pool }

func (s pgxStore) Item(ctx context.Context, id int64) (handler.Item, error) {
	var it handler.Item
	err := s.pool.QueryRow(ctx, handler.ItemQuery, id).
		Scan(&it.ID, &it.Name, &it.Description, &it.PriceCents, &it.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return it, handler.ErrNotFound
	}
	return it, err
}

func (s pgxStore) Items(ctx context.Context, after int64) ([]handler.Item, error) {
	rows, err := s.pool.Query(ctx, handler.ItemsQuery, after)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return handler.ReadItems(rows)
}

// rss returns the process's resident set size in bytes (VmRSS).
func rss() (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/self/status")
}

// settle collects garbage and returns freed memory to the OS, so RSS counts
// what is live.
func settle() {
	runtime.GC()
	debug.FreeOSMemory()
	time.Sleep(50 * time.Millisecond) // let background frees and finalizers run
	runtime.GC()
	debug.FreeOSMemory()
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }
