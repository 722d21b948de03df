package bench

import (
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// timestampPath is what every runtime polls.
const timestampPath = "/v1/tuf/timestamp.json"

// bareHandler is the baseline of BenchmarkUpdateChecks: the least a Go
// server can do to answer the same conditional GET, from constants. It
// sends the same headers as the registry's metadata handler (ETag,
// Cache-Control; Content-Type on 200 only, as http.ServeContent drops it
// from a 304), so both put the same bytes on the wire.
func bareHandler(etag string, body []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("ETag", etag)
		h.Set("Cache-Control", "no-cache")
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Content-Type", "application/json")
		w.Write(body)
	})
}

// BenchmarkUpdateChecks measures unchanged-timestamp checks — GET
// /v1/tuf/timestamp.json with If-None-Match answered 304 — from
// REGBENCH_CLIENTS (1000) keep-alive connections held by a separate
// client process, against the registry and against bareHandler, in
// alternating rounds. See the package documentation for the figures.
func BenchmarkUpdateChecks(b *testing.B) {
	clients := envInt(envClients, 1000)
	rounds := envInt(envRounds, 5)
	round := envDuration(envRound, time.Second)

	reg := openRegistry(b)
	reg.initTUF(b)
	f, ok := reg.srv.TUF().File("timestamp.json")
	if !ok {
		b.Fatal("no timestamp.json after Init")
	}
	bareAddr := serveBare(b, bareHandler(f.ETag, f.Body))

	// Both answer the same way, with the same headers.
	regHdr := checkStatus(b, reg.url+timestampPath, http.StatusNotModified, "If-None-Match", f.ETag)
	bareHdr := checkStatus(b, "http://"+bareAddr+timestampPath, http.StatusNotModified, "If-None-Match", f.ETag)
	if got := checkStatus(b, reg.url+timestampPath, http.StatusOK).Get("ETag"); got != f.ETag {
		b.Fatalf("registry ETag %s, want %s", got, f.ETag)
	}
	if r, bh := slices.Sorted(maps.Keys(regHdr)), slices.Sorted(maps.Keys(bareHdr)); !slices.Equal(r, bh) {
		b.Fatalf("the 304s differ: registry sends %s, the baseline %s", strings.Join(r, ", "), strings.Join(bh, ", "))
	}

	c := startClient(b)
	c.do(b, command{Op: opDial, Target: "registry", Addr: reg.addr, Path: timestampPath, ETag: f.ETag, Conns: clients})
	c.do(b, command{Op: opDial, Target: "bare", Addr: bareAddr, Path: timestampPath, ETag: f.ETag, Conns: clients})
	warm := min(round, 500*time.Millisecond)
	c.do(b, command{Op: opChecks, Target: "bare", For: warm})
	c.do(b, command{Op: opChecks, Target: "registry", For: warm})

	var regS, bareS stats
	run := func(target string, s *stats) func() {
		return func() {
			res, cpu := c.do(b, command{Op: opChecks, Target: target, For: round, Key: target})
			s.add(res, cpu)
		}
	}
	version := reg.srv.TUF().TimestampVersion()
	b.ResetTimer()
	for range b.N {
		interleave(rounds, run("bare", &bareS), run("registry", &regS))
	}
	b.StopTimer()
	if v := reg.srv.TUF().TimestampVersion(); v != version {
		b.Fatalf("the timestamp moved from version %d to %d during the run", version, v)
	}
	regS.lats, bareS.lats = c.latencies(b, "registry"), c.latencies(b, "bare")

	b.ReportMetric(0, "ns/op")
	b.ReportMetric(regS.perSec(), "req/s")
	b.ReportMetric(regS.ms(50), "p50-ms")
	b.ReportMetric(regS.ms(99), "p99-ms")
	b.ReportMetric(bareS.perSec(), "bare-req/s")
	b.ReportMetric(bareS.ms(50), "bare-p50-ms")
	b.ReportMetric(bareS.ms(99), "bare-p99-ms")
	b.ReportMetric(regS.perSec()/bareS.perSec(), "registry/bare")
	if regS.serverCPU > 0 {
		us := func(s *stats) float64 { return float64(s.serverCPU) / float64(time.Microsecond) / float64(s.n) }
		b.ReportMetric(us(&regS), "srv-cpu-us/req")
		b.ReportMetric(us(&bareS), "bare-srv-cpu-us/req")
		b.ReportMetric(100*float64(regS.clientCPU)/float64(regS.clientCPU+regS.serverCPU), "client-cpu-%")
	}
	b.ReportMetric(float64(clients), "clients")
}
