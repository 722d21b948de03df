package admin

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/websonic/websonic/internal/pgtest"
	"github.com/websonic/websonic/runtime/internal/coredb/coredbtest"
	"github.com/websonic/websonic/runtime/internal/locales"
	"github.com/websonic/websonic/runtime/internal/logstore"
	"github.com/websonic/websonic/runtime/internal/site"
	"github.com/websonic/websonic/runtime/internal/telemetry"
	"github.com/websonic/websonic/runtime/internal/updater"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// benchModules is the dashboard benchmark's number of installed modules.
const benchModules = 50

// fakeRuntime is a runtime of n modules whose metrics a test sets: the
// shapes package modhost registers (the server's tests use the real ones).
type fakeRuntime struct {
	names   []string
	calls   float64
	latency *prometheus.HistogramVec
	tel     *telemetry.Sampler
	logs    *logstore.Store
}

var (
	benchCalls = prometheus.NewDesc("websonic_module_calls_total", "", []string{"module"}, nil)
	benchMem   = prometheus.NewDesc("websonic_module_memory_bytes", "", []string{"module"}, nil)
)

func (f *fakeRuntime) Describe(ch chan<- *prometheus.Desc) { ch <- benchCalls; ch <- benchMem }
func (f *fakeRuntime) Collect(ch chan<- prometheus.Metric) {
	for _, n := range f.names {
		ch <- prometheus.MustNewConstMetric(benchCalls, prometheus.CounterValue, f.calls, n)
		ch <- prometheus.MustNewConstMetric(benchMem, prometheus.GaugeValue, 8<<20, n)
	}
}

func (f *fakeRuntime) Ping(context.Context) error { return nil }
func (f *fakeRuntime) Running() []RunningModule {
	var out []RunningModule
	for _, n := range f.names {
		out = append(out, RunningModule{Name: n, Version: "1.0.0"})
	}
	return out
}
func (f *fakeRuntime) Problems() []ModuleProblem     { return nil }
func (f *fakeRuntime) Telemetry() *telemetry.Sampler { return f.tel }
func (f *fakeRuntime) Logs() *logstore.Store         { return f.logs }
func (f *fakeRuntime) Installed(context.Context) ([]updater.Installed, error) {
	var out []updater.Installed
	for _, n := range f.names {
		out = append(out, updater.Installed{Name: n, Version: "1.0.0"})
	}
	return out, nil
}
func (f *fakeRuntime) Preview(context.Context, string) (*updater.Preview, error) { return nil, nil }
func (f *fakeRuntime) Approve(context.Context, string, string) (string, error)   { return "", nil }

// BenchmarkDashboard renders the dashboard for an admin with 50 modules
// installed and running and six hours of metrics history (360 samples
// each), against a real PostgreSQL; it reports the 99th percentile of the
// render time (issue 9: under 50 ms).
func BenchmarkDashboard(b *testing.B) {
	cdb, _ := coredbtest.Open(b)
	st, err := site.New(site.Config{Pool: cdb.Pool})
	if err != nil {
		b.Fatal(err)
	}
	cat, err := locales.Catalog()
	if err != nil {
		b.Fatal(err)
	}
	f := &fakeRuntime{logs: logstore.New(logstore.Config{})}
	for i := range benchModules {
		f.names = append(f.names, fmt.Sprintf("module%02d", i))
	}
	reg := prometheus.NewRegistry()
	f.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "websonic_module_request_duration_seconds", Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"module", "outcome"})
	reg.MustRegister(f, f.latency)
	if f.tel, err = telemetry.New(telemetry.Config{Gatherer: reg}); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	for i := 360; i > 0; i-- {
		f.calls += 60
		for j, n := range f.names {
			f.latency.WithLabelValues(n, "ok").Observe(float64(j%10+1) / 1000)
		}
		if err := f.tel.Sample(now.Add(-time.Duration(i) * time.Minute)); err != nil {
			b.Fatal(err)
		}
	}
	a, err := New(Config{Pool: cdb.Pool, Site: st, Modules: f, Catalog: cat, Runtime: f})
	if err != nil {
		b.Fatal(err)
	}
	q := &request{session: &session{user: &site.User{Username: "root", Granted: []site.Role{site.RoleAdmin}}, token: []byte("bench")}, p: cat.Printer("fr")}
	r := httptest.NewRequest("GET", Prefix+"/", nil)
	times := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		w := httptest.NewRecorder()
		start := time.Now()
		a.handleDashboard(w, r, q)
		times = append(times, time.Since(start))
		if w.Code != http.StatusOK {
			b.Fatalf("dashboard: %d\n%s", w.Code, w.Body)
		}
	}
	b.StopTimer()
	slices.Sort(times)
	b.ReportMetric(float64(times[(len(times)*99)/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
}
