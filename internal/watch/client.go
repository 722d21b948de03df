package watch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Defaults of ClientConfig.
const (
	DefaultMinBackoff  = time.Second
	DefaultMaxBackoff  = time.Minute
	DefaultIdleTimeout = 3 * DefaultHeartbeat
)

// maxRetryAfter caps the wait a server may ask for with Retry-After.
const maxRetryAfter = time.Hour

// errIdle ends a stream that stayed silent for longer than the idle timeout.
var errIdle = errors.New("watch: stream idle for too long")

// ClientConfig configures Subscribe. URL is required.
type ClientConfig struct {
	// URL is the registry's watch endpoint, e.g.
	// "https://registry.example/v1/watch".
	URL string
	// HTTPClient sends the requests; nil means a client with no overall
	// timeout over http.DefaultTransport. Its Timeout, if any, must be 0:
	// it would bound the whole stream.
	HTTPClient *http.Client
	// Header is added to every request (e.g. Authorization).
	Header http.Header
	// Logger receives the client's logs (named "watch"); nil discards them.
	Logger hclog.Logger
	// Known is the newest timestamp version the caller already has (e.g.
	// from its persisted TUF metadata), 0 for none: notify is only called
	// for greater versions, and Known is sent as Last-Event-ID on the first
	// request.
	Known int64
	// MinBackoff and MaxBackoff bound the wait before a reconnection, which
	// doubles after each failed attempt, with jitter; 0 means
	// DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// IdleTimeout is how long a stream (or a request awaiting its
	// response) may stay silent before it is given up as dead and
	// reconnected; 0 means DefaultIdleTimeout, three server heartbeats.
	IdleTimeout time.Duration
}

// Subscribe follows the watch stream at cfg.URL until ctx ends, then
// returns ctx.Err(). It calls notify with each timestamp version greater
// than any seen before (and than cfg.Known), from Subscribe's own
// goroutine, one call at a time; notify should return promptly (hand the
// version to a buffered channel, say), as the stream is not read while it
// runs. Versions a slow or disconnected client missed are coalesced: after
// a reconnection notify sees the newest version only.
//
// Failures (refused connections, non-200 answers, responses that are not
// text/event-stream, malformed streams, silent streams) are logged and
// retried with exponential backoff and jitter; a 503's or 429's
// Retry-After is honoured (up to one hour). Subscribe returns early, with
// an error, only for an invalid cfg or a nil notify.
func Subscribe(ctx context.Context, cfg ClientConfig, notify func(version int64)) error {
	if notify == nil {
		return errors.New("watch: Subscribe needs a notify function")
	}
	if u, err := url.Parse(cfg.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("watch: ClientConfig.URL %q is not an http(s) URL", cfg.URL)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.MinBackoff)
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	s := &subscriber{cfg: cfg, log: cfg.Logger.Named("watch"), last: max(cfg.Known, 0), notify: notify}
	for attempt := 0; ; attempt++ {
		healthy, retryAfter, err := s.connect(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if healthy {
			attempt = 0
		}
		d := s.delay(attempt, retryAfter)
		log := s.log.Debug
		if attempt >= 2 {
			log = s.log.Warn
		}
		log("watch stream failed, reconnecting", "url", cfg.URL, "error", err, "attempt", attempt+1, "delay", d)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

type subscriber struct {
	cfg    ClientConfig
	log    hclog.Logger
	last   int64 // newest version notified (or cfg.Known)
	notify func(int64)
}

// delay is the wait before reconnecting after attempt consecutive
// failures (0 for the first): MinBackoff doubled per attempt up to
// MaxBackoff, jittered over its upper half; at least retryAfter, itself
// jittered by up to a quarter so that a crowd told to come back at the
// same time does not.
func (s *subscriber) delay(attempt int, retryAfter time.Duration) time.Duration {
	d := s.cfg.MinBackoff
	for i := 0; i < attempt && d < s.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.cfg.MaxBackoff)
	d = d/2 + rand.N(d/2+1)
	if retryAfter > d {
		d = retryAfter + rand.N(retryAfter/4+1)
	}
	return d
}

// connect runs one request. healthy reports that the stream delivered at
// least one well-formed line, so the backoff starts over; retryAfter is
// the server's Retry-After, if any; err says why the stream ended.
func (s *subscriber) connect(ctx context.Context) (healthy bool, retryAfter time.Duration, err error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	idle := time.AfterFunc(s.cfg.IdleTimeout, cancel)
	defer idle.Stop()
	defer func() {
		if err != nil && ctx.Err() == nil && sctx.Err() != nil {
			err = errIdle
		}
	}()

	req, err := http.NewRequestWithContext(sctx, http.MethodGet, s.cfg.URL, nil)
	if err != nil {
		return false, 0, fmt.Errorf("watch: %w", err)
	}
	if s.cfg.Header != nil {
		req.Header = s.cfg.Header.Clone()
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if s.last > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(s.last, 10))
	}
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		return false, 0, fmt.Errorf("watch: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10) // let the connection be reused
		if resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests {
			retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		}
		return false, retryAfter, fmt.Errorf("watch: unexpected status %s", resp.Status)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		return false, 0, fmt.Errorf("%w: Content-Type %q, want text/event-stream", errProtocol, resp.Header.Get("Content-Type"))
	}
	idle.Reset(s.cfg.IdleTimeout)
	dec := newDecoder(&idleReader{r: resp.Body, t: idle, d: s.cfg.IdleTimeout})
	defer func() { healthy = dec.lines > 0 }()
	s.log.Debug("watch stream connected", "url", s.cfg.URL, "known", s.last)
	for {
		ev, err := dec.next()
		if err != nil {
			if err == io.EOF {
				err = errors.New("watch: stream ended")
			} else if !errors.Is(err, errProtocol) {
				err = fmt.Errorf("watch: %w", err)
			}
			return false, 0, err
		}
		if ev.typ != eventTimestamp {
			continue // unknown events are for newer clients
		}
		v, err := parseTimestamp(ev.data)
		if err != nil {
			return false, 0, err
		}
		if v <= s.last {
			continue
		}
		s.last = v
		// notify's time is not the stream's silence.
		idle.Stop()
		s.notify(v)
		idle.Reset(s.cfg.IdleTimeout)
	}
}

// idleReader resets the idle timer whenever bytes arrive.
type idleReader struct {
	r io.Reader
	t *time.Timer
	d time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.t.Reset(r.d)
	}
	return n, err
}

// parseRetryAfter returns the wait a Retry-After header asks for (seconds
// or an HTTP date), 0 if none or invalid, at most maxRetryAfter.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}
