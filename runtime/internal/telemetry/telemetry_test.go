package telemetry

import (
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// fakeRuntime registers metrics of the names and shapes that package
// modhost and the server's router register, with values the test sets.
type fakeRuntime struct {
	reg       *prometheus.Registry
	mu        sync.Mutex
	calls     map[string]float64 // pool counters: they restart at an update
	errs      map[string]float64
	mem       map[string]float64
	rss       map[string]float64
	latency   *prometheus.HistogramVec
	requests  *prometheus.CounterVec
	httpLatcy *prometheus.HistogramVec
}

var (
	fakeCalls  = prometheus.NewDesc(metricModuleCalls, "", []string{"module"}, nil)
	fakeErrors = prometheus.NewDesc(metricModuleErrors, "", []string{"module"}, nil)
	fakeMemory = prometheus.NewDesc(metricModuleMemory, "", []string{"module"}, nil)
	fakeInst   = prometheus.NewDesc(metricModuleInstances, "", []string{"module"}, nil)
	fakeRSS    = prometheus.NewDesc(metricModuleRSS, "", []string{"module"}, nil)
)

func newFakeRuntime(t *testing.T) *fakeRuntime {
	f := &fakeRuntime{
		reg: prometheus.NewRegistry(), calls: map[string]float64{}, errs: map[string]float64{}, mem: map[string]float64{}, rss: map[string]float64{},
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: metricModuleLatency, Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"module", "outcome"}),
		requests:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricHTTPRequests}, []string{"method", "route", "status"}),
		httpLatcy: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: metricHTTPLatency}, []string{"method", "route"}),
	}
	f.reg.MustRegister(f, f.latency, f.requests, f.httpLatcy)
	return f
}

func (f *fakeRuntime) Describe(ch chan<- *prometheus.Desc) {
	ch <- fakeCalls
	ch <- fakeErrors
	ch <- fakeMemory
	ch <- fakeInst
	ch <- fakeRSS
}

func (f *fakeRuntime) Collect(ch chan<- prometheus.Metric) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for name, v := range f.calls {
		ch <- prometheus.MustNewConstMetric(fakeCalls, prometheus.CounterValue, v, name)
		ch <- prometheus.MustNewConstMetric(fakeErrors, prometheus.CounterValue, f.errs[name], name)
		ch <- prometheus.MustNewConstMetric(fakeMemory, prometheus.GaugeValue, f.mem[name], name)
		ch <- prometheus.MustNewConstMetric(fakeInst, prometheus.GaugeValue, 2, name)
		if v, ok := f.rss[name]; ok {
			ch <- prometheus.MustNewConstMetric(fakeRSS, prometheus.GaugeValue, v, name)
		}
	}
}

// serve records n calls of module taking d each, failed ones included.
func (f *fakeRuntime) serve(module string, n, failed int, d time.Duration) {
	f.mu.Lock()
	f.calls[module] += float64(n)
	f.errs[module] += float64(failed)
	f.mem[module] = 5 << 20
	f.mu.Unlock()
	for i := range n {
		outcome := "ok"
		if i < failed {
			outcome = "error"
		}
		f.latency.WithLabelValues(module, outcome).Observe(d.Seconds())
		status := "200"
		if i < failed {
			status = "500"
		}
		f.requests.WithLabelValues("GET", "/*", status).Inc()
		f.httpLatcy.WithLabelValues("GET", "/*").Observe(d.Seconds())
	}
}

func (f *fakeRuntime) restart(module string) { // an update: a new pool
	f.mu.Lock()
	f.calls[module], f.errs[module] = 0, 0
	f.mu.Unlock()
}

func (f *fakeRuntime) remove(module string) {
	f.mu.Lock()
	delete(f.calls, module)
	f.mu.Unlock()
}

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// TestMemoryIsRSS: a module's memory is what it holds
// (websonic_module_rss_bytes) where the runtime reports it, and its linear
// memory where it does not.
func TestMemoryIsRSS(t *testing.T) {
	f := newFakeRuntime(t)
	s, err := New(Config{Gatherer: f.reg, Retention: 5 * time.Minute, Window: 3 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	f.serve("chat", 1, 0, time.Millisecond)
	f.serve("tickets", 1, 0, time.Millisecond)
	f.mu.Lock()
	f.rss["tickets"] = 40 << 20
	f.mu.Unlock()
	sampleAt(t, s, t0)
	if got := s.ModuleStats("tickets").Memory; got != 40<<20 {
		t.Errorf("tickets memory %d, want its RSS", got)
	}
	if got := s.ModuleStats("chat").Memory; got != 5<<20 {
		t.Errorf("chat memory %d, want its linear memory (no RSS reported)", got)
	}
}

func values(ps []Point) []float64 {
	vs := make([]float64, len(ps))
	for i, p := range ps {
		vs[i] = p.Value
	}
	return vs
}

func sampleAt(t *testing.T, s *Sampler, at time.Time) {
	t.Helper()
	if err := s.Sample(at); err != nil {
		t.Fatal(err)
	}
}

func TestSeries(t *testing.T) {
	f := newFakeRuntime(t)
	s, err := New(Config{Gatherer: f.reg, Retention: 5 * time.Minute, Window: 3 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	f.serve("chat", 10, 0, 3*time.Millisecond)
	sampleAt(t, s, t0)
	f.serve("chat", 20, 2, 30*time.Millisecond)
	f.serve("tickets", 5, 0, 200*time.Millisecond)
	sampleAt(t, s, t0.Add(time.Minute))
	f.restart("chat") // an update: the new pool counts from zero
	f.serve("chat", 4, 1, 3*time.Millisecond)
	sampleAt(t, s, t0.Add(2*time.Minute))
	sampleAt(t, s, t0.Add(3*time.Minute)) // a quiet minute

	if got := values(s.Series("chat", Requests, time.Time{})); fmt.Sprint(got) != "[10 20 4 0]" {
		t.Errorf("chat requests %v", got)
	}
	if got := values(s.Series("chat", Errors, time.Time{})); fmt.Sprint(got) != "[0 2 1 0]" {
		t.Errorf("chat errors %v", got)
	}
	if got := values(s.Series("chat", Requests, t0.Add(90*time.Second))); fmt.Sprint(got) != "[4 0]" {
		t.Errorf("chat requests since 12:01:30: %v", got)
	}
	p95 := values(s.Series("chat", P95, time.Time{}))
	if !(p95[0] > 0.0025 && p95[0] <= 0.005) || !(p95[1] > 0.025 && p95[1] <= 0.05) || p95[3] != 0 {
		t.Errorf("chat p95 %v", p95)
	}
	if got := values(s.Series("tickets", Requests, time.Time{})); fmt.Sprint(got) != "[5 0 0]" {
		t.Errorf("tickets requests %v (first seen at the second sample)", got)
	}
	if got := values(s.Series(Site, Requests, time.Time{})); fmt.Sprint(got) != "[10 25 4 0]" {
		t.Errorf("site requests %v", got)
	}
	if got := values(s.Series(Site, Errors, time.Time{})); fmt.Sprint(got) != "[0 2 1 0]" {
		t.Errorf("site 5xx %v", got)
	}
	if got := values(s.Series("chat", Memory, time.Time{})); got[3] != 5<<20 {
		t.Errorf("chat memory %v", got)
	}

	st := s.ModuleStats("chat")
	want := Stats{At: t0.Add(3 * time.Minute), Calls: 34, Errors: 3, RecentCalls: 24, RecentErrors: 3, Memory: 5 << 20, Instances: 2}
	gotP95, gotP50 := st.P95, st.P50
	st.P95, st.P50 = 0, 0
	if st != want {
		t.Errorf("stats %+v\nwant %+v", st, want)
	}
	if !(gotP95 > 25*time.Millisecond && gotP95 <= 50*time.Millisecond) || !(gotP50 > 25*time.Millisecond && gotP50 <= 50*time.Millisecond) {
		t.Errorf("window p50 %v p95 %v", gotP50, gotP95)
	}
	site := s.Site()
	if site.Requests != 39 || site.ServerErrors != 3 || site.RecentRequests != 29 || site.RecentServerErrors != 3 || site.P95 <= 0 {
		t.Errorf("site %+v", site)
	}
	if got := fmt.Sprint(s.Modules()); got != "[chat tickets]" {
		t.Errorf("modules %s", got)
	}
	if st := s.ModuleStats("nope"); st != (Stats{}) {
		t.Errorf("unknown module %+v", st)
	}
}

func TestRetention(t *testing.T) {
	f := newFakeRuntime(t)
	s, err := New(Config{Gatherer: f.reg, Retention: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	f.serve("chat", 1, 0, time.Millisecond)
	for i := range 12 {
		f.serve("chat", 1, 0, time.Millisecond)
		sampleAt(t, s, t0.Add(time.Duration(i)*time.Minute))
	}
	if n := len(s.Series("chat", Requests, time.Time{})); n != 5 {
		t.Errorf("%d points kept, want 5", n)
	}
	f.remove("chat") // uninstalled: its history stays for Retention
	for i := 12; i < 18; i++ {
		sampleAt(t, s, t0.Add(time.Duration(i)*time.Minute))
		if i == 12 && len(s.Modules()) != 1 {
			t.Errorf("chat forgotten at once")
		}
	}
	if m := s.Modules(); len(m) != 0 {
		t.Errorf("modules %v after retention", m)
	}
}

func TestQuantile(t *testing.T) {
	h := histogram{bounds: []float64{1, 2, 4}, counts: []float64{10, 20, 20}, total: 20}
	tests := []struct {
		q, want float64
	}{{0, 0}, {0.25, 0.5}, {0.5, 1}, {0.75, 1.5}, {1, 2}}
	for _, tt := range tests {
		if got := h.quantile(tt.q); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("q%v = %v, want %v", tt.q, got, tt.want)
		}
	}
	inf := histogram{bounds: []float64{1, 2}, counts: []float64{0, 0}, total: 3}
	if got := inf.quantile(0.95); got != 2 {
		t.Errorf("all in +Inf: %v, want the highest bound", got)
	}
	if got := (&histogram{}).quantile(0.5); !math.IsNaN(got) {
		t.Errorf("empty: %v", got)
	}
}

// TestMixedBounds: a histogram of other bounds under the same name is left
// out rather than mixed in.
func TestMixedBounds(t *testing.T) {
	var h histogram
	b := func(ub float64, c uint64) *dto.Bucket { return &dto.Bucket{UpperBound: &ub, CumulativeCount: &c} }
	n := uint64(4)
	h.add(&dto.Histogram{SampleCount: &n, Bucket: []*dto.Bucket{b(1, 2), b(2, 4)}})
	h.add(&dto.Histogram{SampleCount: &n, Bucket: []*dto.Bucket{b(1, 2), b(3, 4)}})
	h.add(&dto.Histogram{SampleCount: &n, Bucket: []*dto.Bucket{b(1, 2)}})
	if h.total != 4 || fmt.Sprint(h.counts) != "[2 4]" {
		t.Errorf("%+v", h)
	}
}

// TestConcurrent: readers while sampling (run with -race).
func TestConcurrent(t *testing.T) {
	f := newFakeRuntime(t)
	s, _ := New(Config{Gatherer: f.reg})
	var wg sync.WaitGroup
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				s.Series("chat", Kind(r%int(numKinds)), time.Time{})
				s.ModuleStats("chat")
				s.Site()
				s.Modules()
			}
		}()
	}
	for i := range 100 {
		f.serve("chat", 1, 0, time.Millisecond)
		sampleAt(t, s, t0.Add(time.Duration(i)*time.Minute))
	}
	wg.Wait()
}
