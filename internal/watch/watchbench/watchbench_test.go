package watchbench_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/websonic/websonic/internal/watch"
)

const (
	// envChild, set to the hub's address, makes the test binary the
	// client process.
	envChild   = "WATCHBENCH_HUB_ADDR"
	envClients = "WATCH_CLIENTS"
	envRounds  = "WATCH_ROUNDS"

	// patience bounds each wait of the benchmark: the machine is noisy,
	// so it is generous, and it only guards against a hang.
	patience = 5 * time.Minute
)

func TestMain(m *testing.M) {
	if addr := os.Getenv(envChild); addr != "" {
		os.Exit(runClients(addr, envInt(envClients, 10000)))
	}
	os.Exit(m.Run())
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func BenchmarkWatchers(b *testing.B) {
	n := envInt(envClients, 10000)
	rounds := envInt(envRounds, 10)

	hub := watch.New(watch.Config{Initial: 1, MaxClients: n})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/watch", hub)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer func() {
		hub.Close()
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			b.Error(err)
		}
	}()

	runtime.GC()
	debug.FreeOSMemory()
	rssBase, _ := procStatus("VmRSS")

	started := time.Now()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), envChild+"="+ln.Addr().String(), envClients+"="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		stdin.Close() // the client process exits at EOF
		if err := cmd.Wait(); err != nil {
			b.Errorf("client process: %v", err)
		}
	}()
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	await := func(want string) {
		b.Helper()
		deadline := time.After(patience)
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					b.Fatalf("client process ended before %q", want)
				}
				if strings.HasPrefix(line, "error") {
					b.Fatalf("client process: %s", line)
				}
				if line == want {
					return
				}
			case <-deadline:
				b.Fatalf("no %q from the client process after %v", want, patience)
			}
		}
	}

	await("got 1")
	connectAll := time.Since(started)
	if c := hub.Clients(); c != n {
		b.Fatalf("hub has %d clients, want %d", c, n)
	}
	rss, _ := procStatus("VmRSS")
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)

	var lat, pub []time.Duration
	b.ResetTimer()
	for range b.N {
		for range rounds {
			v := hub.Version() + 1
			t0 := time.Now()
			hub.Publish(v)
			pub = append(pub, time.Since(t0))
			await("got " + strconv.FormatInt(v, 10))
			lat = append(lat, time.Since(t0))
		}
	}
	b.StopTimer()
	peak, _ := procStatus("VmHWM")

	slices.Sort(lat)
	msOf := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(msOf(lat[len(lat)/2]), "ms/last-notice-p50")
	b.ReportMetric(msOf(lat[len(lat)-1]), "ms/last-notice-max")
	b.ReportMetric(float64(slices.Max(pub))/float64(time.Microsecond), "µs/publish-call-max")
	b.ReportMetric(connectAll.Seconds(), "s/connect-all")
	b.ReportMetric(float64(n), "watchers")
	b.ReportMetric(float64(ms.StackInuse)/(1<<20), "MiB-go-stacks")
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "MiB-go-heap")
	if rssBase > 0 && rss > 0 {
		b.ReportMetric(rssBase/1024, "MiB-rss-base")
		b.ReportMetric(rss/1024, "MiB-rss")
		b.ReportMetric(peak/1024, "MiB-rss-peak")
		b.ReportMetric((rss-rssBase)/float64(n), "KiB-rss/conn")
	}
}

// procStatus returns a field of /proc/self/status in KiB (0 if unknown).
func procStatus(field string) (float64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/self/status", field)
}

// runClients is the client process: n watch connections to addr. It
// prints "got V" when the last connection has received version V, and
// exits when its stdin closes; any connection error prints "error ..." and
// exits 1.
func runClients(addr string, n int) int {
	var (
		outMu  sync.Mutex
		counts = map[int64]int{}
	)
	say := func(format string, args ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Fprintf(os.Stdout, format+"\n", args...)
	}
	got := func(v int64) {
		outMu.Lock()
		counts[v]++
		last := counts[v] == n
		outMu.Unlock()
		if last {
			say("got %d", v)
		}
	}
	fail := func(err error) {
		say("error %v", err)
		os.Exit(1)
	}
	handshakes := make(chan struct{}, 64)
	for range n {
		handshakes <- struct{}{}
		go func() {
			if err := watchOne(addr, handshakes, got); err != nil {
				fail(err)
			}
		}()
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// watchOne runs one connection: it frees its handshakes slot once the
// response headers are in, and reports each event's version to got.
func watchOne(addr string, handshakes chan struct{}, got func(int64)) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		<-handshakes
		return err
	}
	if _, err := io.WriteString(conn, "GET /v1/watch HTTP/1.1\r\nHost: registry\r\nAccept: text/event-stream\r\n\r\n"); err != nil {
		<-handshakes
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 512), nil)
	<-handshakes
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	r := bufio.NewReaderSize(resp.Body, 128)
	var id int64
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return fmt.Errorf("reading the stream: %w", err)
		}
		switch {
		case bytes.HasPrefix(line, []byte("id: ")):
			id, err = strconv.ParseInt(string(bytes.TrimSpace(line[4:])), 10, 64)
			if err != nil {
				return errors.New("bad id line " + strconv.Quote(string(line)))
			}
		case len(line) == 1 && id > 0: // the blank line ending the event
			got(id)
			id = 0
		}
	}
}
