package telemetry

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// The metrics a Sampler reads: the ones package modhost and the server's
// router register.
const (
	metricModuleCalls     = "websonic_module_calls_total"
	metricModuleErrors    = "websonic_module_call_errors_total"
	metricModuleLatency   = "websonic_module_request_duration_seconds"
	metricModuleMemory    = "websonic_module_memory_bytes"
	metricModuleRSS       = "websonic_module_rss_bytes"
	metricModuleInstances = "websonic_module_instances"
	metricHTTPRequests    = "websonic_http_requests_total"
	metricHTTPLatency     = "websonic_http_request_duration_seconds"
	metricProcessMemory   = "process_resident_memory_bytes"
)

// Kind is what a series measures.
type Kind int

const (
	// Requests counts, per point, the calls into a module (its guest
	// calls: requests, jobs, commands, realtime) or, site wide, the HTTP
	// requests answered during the interval that ends at the point.
	Requests Kind = iota
	// Errors counts a module's failed calls (trap, panic, time-out, bad
	// answer) or, site wide, the 5xx answers, during the interval.
	Errors
	// P50 and P95 are the median and 95th percentile of a module's
	// request latency (site wide: of every HTTP request) during the
	// interval, in seconds; 0 when there was none.
	P50
	P95
	// Memory is what a module holds (websonic_module_rss_bytes: machine
	// code, resident linear memory and its decoded module; its instances'
	// linear memory where that cannot be measured) or, site wide, the
	// process's resident memory, in bytes, at the point.
	Memory
	// Instances is a module's live wasm instances (site wide: all
	// modules') at the point.
	Instances
	numKinds
)

var kindNames = [numKinds]string{"requests", "errors", "p50", "p95", "memory", "instances"}

func (k Kind) String() string {
	if k < 0 || k >= numKinds {
		return fmt.Sprintf("Kind(%d)", int(k))
	}
	return kindNames[k]
}

// Site names the site-wide series in Series (no module has an empty name).
const Site = ""

// Point is one sample of a series.
type Point struct {
	Time  time.Time
	Value float64
}

// Config configures a Sampler. Zero fields take the defaults shown.
type Config struct {
	// Gatherer is the server's registry (required).
	Gatherer prometheus.Gatherer
	// Interval is the time between two samples (1 minute).
	Interval time.Duration
	// Retention is how far back the series go (6 hours): each keeps
	// Retention/Interval points.
	Retention time.Duration
	// Window is the recent period Stats and SiteStats sum up (1 hour).
	Window time.Duration
	Logger hclog.Logger
}

// Stats are a module's figures as of its latest sample.
type Stats struct {
	// At is the time of the sample (zero: the module was never sampled).
	At time.Time
	// Calls and Errors count the module's calls and failed calls since
	// the runtime started.
	Calls, Errors int64
	// RecentCalls, RecentErrors, P50 and P95 cover the last Window.
	RecentCalls, RecentErrors int64
	P50, P95                  time.Duration
	// Memory (bytes) and Instances are the module's live instances'.
	Memory    int64
	Instances int
}

// SiteStats are the site's figures as of the latest sample.
type SiteStats struct {
	At time.Time
	// Requests and ServerErrors (5xx answers) since the runtime started.
	Requests, ServerErrors int64
	// RecentRequests, RecentServerErrors and P95 cover the last Window.
	RecentRequests, RecentServerErrors int64
	P95                                time.Duration
	// Memory is the process's resident memory, in bytes.
	Memory int64
}

// Sampler samples the runtime's metrics into bounded series.
type Sampler struct {
	cfg     Config
	log     hclog.Logger
	points  int // per series: Retention/Interval
	window  int // points in Window
	running sync.Mutex

	mu     sync.RWMutex
	series map[string]*history // by module; Site for the site
}

// New returns a Sampler; call Run (or Sample) to fill it.
func New(cfg Config) (*Sampler, error) {
	if cfg.Gatherer == nil {
		return nil, errors.New("telemetry: Config.Gatherer is required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Minute
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 6 * time.Hour
	}
	if cfg.Window <= 0 {
		cfg.Window = time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	return &Sampler{
		cfg: cfg, log: cfg.Logger,
		points: max(int(cfg.Retention/cfg.Interval), 2),
		window: max(int(cfg.Window/cfg.Interval), 1),
		series: map[string]*history{},
	}, nil
}

// Interval is the time between two samples: a Requests point counts the
// calls of one Interval.
func (s *Sampler) Interval() time.Duration { return s.cfg.Interval }

// Retention is how far back the series go.
func (s *Sampler) Retention() time.Duration { return s.cfg.Retention }

// Run samples now and then every Interval until ctx ends.
func (s *Sampler) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for now := time.Now(); ; {
		if err := s.Sample(now); err != nil {
			s.log.Warn("could not sample the runtime's metrics", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case now = <-t.C:
		}
	}
}

// reading is one module's (or the site's) metrics at one gathering.
type reading struct {
	calls, errors float64
	hist          histogram
	memory        float64
	rss           float64
	hasRSS        bool // the module reported websonic_module_rss_bytes
	instances     float64
	running       bool // the module has a pool
}

// Sample reads the registry once and appends a point at now to every
// series. Samples must come in time order; Run calls it, and tests may call
// it themselves.
func (s *Sampler) Sample(now time.Time) error {
	s.running.Lock()
	defer s.running.Unlock()
	mfs, err := s.cfg.Gatherer.Gather()
	if len(mfs) == 0 && err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	// Gather may fail for one collector and still answer for the others:
	// sample what came (the error is reported).
	readings := map[string]*reading{Site: {}}
	get := func(m *dto.Metric) *reading {
		name := label(m, "module")
		if name == "" {
			return nil
		}
		r := readings[name]
		if r == nil {
			r = &reading{}
			readings[name] = r
		}
		return r
	}
	site := readings[Site]
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch mf.GetName() {
			case metricModuleCalls:
				if r := get(m); r != nil {
					r.calls += m.GetCounter().GetValue()
					r.running = true
				}
			case metricModuleErrors:
				if r := get(m); r != nil {
					r.errors += m.GetCounter().GetValue()
				}
			case metricModuleMemory:
				if r := get(m); r != nil {
					r.memory += m.GetGauge().GetValue()
				}
			case metricModuleRSS:
				if r := get(m); r != nil {
					r.rss += m.GetGauge().GetValue()
					r.hasRSS = true
				}
			case metricModuleInstances:
				if r := get(m); r != nil {
					r.instances += m.GetGauge().GetValue()
					site.instances += m.GetGauge().GetValue()
				}
			case metricModuleLatency:
				if r := get(m); r != nil {
					r.hist.add(m.GetHistogram())
				}
			case metricHTTPRequests:
				v := m.GetCounter().GetValue()
				site.calls += v
				if strings.HasPrefix(label(m, "status"), "5") {
					site.errors += v
				}
			case metricHTTPLatency:
				site.hist.add(m.GetHistogram())
			case metricProcessMemory:
				site.memory = m.GetGauge().GetValue()
			}
		}
	}
	for name, r := range readings {
		// The latency histogram keeps the modules that stopped; the pool
		// counters list the running ones.
		if name != Site && !r.running {
			delete(readings, name)
		}
	}
	for name, r := range readings {
		if name != Site && r.hasRSS {
			r.memory = r.rss // what the module holds, where the runtime can measure it
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, r := range readings {
		h := s.series[name]
		if h == nil {
			h = newHistory(s.points, s.window)
			s.series[name] = h
		}
		h.add(now, r)
	}
	for name, h := range s.series {
		if readings[name] == nil {
			h.gone(now) // an absent module adds no point
			if h.empty(now.Add(-s.cfg.Retention)) {
				delete(s.series, name)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("telemetry: some metrics were not gathered: %w", err)
	}
	return nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// Series returns the points of a module's series (Site: the site's) at or
// after since, oldest first; nil for a module never sampled.
func (s *Sampler) Series(module string, kind Kind, since time.Time) []Point {
	if kind < 0 || kind >= numKinds {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	h := s.series[module]
	if h == nil {
		return nil
	}
	var ps []Point
	h.each(func(p *sample) {
		if !p.t.Before(since) {
			ps = append(ps, Point{Time: p.t, Value: p.v[kind]})
		}
	})
	return ps
}

// Modules lists the modules with a history, sorted: the running ones and
// those that stopped less than Retention ago.
func (s *Sampler) Modules() []string {
	s.mu.RLock()
	names := make([]string, 0, len(s.series))
	for n := range s.series {
		if n != Site {
			names = append(names, n)
		}
	}
	s.mu.RUnlock()
	slices.Sort(names)
	return names
}

// ModuleStats returns a module's figures as of the latest sample; the zero
// Stats for a module never sampled.
func (s *Sampler) ModuleStats(name string) Stats {
	if name == Site {
		return Stats{}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	h := s.series[name]
	if h == nil {
		return Stats{}
	}
	last, recent := h.last(), h.recent()
	return Stats{
		At: last.t, Calls: int64(h.totalCalls), Errors: int64(h.totalErrors),
		RecentCalls: int64(recent.calls), RecentErrors: int64(recent.errors),
		P50: seconds(recent.hist.quantile(0.5)), P95: seconds(recent.hist.quantile(0.95)),
		Memory: int64(last.v[Memory]), Instances: int(last.v[Instances]),
	}
}

// Site returns the site's figures as of the latest sample.
func (s *Sampler) Site() SiteStats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	h := s.series[Site]
	if h == nil {
		return SiteStats{}
	}
	last, recent := h.last(), h.recent()
	return SiteStats{
		At: last.t, Requests: int64(h.totalCalls), ServerErrors: int64(h.totalErrors),
		RecentRequests: int64(recent.calls), RecentServerErrors: int64(recent.errors),
		P95: seconds(recent.hist.quantile(0.95)), Memory: int64(last.v[Memory]),
	}
}

func seconds(v float64) time.Duration {
	if math.IsNaN(v) || v <= 0 {
		return 0
	}
	return time.Duration(v * float64(time.Second))
}
