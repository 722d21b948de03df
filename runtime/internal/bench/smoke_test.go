package bench

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// smoke lists the benchmarks TestBenchmarksRun runs once each, so that
// benchmark code cannot rot between two runs of make bench: each pattern is
// a -test.bench expression and the names its output must show. Add a row for
// every new benchmark (the realtime fan-out has TestRealtimeFleet instead:
// it dials thousands of clients whatever the count).
var smoke = []struct {
	pattern string
	want    []string
}{
	{"BenchmarkHTTP$", []string{"BenchmarkHTTP/html/wasm", "BenchmarkHTTP/json/wasm-nodeadlines"}},
	{"BenchmarkDB$", []string{"BenchmarkDB/wasm"}},
	{"BenchmarkDBRows$", []string{"BenchmarkDBRows/wasm"}},
	{"BenchmarkDeadlines$", []string{"BenchmarkDeadlines/hello/yield"}},
	{"BenchmarkThemedPage$", []string{"BenchmarkThemedPage"}},
	{"BenchmarkCallCost$", []string{"BenchmarkCallCost/min", "BenchmarkCallCost/page"}},
	{"BenchmarkRSS$", []string{"BenchmarkRSS/mapped"}},
	{"BenchmarkCached$", []string{"BenchmarkCached/wasm", "BenchmarkCached/wasm-fullstack"}},
	{"BenchmarkPeer$", []string{"BenchmarkPeer/hello/engine", "BenchmarkPeer/greet/wazero", "BenchmarkPeer/spin/wazero-interp"}},
	// The chat's (issue 11) scale down under WEBSONIC_BENCH_SMOKE: 20
	// sockets for a second, a room of 3,000 messages.
	{"BenchmarkChatFanout$", []string{"BenchmarkChatFanout"}},
	{"BenchmarkChatHistory$", []string{"BenchmarkChatHistory/page/module", "BenchmarkChatHistory/search/fullstack", "BenchmarkChatHistory/search-rare/module", "BenchmarkChatHistory/page-1client/module"}},
	{"BenchmarkChatPost$", []string{"BenchmarkChatPost/module", "BenchmarkChatPost/fullstack", "BenchmarkChatPost/cpu/native"}},
	// The tickets' (issue 12): a desk of 2,000 tickets, 4 customers.
	{"BenchmarkTicketsQueue$", []string{"BenchmarkTicketsQueue/default/module", "BenchmarkTicketsQueue/deep/fullstack", "BenchmarkTicketsQueue/q-rare/module", "BenchmarkTicketsQueue/cpu/module"}},
	{"BenchmarkTicketsCreate$", []string{"BenchmarkTicketsCreate/native", "BenchmarkTicketsCreate/module", "BenchmarkTicketsCreate/fullstack", "BenchmarkTicketsCreate/cpu/module"}},
}

// TestBenchmarksRun runs this package's benchmarks with one iteration each,
// in a child process of this test binary (a benchmark needs the testing
// package's benchmark runner), and fails if one fails or is missing. It
// checks that they run, never how fast: the figures of one iteration mean
// nothing.
func TestBenchmarksRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sites and builds the bench modules")
	}
	for _, c := range smoke {
		t.Run(strings.Trim(c.pattern, "$"), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench="+c.pattern, "-test.benchtime=1x", "-test.timeout=5m")
			cmd.Env = append(os.Environ(), "WEBSONIC_BENCH_SMOKE=1")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %v\n%s", c.pattern, err, out)
			}
			for _, w := range c.want {
				if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(w) + `(-\d+)?[\s/]`).Match(out) {
					t.Errorf("%s: no result line for %s in\n%s", c.pattern, w, out)
				}
			}
		})
	}
}
