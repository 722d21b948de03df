package bench

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// concurrency is the number of clients the load generator runs at once.
const concurrency = 32

// loadgen is an in-process HTTP load generator: one http.Client per worker,
// each with its own keep-alive connection, sending GETs back to back.
type loadgen struct {
	clients []*http.Client
}

func newLoadgen(b *testing.B) *loadgen { return newLoadgenN(b, concurrency, nil) }

// loadStats is what one or more runs measured.
type loadStats struct {
	n       int
	elapsed time.Duration
	lats    []time.Duration
}

func (s *loadStats) add(o loadStats) {
	s.n += o.n
	s.elapsed += o.elapsed
	s.lats = append(s.lats, o.lats...)
}

func (s loadStats) rps() float64 { return float64(s.n) / s.elapsed.Seconds() }

// percentile returns the q-th percentile latency (sorting s.lats).
func (s loadStats) percentile(q int) time.Duration {
	if len(s.lats) == 0 {
		return 0
	}
	slices.Sort(s.lats)
	return s.lats[(len(s.lats)-1)*q/100]
}

func get(c *http.Client, url string) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept-Language", "en-GB,en;q=0.8")
	return drain(c.Do(req))(http.StatusOK, "GET "+url)
}

// drain reads and closes an answer's body, then checks its status: call
// it as drain(c.Do(req))(want, what).
func drain(resp *http.Response, err error) func(want int, what string) error {
	return func(want int, what string) error {
		if err != nil {
			return err
		}
		_, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != want {
			return fmt.Errorf("%s: %s", what, resp.Status)
		}
		return nil
	}
}

// request sends the i-th request of a run (from 0) with c.
type request func(c *http.Client, i int) error

// getter is the request that GETs urls in turn.
func getter(urls []string) request {
	return func(c *http.Client, i int) error { return get(c, urls[i%len(urls)]) }
}

// run sends n requests, cycling through urls, from all clients at once.
func (g *loadgen) run(n int, urls []string) (loadStats, error) { return g.runFunc(n, getter(urls)) }

// runFunc sends n requests made by req from all clients at once.
func (g *loadgen) runFunc(n int, req request) (loadStats, error) {
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		errMu sync.Mutex
		first error
	)
	lats := make([][]time.Duration, len(g.clients))
	start := time.Now()
	for w, c := range g.clients {
		wg.Go(func() {
			l := make([]time.Duration, 0, n/len(g.clients)+1)
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					break
				}
				t0 := time.Now()
				if err := req(c, int(i)); err != nil {
					errMu.Lock()
					if first == nil {
						first = err
					}
					errMu.Unlock()
					next.Store(int64(n)) // stop everyone
					break
				}
				l = append(l, time.Since(t0))
			}
			lats[w] = l
		})
	}
	wg.Wait()
	return loadStats{n: n, elapsed: time.Since(start), lats: slices.Concat(lats...)}, first
}

// warm opens every client's connection to the host of urls.
func (g *loadgen) warm(b *testing.B, urls []string) { b.Helper(); g.warmFunc(b, getter(urls)) }

// warmFunc opens every client's connection with a request of req.
func (g *loadgen) warmFunc(b *testing.B, req request) {
	b.Helper()
	if _, err := g.runFunc(len(g.clients), req); err != nil {
		b.Fatal(err)
	}
}

// report reports throughput and latency of s, with prefix before the units.
func report(b *testing.B, s loadStats, prefix string) {
	b.ReportMetric(s.rps(), prefix+"req/s")
	b.ReportMetric(float64(s.percentile(50).Microseconds()), prefix+"p50-us")
	b.ReportMetric(float64(s.percentile(99).Microseconds()), prefix+"p99-us")
}

// measure runs b.N requests against urls and reports throughput and
// latency; ns/op is wall time over requests, the inverse of throughput.
func measure(b *testing.B, g *loadgen, urls []string) {
	b.Helper()
	g.warm(b, urls)
	b.ResetTimer()
	s, err := g.run(b.N, urls)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	report(b, s, "")
}

// rounds is how many slices a paired measurement alternates through.
const rounds = 10

// measurePair runs b.N requests against urls, timed, in rounds alternating
// with as many untimed requests against the baseline base, so that drift and
// noise from the machine's neighbours hit both alike. It reports urls'
// figures, the baseline's (prefixed "base-"), the throughput ratio
// urls/base as unit and the ratio of their 99th-percentile latencies
// (p99/base).
func measurePair(b *testing.B, g *loadgen, base, urls []string, unit string) {
	b.Helper()
	measurePairFunc(b, g, getter(base), getter(urls), unit)
}

// measurePairFunc is measurePair with requests made by functions: b.N of
// req, timed, alternating with as many of base.
func measurePairFunc(b *testing.B, g *loadgen, base, req request, unit string) {
	b.Helper()
	g.warmFunc(b, base)
	g.warmFunc(b, req)
	var v, bs loadStats
	r := min(b.N, rounds)
	b.ResetTimer()
	for i := range r {
		n := b.N / r
		if i < b.N%r {
			n++
		}
		b.StopTimer()
		s, err := g.runFunc(n, base)
		if err != nil {
			b.Fatal(err)
		}
		bs.add(s)
		b.StartTimer()
		if s, err = g.runFunc(n, req); err != nil {
			b.Fatal(err)
		}
		v.add(s)
	}
	b.StopTimer()
	report(b, v, "")
	report(b, bs, "base-")
	b.ReportMetric(v.rps()/bs.rps(), unit)
	if p := bs.percentile(99); p > 0 {
		b.ReportMetric(float64(v.percentile(99))/float64(p), "p99/base")
	}
}
