package outbound

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/sdk/abi"
)

// maxRedirects is how many redirects a fetch follows.
const maxRedirects = 5

// Config configures the service. Zero fields take the defaults shown.
type Config struct {
	// PrivateOrigins are origins (scheme://host:port) the site owner lets
	// modules reach although they are on non-public addresses (a service
	// on this machine or the LAN): fetches to exactly these origins skip
	// the address check, except that cloud metadata addresses stay out of
	// reach. A module still needs the origin in its own manifest. (none)
	PrivateOrigins []string
	// Timeout bounds each fetch, redirects and reading the body included;
	// the guest call's deadline bounds it too, and a module may ask for
	// less (10s).
	Timeout time.Duration
	// DialTimeout bounds each TCP connect (5s).
	DialTimeout time.Duration
	// TLSHandshakeTimeout bounds each TLS handshake (5s).
	TLSHandshakeTimeout time.Duration
	// MaxRequestBody caps the body a module sends (1 MiB).
	MaxRequestBody int64
	// MaxResponseBody caps the body a module receives; a longer one fails
	// the fetch with abi.HostErrLimit (4 MiB).
	MaxResponseBody int64
	// MaxResponseHeaderBytes caps a response's header (64 KiB).
	MaxResponseHeaderBytes int64
	// MaxConcurrent caps the fetches one module has in flight; one more
	// fails at once with abi.HostErrLimit (8).
	MaxConcurrent int
	// RootCAs, when set, are the only CAs trusted for HTTPS (nil: the
	// system's roots). For tests; TLS is always verified.
	RootCAs *x509.CertPool
	// Resolve, when set, replaces DNS: it returns the addresses of a host
	// name. For tests; the address check holds on what it returns.
	Resolve func(ctx context.Context, host string) ([]netip.Addr, error)
	// Logger logs each fetch at debug level (none).
	Logger hclog.Logger
	// Metrics, when set, gets websonic_outbound_fetches_total by module
	// and result.
	Metrics prometheus.Registerer
}

func (c *Config) defaults() {
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.TLSHandshakeTimeout <= 0 {
		c.TLSHandshakeTimeout = 5 * time.Second
	}
	if c.MaxRequestBody <= 0 {
		c.MaxRequestBody = 1 << 20
	}
	if c.MaxResponseBody <= 0 {
		c.MaxResponseBody = 4 << 20
	}
	if c.MaxResponseHeaderBytes <= 0 {
		c.MaxResponseHeaderBytes = 64 << 10
	}
	if c.MaxConcurrent <= 0 {
		c.MaxConcurrent = 8
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
}

// Service is the http.fetch host service (package doc). Register it under
// abi.ServiceFetch; Close it when the runtime stops.
type Service struct {
	cfg     Config
	public  *http.Transport
	private map[string]*http.Transport // by origin
	fetches *prometheus.CounterVec     // nil without Config.Metrics

	mu       sync.Mutex
	inFlight map[string]int // by module
}

var _ modhost.Service = (*Service)(nil)

// New makes the service; an origin of cfg.PrivateOrigins that does not
// parse is an error.
func New(cfg Config) (*Service, error) {
	cfg.defaults()
	s := &Service{cfg: cfg, private: map[string]*http.Transport{}, inFlight: map[string]int{}}
	s.public = s.transport(func(a netip.Addr) error {
		if class := addrClass(a); class != classPublic {
			return &addrError{class: class, addr: a}
		}
		return nil
	})
	for _, raw := range cfg.PrivateOrigins {
		o, err := parseOrigin(strings.TrimSpace(raw))
		if err != nil {
			return nil, fmt.Errorf("outbound: private origin: %w", err)
		}
		s.private[o.String()] = s.transport(func(a netip.Addr) error {
			if class := addrClass(a); class == classMetadata {
				return &addrError{class: class, addr: a}
			}
			return nil
		})
	}
	if cfg.Metrics != nil {
		s.fetches = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "websonic_outbound_fetches_total",
			Help: "Outbound HTTP fetches of modules (http.fetch), by result: ok or the error code.",
		}, []string{"module", "result"})
		if err := cfg.Metrics.Register(s.fetches); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, fmt.Errorf("outbound: metrics: %w", err)
			}
			s.fetches = are.ExistingCollector.(*prometheus.CounterVec)
		}
	}
	return s, nil
}

// Close drops the idle connections the service keeps.
func (s *Service) Close() {
	s.public.CloseIdleConnections()
	for _, t := range s.private {
		t.CloseIdleConnections()
	}
}

// addrError is a connection refused because of the address dialled.
type addrError struct {
	class string
	addr  netip.Addr
}

func (e *addrError) Error() string {
	return fmt.Sprintf("outbound: %s is a %s address", e.addr, e.class)
}

// deniedError is a fetch the caller's manifest does not allow (a
// redirect's target).
type deniedError struct{ msg string }

func (e *deniedError) Error() string { return e.msg }

// transport is an HTTP transport whose every connection goes to an
// address check allows, checked on the address dialled.
func (s *Service) transport(check func(netip.Addr) error) *http.Transport {
	d := &net.Dialer{
		Timeout:   s.cfg.DialTimeout,
		KeepAlive: 30 * time.Second,
		ControlContext: func(_ context.Context, network, address string, _ syscall.RawConn) error {
			if network != "tcp4" && network != "tcp6" {
				return fmt.Errorf("outbound: network %s refused", network)
			}
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("outbound: dialled address %q: %w", address, err)
			}
			return check(ap.Addr())
		},
	}
	dial := d.DialContext
	if s.cfg.Resolve != nil {
		dial = func(ctx context.Context, network, address string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(address)
			if err != nil {
				return nil, err
			}
			if _, err := netip.ParseAddr(host); err == nil {
				return d.DialContext(ctx, network, address)
			}
			addrs, err := s.cfg.Resolve(ctx, host)
			if err != nil {
				return nil, &net.DNSError{Err: err.Error(), Name: host, IsNotFound: true}
			}
			var first error
			for _, a := range addrs {
				c, err := d.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
				if err == nil {
					return c, nil
				}
				if first == nil {
					first = err
				}
			}
			if first == nil {
				first = &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
			}
			return nil, first
		}
	}
	return &http.Transport{
		Proxy:                  nil, // never the environment's
		DialContext:            dial,
		TLSClientConfig:        &tls.Config{RootCAs: s.cfg.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    s.cfg.TLSHandshakeTimeout,
		MaxResponseHeaderBytes: s.cfg.MaxResponseHeaderBytes,
		ForceAttemptHTTP2:      true,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        30 * time.Second,
		ExpectContinueTimeout:  time.Second,
	}
}

// roundTrip sends a request on the transport of its origin: the owner's
// private approval's, or the public one.
func (s *Service) roundTrip(req *http.Request) (*http.Response, error) {
	_, o, err := parseURL(req.URL.String())
	if err != nil {
		return nil, &deniedError{msg: err.Error()}
	}
	if t, ok := s.private[o.String()]; ok {
		return t.RoundTrip(req)
	}
	return s.public.RoundTrip(req)
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Serve makes one fetch for the calling module: payload is an
// abi.FetchRequest, the answer an abi.FetchResponse.
func (s *Service) Serve(ctx context.Context, c *modhost.Caller, payload []byte) ([]byte, error) {
	start := time.Now()
	var (
		f      *fetch
		status int
		err    error
	)
	defer func() {
		result := "ok"
		var he *abi.HostError
		if errors.As(err, &he) {
			result = he.Code
		}
		if s.fetches != nil {
			s.fetches.WithLabelValues(c.Module, result).Inc()
		}
		if f != nil {
			s.cfg.Logger.Debug("fetch", "module", c.Module, "method", f.method, "origin", f.origin.String(),
				"status", status, "result", result, "duration", time.Since(start))
		} else {
			s.cfg.Logger.Debug("fetch refused", "module", c.Module, "result", result, "error", err)
		}
	}()
	var out []byte
	f, status, out, err = s.serve(ctx, c, payload)
	return out, err
}

func (s *Service) serve(ctx context.Context, c *modhost.Caller, payload []byte) (*fetch, int, []byte, error) {
	// A body as JSON is base64 (4/3 of it) plus the rest of the request.
	if max := s.cfg.MaxRequestBody/3*4 + 4 + maxURL + 2*maxHeaderBytes + 1024; int64(len(payload)) > max {
		return nil, 0, nil, &abi.HostError{Code: abi.HostErrLimit, Message: fmt.Sprintf("payload of %d bytes exceeds %d (the request body may be at most %d bytes)", len(payload), max, s.cfg.MaxRequestBody)}
	}
	f, err := decodeFetch(payload, s.cfg.MaxRequestBody)
	if err != nil {
		var pe *payloadError
		if errors.As(err, &pe) {
			return nil, 0, nil, &abi.HostError{Code: pe.code, Message: pe.msg}
		}
		return nil, 0, nil, modhost.Invalid("%v", err)
	}
	approved := map[string]bool{}
	if c.Manifest != nil {
		for _, raw := range c.Manifest.Capabilities.OutboundHTTP {
			if o, err := parseOrigin(raw); err == nil {
				approved[o.String()] = true
			}
		}
	}
	if !approved[f.origin.String()] {
		return f, 0, nil, modhost.Denied("origin %s is not in the module's capabilities.outbound_http: add it to module.json; the site owner approves it with the module", f.origin)
	}
	if !s.enter(c.Module) {
		return f, 0, nil, &abi.HostError{Code: abi.HostErrLimit, Message: fmt.Sprintf("module %s already has %d fetches in flight", c.Module, s.cfg.MaxConcurrent)}
	}
	defer s.leave(c.Module)

	timeout := s.cfg.Timeout
	if f.timeout > 0 && f.timeout < timeout {
		timeout = f.timeout
	}
	fctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(fctx, f.method, f.url.String(), bytes.NewReader(f.body))
	if err != nil {
		return f, 0, nil, modhost.Invalid("%v", err)
	}
	if len(f.body) == 0 {
		req.Body, req.GetBody, req.ContentLength = http.NoBody, nil, 0
	}
	req.Header = f.header
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "websonic-module/"+c.Module)
	}
	client := &http.Client{
		Transport: roundTripper(s.roundTrip),
		CheckRedirect: func(next *http.Request, via []*http.Request) error {
			if len(via) > maxRedirects {
				return &deniedError{msg: fmt.Sprintf("stopped after %d redirects", maxRedirects)}
			}
			u, o, err := parseURL(next.URL.String())
			if err != nil {
				return &deniedError{msg: "redirected to a URL the runtime does not fetch: " + err.Error()}
			}
			if !approved[o.String()] {
				return &deniedError{msg: fmt.Sprintf("redirected to origin %s, which is not in the module's capabilities.outbound_http", o)}
			}
			next.URL, next.Host = u, ""
			return nil
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		return f, 0, nil, s.failure(ctx, fctx, f, timeout, err)
	}
	defer resp.Body.Close()
	if resp.ContentLength > s.cfg.MaxResponseBody {
		return f, resp.StatusCode, nil, s.tooLong(f)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, s.cfg.MaxResponseBody+1))
	if err != nil {
		return f, resp.StatusCode, nil, s.failure(ctx, fctx, f, timeout, err)
	}
	if int64(len(body)) > s.cfg.MaxResponseBody {
		return f, resp.StatusCode, nil, s.tooLong(f)
	}
	answer := abi.FetchResponse{Status: resp.StatusCode, Body: body, URL: resp.Request.URL.String()}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range resp.Header {
			if !yield(k) {
				return
			}
		}
	}) {
		for _, v := range resp.Header[name] {
			answer.Headers = append(answer.Headers, abi.FetchHeader{name, v})
		}
	}
	out, err := json.Marshal(&answer)
	if err != nil {
		return f, resp.StatusCode, nil, fmt.Errorf("outbound: %w", err)
	}
	return f, resp.StatusCode, out, nil
}

func (s *Service) tooLong(f *fetch) error {
	return &abi.HostError{Code: abi.HostErrLimit, Message: fmt.Sprintf("the response of %s has a body over %d bytes", f.origin, s.cfg.MaxResponseBody)}
}

// failure turns a failed fetch into the module's error. ctx is the guest
// call's context, fctx the fetch's.
func (s *Service) failure(ctx, fctx context.Context, f *fetch, timeout time.Duration, err error) error {
	var (
		de  *deniedError
		ae  *addrError
		ue  *url.Error
		cve *tls.CertificateVerificationError
		ne  net.Error
	)
	target := f.origin.String()
	if errors.As(err, &ue) {
		if _, o, perr := parseURL(ue.URL); perr == nil {
			target = o.String()
		}
	}
	switch {
	case errors.As(err, &de):
		return modhost.Denied("%s %s: %s", f.method, f.origin, de.msg)
	case errors.As(err, &ae):
		s.cfg.Logger.Warn("a module's fetch reached a non-public address; refused", "origin", target, "address", ae.addr, "class", ae.class)
		return modhost.Denied("%s resolves to a %s address, which modules may not reach (the site owner may allow this origin with websonic serve --outbound-private %s)", target, ae.class, target)
	case ctx.Err() != nil:
		return &abi.HostError{Code: abi.HostErrFailed, Message: fmt.Sprintf("%s %s: the module's call ran out of time", f.method, target)}
	case errors.Is(fctx.Err(), context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return &abi.HostError{Code: abi.HostErrFailed, Message: fmt.Sprintf("%s %s: timed out after %v", f.method, target, timeout)}
	case errors.As(err, &cve):
		return &abi.HostError{Code: abi.HostErrFailed, Message: fmt.Sprintf("%s: TLS certificate not trusted: %v", target, cve.Err)}
	}
	msg := err.Error()
	if ue != nil {
		msg = ue.Err.Error()
	}
	return &abi.HostError{Code: abi.HostErrFailed, Message: fmt.Sprintf("%s %s: %s", f.method, target, msg)}
}

func (s *Service) enter(module string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inFlight[module] >= s.cfg.MaxConcurrent {
		return false
	}
	s.inFlight[module]++
	return true
}

func (s *Service) leave(module string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inFlight[module]--; s.inFlight[module] <= 0 {
		delete(s.inFlight, module)
	}
}
