package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/internal/pgtest"
	"github.com/websonic/websonic/runtime/internal/coredb"
	"github.com/websonic/websonic/runtime/internal/engine"
	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/runtime/internal/sandboxdb"
	"github.com/websonic/websonic/runtime/server"
)

// startTimes is one start of the runtime.
type startTimes struct{ open, first time.Duration }

// start opens a runtime with hello on db, serves it on loopback and GETs
// /guestbook once; it returns how long Open and that first request took,
// and a function that shuts everything down.
func start(b *testing.B, db *pgtest.DB, dataDir string) (startTimes, func()) {
	b.Helper()
	var t startTimes
	t0 := time.Now()
	srv, err := server.Open(context.Background(), server.Config{
		DataDir:             dataDir,
		DatabaseURL:         db.URL,
		ModulesDir:          modulesDir(b, "hello"),
		ApproveLocalModules: true,
		RolePrefix:          db.Prefix(),
		Logger:              logger(),
	})
	if err != nil {
		b.Fatal(err)
	}
	t.open = time.Since(t0)
	hs := httptest.NewServer(srv.Handler())
	stop := func() {
		hs.Close()
		srv.Close(context.Background())
	}
	resp, err := http.Get(hs.URL + "/guestbook")
	if err != nil {
		stop()
		b.Fatal(err)
	}
	resp.Body.Close()
	t.first = time.Since(t0) - t.open
	if resp.StatusCode != http.StatusOK {
		stop()
		b.Fatalf("first GET /guestbook: %s", resp.Status)
	}
	return t, stop
}

// BenchmarkStartup times server.Open with hello plus the first GET
// /guestbook served (over loopback, through the module and its database),
// against a PostgreSQL that is already running and already migrated: a
// restart. cold starts with an empty compilation cache (a new install or
// runtime upgrade), warm with the cache the previous start left. The
// default pool (1 warm instance) is used. Shutdown is not timed.
func BenchmarkStartup(b *testing.B) {
	db := pgtest.NewDB(b)
	dataDir := b.TempDir()
	cache := filepath.Join(dataDir, "cache")
	_, stop := start(b, db, dataDir) // migrate, provision hello, fill the cache
	stop()
	for _, cold := range []bool{true, false} {
		name := "warm"
		if cold {
			name = "cold"
		}
		b.Run(name, func(b *testing.B) {
			var sum startTimes
			b.ResetTimer()
			for range b.N {
				if cold {
					b.StopTimer()
					if err := os.RemoveAll(cache); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				t, stop := start(b, db, dataDir)
				b.StopTimer()
				stop()
				b.StartTimer()
				sum.open += t.open
				sum.first += t.first
			}
			b.StopTimer()
			n := float64(b.N)
			b.ReportMetric(float64((sum.open+sum.first).Milliseconds())/n, "ms/start")
			b.ReportMetric(float64(sum.open.Milliseconds())/n, "open-ms")
			b.ReportMetric(float64(sum.first.Milliseconds())/n, "first-req-ms")
		})
	}
}

// withCustomSection returns wasm with a custom section appended, so that
// copies of one module have different bytes and so different compiled code,
// as different modules would.
func withCustomSection(wasm []byte, name, payload string) []byte {
	body := binary.AppendUvarint(nil, uint64(len(name)))
	body = append(body, name...)
	body = append(body, payload...)
	out := append([]byte(nil), wasm...)
	out = append(out, 0) // custom section id
	out = binary.AppendUvarint(out, uint64(len(body)))
	return append(out, body...)
}

// Dimensions of BenchmarkRSS.
const (
	rssModules   = 3
	rssInstances = 4
)

// BenchmarkRSS measures process memory (VmRSS, after a GC that returns
// freed memory to the OS) around starting three modules with four warm
// instances each (MinWarm = Size = 4): copies of hello under the names
// hello_a, hello_b, hello_c, each in its own schema, each with a custom
// section that makes its code distinct (identical bytes would share compiled
// code, which three real modules do not). It reports:
//
//	MiB/instance           (after start - before) / 12: what the brief asks
//	code-MiB/module        compiled code alone, measured before the pools
//	code-heap-MiB/module   the part of it on the Go heap (wazero's decoded
//	                       module); the rest is mapped machine code
//	marginal-MiB/instance  (after start - after compile) / 12
//	loaded-MiB/instance    (after serving requests on every instance - before) / 12
//	linear-MiB/instance    guest linear memory per instance after serving
//
// Each iteration starts from a fresh engine (with a warm compilation cache)
// and closes everything at its end.
func BenchmarkRSS(b *testing.B) {
	ctx := context.Background()
	db := pgtest.NewDB(b)
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
	var pkgs []*modhost.Package
	for i := range rssModules {
		p, err := modhost.LoadDir(filepath.Join(modulesDir(b, "hello"), "hello"))
		if err != nil {
			b.Fatal(err)
		}
		p.Manifest.Name = fmt.Sprintf("hello_%c", 'a'+i)
		p.Wasm = withCustomSection(p.Wasm, "websonic.bench", p.Manifest.Name)
		pkgs = append(pkgs, p)
	}
	var sum rssFigures
	b.ResetTimer()
	for range b.N {
		r := measureRSS(b, cdb, pkgs)
		sum.start += r.start
		sum.code += r.code
		sum.codeHeap += r.codeHeap
		sum.marginal += r.marginal
		sum.loaded += r.loaded
		sum.linear += r.linear
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(sum.start/n, "MiB/instance")
	b.ReportMetric(sum.code/n, "code-MiB/module")
	b.ReportMetric(sum.codeHeap/n, "code-heap-MiB/module")
	b.ReportMetric(sum.marginal/n, "marginal-MiB/instance")
	b.ReportMetric(sum.loaded/n, "loaded-MiB/instance")
	b.ReportMetric(sum.linear/n, "linear-MiB/instance")
}

type rssFigures struct{ start, code, codeHeap, marginal, loaded, linear float64 }

func measureRSS(b *testing.B, cdb *coredb.DB, pkgs []*modhost.Package) rssFigures {
	ctx := context.Background()
	var heap int64 // HeapInuse at the last read
	read := func() int64 {
		settle()
		n, err := rss()
		if err != nil {
			b.Fatal(err)
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heap = int64(ms.HeapInuse)
		return n
	}
	e, err := engine.New(ctx, engine.Config{CacheDir: sharedCache, Logger: logger()})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close(ctx)
	h := modhost.New(modhost.Config{
		Engine: e,
		Broker: sandboxdb.New(sandboxdb.Config{DB: cdb.Pool, Roles: cdb.Roles, Logger: logger()}),
		Pool:   engine.PoolConfig{Size: rssInstances, MinWarm: rssInstances},
		Logger: logger(),
	})
	before := read()
	heapBefore := heap
	// Compile first, holding a reference, so the code can be measured
	// apart; modhost.Start then finds it in the engine's memory.
	for _, p := range pkgs {
		code, err := e.Compile(ctx, p.Manifest.Name, p.Wasm)
		if err != nil {
			b.Fatal(err)
		}
		defer code.Close(ctx)
	}
	compiled := read()
	codeHeap := heap - heapBefore
	var mods []*modhost.Module
	for _, p := range pkgs {
		m, err := h.Start(ctx, p, modhost.ApproveAll(p.Manifest), modhost.StartOptions{})
		if err != nil {
			b.Fatal(err)
		}
		defer m.Close(ctx)
		mods = append(mods, m)
	}
	started := read()
	// Serve on every instance at once: rssInstances concurrent requests per
	// module hold all its instances, a few times over.
	var wg sync.WaitGroup
	for _, m := range mods {
		for range rssInstances {
			wg.Go(func() {
				for range 10 {
					w := httptest.NewRecorder()
					m.ServeHTTP(w, httptest.NewRequest("GET", "/guestbook", nil))
					if w.Code != http.StatusOK {
						b.Errorf("%s: GET /guestbook: %d %s", m.Manifest().Name, w.Code, w.Body)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	loaded := read()
	var linear int64
	for _, m := range mods {
		linear += m.Stats().MemoryBytes
	}
	inst := float64(rssModules * rssInstances)
	return rssFigures{
		start:    mib(started-before) / inst,
		code:     mib(compiled-before) / rssModules,
		codeHeap: mib(codeHeap) / rssModules,
		marginal: mib(started-compiled) / inst,
		loaded:   mib(loaded-before) / inst,
		linear:   mib(linear) / inst,
	}
}
