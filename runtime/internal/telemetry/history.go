package telemetry

import (
	"math"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// sample is one point of every kind of a module's (or the site's) series.
type sample struct {
	t time.Time
	v [numKinds]float64
}

// period is what happened during one interval: counts and the latency
// histogram's counts per bucket.
type period struct {
	calls, errors float64
	hist          histogram
}

// history is one module's (or the site's) series: a ring of samples, the
// previous counter values to take differences from, and the periods of the
// recent window.
type history struct {
	ring  []sample
	start int
	n     int

	prev     *reading // nil before the first sample, and after a gap
	periods  []period // the last window's, a ring
	pstart   int
	pn       int
	lastSeen time.Time

	totalCalls, totalErrors float64
}

func newHistory(points, window int) *history {
	return &history{ring: make([]sample, points), periods: make([]period, window)}
}

// add appends the sample of r at t.
func (h *history) add(t time.Time, r *reading) {
	var d period
	d.calls = delta(r.calls, h.prev, func(p *reading) float64 { return p.calls })
	d.errors = delta(r.errors, h.prev, func(p *reading) float64 { return p.errors })
	if h.prev != nil {
		d.hist = r.hist.minus(&h.prev.hist)
	} else {
		d.hist = r.hist.clone()
	}
	h.totalCalls += d.calls
	h.totalErrors += d.errors
	h.prev, h.lastSeen = r, t

	var s sample
	s.t = t
	s.v[Requests], s.v[Errors] = d.calls, d.errors
	s.v[P50], s.v[P95] = zeroNaN(d.hist.quantile(0.5)), zeroNaN(d.hist.quantile(0.95))
	s.v[Memory], s.v[Instances] = r.memory, r.instances
	h.ring[(h.start+h.n)%len(h.ring)] = s
	if h.n < len(h.ring) {
		h.n++
	} else {
		h.start = (h.start + 1) % len(h.ring)
	}
	h.periods[(h.pstart+h.pn)%len(h.periods)] = d
	if h.pn < len(h.periods) {
		h.pn++
	} else {
		h.pstart = (h.pstart + 1) % len(h.periods)
	}
}

// gone records that the module was absent from a sample at t: its counters
// start again from zero when it is back, and its window empties as time
// passes.
func (h *history) gone(time.Time) {
	h.prev = nil
	if h.pn > 0 {
		h.periods[h.pstart] = period{}
		h.pstart = (h.pstart + 1) % len(h.periods)
		h.pn--
	}
}

// empty says whether every point is older than cutoff.
func (h *history) empty(cutoff time.Time) bool { return h.n == 0 || h.last().t.Before(cutoff) }

func (h *history) each(f func(*sample)) {
	for i := 0; i < h.n; i++ {
		f(&h.ring[(h.start+i)%len(h.ring)])
	}
}

func (h *history) last() *sample {
	if h.n == 0 {
		return &sample{}
	}
	return &h.ring[(h.start+h.n-1)%len(h.ring)]
}

// recent sums the periods of the window.
func (h *history) recent() period {
	var sum period
	for i := 0; i < h.pn; i++ {
		p := &h.periods[(h.pstart+i)%len(h.periods)]
		sum.calls += p.calls
		sum.errors += p.errors
		sum.hist.addCounts(&p.hist)
	}
	return sum
}

// delta is cur minus the previous value, or cur when there is none or the
// counter restarted from zero.
func delta(cur float64, prev *reading, f func(*reading) float64) float64 {
	if prev == nil || cur < f(prev) {
		return cur
	}
	return cur - f(prev)
}

func zeroNaN(v float64) float64 {
	if math.IsNaN(v) {
		return 0
	}
	return v
}

// histogram is a latency histogram: cumulative counts per upper bound,
// the bounds ascending (+Inf implied after the last).
type histogram struct {
	bounds []float64
	counts []float64 // cumulative, one per bound
	total  float64   // all observations, +Inf included
}

// add merges a Prometheus histogram with the same bounds (the label sets
// of one metric); one with other bounds is ignored.
func (h *histogram) add(m *dto.Histogram) {
	bs := m.GetBucket()
	if h.bounds == nil {
		h.bounds = make([]float64, 0, len(bs))
		for _, b := range bs {
			if !math.IsInf(b.GetUpperBound(), 1) {
				h.bounds = append(h.bounds, b.GetUpperBound())
			}
		}
		h.counts = make([]float64, len(h.bounds))
	}
	var finite int
	for _, b := range bs {
		if !math.IsInf(b.GetUpperBound(), 1) {
			finite++
		}
	}
	if finite != len(h.bounds) {
		return
	}
	i := 0
	for _, b := range bs {
		if math.IsInf(b.GetUpperBound(), 1) {
			continue
		}
		if b.GetUpperBound() != h.bounds[i] {
			return // other bounds: not comparable (checked before adding)
		}
		i++
	}
	i = 0
	for _, b := range bs {
		if !math.IsInf(b.GetUpperBound(), 1) {
			h.counts[i] += float64(b.GetCumulativeCount())
			i++
		}
	}
	h.total += float64(m.GetSampleCount())
}

func (h *histogram) clone() histogram {
	return histogram{bounds: h.bounds, counts: append([]float64(nil), h.counts...), total: h.total}
}

// minus is h's counts since prev's; h itself when the histogram restarted.
func (h *histogram) minus(prev *histogram) histogram {
	if len(prev.counts) != len(h.counts) || h.total < prev.total {
		return h.clone()
	}
	d := histogram{bounds: h.bounds, counts: make([]float64, len(h.counts)), total: h.total - prev.total}
	for i := range h.counts {
		d.counts[i] = max(h.counts[i]-prev.counts[i], 0)
	}
	return d
}

// addCounts adds o's counts to h's (same bounds, or h empty).
func (h *histogram) addCounts(o *histogram) {
	if o.total == 0 {
		return
	}
	if h.bounds == nil {
		*h = o.clone()
		return
	}
	if len(o.counts) != len(h.counts) {
		return
	}
	for i := range h.counts {
		h.counts[i] += o.counts[i]
	}
	h.total += o.total
}

// quantile estimates the q-quantile as Prometheus's histogram_quantile
// does: linear within the bucket that holds it, the highest finite bound
// for the +Inf bucket; NaN without observations.
func (h *histogram) quantile(q float64) float64 {
	if h.total == 0 || len(h.bounds) == 0 {
		return math.NaN()
	}
	rank := q * h.total
	lower, below := 0.0, 0.0
	for i, c := range h.counts {
		if c >= rank {
			if c == below {
				return h.bounds[i]
			}
			return lower + (h.bounds[i]-lower)*(rank-below)/(c-below)
		}
		lower, below = h.bounds[i], c
	}
	return h.bounds[len(h.bounds)-1]
}
