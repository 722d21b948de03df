package bench

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/websonic/websonic/internal/tufrepo"
)

// envWatchers sets BenchmarkWatchers' watch streams (10,000), envPublishes
// its publishes (10).
const (
	envWatchers  = "REGBENCH_WATCHERS"
	envPublishes = "REGBENCH_PUBLISHES"
)

// BenchmarkWatchers holds REGBENCH_WATCHERS watch streams on the registry
// itself — its Serve, router, limits and hub, with the production
// defaults — from a separate client process, then makes the registry
// sign a new timestamp REGBENCH_PUBLISHES times (tufstore.Store.Update,
// as every publish does: a database transaction, NOTIFY, the hub) and
// times each from the start of the change to the moment the last stream
// has received it. See the package documentation.
func BenchmarkWatchers(b *testing.B) {
	ctx := context.Background()
	n := envInt(envWatchers, 10000)
	publishes := envInt(envPublishes, 10)

	reg := openRegistry(b)
	reg.initTUF(b)
	checkStatus(b, reg.url+"/healthz", 200)

	runtime.GC()
	debug.FreeOSMemory()
	rssBase := procStatus("VmRSS")

	c := startClient(b)
	started := time.Now()
	c.do(b, command{Op: opWatch, Addr: reg.addr, Path: "/v1/watch", Conns: n})
	connectAll := time.Since(started)
	if got := reg.srv.Watchers(); got != n {
		b.Fatalf("the registry counts %d watchers, want %d", got, n)
	}
	rss := procStatus("VmRSS")
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)

	var lat []time.Duration
	b.ResetTimer()
	for range b.N {
		for range publishes {
			t0 := time.Now()
			if err := reg.srv.TUF().Update(ctx, func(_ context.Context, _ pgx.Tx, r *tufrepo.Repo) error { return r.RenewTimestamp() }); err != nil {
				b.Fatal(err)
			}
			c.do(b, command{Op: opAwait, Version: reg.srv.TUF().TimestampVersion()})
			lat = append(lat, time.Since(t0))
		}
	}
	b.StopTimer()
	// The API answered throughout, and answers now.
	checkStatus(b, reg.url+"/healthz", 200)
	checkStatus(b, reg.url+timestampPath, 200)

	slices.Sort(lat)
	msOf := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(msOf(lat[len(lat)/2]), "ms/last-notice-p50")
	b.ReportMetric(msOf(lat[len(lat)-1]), "ms/last-notice-max")
	b.ReportMetric(connectAll.Seconds(), "s/connect-all")
	b.ReportMetric(float64(n), "watchers")
	b.ReportMetric(float64(ms.StackInuse)/(1<<20), "MiB-go-stacks")
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "MiB-go-heap")
	if rssBase > 0 && rss > 0 {
		b.ReportMetric(rssBase/1024, "MiB-rss-base")
		b.ReportMetric(rss/1024, "MiB-rss")
		b.ReportMetric((rss-rssBase)/float64(n), "KiB-rss/conn")
	}
}

// procStatus returns a field of /proc/self/status in KiB (0 where there
// is none: not Linux).
func procStatus(field string) float64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(raw)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb
		}
	}
	return 0
}
