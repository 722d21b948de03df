package bench

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/websonic/websonic/runtime/internal/engine"
	"github.com/websonic/websonic/runtime/internal/testmodules/bench/handler"
	"github.com/websonic/websonic/sdk/abi"
)

// benchPool starts an engine with the given deadline mode and a
// one-instance pool of the bench module that never recycles, so every call
// measures the call alone.
func benchPool(b *testing.B, mode engine.DeadlineMode) *engine.Pool {
	b.Helper()
	ctx := context.Background()
	wasm, err := os.ReadFile(filepath.Join(modulesDir(b, "bench"), "bench", "module.wasm"))
	if err != nil {
		b.Fatal(err)
	}
	e, err := engine.New(ctx, engine.Config{CacheDir: sharedCache, Deadlines: mode, Logger: logger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close(ctx) })
	m, err := e.Compile(ctx, "bench", wasm)
	if err != nil {
		b.Fatal(err)
	}
	p, err := e.NewPool(ctx, m, engine.PoolConfig{Size: 1, MinWarm: 1, MaxCalls: math.MaxInt32, Logger: logger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close(ctx) })
	return p
}

func call(b *testing.B, p *engine.Pool, uri string) {
	resp, err := p.HTTP(context.Background(), &abi.HTTPRequest{Method: "GET", URI: uri, Host: "bench"}, &engine.CallEnv{})
	if err != nil {
		b.Fatal(err)
	}
	if resp.Status != 200 {
		b.Fatalf("GET %s: %d %s", uri, resp.Status, resp.Body)
	}
}

// seq makes n sequential calls and returns how long they took.
func seq(b *testing.B, p *engine.Pool, uri string, n int) time.Duration {
	start := time.Now()
	for range n {
		call(b, p, uri)
	}
	return time.Since(start)
}

// callsPair makes b.N sequential calls on p, timed, in rounds alternating
// with as many untimed calls on base, and reports calls/s of both and the
// ratio p/base as unit.
func callsPair(b *testing.B, base, p *engine.Pool, uri, unit string) {
	call(b, base, uri) // warm
	call(b, p, uri)
	var tb, tp time.Duration
	r := min(b.N, rounds)
	b.ResetTimer()
	for i := range r {
		n := b.N / r
		if i < b.N%r {
			n++
		}
		b.StopTimer()
		tb += seq(b, base, uri, n)
		b.StartTimer()
		tp += seq(b, p, uri, n)
	}
	b.StopTimer()
	pc, bc := float64(b.N)/tp.Seconds(), float64(b.N)/tb.Seconds()
	b.ReportMetric(pc, "calls/s")
	b.ReportMetric(bc, "base-calls/s")
	b.ReportMetric(pc/bc, unit)
}

// spinN picks the n of /wasm/spin that makes a call take about 1 ms on p.
func spinN(b *testing.B, p *engine.Pool) int {
	n := 1000
	for n < handler.MaxSpin {
		start := time.Now()
		call(b, p, "/wasm/spin?n="+strconv.Itoa(n))
		if time.Since(start) >= time.Millisecond {
			break
		}
		n = n * 5 / 4
	}
	return n
}

// BenchmarkDeadlines measures what per-call deadlines cost: the same
// sequential guest calls with the runtime's default, the yield
// instrumentation (engine.DeadlineYield: a countdown at every loop header
// and a host call every engine.YieldEvery iterations), and with wazero's
// WithCloseOnContextDone (engine.DeadlineContext: a call out to Go at every
// loop header), each against an engine without deadlines
// (engine.DeadlineNone). "spin" is a CPU-bound handler calibrated to about
// 1 ms per call (counting primes by trial division: a tight loop, where the
// checks cost most); "hello" is the small HTML page of BenchmarkHTTP,
// ordinary call-heavy Go code. Each times the calls with deadlines,
// alternating with as many untimed calls without, and reports both rates
// (calls/s, base-calls/s) and their ratio. spin/native runs the same loop
// compiled natively, for scale.
func BenchmarkDeadlines(b *testing.B) {
	off := benchPool(b, engine.DeadlineNone)
	modes := []struct {
		name string
		p    *engine.Pool
	}{
		{"yield", benchPool(b, engine.DeadlineYield)},
		{"context", benchPool(b, engine.DeadlineContext)},
	}
	n := spinN(b, off)
	for _, c := range []struct{ name, uri string }{
		{"spin", "/wasm/spin?n=" + strconv.Itoa(n)},
		{"hello", "/wasm/hello?name=Ada"},
	} {
		for _, m := range modes {
			b.Run(c.name+"/"+m.name, func(b *testing.B) {
				callsPair(b, off, m.p, c.uri, "on/off")
				if c.name == "spin" {
					b.ReportMetric(float64(n), "n")
				}
			})
		}
	}
	b.Run("spin/native", func(b *testing.B) {
		start := time.Now()
		for range b.N {
			handler.Primes(n)
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
		b.ReportMetric(float64(n), "n")
	})
}
