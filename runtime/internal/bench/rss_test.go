package bench

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/websonic/websonic/internal/modbuild"
	"github.com/websonic/websonic/internal/pgtest"
	"github.com/websonic/websonic/runtime/internal/coredb"
	"github.com/websonic/websonic/runtime/internal/engine"
	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/runtime/internal/sandboxdb"
)

// Dimensions of BenchmarkRSS.
const rssInstances = 4

// rssModule is one of the three distinct modules BenchmarkRSS starts, and
// the request that exercises it.
type rssModule struct {
	src, name, path string
}

var rssModules = []rssModule{
	{helloSrc, "hello", "/guestbook"},
	{benchSrc, "bench", "/wasm/hello?name=Ada"},
	{"../../../examples/noticeboard", "noticeboard", "/noticeboard"},
}

// rssPackages builds the three modules of BenchmarkRSS (hello and bench are
// shared with the other benchmarks).
var rssPackages = sync.OnceValues(func() ([]string, error) {
	dir, err := packages()
	if err != nil {
		return nil, err
	}
	nb := filepath.Join(scratch, "packages", "noticeboard", "noticeboard")
	if err := modbuild.Package(context.Background(), rssModules[2].src, nb); err != nil {
		return nil, err
	}
	return []string{filepath.Join(dir, "hello", "hello"), filepath.Join(dir, "bench", "bench"), nb}, nil
})

// BenchmarkRSS measures process memory (VmRSS, after a GC that returns
// freed memory to the OS) around starting three distinct real modules
// (examples/hello, the bench test module, examples/noticeboard), each in
// its own schema, with four warm instances each (MinWarm = Size = 4), then
// serving requests on every instance. Sub-benchmarks: mapped is the
// runtime's default (machine code mapped from a file and linear memory in a
// mapping per instance, both resident only where touched); anonymous is
// how wazero does it alone (code in anonymous memory, linear memory in Go
// slices), for comparison (not run in make test). It reports:
//
//	total-MiB              after start - before: what 3 modules x 4 warm
//	                       instances add to the runtime without modules
//	loaded-total-MiB       the same after serving requests on every instance
//	MiB/instance           total-MiB / 12
//	code-MiB/module        compiled modules alone, measured before the pools
//	exec-MiB/module        machine code left in anonymous memory (read
//	                       from /proc/self/maps): all of it in anonymous
//	code-rss-MiB/module    machine code resident after serving (smaps)
//	code-heap-MiB/module   of which Go heap (wazero's decoded module)
//	marginal-MiB/instance  (after start - after compile) / 12
//	linear-MiB/instance    guest linear memory per instance after serving,
//	                       as the guest sees it (allocated pages)
//	linear-rss-MiB/instance  of which resident (mincore; mapped only)
//
// Each iteration starts from a fresh engine (with a warm compilation cache)
// and closes everything at its end.
func BenchmarkRSS(b *testing.B) {
	db := pgtest.NewDB(b)
	cdb := openCore(b, db)
	dirs, err := rssPackages()
	if err != nil {
		b.Fatal(err)
	}
	var pkgs []*modhost.Package
	for _, d := range dirs {
		p, err := modhost.LoadDir(d)
		if err != nil {
			b.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	for _, heap := range []bool{false, true} {
		name := "mapped"
		if heap {
			name = "anonymous"
		}
		b.Run(name, func(b *testing.B) {
			if heap && os.Getenv("WEBSONIC_BENCH_SMOKE") != "" {
				b.Skip("comparison only")
			}
			var sum rssFigures
			for range b.N {
				sum.add(measureRSS(b, cdb, pkgs, heap))
			}
			sum.report(b, float64(b.N))
		})
	}
}

type rssFigures struct {
	total, loaded, code, exec, codeHeap, marginal, linear, linearRSS, codeRSS float64
}

func (s *rssFigures) add(r rssFigures) {
	s.total += r.total
	s.loaded += r.loaded
	s.code += r.code
	s.exec += r.exec
	s.codeHeap += r.codeHeap
	s.marginal += r.marginal
	s.linear += r.linear
	s.linearRSS += r.linearRSS
	s.codeRSS += r.codeRSS
}

func (s *rssFigures) report(b *testing.B, n float64) {
	inst := float64(len(rssModules) * rssInstances)
	mods := float64(len(rssModules))
	b.ReportMetric(s.total/n, "total-MiB")
	b.ReportMetric(s.loaded/n, "loaded-total-MiB")
	b.ReportMetric(s.total/n/inst, "MiB/instance")
	b.ReportMetric(s.code/n/mods, "code-MiB/module")
	b.ReportMetric(s.exec/n/mods, "exec-MiB/module")
	b.ReportMetric(s.codeHeap/n/mods, "code-heap-MiB/module")
	b.ReportMetric(s.marginal/n/inst, "marginal-MiB/instance")
	b.ReportMetric(s.linear/n/inst, "linear-MiB/instance")
	b.ReportMetric(s.linearRSS/n/inst, "linear-rss-MiB/instance")
	b.ReportMetric(s.codeRSS/n/mods, "code-rss-MiB/module")
}

// measureRSS starts pkgs, serves on them and returns the totals (not yet
// divided per module or instance).
func measureRSS(b *testing.B, cdb *coredb.DB, pkgs []*modhost.Package, old bool) rssFigures {
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
	e, err := engine.New(ctx, engine.Config{CacheDir: sharedCache, HeapMemory: old, AnonymousCode: old, Logger: logger()})
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
	execBefore := execMapped(b)
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
	exec := execMapped(b) - execBefore
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
	for i, m := range mods {
		for range rssInstances {
			wg.Go(func() {
				for range 10 {
					w := httptest.NewRecorder()
					m.ServeHTTP(w, httptest.NewRequest("GET", rssModules[i].path, nil))
					if w.Code != http.StatusOK {
						b.Errorf("%s: GET %s: %d %s", m.Manifest().Name, rssModules[i].path, w.Code, w.Body)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	loaded := read()
	var linear, linearRSS, codeRSS int64
	for _, m := range mods {
		s := m.Stats()
		linear += s.MemoryBytes
		linearRSS += s.MemoryResidentBytes
		codeRSS += s.CodeBytes
	}
	return rssFigures{
		total:     mib(started - before),
		loaded:    mib(loaded - before),
		code:      mib(compiled - before),
		exec:      mib(exec),
		codeHeap:  mib(codeHeap),
		marginal:  mib(started - compiled),
		linear:    mib(linear),
		linearRSS: mib(linearRSS),
		codeRSS:   mib(codeRSS),
	}
}

// execMapped sums the process's private anonymous executable mappings:
// wazero's machine code (Go's own code is mapped from its file).
func execMapped(b *testing.B) int64 {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var n int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 7f..-7f.. r-xp 00000000 00:00 0   [path]
		fs := strings.Fields(sc.Text())
		if len(fs) < 5 || fs[1] != "r-xp" || fs[4] != "0" || len(fs) > 5 {
			continue
		}
		lo, hi, _ := strings.Cut(fs[0], "-")
		a, err1 := strconv.ParseUint(lo, 16, 64)
		z, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 == nil && err2 == nil {
			n += int64(z - a)
		}
	}
	return n
}
