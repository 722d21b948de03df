package watch_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/websonic/websonic/internal/watch"
)

// recorder collects what notify was called with.
type recorder struct {
	mu       sync.Mutex
	versions []int64
}

func (r *recorder) notify(v int64) {
	r.mu.Lock()
	r.versions = append(r.versions, v)
	r.mu.Unlock()
}

func (r *recorder) got() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.versions)
}

func (r *recorder) has(v int64) bool { return slices.Contains(r.got(), v) }

// subscribe runs Subscribe until the test ends and checks that it then
// returns context.Canceled.
func subscribe(t *testing.T, cfg watch.ClientConfig) *recorder {
	t.Helper()
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = time.Millisecond
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 50 * time.Millisecond
	}
	rec := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- watch.Subscribe(ctx, cfg, rec.notify) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Subscribe returned %v, want context.Canceled", err)
			}
		case <-time.After(patience):
			t.Error("Subscribe did not return after cancel")
		}
	})
	return rec
}

// firstThen serves the first request with first and the later ones with
// next, counting requests and keeping their headers.
type firstThen struct {
	first, next http.Handler
	n           atomic.Int32
	mu          sync.Mutex
	headers     []http.Header
}

func (h *firstThen) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.headers = append(h.headers, r.Header.Clone())
	h.mu.Unlock()
	if h.n.Add(1) == 1 {
		h.first.ServeHTTP(w, r)
		return
	}
	h.next.ServeHTTP(w, r)
}

func (h *firstThen) header(i int) http.Header {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.headers[i]
}

// raw answers with status, Content-Type ct and body, then ends.
func raw(status int, ct, body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	})
}

// TestSubscribeStreams: the first connection gets a hand-written answer,
// later ones a Hub at version 5. A good answer announces version 9 (and
// the hub's 5 is then not news); a bad one must not be believed: the
// client drops it, reconnects and hears of 5 only.
func TestSubscribeStreams(t *testing.T) {
	nine := `{"version":9}`
	tests := []struct {
		name  string
		first http.Handler
		want  []int64
	}{
		{"plain", raw(200, "text/event-stream", ev("9")), []int64{9}},
		{"charset parameter", raw(200, "text/event-stream; charset=utf-8", ev("9")), []int64{9}},
		{"crlf", raw(200, "text/event-stream", "id: 9\r\nevent: timestamp\r\ndata: "+nine+"\r\n\r\n"), []int64{9}},
		{"cr", raw(200, "text/event-stream", "event: timestamp\rdata: "+nine+"\r\r"), []int64{9}},
		{"bom, comments, unknown fields and events", raw(200, "text/event-stream",
			"\uFEFF: hello\nretry: 1\nfoo: bar\n\nevent: release\ndata: {\"version\":99}\n\n"+
				"event:timestamp\ndata:{\"version\":9,\"extra\":true}\n\n"), []int64{9}},
		{"versions only grow", raw(200, "text/event-stream", ev("8")+ev("9")+ev("7")+ev("9")), []int64{8, 9}},

		{"status 500", raw(500, "text/event-stream", ev("9")), []int64{5}},
		{"status 204", raw(204, "text/event-stream", ""), []int64{5}},
		{"not an event stream", raw(200, "text/plain", ev("9")), []int64{5}},
		{"no content type", raw(200, "", ev("9")), []int64{5}},
		{"line too long", raw(200, "text/event-stream", ": "+strings.Repeat("x", 5000)+"\n\n"+ev("9")), []int64{5}},
		{"data too long", raw(200, "text/event-stream", strings.Repeat("data: "+strings.Repeat("x", 4000)+"\n", 5)+"\n"+ev("9")), []int64{5}},
		{"version as a string", raw(200, "text/event-stream", "event: timestamp\ndata: {\"version\":\"9\"}\n\n"+ev("9")), []int64{5}},
		{"version 0", raw(200, "text/event-stream", "event: timestamp\ndata: {\"version\":0}\n\n"+ev("9")), []int64{5}},
		{"not JSON", raw(200, "text/event-stream", "event: timestamp\ndata: 9\n\n"+ev("9")), []int64{5}},
		{"unterminated event", raw(200, "text/event-stream", "id: 9\nevent: timestamp\ndata: "+nine+"\n"), []int64{5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hub := watch.New(watch.Config{Initial: 5, Heartbeat: time.Hour})
			h := &firstThen{first: tt.first, next: hub}
			srv := httptest.NewServer(h)
			t.Cleanup(srv.Close)
			t.Cleanup(hub.Close)
			rec := subscribe(t, watch.ClientConfig{URL: srv.URL})
			last := tt.want[len(tt.want)-1]
			waitFor(t, "the last version", func() bool { return rec.has(last) })
			// The client is now on the hub, which announced 5: nothing else
			// can arrive.
			waitFor(t, "a reconnection", func() bool { return h.n.Load() >= 2 && hub.Clients() == 1 })
			if got := rec.got(); !slices.Equal(got, tt.want) {
				t.Fatalf("notified %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSubscribeHeaders(t *testing.T) {
	hub := watch.New(watch.Config{Initial: 3, Heartbeat: time.Hour})
	// The first stream ends after its first event, so the client reconnects.
	h := &firstThen{first: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, ev("4"))
	}), next: hub}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(hub.Close)
	rec := subscribe(t, watch.ClientConfig{
		URL:    srv.URL,
		Known:  3,
		Header: http.Header{"Authorization": {"Bearer token"}},
	})
	waitFor(t, "the second connection", func() bool { return hub.Clients() == 1 })
	hub.Publish(5)
	waitFor(t, "version 5", func() bool { return rec.has(5) })
	if got := rec.got(); !slices.Equal(got, []int64{4, 5}) {
		t.Fatalf("notified %v", got)
	}
	for i, want := range []string{"3", "4"} {
		hdr := h.header(i)
		if got := hdr.Get("Last-Event-ID"); got != want {
			t.Errorf("request %d: Last-Event-ID %q, want %q", i, got, want)
		}
		if hdr.Get("Authorization") != "Bearer token" || hdr.Get("Accept") != "text/event-stream" {
			t.Errorf("request %d: headers %v", i, hdr)
		}
	}
}

func TestSubscribeRetryAfter(t *testing.T) {
	hub := watch.New(watch.Config{Initial: 1, Heartbeat: time.Hour})
	var first, second atomic.Pointer[time.Time]
	h := &firstThen{
		first: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			now := time.Now()
			first.Store(&now)
			w.Header().Set("Retry-After", "1")
			http.Error(w, "busy", http.StatusServiceUnavailable)
		}),
		next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			now := time.Now()
			second.CompareAndSwap(nil, &now)
			hub.ServeHTTP(w, r)
		}),
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(hub.Close)
	rec := subscribe(t, watch.ClientConfig{URL: srv.URL}) // backoff 1 ms..50 ms
	waitFor(t, "version 1", func() bool { return rec.has(1) })
	if waited := second.Load().Sub(*first.Load()); waited < time.Second {
		t.Fatalf("reconnected after %v, before the Retry-After of 1s", waited)
	}
}

func TestSubscribeIdleTimeout(t *testing.T) {
	tests := []struct {
		name  string
		first http.HandlerFunc
	}{
		{"silent stream", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, ev("1"))
			http.NewResponseController(w).Flush()
			<-r.Context().Done()
		}},
		{"no response headers", func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hub := watch.New(watch.Config{Initial: 2, Heartbeat: time.Hour})
			h := &firstThen{first: tt.first, next: hub}
			srv := httptest.NewServer(h)
			t.Cleanup(srv.Close)
			t.Cleanup(hub.Close)
			rec := subscribe(t, watch.ClientConfig{URL: srv.URL, IdleTimeout: 100 * time.Millisecond})
			waitFor(t, "version 2 from the second connection", func() bool { return rec.has(2) })
		})
	}
}

// TestSubscribeHeartbeatKeepsAlive: pings keep a stream that is quieter
// than the idle timeout alive.
func TestSubscribeHeartbeatKeepsAlive(t *testing.T) {
	const heartbeat, idle = 10 * time.Millisecond, time.Second
	hub, srv := newHub(t, watch.Config{Initial: 1, Heartbeat: heartbeat})
	var requests atomic.Int32
	var pings atomic.Int64
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		hub.ServeHTTP(pingCounter{w, &pings}, r)
	})
	rec := subscribe(t, watch.ClientConfig{URL: srv.URL, IdleTimeout: idle})
	waitFor(t, "version 1", func() bool { return rec.has(1) })
	// Pings sent over longer than twice the idle timeout, counted as they
	// are written: the clock is the stream's, not the test's.
	start := pings.Load()
	waitFor(t, "pings over twice the idle timeout", func() bool { return pings.Load()-start >= int64(2*idle/heartbeat) })
	hub.Publish(2)
	waitFor(t, "version 2", func() bool { return rec.has(2) })
	if n := requests.Load(); n != 1 {
		t.Fatalf("%d requests, want 1 (the stream was given up)", n)
	}
}

// TestSubscribeReconnect: the registry goes away and comes back at the same
// address with a version published meanwhile.
func TestSubscribeReconnect(t *testing.T) {
	hub1 := watch.New(watch.Config{Initial: 1, Heartbeat: time.Hour})
	srv1 := httptest.NewServer(hub1)
	addr := srv1.Listener.Addr().String()
	rec := subscribe(t, watch.ClientConfig{URL: srv1.URL})
	waitFor(t, "version 1", func() bool { return rec.has(1) })
	waitFor(t, "the stream", func() bool { return hub1.Clients() == 1 })
	hub1.Close()
	srv1.Close()

	hub2 := watch.New(watch.Config{Initial: 1, Heartbeat: time.Hour})
	hub2.Publish(2) // while the client is away
	var lastID atomic.Value
	srv2 := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lastID.Store(r.Header.Get("Last-Event-ID"))
		hub2.ServeHTTP(w, r)
	}))
	srv2.Listener.Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv2.Listener = ln
	srv2.Start()
	t.Cleanup(srv2.Close)
	t.Cleanup(hub2.Close)

	waitFor(t, "version 2", func() bool { return rec.has(2) })
	if got := rec.got(); !slices.Equal(got, []int64{1, 2}) {
		t.Fatalf("notified %v", got)
	}
	if got := lastID.Load(); got != "1" {
		t.Fatalf("reconnected with Last-Event-ID %q, want 1", got)
	}
}

func TestSubscribeReturnsOnCancel(t *testing.T) {
	tests := []struct {
		name    string
		handler http.Handler
	}{
		{"while streaming", watch.New(watch.Config{Initial: 1, Heartbeat: time.Hour})},
		{"while backing off", raw(500, "text/plain", "no")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var requests atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				tt.handler.ServeHTTP(w, r)
			}))
			t.Cleanup(srv.Close)
			if hub, ok := tt.handler.(*watch.Hub); ok {
				t.Cleanup(hub.Close)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				done <- watch.Subscribe(ctx, watch.ClientConfig{URL: srv.URL, MinBackoff: time.Hour}, func(int64) {})
			}()
			waitFor(t, "a request", func() bool { return requests.Load() == 1 })
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("Subscribe returned %v", err)
				}
			case <-time.After(patience):
				t.Fatal("Subscribe did not return")
			}
		})
	}
}

func TestSubscribeInvalid(t *testing.T) {
	notify := func(int64) {}
	tests := []struct {
		name   string
		url    string
		notify func(int64)
	}{
		{"empty URL", "", notify},
		{"relative URL", "/v1/watch", notify},
		{"other scheme", "ftp://registry/v1/watch", notify},
		{"nil notify", "http://registry/v1/watch", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := watch.Subscribe(context.Background(), watch.ClientConfig{URL: tt.url}, tt.notify)
			if err == nil || !strings.HasPrefix(err.Error(), "watch: ") {
				t.Fatalf("got %v", err)
			}
		})
	}
}

// pingCounter counts the heartbeats a hub writes to one stream.
type pingCounter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (p pingCounter) Write(b []byte) (int, error) {
	p.n.Add(int64(strings.Count(string(b), ": ping\n")))
	return p.ResponseWriter.Write(b)
}

func (p pingCounter) Flush() { p.ResponseWriter.(http.Flusher).Flush() }

func (p pingCounter) Unwrap() http.ResponseWriter { return p.ResponseWriter }
