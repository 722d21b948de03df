package bench

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/websonic/websonic/internal/pgtest"
	"github.com/websonic/websonic/internal/publish"
	"github.com/websonic/websonic/internal/signing/signingtest"
	"github.com/websonic/websonic/internal/tufrepo"
	"github.com/websonic/websonic/registry/server"
)

func TestMain(m *testing.M) {
	if os.Getenv(envChild) != "" {
		os.Exit(runClient(os.Stdin, os.Stdout))
	}
	pgtest.Main(m)
}

// Tuning, from the environment (defaults in parentheses).
const (
	envClients = "REGBENCH_CLIENTS" // update-check connections (1000)
	envRounds  = "REGBENCH_ROUNDS"  // measured rounds per target and baseline (5)
	envRound   = "REGBENCH_ROUND"   // length of a round (1s)
)

// patience bounds each wait on the client process: generous, it only
// guards against a hang.
const patience = 5 * time.Minute

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil && d > 0 {
		return d
	}
	return def
}

// logger passes on warnings and errors only.
func logger() hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "regbench", Level: hclog.Warn, Output: os.Stderr})
}

// registry is a registry on a fresh pgtest database, served by its own
// Serve (the production http.Server settings) on a loopback listener.
type registry struct {
	srv     *server.Server
	addr    string // host:port
	url     string // http://host:port
	dataDir string
	offline tufrepo.Keys // the publisher's root and targets keys
}

func openRegistry(b *testing.B) *registry {
	b.Helper()
	db := pgtest.NewDB(b)
	r := &registry{
		dataDir: b.TempDir(),
		offline: tufrepo.Keys{Root: tufrepo.Role{Signers: []signature.Signer{signingtest.NewSigner(b)}}, Targets: tufrepo.Role{Signers: []signature.Signer{signingtest.NewSigner(b)}}},
	}
	online := tufrepo.Keys{Snapshot: tufrepo.Role{Signers: []signature.Signer{signingtest.NewSigner(b)}}, Timestamp: tufrepo.Role{Signers: []signature.Signer{signingtest.NewSigner(b)}}}
	srv, err := server.Open(context.Background(), server.Config{
		DataDir: r.dataDir, DatabaseURL: db.URL, OnlineKeys: online,
		RenewEvery: time.Hour, // nothing re-signed mid-run
		Logger:     logger(),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close(context.Background()) })
	r.srv = srv
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("registry: %v", err)
		}
	})
	r.addr = ln.Addr().String()
	r.url = "http://" + r.addr
	return r
}

// initTUF signs the registry's first root, as `websonic keys init` does,
// so that it serves TUF metadata and watch streams get a version.
func (r *registry) initTUF(b *testing.B) {
	b.Helper()
	admin := &publish.Publisher{
		Registry: r.url, Keys: r.offline, CacheDir: b.TempDir(),
		Token: r.token(b, server.TokenSpec{Publisher: "websonic", Modules: []string{"*"}, Admin: true}),
	}
	if _, err := admin.Init(context.Background()); err != nil {
		b.Fatal(err)
	}
}

// token creates a publisher token.
func (r *registry) token(b *testing.B, spec server.TokenSpec) string {
	b.Helper()
	tok, _, err := r.srv.Publishers().CreateToken(context.Background(), spec)
	if err != nil {
		b.Fatal(err)
	}
	return tok
}

// serveBare serves h on a loopback listener with the http.Server settings
// of the registry's Serve, and returns its address.
func serveBare(b *testing.B, h http.Handler) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go srv.Serve(ln)
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			b.Errorf("bare server: %v", err)
		}
	})
	return ln.Addr().String()
}

// clientProc is the client process (see client_test.go).
type clientProc struct {
	enc     *json.Encoder
	results chan result
}

// startClient starts the client process; it ends when the benchmark does,
// before the servers (cleanups run last in, first out).
func startClient(b *testing.B) *clientProc {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), envChild+"=1")
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
	c := &clientProc{enc: json.NewEncoder(stdin), results: make(chan result, 1)}
	go func() {
		defer close(c.results)
		dec := json.NewDecoder(stdout)
		for {
			var res result
			if err := dec.Decode(&res); err != nil {
				return
			}
			c.results <- res
		}
	}()
	b.Cleanup(func() {
		stdin.Close() // the client process exits at EOF
		if err := cmd.Wait(); err != nil {
			b.Errorf("client process: %v", err)
		}
	})
	return c
}

// do runs cmd in the client process and returns its result; the second
// value is the CPU time this process (the servers') used meanwhile.
func (c *clientProc) do(b *testing.B, cmd command) (result, time.Duration) {
	b.Helper()
	cpu0 := cpuTime()
	if err := c.enc.Encode(cmd); err != nil {
		b.Fatalf("client process: %v", err)
	}
	select {
	case res, ok := <-c.results:
		if !ok {
			b.Fatal("client process ended")
		}
		if res.Error != "" {
			b.Fatalf("client process: %s: %s", cmd.Op, res.Error)
		}
		return res, cpuTime() - cpu0
	case <-time.After(cmd.For + patience):
		b.Fatalf("no answer from the client process after %v", cmd.For+patience)
	}
	return result{}, 0
}

// latencies fetches the latencies the client process kept under key.
func (c *clientProc) latencies(b *testing.B, key string) []time.Duration {
	b.Helper()
	res, _ := c.do(b, command{Op: opLatencies, Key: key})
	return res.Lats
}

// stats accumulates the rounds of one side of a comparison; the
// latencies come from the client process at the end (opLatencies).
type stats struct {
	n         int
	bytes     int64
	elapsed   time.Duration
	clientCPU time.Duration
	serverCPU time.Duration
	lats      []time.Duration
}

func (s *stats) add(r result, serverCPU time.Duration) {
	s.n += r.N
	s.bytes += r.Bytes
	s.elapsed += r.Elapsed
	s.clientCPU += r.CPU
	s.serverCPU += serverCPU
}

func (s *stats) perSec() float64 { return float64(s.n) / s.elapsed.Seconds() }

// mbPerSec is throughput in MB/s (10⁶ bytes, as go test's MB/s).
func (s *stats) mbPerSec() float64 { return float64(s.bytes) / 1e6 / s.elapsed.Seconds() }

// ms returns the q-th percentile latency in milliseconds.
func (s *stats) ms(q int) float64 {
	if len(s.lats) == 0 {
		return 0
	}
	slices.Sort(s.lats)
	return float64(s.lats[(len(s.lats)-1)*q/100]) / float64(time.Millisecond)
}

// interleave runs each of fns once per round, rounds times, starting each
// round one further along (AB BA AB… for two), so that drift and the
// neighbours' noise hit all alike.
func interleave(rounds int, fns ...func()) {
	for i := range rounds {
		for j := range fns {
			fns[(i+j)%len(fns)]()
		}
	}
}

// checkStatus fails the benchmark unless GET url with the header pairs hdr
// answers want; it returns the response's headers.
func checkStatus(b *testing.B, url string, want int, hdr ...string) http.Header {
	b.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != want {
		b.Fatalf("GET %s %v: %s, want %d", url, hdr, resp.Status, want)
	}
	return resp.Header
}
