package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/internal/modbuild"
	"github.com/websonic/websonic/sdk/abi"
)

// scratch is this test binary's folder: the hostile module's builds and
// the compilation cache its engines share. TestMain removes it; the fuzzer's
// worker processes, which are killed rather than ending, use their
// coordinator's (scratchEnv).
var scratch string

const scratchEnv = "WEBSONIC_ENGINE_TEST_SCRATCH"

func TestMain(m *testing.M) {
	if scratch = os.Getenv(scratchEnv); scratch != "" {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "websonic-engine-test-")
	if err == nil {
		err = os.Setenv(scratchEnv, dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	scratch = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// hostileWasm is the test-only hostile module, built once per test
// process (into a folder of its own: fuzz workers build side by side).
var hostileWasm = sync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp(scratch, "build-")
	if err != nil {
		return nil, err
	}
	out := filepath.Join(dir, "hostile.wasm")
	if err := modbuild.Build(context.Background(), "../testmodules/hostile", out); err != nil {
		return nil, err
	}
	return os.ReadFile(out)
})

func newEngine(t testing.TB, cfg Config) *Engine {
	t.Helper()
	if cfg.CacheDir == "" {
		cfg.CacheDir = filepath.Join(scratch, "wazero")
	}
	if cfg.MemoryLimitPages == 0 {
		cfg.MemoryLimitPages = 1024
	}
	e, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	return e
}

func hostilePool(t testing.TB, e *Engine, cfg PoolConfig) *Pool {
	t.Helper()
	wasm, err := hostileWasm()
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.Compile(context.Background(), "hostile", wasm)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: "hostile", Level: hclog.Warn, Output: testWriter{t}})
	}
	p, err := e.NewPool(context.Background(), m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	return p
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func get(p *Pool, path string) (*abi.HTTPResponse, error) {
	return p.HTTP(context.Background(), &abi.HTTPRequest{Method: "GET", URI: path, Host: "test"}, &CallEnv{})
}

func TestGuestFailuresFailOneCall(t *testing.T) {
	e := newEngine(t, Config{MemoryLimitPages: 1024}) // 64 MiB
	p := hostilePool(t, e, PoolConfig{Size: 2, CallTimeout: 2 * time.Second})
	tests := []struct {
		name string
		path string
		want error
	}{
		{"infinite loop", "/hostile/loop", ErrTimeout},
		{"memory past the limit", "/hostile/alloc?mb=256", ErrTrap},
		{"panic", "/hostile/panic", ErrTrap},
		{"huge response", "/hostile/huge?mb=9", ErrBadResponse},
		{"log: pointer out of range", "/hostile/badptr?fn=log", ErrTrap},
		{"log: length out of range", "/hostile/badptr?fn=log-len", ErrTrap},
		{"db: request out of range", "/hostile/badptr?fn=db", ErrTrap},
		{"db: output buffer out of range", "/hostile/badptr?fn=db-out", ErrTrap},
		{"config: output out of range", "/hostile/badptr?fn=config", ErrTrap},
		{"take: output out of range", "/hostile/badptr?fn=take", ErrTrap},
		{"take: nothing pending", "/hostile/badptr?fn=take-nothing", ErrTrap},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := p.Stats().Discarded
			_, err := get(p, tt.path)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if got := p.Stats().Discarded; got != before+1 {
				t.Errorf("discarded = %d, want %d: a failed instance must not be reused", got, before+1)
			}
			// The pool keeps serving.
			resp, err := get(p, "/hostile/ok")
			if err != nil || resp.Status != 200 || string(resp.Body) != "ok" {
				t.Fatalf("after %s: %v %+v", tt.name, err, resp)
			}
		})
	}
}

func TestABIChecks(t *testing.T) {
	e := newEngine(t, Config{})
	tests := []struct {
		name string
		wasm []byte
		want string
	}{
		// (module) with nothing in it.
		{"empty module", []byte("\x00asm\x01\x00\x00\x00"), "does not import websonic.yield"},
		{"not wasm", []byte("hello"), "compile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.Compile(context.Background(), "bad", tt.wasm)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

// TestPoolHammer runs P goroutines × N calls through a small pool that
// recycles often, and renews it (Renew, as new settings do) meanwhile:
// every call must get a correct answer from an instance no other call
// holds (acquire panics otherwise), and the pool never exceeds its size.
func TestPoolHammer(t *testing.T) {
	e := newEngine(t, Config{})
	p := hostilePool(t, e, PoolConfig{Size: 3, MinWarm: 2, MaxCalls: 25, AcquireTimeout: 30 * time.Second})
	const P, N = 8, 60
	var wg sync.WaitGroup
	errs := make(chan error, P*N)
	renewing := make(chan struct{})
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		for {
			select {
			case <-renewing:
				return
			case <-time.After(5 * time.Millisecond):
				p.Renew()
			}
		}
	}()
	for g := range P {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range N {
				resp, err := get(p, "/hostile/ok")
				if err != nil {
					errs <- fmt.Errorf("g%d call %d: %w", g, i, err)
					continue
				}
				if resp.Status != 200 || string(resp.Body) != "ok" {
					errs <- fmt.Errorf("g%d call %d: %d %q", g, i, resp.Status, resp.Body)
				}
				if s := p.Stats(); s.Live > 3 {
					errs <- fmt.Errorf("%d live instances in a pool of 3", s.Live)
				}
			}
		}()
	}
	wg.Wait()
	close(renewing)
	<-renewed
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	s := p.Stats()
	if s.Live > 3 || s.MemoryBytes < 0 {
		t.Errorf("after the hammer: %+v", s)
	}
	if s.Calls != P*N || s.Failures != 0 {
		t.Errorf("stats = %+v, want %d calls and no failures", s, P*N)
	}
	if s.Recycled < P*N/25-3 {
		t.Errorf("recycled = %d, want about %d (MaxCalls 25)", s.Recycled, P*N/25)
	}
}

// TestContextDeadlineBoundsTheCall: a caller's deadline earlier than the
// pool's CallTimeout (the runtime's health call) stops the guest call at
// that deadline, not at CallTimeout.
func TestContextDeadlineBoundsTheCall(t *testing.T) {
	e := newEngine(t, Config{})
	p := hostilePool(t, e, PoolConfig{Size: 1, CallTimeout: 10 * time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := p.HTTP(ctx, &abi.HTTPRequest{Method: "GET", URI: "/hostile/loop", Host: "test"}, &CallEnv{})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("err = %v, want ErrTimeout", err)
		}
	case <-time.After(time.Minute): // generous: the call would run for CallTimeout
		t.Fatal("the guest call ignored the context's deadline")
	}
}

func TestCloseDrains(t *testing.T) {
	e := newEngine(t, Config{})
	p := hostilePool(t, e, PoolConfig{Size: 2})
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := get(p, "/hostile/ok"); !errors.Is(err, ErrClosed) {
		t.Fatalf("err = %v, want ErrClosed", err)
	}
	if s := p.Stats(); s.Live != 0 {
		t.Fatalf("live = %d after Close", s.Live)
	}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestGuestOutputGoesToModuleLogger checks that a guest's stderr (here the
// Go runtime's panic report) lands in the logger named after the module.
func TestGuestOutputGoesToModuleLogger(t *testing.T) {
	e := newEngine(t, Config{})
	var buf syncBuffer
	log := hclog.New(&hclog.LoggerOptions{Name: "websonic.module.hostile", Output: &buf, Level: hclog.Info})
	p := hostilePool(t, e, PoolConfig{Size: 1, Logger: log})
	if _, err := get(p, "/hostile/panic"); !errors.Is(err, ErrTrap) {
		t.Fatalf("err = %v", err)
	}
	out := buf.String()
	if !strings.Contains(out, "websonic.module.hostile: panic: hostile module panics") {
		t.Fatalf("module log lacks the panic:\n%s", out)
	}
}

// TestDeadlineUnderGC runs a guest that loops forever while other goroutines
// force garbage collections: the call must still end at its deadline. (A
// goroutine in JIT code is not at a Go safe point; if the guest never
// yielded to Go, every stop-the-world would wait for it forever.)
func TestDeadlineUnderGC(t *testing.T) {
	e := newEngine(t, Config{})
	p := hostilePool(t, e, PoolConfig{Size: 1, CallTimeout: 500 * time.Millisecond})
	stop := make(chan struct{})
	defer close(stop)
	for range 2 {
		go func() {
			var keep [][]byte
			for {
				select {
				case <-stop:
					return
				default:
				}
				keep = append(keep[:0], make([]byte, 1<<20))
				runtime.GC()
			}
		}()
	}
	done := make(chan error, 1)
	go func() {
		_, err := get(p, "/hostile/loop")
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("err = %v, want ErrTimeout", err)
		}
	case <-time.After(60 * time.Second): // a hang detector, not a timing check
		t.Fatal("the looping guest was not stopped: deadlock between GC and guest?")
	}
}
