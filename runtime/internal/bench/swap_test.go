package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/websonic/websonic/internal/modbuild"
	"github.com/websonic/websonic/internal/pgtest"
	"github.com/websonic/websonic/runtime/internal/engine"
	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/runtime/server"
)

// versionedSrc is the test module whose answers name their version.
const versionedSrc = "../testmodules/versioned"

// versionedPackage builds the versioned module once per test binary.
var versionedPackage = sync.OnceValues(func() (*modhost.Package, error) {
	out := filepath.Join(scratch, "packages", "versioned")
	if err := modbuild.Package(context.Background(), versionedSrc, out); err != nil {
		return nil, err
	}
	return modhost.LoadDir(out)
})

// versionOf returns base as version v: a manifest of its own whose config
// default "version" (what the module answers) is v, and, if tag is not
// empty, wasm made distinct by a custom section (a new build).
func versionOf(base *modhost.Package, v, tag string) *modhost.Package {
	mf := *base.Manifest
	mf.Version = v
	mf.Capabilities.ConfigSchema = maps.Clone(mf.Capabilities.ConfigSchema)
	item := mf.Capabilities.ConfigSchema["version"]
	item.Default = json.RawMessage(strconv.Quote(v))
	mf.Capabilities.ConfigSchema["version"] = item
	p := &modhost.Package{Manifest: &mf, Wasm: base.Wasm, Migrations: base.Migrations}
	if tag != "" {
		p.Wasm = withCustomSection(base.Wasm, "websonic.bench", tag)
	}
	return p
}

// BenchmarkSwap times an update of a running module with server.Swap, from
// a verified package in memory to the new version serving: provision (the
// role and schema exist), no migration to run, compile, warm the pool (1
// instance, the default), health call, switch, drain and close the old
// version, settle the grants. A client requests the module back to back
// throughout, over loopback; no request may fail.
//
//	swap-ms          Server.Swap, call to return
//	first-answer-ms  from the call to the first answer by the new version
//	                 (the switch happens before the old version drains)
//
// new-wasm updates to a new build (distinct bytes) that is already in the
// on-disk compilation cache, as the updater leaves it; same-wasm updates to
// the same bytes with a new manifest (a configuration-only release), whose
// compiled code the running version already holds in memory. Package
// preparation and cache filling are not timed.
func BenchmarkSwap(b *testing.B) {
	ctx := context.Background()
	base, err := versionedPackage()
	if err != nil {
		b.Fatal(err)
	}
	db := pgtest.NewDB(b)
	srv, err := server.Open(ctx, server.Config{
		DataDir:     scratch,
		DatabaseURL: db.URL,
		RolePrefix:  db.Prefix(),
		Logger:      logger(),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close(context.Background()) })
	hs := httptest.NewServer(srv.Handler())
	b.Cleanup(hs.Close)
	ap := modhost.ApproveAll(base.Manifest)
	if err := srv.Swap(ctx, versionOf(base, "0.0.1", ""), ap, server.SwapOptions{}); err != nil {
		b.Fatal(err)
	}
	release := 0
	for _, newBuild := range []bool{true, false} {
		name := "same-wasm"
		if newBuild {
			name = "new-wasm"
		}
		b.Run(name, func(b *testing.B) {
			pkgs := make([]*modhost.Package, b.N)
			for i := range pkgs {
				release++
				v := fmt.Sprintf("1.0.%d", release)
				tag := ""
				if newBuild {
					tag = v + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
				}
				pkgs[i] = versionOf(base, v, tag)
			}
			if newBuild {
				fillCache(b, pkgs)
			}
			var swap, first time.Duration
			b.ResetTimer()
			for _, p := range pkgs {
				s, f := timeSwap(b, srv, hs.URL+"/versioned", p, ap)
				swap += s
				first += f
			}
			b.StopTimer()
			n := float64(b.N)
			b.ReportMetric(float64(swap.Microseconds())/1000/n, "swap-ms")
			b.ReportMetric(float64(first.Microseconds())/1000/n, "first-answer-ms")
		})
	}
}

// fillCache compiles each package's wasm once into the shared on-disk
// compilation cache, on an engine of its own, as the updater's download
// would have.
func fillCache(b *testing.B, pkgs []*modhost.Package) {
	b.Helper()
	ctx := context.Background()
	e, err := engine.New(ctx, engine.Config{CacheDir: sharedCache, Logger: logger()})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close(ctx)
	for _, p := range pkgs {
		m, err := e.Compile(ctx, p.Manifest.Name, p.Wasm)
		if err != nil {
			b.Fatal(err)
		}
		m.Close(ctx)
	}
}

// timeSwap swaps to p while a client requests url back to back, and returns
// how long Swap took and how long until the new version first answered.
func timeSwap(b *testing.B, srv *server.Server, url string, p *modhost.Package, ap modhost.Approval) (swap, first time.Duration) {
	want := "versioned " + p.Manifest.Version
	stop := make(chan struct{})
	answered := make(chan time.Time, 1)
	failed := make(chan string, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
		defer c.CloseIdleConnections()
		seen := false
		for {
			select {
			case <-stop:
				return
			default:
			}
			resp, err := c.Get(url)
			if err != nil {
				failed <- err.Error()
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				failed <- fmt.Sprintf("%d %s", resp.StatusCode, body)
				return
			}
			if !seen && string(body) == want {
				seen = true
				answered <- time.Now()
			}
		}
	})
	t0 := time.Now()
	err := srv.Swap(context.Background(), p, ap, server.SwapOptions{})
	swap = time.Since(t0)
	b.StopTimer()
	defer b.StartTimer()
	if err != nil {
		close(stop)
		wg.Wait()
		b.Fatal(err)
	}
	select {
	case at := <-answered:
		first = at.Sub(t0)
	case msg := <-failed:
		close(stop)
		wg.Wait()
		b.Fatalf("a request failed during the swap to %s: %s", p.Manifest.Version, msg)
	}
	close(stop)
	wg.Wait()
	select {
	case msg := <-failed:
		b.Fatalf("a request failed during the swap to %s: %s", p.Manifest.Version, msg)
	default:
	}
	return swap, first
}
