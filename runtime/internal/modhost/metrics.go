package modhost

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/websonic/websonic/runtime/internal/engine"
)

// Metrics exports per-module call latency and pool state to Prometheus.
type Metrics struct {
	latency *prometheus.HistogramVec
	modules func() []*Module
}

var (
	descInstances = prometheus.NewDesc("websonic_module_instances", "Live wasm instances of the module.", []string{"module"}, nil)
	descIdle      = prometheus.NewDesc("websonic_module_instances_idle", "Idle warm instances of the module.", []string{"module"}, nil)
	descMemory    = prometheus.NewDesc("websonic_module_memory_bytes", "Linear memory of the module's live instances, as the guests see it (allocated pages).", []string{"module"}, nil)
	descResident  = prometheus.NewDesc("websonic_module_memory_resident_bytes", "Part of the module's linear memory in physical memory (measured with mincore; absent where it cannot be measured).", []string{"module"}, nil)
	descCode      = prometheus.NewDesc("websonic_module_code_bytes", "Machine code of the module, shared by its instances (measured when compiled; absent where it cannot be).", []string{"module"}, nil)
	descRSS       = prometheus.NewDesc("websonic_module_rss_bytes", "Memory the module holds: machine code and resident linear memory (measured) plus wazero's decoded module on the Go heap (estimated as 1.7 times the wasm size).", []string{"module"}, nil)
	descCalls     = prometheus.NewDesc("websonic_module_calls_total", "Guest calls into the module.", []string{"module"}, nil)
	descErrors    = prometheus.NewDesc("websonic_module_call_errors_total", "Guest calls that failed (trap, panic, timeout, bad response).", []string{"module"}, nil)
	descRecycled  = prometheus.NewDesc("websonic_module_instances_recycled_total", "Instances retired after their call or memory budget.", []string{"module"}, nil)
	descDiscarded = prometheus.NewDesc("websonic_module_instances_discarded_total", "Instances thrown away after a failed call.", []string{"module"}, nil)
)

// NewMetrics registers the module metrics on reg; modules lists the running
// modules at scrape time.
func NewMetrics(reg prometheus.Registerer, modules func() []*Module) *Metrics {
	m := &Metrics{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "websonic_module_request_duration_seconds",
			Help:    "Time from a request reaching a module to its answer, by outcome (ok, error, or cancelled: the client went away while the request waited for an instance).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"module", "outcome"}),
		modules: modules,
	}
	reg.MustRegister(m.latency, m)
	return m
}

// observe records one call's latency under its outcome (ok, error,
// cancelled).
func (m *Metrics) observe(module string, d time.Duration, outcome string) {
	m.latency.WithLabelValues(module, outcome).Observe(d.Seconds())
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descInstances, descIdle, descMemory, descResident, descCode, descRSS, descCalls, descErrors, descRecycled, descDiscarded} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, mod := range m.modules() {
		s, name := mod.Stats(), mod.m.Name
		ch <- prometheus.MustNewConstMetric(descInstances, prometheus.GaugeValue, float64(s.Live), name)
		ch <- prometheus.MustNewConstMetric(descIdle, prometheus.GaugeValue, float64(s.Idle), name)
		ch <- prometheus.MustNewConstMetric(descMemory, prometheus.GaugeValue, float64(s.MemoryBytes), name)
		if s.MemoryResidentBytes >= 0 {
			ch <- prometheus.MustNewConstMetric(descResident, prometheus.GaugeValue, float64(s.MemoryResidentBytes), name)
		}
		if s.CodeBytes >= 0 {
			ch <- prometheus.MustNewConstMetric(descCode, prometheus.GaugeValue, float64(s.CodeBytes), name)
		}
		if rss, ok := RSS(s); ok {
			ch <- prometheus.MustNewConstMetric(descRSS, prometheus.GaugeValue, float64(rss), name)
		}
		ch <- prometheus.MustNewConstMetric(descCalls, prometheus.CounterValue, float64(s.Calls), name)
		ch <- prometheus.MustNewConstMetric(descErrors, prometheus.CounterValue, float64(s.Failures), name)
		ch <- prometheus.MustNewConstMetric(descRecycled, prometheus.CounterValue, float64(s.Recycled), name)
		ch <- prometheus.MustNewConstMetric(descDiscarded, prometheus.CounterValue, float64(s.Discarded), name)
	}
}

// heapPerWasmByte is how many bytes of Go heap wazero's decoded module takes
// per byte of wasm (code bodies, data segments and names copied, plus the
// function and type tables), in tenths: BenchmarkRSS's code-heap-MiB over
// the modules' wasm size, for Go-built modules (RATIONALE.md, "Memory per
// module").
const heapPerWasmByte = 17

// RSS estimates the memory a module holds from its pool's figures: machine
// code and resident linear memory are measured, the decoded module is
// estimated (heapPerWasmByte). ok is false when a measured part is unknown
// (not Linux, or the engine keeps linear memory on the Go heap).
func RSS(s engine.Stats) (bytes int64, ok bool) {
	if s.CodeBytes < 0 || s.MemoryResidentBytes < 0 {
		return 0, false
	}
	return s.CodeBytes + s.MemoryResidentBytes + s.WasmBytes*heapPerWasmByte/10, true
}
