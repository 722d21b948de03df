package watch_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/websonic/websonic/internal/watch"
)

// newHub starts a Hub for cfg behind an httptest server; a zero Heartbeat
// becomes an hour, so that pings only appear where a test asks for them.
func newHub(t *testing.T, cfg watch.Config) (*watch.Hub, *httptest.Server) {
	t.Helper()
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = time.Hour
	}
	hub := watch.New(cfg)
	srv := httptest.NewServer(hub)
	t.Cleanup(srv.Close)
	t.Cleanup(hub.Close) // first: Close ends the streams srv.Close waits for
	return hub, srv
}

func TestServeHTTP(t *testing.T) {
	tests := []struct {
		name    string
		initial int64
		method  string
		hdr     []string
		publish int64 // published once the response headers are in; 0: none
		status  int
		want    string // the first message of a 200 GET
	}{
		{"current version on connect", 7, http.MethodGet, nil, 0, http.StatusOK, ev("7")},
		{"older Last-Event-ID", 7, http.MethodGet, []string{"Last-Event-ID: 5"}, 0, http.StatusOK, ev("7")},
		{"newer Last-Event-ID", 7, http.MethodGet, []string{"Last-Event-ID: 9"}, 0, http.StatusOK, ev("7")},
		{"malformed Last-Event-ID", 7, http.MethodGet, []string{"Last-Event-ID: seven"}, 0, http.StatusOK, ev("7")},
		{"current Last-Event-ID waits for the next", 7, http.MethodGet, []string{"Last-Event-ID: 7"}, 8, http.StatusOK, ev("8")},
		{"no version yet waits for the first", 0, http.MethodGet, nil, 1, http.StatusOK, ev("1")},
		{"lower publish ignored", 7, http.MethodGet, []string{"Last-Event-ID: 7"}, 6, http.StatusOK, ""},
		{"HEAD", 7, http.MethodHead, nil, 0, http.StatusOK, ""},
		{"POST", 7, http.MethodPost, nil, 0, http.StatusMethodNotAllowed, ""},
		{"PUT", 7, http.MethodPut, nil, 0, http.StatusMethodNotAllowed, ""},
		{"DELETE", 7, http.MethodDelete, nil, 0, http.StatusMethodNotAllowed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hub, srv := newHub(t, watch.Config{Initial: tt.initial})
			req, err := http.NewRequest(tt.method, srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range tt.hdr {
				k, v, _ := strings.Cut(h, ": ")
				req.Header.Set(k, v)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.status == http.StatusMethodNotAllowed {
				if got := resp.Header.Get("Allow"); got != "GET, HEAD" {
					t.Fatalf("Allow %q", got)
				}
				return
			}
			for k, want := range map[string]string{
				"Content-Type":      "text/event-stream",
				"Cache-Control":     "no-store",
				"X-Accel-Buffering": "no",
			} {
				if got := resp.Header.Get(k); got != want {
					t.Errorf("%s: %q, want %q", k, got, want)
				}
			}
			if tt.method == http.MethodHead {
				return
			}
			if tt.publish != 0 {
				hub.Publish(tt.publish)
			}
			s := &stream{resp: resp, r: bufio.NewReader(resp.Body)}
			if tt.want == "" {
				// Nothing may arrive before the next version.
				hub.Publish(tt.initial + 1)
				tt.want = ev(strconv.FormatInt(tt.initial+1, 10))
			}
			if got := s.next(t); got != tt.want {
				t.Fatalf("first message %q, want %q", got, tt.want)
			}
		})
	}
}

func TestHubFull(t *testing.T) {
	hub, srv := newHub(t, watch.Config{Initial: 1, MaxClients: 2, RetryAfter: 2500 * time.Millisecond})
	a := open(t, srv.Client(), srv.URL)
	open(t, srv.Client(), srv.URL)
	waitFor(t, "two clients", func() bool { return hub.Clients() == 2 })
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		req, _ := http.NewRequest(method, srv.URL, nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "3" {
			t.Fatalf("%s over MaxClients: %d, Retry-After %q; want 503, 3", method, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	a.resp.Body.Close()
	waitFor(t, "a client to leave", func() bool { return hub.Clients() == 1 })
	if got := open(t, srv.Client(), srv.URL).event(t); got != ev("1") {
		t.Fatalf("after a client left: %q", got)
	}
}

// TestHubPerClient: each client (Config.ClientKey) holds at most
// MaxPerClient streams; over it, 429 with Retry-After, and other clients
// are unaffected; a stream that ends frees its client's place.
func TestHubPerClient(t *testing.T) {
	reg := prometheus.NewRegistry()
	hub, srv := newHub(t, watch.Config{Initial: 1, MaxPerClient: 2, RetryAfter: 2500 * time.Millisecond, Registerer: reg,
		ClientKey: func(r *http.Request) string { return r.Header.Get("X-Client") }})
	a := open(t, srv.Client(), srv.URL, "X-Client: a")
	open(t, srv.Client(), srv.URL, "X-Client: a")
	waitFor(t, "two clients", func() bool { return hub.Clients() == 2 })
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		req, _ := http.NewRequest(method, srv.URL, nil)
		req.Header.Set("X-Client", "a")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "3" {
			t.Fatalf("%s over MaxPerClient: %d, Retry-After %q; want 429, 3", method, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	if got := open(t, srv.Client(), srv.URL, "X-Client: b").event(t); got != ev("1") {
		t.Fatalf("another client: %q", got)
	}
	a.resp.Body.Close()
	waitFor(t, "a stream of a to end", func() bool { return hub.Clients() == 2 })
	if got := open(t, srv.Client(), srv.URL, "X-Client: a").event(t); got != ev("1") {
		t.Fatalf("a, after one of its streams ended: %q", got)
	}
	if got := metric(t, reg, "websonic_watch_rejected_total"); got != 2 {
		t.Fatalf("rejected %v, want 2", got)
	}
}

func TestHubClose(t *testing.T) {
	hub, srv := newHub(t, watch.Config{Initial: 1})
	var streams []*stream
	for range 3 {
		s := open(t, srv.Client(), srv.URL)
		if got := s.event(t); got != ev("1") {
			t.Fatalf("got %q", got)
		}
		streams = append(streams, s)
	}
	hub.Close()
	for i, s := range streams {
		if err := s.end(); err != nil {
			t.Fatalf("stream %d ended with %v", i, err)
		}
	}
	waitFor(t, "no clients", func() bool { return hub.Clients() == 0 })
	hub.Publish(2) // harmless
	hub.Close()    // idempotent
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		req, _ := http.NewRequest(method, srv.URL, nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "10" {
			t.Fatalf("%s after Close: %d, Retry-After %q", method, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
}

func TestHeartbeat(t *testing.T) {
	hub, srv := newHub(t, watch.Config{Initial: 1, Heartbeat: 10 * time.Millisecond})
	s := open(t, srv.Client(), srv.URL)
	if got := s.next(t); got != ev("1") {
		t.Fatalf("got %q", got)
	}
	for range 2 {
		if got := s.next(t); got != ": ping\n\n" {
			t.Fatalf("got %q, want a ping", got)
		}
	}
	hub.Publish(2)
	if got := s.event(t); got != ev("2") {
		t.Fatalf("got %q", got)
	}
}

// TestSlowReaderCoalesces: a client that reads late gets the newest
// version, and never an older one after a newer.
func TestSlowReaderCoalesces(t *testing.T) {
	hub, srv := newHub(t, watch.Config{})
	s := open(t, srv.Client(), srv.URL)
	for v := range int64(500) {
		hub.Publish(v + 1)
	}
	var last int64
	for last != 500 {
		var v int64
		if _, err := fmt.Sscanf(s.event(t), "id: %d\n", &v); err != nil || v <= last {
			t.Fatalf("version %d after %d (%v)", v, last, err)
		}
		last = v
	}
}

// TestServerTimeouts: http.Server's ReadTimeout and WriteTimeout, which a
// registry sets for its other endpoints, do not end a watch stream.
func TestServerTimeouts(t *testing.T) {
	const timeout, heartbeat = 50 * time.Millisecond, 5 * time.Millisecond
	hub := watch.New(watch.Config{Initial: 1, Heartbeat: heartbeat})
	srv := httptest.NewUnstartedServer(hub)
	srv.Config.ReadTimeout = timeout
	srv.Config.WriteTimeout = timeout
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(hub.Close)
	s := open(t, srv.Client(), srv.URL)
	if got := s.next(t); got != ev("1") {
		t.Fatalf("got %q", got)
	}
	// Read pings spanning six times both timeouts: the stream's own clock.
	for range 6 * timeout / heartbeat {
		if got := s.next(t); got != ": ping\n\n" {
			t.Fatalf("got %q, want a ping", got)
		}
	}
	hub.Publish(2)
	if got := s.event(t); got != ev("2") {
		t.Fatalf("got %q", got)
	}
}

// smallSendBuffer shrinks the send buffer of accepted connections, so that
// a client that does not read blocks the server's writes soon.
type smallSendBuffer struct{ net.Listener }

func (l smallSendBuffer) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4 << 10)
	}
	return c, err
}

func TestSlowClientDropped(t *testing.T) {
	reg := prometheus.NewRegistry()
	hub := watch.New(watch.Config{
		Initial: 1, Heartbeat: time.Millisecond, WriteTimeout: 50 * time.Millisecond, Registerer: reg,
	})
	srv := httptest.NewUnstartedServer(hub)
	srv.Listener = smallSendBuffer{srv.Listener}
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(hub.Close)

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.(*net.TCPConn).SetReadBuffer(1 << 10)
	if _, err := fmt.Fprint(conn, "GET / HTTP/1.1\r\nHost: watch\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// Never read from conn.
	waitFor(t, "the stream to open", func() bool { return hub.Clients() == 1 })
	v := int64(1)
	waitFor(t, "the slow client to be dropped", func() bool {
		v++
		hub.Publish(v)
		return hub.Clients() == 0
	})
	if got := metric(t, reg, "websonic_watch_write_errors_total"); got != 1 {
		t.Fatalf("write errors %v, want 1", got)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	hub, srv := newHub(t, watch.Config{Initial: 3, MaxClients: 1, Registerer: reg})
	s := open(t, srv.Client(), srv.URL)
	s.event(t)
	hub.Publish(4)
	s.event(t)
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for name, want := range map[string]float64{
		"websonic_watch_clients":           1,
		"websonic_watch_version":           4,
		"websonic_watch_connections_total": 1,
		"websonic_watch_rejected_total":    1,
	} {
		if got := metric(t, reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

// metric returns the sum of the samples of the metric called name.
func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}
