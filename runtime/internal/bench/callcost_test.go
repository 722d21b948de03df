package bench

import (
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/websonic/websonic/runtime/internal/engine"
	"github.com/websonic/websonic/runtime/internal/testmodules/bench/handler"
)

// processCPU is the CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCallCost makes sequential calls into one warm instance of the
// bench module through the engine (no HTTP, no queueing) and reports the
// process CPU time per call: what one request costs the machine, which on
// this shared machine is far steadier than wall time. min is the smallest
// handler (the per-call floor: the ABI, the SDK's dispatcher, ServeMux),
// json and page the shapes of BenchmarkHTTP (page rendered by the host,
// sdk.Render).
//
// native/… runs the same handler compiled natively on an
// httptest.ResponseRecorder, the page rendered with html/template as
// sdk.Render has the host do: the figure the guest's is to be read against.
func BenchmarkCallCost(b *testing.B) {
	p := benchPool(b, engine.DeadlineYield)
	native := handler.New("/wasm", nil, nativeRender(b))
	for _, c := range []struct{ name, uri string }{
		{"min", "/wasm/spin?n=0"},
		{"json", "/wasm/greet?name=Ada"},
		{"page", "/wasm/page?name=Ada"},
		{"html-in-guest", "/wasm/hello?name=Ada"},
	} {
		b.Run(c.name, func(b *testing.B) { cpuPerCall(b, func() { call(b, p, c.uri) }) })
		b.Run("native/"+c.name, func(b *testing.B) {
			cpuPerCall(b, func() {
				w := httptest.NewRecorder()
				native.ServeHTTP(w, httptest.NewRequest("GET", c.uri, nil))
				if w.Code != 200 {
					b.Fatalf("GET %s: %d", c.uri, w.Code)
				}
			})
		})
	}
}

// cpuPerCall runs call b.N times after a warm-up (the instance's heap, the
// caches) and reports the process CPU time per call.
func cpuPerCall(b *testing.B, call func()) {
	for range min(b.N, 500) {
		call()
	}
	b.ResetTimer()
	cpu := processCPU()
	for range b.N {
		call()
	}
	b.ReportMetric(float64((processCPU()-cpu).Nanoseconds())/float64(b.N)/1000, "cpu-us/call")

}
