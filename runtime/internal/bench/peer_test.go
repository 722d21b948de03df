package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
// Each sub-benchmark starts one session of its host (an instance, a
// process) and one native session, warms both for peerWarm (a JIT compiles
// the hot code meanwhile), then runs b.N timed calls in peerRounds rounds,
// each followed or preceded (alternately) by a round of the same size
// natively in this process. ns/op is one handler call as
// the loop times it (the guest's clock), so that start-up and compilation,
// which differ widely between hosts, are left out; wasm/native is the
// native rounds' time over the host's, a throughput ratio like
// BenchmarkHTTP's (1 is native speed), paired round by round so that the
// load of a busy machine falls on both sides. Every round's last body is
// checked against native's.
func BenchmarkPeer(b *testing.B) {
	ctx := context.Background()
	dir := filepath.Join(scratch, "peer")
	guest, module := peerBuild(b, dir)
	native := nativeHost{handler.New(peerBase, nil, nil)}
	// Every host is opened once, before the first shape: compiling a
	// 10 MB Go module takes seconds and is no part of the figures.
	hosts := []struct {
		name string
		host peerHost
	}{
		{"native", native},
		{"engine", newEngineHost(b, module, engine.DeadlineYield)},
		{"engine-nodeadlines", newEngineHost(b, module, engine.DeadlineNone)},
		{"wazero", newWazeroHost(b, guest, wazero.NewRuntimeConfigCompiler(), filepath.Join(dir, "cache"))},
		{"wazero-interp", newWazeroHost(b, guest, wazero.NewRuntimeConfigInterpreter(), "")},
		{"node", newNodeHost(b, dir)},
	}
	for _, shape := range []string{"hello", "greet", "spin"} {
		for _, h := range hosts {
			// One session per b.Run (so per -count), kept across the
			// framework's calls with growing b.N and warmed once.
			var host, ref peerSession
			b.Run(shape+"/"+h.name, func(b *testing.B) {
				if h.host == nil {
					b.Skip("node is not on PATH: install Node.js (20 or later) on bench machines for the peer run's V8 column")
				}
				if host == nil {
					host, ref = openSession(b, ctx, h.host, shape), openSession(b, ctx, native, shape)
					warmUp(b, host, peerWarm())
					warmUp(b, ref, peerWarm()/6) // no JIT to wait for
				}
				b.ResetTimer()
				var hostNs, nativeNs int64
				for i := range peerRounds {
					n := b.N/peerRounds + btoi(i < b.N%peerRounds)
					if n == 0 {
						continue
					}
					var got, want handler.LoopResult
					if i%2 == 0 {
						got = round(b, host, n, 0)
						b.StopTimer()
						want = round(b, ref, n, 0)
						b.StartTimer()
					} else {
						b.StopTimer()
						want = round(b, ref, n, 0)
						b.StartTimer()
						got = round(b, host, n, 0)
					}
					if got.Sum != want.Sum || got.Bytes != want.Bytes {
						b.Fatalf("%s computed another response: %d bytes, last sum %s; native %d bytes, sum %s",
							h.name, got.Bytes, got.Sum, want.Bytes, want.Sum)
					}
					hostNs += got.Nanos
					nativeNs += want.Nanos
				}
				b.ReportMetric(float64(hostNs)/float64(b.N), "ns/op")
				b.ReportMetric(float64(nativeNs)/float64(hostNs), "wasm/native")
			})
			for _, s := range []peerSession{host, ref} {
				if s == nil {
					continue
				}
				if err := s.close(); err != nil {
					b.Errorf("%s/%s: %v", shape, h.name, err)
				}
			}
		}
	}
}

// peerWarm is how long each session runs untimed before its first timed
// round: V8 starts a module on its baseline compiler (Liftoff) and
// recompiles hot functions with TurboFan in the background, which takes
// seconds of a busy machine for a 10 MB Go module; wazero compiles ahead of
// time and needs only its Go runtime's heap to settle. Benchmark smoke runs
// (make test) skip it.
func peerWarm() time.Duration {
	if os.Getenv("WEBSONIC_BENCH_SMOKE") != "" {
		return 0
	}
	return 3 * time.Second
}

// warmUp runs rounds of doubling size until they add up to at least d of
// the session's own time (one call at least).
func warmUp(b *testing.B, s peerSession, d time.Duration) {
	b.Helper()
	var spent time.Duration
	for n := 1; ; n = min(2*n, handler.MaxLoop) {
		spent += time.Duration(round(b, s, n, 0).Nanos)
		if spent >= d {
			return
		}
	}
}

// peerRounds is how many timed rounds each side runs, alternating.
const peerRounds = 10

func btoi(v bool) int {
	if v {
		return 1
	}
	return 0
}

// peerHost starts sessions of handler.Loop somewhere.
type peerHost interface {
	open(ctx context.Context, shape string) (peerSession, error)
}

// peerSession runs rounds of one shape's loop in one instance.
type peerSession interface {
	round(n, warm int) (handler.LoopResult, error)
	close() error
}

func openSession(b *testing.B, ctx context.Context, h peerHost, shape string) peerSession {
	b.Helper()
	s, err := h.open(ctx, shape)
	if err != nil {
		b.Fatal(err)
	}
	return &checked{s, shape}
}

// checked checks each round's result against what was asked.
type checked struct {
	peerSession
	shape string
}

func (c *checked) round(n, warm int) (handler.LoopResult, error) {
	res, err := c.peerSession.round(n, warm)
	if err == nil && (res.Shape != c.shape || res.N != n || res.Nanos <= 0) {
		err = fmt.Errorf("loop result %+v for %s × %d", res, c.shape, n)
	}
	return res, err
}

func round(b *testing.B, s peerSession, n, warm int) handler.LoopResult {
	b.Helper()
	res, err := s.round(n, warm)
	if err != nil {
		b.Fatal(err)
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

var (
	peerBuildOnce sync.Once
	peerBuilt     [2][]byte
	peerBuildErr  error
)

func peerBuilds(dir string) ([2][]byte, error) {
	peerBuildOnce.Do(func() { peerBuilt, peerBuildErr = buildPeer(dir) })
	return peerBuilt, peerBuildErr
}

func buildPeer(dir string) ([2][]byte, error) {
	ctx := context.Background()
	var v [2][]byte
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return v, err
	}
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

func (n nativeHost) open(_ context.Context, shape string) (peerSession, error) {
	return nativeSession{n.h, shape}, nil
}

type nativeSession struct {
	h     http.Handler
	shape string
}

func (s nativeSession) round(n, warm int) (handler.LoopResult, error) {
	return handler.Loop(s.h, peerBase, s.shape, n, warm)
}

func (nativeSession) close() error { return nil }

// engineHost runs each round in one guest call of the bench module's
// /wasm/loop, through an engine pool of one instance.
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
	// One instance, never recycled during a run: a round is one call, as
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

func (h engineHost) open(ctx context.Context, shape string) (peerSession, error) {
	return engineSession{h.pool, ctx, shape}, nil
}

type engineSession struct {
	pool  *engine.Pool
	ctx   context.Context
	shape string
}

func (s engineSession) round(n, warm int) (handler.LoopResult, error) {
	q := url.Values{"shape": {s.shape}, "n": {strconv.Itoa(n)}, "warm": {strconv.Itoa(warm)}}
	resp, err := s.pool.HTTP(s.ctx, &abi.HTTPRequest{Method: "GET", URI: peerBase + "/loop?" + q.Encode(), Host: "bench.test"}, &engine.CallEnv{})
	if err != nil {
		return handler.LoopResult{}, fmt.Errorf("engine loop: %w", err)
	}
	if resp.Status != 200 {
		return handler.LoopResult{}, fmt.Errorf("engine loop: status %d: %s", resp.Status, resp.Body)
	}
	return decodeLoop("engine", resp.Body)
}

func (engineSession) close() error { return nil }

// wazeroHost runs the peer guest under stock wazero, one instance (so one Go
// runtime, as under node) per session, of one compiled module.
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

func (h wazeroHost) open(ctx context.Context, shape string) (peerSession, error) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	var stderr syncBuffer
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithArgs("guest", shape).
		WithStdin(inR).
		WithStdout(outW).
		WithStderr(&stderr).
		WithSysWalltime().
		WithSysNanotime(). // wazero's default clock is fake: the loop times itself with it
		WithRandSource(rand.Reader)
	done := make(chan error, 1)
	go func() {
		mod, err := h.rt.InstantiateModule(ctx, h.compiled, cfg) // runs the guest's main to its end
		if mod != nil {
			mod.Close(ctx)
		}
		var exit *sys.ExitError
		if errors.As(err, &exit) && exit.ExitCode() == 0 {
			err = nil
		}
		if err != nil {
			err = fmt.Errorf("wazero guest: %w\n%s", err, stderr.Bytes())
		}
		outW.CloseWithError(err)
		done <- err
	}()
	return &streamSession{who: "wazero guest", in: inW, out: bufio.NewReader(outR), wait: func() error { return <-done }}, nil
}

// nodeHost runs the peer guest under Node.js, one process per session.
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

func (h nodeHost) open(ctx context.Context, shape string) (peerSession, error) {
	cmd := exec.CommandContext(ctx, h.node, "--no-warnings", peerRunner, h.guest, shape)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("node guest: %w", err)
	}
	wait := func() error {
		if err := cmd.Wait(); err != nil {
			return fmt.Errorf("node guest: %w\n%s", err, stderr.Bytes())
		}
		return nil
	}
	return &streamSession{who: "node guest", in: in, out: bufio.NewReader(out), wait: wait}, nil
}

// streamSession drives a guest through its stdin and stdout: one line per
// round each way.
type streamSession struct {
	who  string
	in   io.WriteCloser
	out  *bufio.Reader
	wait func() error
}

func (s *streamSession) round(n, warm int) (handler.LoopResult, error) {
	if _, err := fmt.Fprintf(s.in, "%d %d\n", n, warm); err != nil {
		return handler.LoopResult{}, fmt.Errorf("%s: %w", s.who, err)
	}
	line, err := s.out.ReadBytes('\n')
	if err != nil {
		s.in.Close()
		return handler.LoopResult{}, errors.Join(fmt.Errorf("%s: %w", s.who, err), s.wait())
	}
	return decodeLoop(s.who, line)
}

func (s *streamSession) close() error {
	s.in.Close()
	if _, err := io.Copy(io.Discard, s.out); err != nil {
		return err
	}
	return s.wait()
}

// syncBuffer is a bytes.Buffer a guest's stderr writes to from another
// goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.b.Bytes())
}

func decodeLoop(who string, out []byte) (handler.LoopResult, error) {
	var res handler.LoopResult
	if err := json.Unmarshal(out, &res); err != nil {
		return res, fmt.Errorf("%s: bad result %q: %w", who, out, err)
	}
	return res, nil
}
