package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/websonic/websonic/internal/modbuild"
	"github.com/websonic/websonic/runtime/internal/engine"
	"github.com/websonic/websonic/runtime/internal/testmodules/bench/handler"
	"github.com/websonic/websonic/sdk/abi"
)

// peerBase is where the bench module mounts its handler; every host serves
// the loop under it, so that all of them render the same bytes.
const peerBase = "/wasm"

// peerRunner is the Node.js runner of the peer run's guest, relative to
// this package.
const peerRunner = "peer/run.mjs"

// BenchmarkPeer is the peer run: the bench module's handler code (package
// handler) serving one request shape N times in process (handler.Loop: no
// network, no host ABI), under several wasm hosts and natively, in one run.
// Sub-benchmarks are SHAPE/HOST, shapes hello (html/template page), greet
// (encoding/json) and spin (CPU only, primes below 2000); hosts:
//
//	native              the same code compiled natively into this binary
//	engine              the bench module (a reactor built with the SDK) in
//	                    this runtime's engine as sites run it: wazero's
//	                    compiler plus the deadline instrumentation (a
//	                    countdown at every loop header and function entry),
//	                    the loop inside one guest call of its /wasm/loop
//	engine-nodeadlines  the same without the instrumentation
//	                    (engine.DeadlineNone)
//	wazero              the peer guest (peer/guest: the same loop as a plain
//	                    WASI command, standard Go, no SDK) under stock wazero,
//	                    compiler
//	wazero-interp       the same under wazero's interpreter: a floor
//	node                the same under Node.js's node:wasi on V8 (Liftoff,
//	                    tiering up to TurboFan), through peer/run.mjs;
//	                    skipped when node is not on PATH
//
// ns/op is one handler call as timed by the loop itself (the guest's clock,
// after n/10 warm calls), so that start-up and compilation, which differ
// widely between hosts, are left out. wasm/native is the native loop's time
// over the host's for the same n, the native loop run just before and just
// after the host's (so it is a throughput ratio like BenchmarkHTTP's, 1 is
// native speed). Every host's last body is checked against native's.
func BenchmarkPeer(b *testing.B) {
	ctx := context.Background()
	dir := filepath.Join(scratch, "peer")
	guest, module := peerBuild(b, dir)
	native := handler.New(peerBase, nil)

	// Every host is opened once, before the first shape: compiling a
	// 10 MB Go module takes seconds and is no part of the figures.
	hosts := []struct {
		name string
		host peerHost
	}{
		{"native", nativeHost{native}},
		{"engine", newEngineHost(b, module, engine.DeadlineYield)},
		{"engine-nodeadlines", newEngineHost(b, module, engine.DeadlineNone)},
		{"wazero", newWazeroHost(b, guest, wazero.NewRuntimeConfigCompiler(), filepath.Join(dir, "cache"))},
		{"wazero-interp", newWazeroHost(b, guest, wazero.NewRuntimeConfigInterpreter(), "")},
		{"node", newNodeHost(b, dir)},
	}
	for _, shape := range []string{"hello", "greet", "spin"} {
		for _, h := range hosts {
			b.Run(shape+"/"+h.name, func(b *testing.B) {
				if h.host == nil {
					b.Skip("node is not on PATH: install Node.js (20 or later) on bench machines for the peer run's V8 column")
				}
				before := mustLoop(b, nativeHost{native}, ctx, shape, b.N)
				got := mustLoop(b, h.host, ctx, shape, b.N)
				after := mustLoop(b, nativeHost{native}, ctx, shape, b.N)
				if got.Sum != before.Sum || got.Bytes != before.Bytes {
					b.Fatalf("%s computed another response: %d bytes, last sum %s; native %d bytes, sum %s",
						h.name, got.Bytes, got.Sum, before.Bytes, before.Sum)
				}
				b.ReportMetric(float64(got.Nanos)/float64(b.N), "ns/op")
				b.ReportMetric(float64(before.Nanos+after.Nanos)/2/float64(got.Nanos), "wasm/native")
			})
		}
	}
}

// peerHost runs handler.Loop somewhere.
type peerHost interface {
	loop(ctx context.Context, shape string, n int) (handler.LoopResult, error)
}

func mustLoop(b *testing.B, h peerHost, ctx context.Context, shape string, n int) handler.LoopResult {
	b.Helper()
	res, err := h.loop(ctx, shape, n)
	if err != nil {
		b.Fatal(err)
	}
	if res.Shape != shape || res.N != n || res.Nanos <= 0 {
		b.Fatalf("loop result %+v for %s × %d", res, shape, n)
	}
	return res
}

// peerBuild builds the peer guest (a WASI command) and the bench module (a
// reactor) into dir, once per test binary.
func peerBuild(b *testing.B, dir string) (guest, module []byte) {
	b.Helper()
	v, err := peerBuilds(dir)
	if err != nil {
		b.Fatal(err)
	}
	return v[0], v[1]
}

var peerBuilds = func() func(dir string) ([2][]byte, error) {
	var (
		once sync.Once
		v    [2][]byte
		err  error
	)
	return func(dir string) ([2][]byte, error) {
		once.Do(func() { v, err = buildPeer(dir) })
		return v, err
	}
}()

func buildPeer(dir string) ([2][]byte, error) {
	ctx := context.Background()
	var v [2][]byte
	guest, module := filepath.Join(dir, "guest.wasm"), filepath.Join(dir, "bench.wasm")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", guest, "./peer/guest")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return v, fmt.Errorf("build the peer guest: %w\n%s", err, out)
	}
	if err := modbuild.Build(ctx, benchSrc, module); err != nil {
		return v, err
	}
	for i, f := range []string{guest, module} {
		raw, err := os.ReadFile(f)
		if err != nil {
			return v, err
		}
		v[i] = raw
	}
	return v, nil
}

// nativeHost runs the loop in this process.
type nativeHost struct{ h http.Handler }

func (n nativeHost) loop(_ context.Context, shape string, count int) (handler.LoopResult, error) {
	return handler.Loop(n.h, peerBase, shape, count)
}

// engineHost runs the loop in one guest call of the bench module through
// an engine pool of one instance.
type engineHost struct{ pool *engine.Pool }

func newEngineHost(b *testing.B, module []byte, mode engine.DeadlineMode) peerHost {
	b.Helper()
	ctx := context.Background()
	e, err := engine.New(ctx, engine.Config{CacheDir: sharedCache, Deadlines: mode, Logger: logger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close(context.Background()) })
	m, err := e.Compile(ctx, "bench", module)
	if err != nil {
		b.Fatal(err)
	}
	// One instance, never recycled during a run: the loop is one call, as
	// long as the benchmark makes it.
	p, err := e.NewPool(ctx, m, engine.PoolConfig{
		Size: 1, MinWarm: 1, CallTimeout: 30 * time.Minute, MaxCalls: 1 << 30,
		MaxMemoryPages: 2048, Logger: logger(),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close(context.Background()) })
	return engineHost{p}
}

func (h engineHost) loop(ctx context.Context, shape string, n int) (handler.LoopResult, error) {
	q := url.Values{"shape": {shape}, "n": {strconv.Itoa(n)}}
	resp, err := h.pool.HTTP(ctx, &abi.HTTPRequest{Method: "GET", URI: peerBase + "/loop?" + q.Encode(), Host: "bench.test"}, &engine.CallEnv{})
	if err != nil {
		return handler.LoopResult{}, fmt.Errorf("engine loop: %w", err)
	}
	if resp.Status != 200 {
		return handler.LoopResult{}, fmt.Errorf("engine loop: status %d: %s", resp.Status, resp.Body)
	}
	return decodeLoop("engine", resp.Body)
}

// wazeroHost runs the peer guest under stock wazero: a new instance (so a
// new Go runtime, as under node) for each loop, of one compiled module.
type wazeroHost struct {
	rt       wazero.Runtime
	compiled wazero.CompiledModule
}

func newWazeroHost(b *testing.B, guest []byte, rc wazero.RuntimeConfig, cacheDir string) peerHost {
	b.Helper()
	ctx := context.Background()
	if cacheDir != "" {
		cache, err := wazero.NewCompilationCacheWithDir(cacheDir)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cache.Close(context.Background()) })
		rc = rc.WithCompilationCache(cache)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	b.Cleanup(func() { rt.Close(context.Background()) })
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		b.Fatal(err)
	}
	compiled, err := rt.CompileModule(ctx, guest)
	if err != nil {
		b.Fatal(err)
	}
	return wazeroHost{rt, compiled}
}

func (h wazeroHost) loop(ctx context.Context, shape string, n int) (handler.LoopResult, error) {
	var stdout, stderr bytes.Buffer
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithArgs("guest", shape, strconv.Itoa(n)).
		WithStdout(&stdout).
		WithStderr(&stderr).
		WithSysWalltime().
		WithSysNanotime(). // wazero's default clock is fake: the loop times itself with it
		WithRandSource(rand.Reader)
	mod, err := h.rt.InstantiateModule(ctx, h.compiled, cfg)
	if mod != nil {
		mod.Close(ctx)
	}
	var exit *sys.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 0) {
		return handler.LoopResult{}, fmt.Errorf("wazero guest: %w\n%s", err, stderr.Bytes())
	}
	return decodeLoop("wazero guest", stdout.Bytes())
}

// nodeHost runs the peer guest under Node.js: one process per loop.
type nodeHost struct{ node, guest string }

// newNodeHost returns nil when node is not on PATH.
func newNodeHost(b *testing.B, dir string) peerHost {
	b.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		return nil
	}
	return nodeHost{node, filepath.Join(dir, "guest.wasm")} // peerBuild wrote it there
}

func (h nodeHost) loop(ctx context.Context, shape string, n int) (handler.LoopResult, error) {
	cmd := exec.CommandContext(ctx, h.node, "--no-warnings", peerRunner, h.guest, shape, strconv.Itoa(n))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return handler.LoopResult{}, fmt.Errorf("node guest: %w\n%s", err, stderr.Bytes())
	}
	return decodeLoop("node guest", out)
}

func decodeLoop(who string, out []byte) (handler.LoopResult, error) {
	var res handler.LoopResult
	if err := json.Unmarshal(out, &res); err != nil {
		return res, fmt.Errorf("%s: bad result %q: %w", who, out, err)
	}
	return res, nil
}
