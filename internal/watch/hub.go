package watch

import (
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Config.
const (
	DefaultHeartbeat    = 25 * time.Second
	DefaultMaxClients   = 20000
	DefaultWriteTimeout = 10 * time.Second
	DefaultRetryAfter   = 10 * time.Second
)

// Config configures a Hub. The zero value is usable.
type Config struct {
	// Logger receives the hub's logs (named "watch"); nil discards them.
	Logger hclog.Logger
	// Heartbeat is how long a stream may stay silent before the hub writes
	// a ": ping" comment; 0 means DefaultHeartbeat.
	Heartbeat time.Duration
	// MaxClients bounds the open streams; a request over it is answered
	// 503 with Retry-After. 0 means DefaultMaxClients.
	MaxClients int
	// MaxPerClient bounds the open streams of one client, as ClientKey
	// tells clients apart; a request over it is answered 429 with
	// Retry-After. 0 means no bound per client.
	MaxPerClient int
	// ClientKey returns the client a request comes from (e.g. its address,
	// or a network block); nil means the host of the request's RemoteAddr.
	ClientKey func(*http.Request) string
	// Initial is the timestamp version the hub starts with, typically the
	// repository's current one; 0 means none yet (streams wait for the
	// first Publish).
	Initial int64
	// WriteTimeout bounds each write to a stream: a client that stops
	// reading is dropped when its buffers are full and a write has not
	// completed within it. 0 means DefaultWriteTimeout.
	WriteTimeout time.Duration
	// RetryAfter is sent with every 503 (hub full or closed) and 429
	// (client full), rounded up to whole seconds; 0 means
	// DefaultRetryAfter.
	RetryAfter time.Duration
	// Registerer, if not nil, receives the hub's metrics (websonic_watch_*).
	Registerer prometheus.Registerer
}

// Hub fans the newest timestamp version out to every open watch stream.
// It is an http.Handler and is safe for concurrent use. It starts no
// goroutines of its own: each stream runs in its request's goroutine.
type Hub struct {
	cfg        Config
	log        hclog.Logger
	retryAfter string
	ping       []byte

	mu      sync.Mutex // serialises Publish
	cur     atomic.Pointer[state]
	clients atomic.Int64

	perMu     sync.Mutex
	perClient map[string]int // open streams by client key, when MaxPerClient > 0

	closeOnce sync.Once
	done      chan struct{} // closed by Close

	noDeadline sync.Once
	metrics    *metrics
}

var _ http.Handler = (*Hub)(nil)

// state is one published version. It is immutable but for next, which
// Publish closes, once, when a newer state replaces it: a stream waiting
// on next wakes up and loads whatever is newest by then.
type state struct {
	version int64
	event   []byte // nil for version 0
	next    chan struct{}
}

// New returns a Hub for cfg; cfg is copied. It panics if cfg.Registerer
// refuses the metrics (as prometheus.MustRegister does): registering a
// hub's metrics twice is a programming error.
func New(cfg Config) *Hub {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.MaxClients <= 0 {
		cfg.MaxClients = DefaultMaxClients
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = DefaultRetryAfter
	}
	if cfg.Initial < 0 {
		cfg.Initial = 0
	}
	if cfg.ClientKey == nil {
		cfg.ClientKey = remoteHost
	}
	h := &Hub{
		cfg:        cfg,
		log:        cfg.Logger.Named("watch"),
		retryAfter: strconv.FormatInt(int64((cfg.RetryAfter+time.Second-1)/time.Second), 10),
		ping:       []byte(": ping\n\n"),
		done:       make(chan struct{}),
		perClient:  map[string]int{},
	}
	st := &state{version: cfg.Initial, next: make(chan struct{})}
	if st.version > 0 {
		st.event = renderTimestamp(st.version)
	}
	h.cur.Store(st)
	if cfg.Registerer != nil {
		h.metrics = newMetrics(cfg.Registerer, h)
	}
	return h
}

// Publish announces timestamp version v to every stream. A v lower than or
// equal to the current version is ignored, so racing publishers are
// harmless. Publish never waits for a stream: it renders the event once,
// swaps the current state and closes the old state's channel, which wakes
// every stream; each then writes the newest version (a slow stream skips
// the versions it missed).
func (h *Hub) Publish(v int64) {
	h.mu.Lock()
	old := h.cur.Load()
	if v <= old.version {
		h.mu.Unlock()
		return
	}
	h.cur.Store(&state{version: v, event: renderTimestamp(v), next: make(chan struct{})})
	h.mu.Unlock()
	// Outside the lock: closing readies every waiting stream. Only the
	// publisher that replaced old closes old.next, so it closes once.
	close(old.next)
	h.log.Info("published", "version", v, "clients", h.Clients())
}

// Version returns the newest published version (0 for none).
func (h *Hub) Version() int64 { return h.cur.Load().version }

// Clients returns the number of open streams.
func (h *Hub) Clients() int { return int(h.clients.Load()) }

// Close ends every stream and answers later requests 503. It does not
// wait for the streams' goroutines: a stream ends as soon as it notices,
// or, if it is blocked writing to a client that does not read, when the
// write times out. Call it before http.Server.Shutdown, which waits for
// active requests (or pass it to http.Server.RegisterOnShutdown). Close is
// idempotent.
func (h *Hub) Close() {
	h.closeOnce.Do(func() { close(h.done) })
}

func (h *Hub) closed() bool {
	select {
	case <-h.done:
		return true
	default:
		return false
	}
}

// ServeHTTP serves one watch stream (see the package documentation).
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "watch: method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if h.closed() {
		h.unavailable(w, "closed")
		return
	}
	key := h.cfg.ClientKey(r)
	if r.Method == http.MethodHead {
		switch {
		case h.Clients() >= h.cfg.MaxClients:
			h.unavailable(w, "full")
		case h.cfg.MaxPerClient > 0 && h.clientStreams(key) >= h.cfg.MaxPerClient:
			h.tooMany(w)
		default:
			setStreamHeaders(w.Header())
			w.WriteHeader(http.StatusOK)
		}
		return
	}
	if !h.enter(key) {
		h.tooMany(w)
		return
	}
	defer h.leave(key)
	if n := h.clients.Add(1); n > int64(h.cfg.MaxClients) {
		h.clients.Add(-1)
		h.unavailable(w, "full")
		return
	}
	defer h.clients.Add(-1)
	if h.metrics != nil {
		h.metrics.connections.Inc()
	}
	if err := h.stream(w, r); err != nil {
		if errors.Is(err, http.ErrNotSupported) {
			h.log.Error("the ResponseWriter cannot flush: watch streams cannot work through it", "error", err)
			return
		}
		if h.metrics != nil {
			h.metrics.writeErrors.Inc()
		}
		h.log.Debug("stream dropped", "remote", r.RemoteAddr, "error", err)
	}
}

func setStreamHeaders(hdr http.Header) {
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Accel-Buffering", "no")
}

// remoteHost is the default ClientKey: the host of RemoteAddr.
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// enter counts a stream of client key, unless it has MaxPerClient already.
func (h *Hub) enter(key string) bool {
	if h.cfg.MaxPerClient <= 0 {
		return true
	}
	h.perMu.Lock()
	defer h.perMu.Unlock()
	if h.perClient[key] >= h.cfg.MaxPerClient {
		return false
	}
	h.perClient[key]++
	return true
}

// leave uncounts a stream of client key.
func (h *Hub) leave(key string) {
	if h.cfg.MaxPerClient <= 0 {
		return
	}
	h.perMu.Lock()
	defer h.perMu.Unlock()
	if h.perClient[key]--; h.perClient[key] <= 0 {
		delete(h.perClient, key)
	}
}

func (h *Hub) clientStreams(key string) int {
	h.perMu.Lock()
	defer h.perMu.Unlock()
	return h.perClient[key]
}

// tooMany answers a client over MaxPerClient: 429 with Retry-After.
func (h *Hub) tooMany(w http.ResponseWriter) {
	if h.metrics != nil {
		h.metrics.rejected.WithLabelValues("client").Inc()
	}
	w.Header().Set("Retry-After", h.retryAfter)
	http.Error(w, "watch: too many streams from this client", http.StatusTooManyRequests)
}

// unavailable answers 503 with Retry-After; reason is "full" or "closed".
func (h *Hub) unavailable(w http.ResponseWriter, reason string) {
	if h.metrics != nil {
		h.metrics.rejected.WithLabelValues(reason).Inc()
	}
	w.Header().Set("Retry-After", h.retryAfter)
	http.Error(w, "watch: unavailable ("+reason+")", http.StatusServiceUnavailable)
}

// stream writes events until the request or the hub ends (nil) or a write
// fails (the error).
func (h *Hub) stream(w http.ResponseWriter, r *http.Request) error {
	// http.Server.WriteTimeout does not end the stream: send sets a
	// deadline per write. (ReadTimeout does not either: net/http clears
	// the read deadline once the request is read.)
	rc := http.NewResponseController(w)
	setStreamHeaders(w.Header())
	w.WriteHeader(http.StatusOK)

	cur := h.cur.Load()
	first := cur.event
	if last, err := strconv.ParseInt(r.Header.Get("Last-Event-ID"), 10, 64); err == nil && last == cur.version {
		first = nil // the client has it: wait for the next one
	}
	if err := h.send(w, rc, first); err != nil { // nil: just the headers
		return err
	}
	hb := time.NewTimer(h.cfg.Heartbeat)
	defer hb.Stop()
	ctx := r.Context()
	for {
		var msg []byte
		select {
		case <-ctx.Done():
			return nil
		case <-h.done:
			return nil
		case <-cur.next:
			cur = h.cur.Load() // the newest: versions in between coalesce
			msg = cur.event
		case <-hb.C:
			msg = h.ping
		}
		if err := h.send(w, rc, msg); err != nil {
			return err
		}
		hb.Reset(h.cfg.Heartbeat)
	}
}

// send writes b (which may be nil) and flushes, within WriteTimeout.
func (h *Hub) send(w http.ResponseWriter, rc *http.ResponseController, b []byte) error {
	err := rc.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
	if errors.Is(err, http.ErrNotSupported) {
		h.noDeadline.Do(func() {
			h.log.Warn("the ResponseWriter does not support write deadlines: slow watchers will not be dropped (does a middleware wrapper lack Unwrap?)")
		})
	} else if err != nil {
		return err
	}
	if len(b) > 0 {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return rc.Flush()
}

// metrics are the hub's Prometheus collectors.
type metrics struct {
	connections prometheus.Counter
	rejected    *prometheus.CounterVec
	writeErrors prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, h *Hub) *metrics {
	m := &metrics{
		connections: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "websonic_watch_connections_total", Help: "Watch streams opened.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "websonic_watch_rejected_total", Help: "Watch requests refused, by reason (full, closed: 503; client: 429).",
		}, []string{"reason"}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "websonic_watch_write_errors_total", Help: "Watch streams ended by a failed or timed-out write.",
		}),
	}
	reg.MustRegister(
		m.connections, m.rejected, m.writeErrors,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "websonic_watch_clients", Help: "Open watch streams.",
		}, func() float64 { return float64(h.Clients()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "websonic_watch_version", Help: "Newest published timestamp version.",
		}, func() float64 { return float64(h.Version()) }),
	)
	return m
}
