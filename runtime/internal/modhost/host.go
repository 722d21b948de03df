package modhost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/runtime/internal/engine"
	"github.com/websonic/websonic/runtime/internal/sandboxdb"
	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/abi/abihttp"
	"github.com/websonic/websonic/sdk/manifest"
)

// Config configures a Host.
type Config struct {
	Engine *engine.Engine
	Broker *sandboxdb.Broker
	// Pool is the template for every module's pool; Config and Logger are
	// filled in per module.
	Pool engine.PoolConfig
	// MaxRequestBytes caps a request body sent to a module (1 MiB).
	MaxRequestBytes int64
	// UserOf returns the request's signed-in user, nil when anonymous.
	UserOf func(*http.Request) *abi.User
	// RequestID returns the request's id.
	RequestID func(*http.Request) string
	// Metrics observes calls; nil for none.
	Metrics *Metrics
	// Layout renders a module's HTML fragment inside the site's page, for
	// responses that ask for it (abihttp.LayoutHeader); nil sends
	// fragments as they are.
	Layout func(w http.ResponseWriter, r *http.Request, status int, title string, fragment []byte)
	// SessionCookie names the core site's session cookie: it is removed
	// from requests before they reach a module, and a module cannot set it.
	SessionCookie string
	Logger        hclog.Logger
}

// Host starts modules.
type Host struct {
	cfg Config
	log hclog.Logger
}

// New returns a Host.
func New(cfg Config) *Host {
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = 1 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.UserOf == nil {
		cfg.UserOf = func(*http.Request) *abi.User { return nil }
	}
	if cfg.RequestID == nil {
		cfg.RequestID = func(*http.Request) string { return "" }
	}
	return &Host{cfg: cfg, log: cfg.Logger}
}

// Approval is what the site owner granted a module.
type Approval struct {
	// Views are the core data views granted (a subset of the manifest's
	// core_data).
	Views []string
	// Config holds the owner's configuration values.
	Config map[string]json.RawMessage
}

// ApproveAll grants everything the manifest asks for, with default
// configuration: for local development builds only.
func ApproveAll(m *manifest.Manifest) Approval {
	return Approval{Views: m.Capabilities.CoreData}
}

// Module is one running module version.
type Module struct {
	m      *manifest.Manifest
	pool   *engine.Pool
	db     *sandboxdb.ModuleDB
	code   *engine.Module
	config []byte
	log    hclog.Logger
	h      *Host
}

// Start provisions, migrates, compiles and warms a module. On any error
// nothing of it keeps running.
func (h *Host) Start(ctx context.Context, p *Package, ap Approval) (_ *Module, err error) {
	m := p.Manifest
	if m.ABIVersion != abi.Version {
		return nil, fmt.Errorf("%w: %s declares ABI v%d; this runtime speaks v%d", engine.ErrABI, m.Name, m.ABIVersion, abi.Version)
	}
	cfg, err := m.ResolveConfig(ap.Config)
	if err != nil {
		return nil, fmt.Errorf("modhost: %s: %w", m.Name, err)
	}
	log := h.log.Named(m.Name)
	mod := &Module{m: m, config: cfg, log: log, h: h}
	defer func() {
		if err != nil {
			mod.Close(context.Background())
		}
	}()
	start := time.Now()
	if mod.db, err = h.cfg.Broker.Open(ctx, m, ap.Views, p.Migrations); err != nil {
		return nil, err
	}
	if mod.code, err = h.cfg.Engine.Compile(ctx, m.Name, p.Wasm); err != nil {
		return nil, err
	}
	pc := h.cfg.Pool
	pc.Config, pc.Logger = cfg, log
	if mod.pool, err = h.cfg.Engine.NewPool(ctx, mod.code, pc); err != nil {
		return nil, err
	}
	log.Info("module started", "version", m.Version, "took", time.Since(start).Round(time.Millisecond))
	return mod, nil
}

// Manifest is the module's manifest.
func (m *Module) Manifest() *manifest.Manifest { return m.m }

// Stats returns the module's pool counters.
func (m *Module) Stats() engine.Stats {
	if m.pool == nil {
		return engine.Stats{}
	}
	return m.pool.Stats()
}

// DB is the module's database access (tests use its pool).
func (m *Module) DB() *sandboxdb.ModuleDB { return m.db }

// Close drains the module's calls and releases everything it holds.
func (m *Module) Close(ctx context.Context) error {
	var err error
	if m.pool != nil {
		err = m.pool.Close(ctx)
	}
	if m.code != nil {
		err = errors.Join(err, m.code.Close(ctx))
	}
	if m.db != nil {
		m.db.Close()
	}
	return err
}

// ServeHTTP carries a request into the module. The host has already checked
// the route's access level.
func (m *Module) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rid := m.h.cfg.RequestID(r)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, m.h.cfg.MaxRequestBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, fmt.Sprintf("request body larger than %d bytes", mbe.Limit), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "could not read the request body", http.StatusBadRequest)
		return
	}
	req := &abi.HTTPRequest{
		Method:     r.Method,
		URI:        r.URL.RequestURI(),
		Host:       r.Host,
		RemoteAddr: r.RemoteAddr,
		RequestID:  rid,
		Headers:    abihttp.RequestHeaders(r.Header, m.h.cfg.SessionCookie),
		Body:       body,
		User:       m.h.cfg.UserOf(r),
	}
	sess := m.db.Session()
	resp, err := m.pool.HTTP(r.Context(), req, &engine.CallEnv{DB: sess, Config: m.config, Logger: m.log})
	sess.Close()
	if m.h.cfg.Metrics != nil {
		m.h.cfg.Metrics.observe(m.m.Name, time.Since(start), err)
	}
	if err != nil {
		status := ErrorStatus(err)
		m.log.Error("module call failed", "request_id", rid, "method", r.Method, "path", r.URL.Path, "status", status, "error", err)
		if status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
		http.Error(w, fmt.Sprintf("%s (request id %s)", http.StatusText(status), rid), status)
		return
	}
	if title, ok := abihttp.Layout(resp); ok && m.h.cfg.Layout != nil {
		abihttp.ResponseHeader(w.Header(), resp, m.h.cfg.SessionCookie)
		w.Header().Del("Content-Type")
		m.h.cfg.Layout(w, r, resp.Status, title, resp.Body)
		return
	}
	writeResponse(w, resp, m.h.cfg.SessionCookie)
}

// ErrorStatus is the one mapping from engine errors to HTTP statuses.
func ErrorStatus(err error) int {
	switch {
	case errors.Is(err, engine.ErrBusy), errors.Is(err, engine.ErrClosed):
		return http.StatusServiceUnavailable
	case errors.Is(err, engine.ErrTimeout):
		return http.StatusGatewayTimeout
	case errors.Is(err, engine.ErrBadResponse):
		return http.StatusBadGateway
	default:
		return http.StatusInternalServerError
	}
}

// moduleCSP is the policy the runtime adds to every module response.
const moduleCSP = "script-src 'none'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'"

// writeResponse sends a module's response; for HEAD, net/http drops the body
// and keeps its length.
func writeResponse(w http.ResponseWriter, resp *abi.HTTPResponse, sessionCookie string) {
	abihttp.ResponseHeader(w.Header(), resp, sessionCookie)
	// Added to any policy of the module's own (browsers enforce every
	// policy): no module script runs on the site's origin, where it could
	// act as the signed-in user. See RATIONALE.md.
	w.Header().Add("Content-Security-Policy", moduleCSP)
	w.Header().Set("Content-Length", strconv.Itoa(len(resp.Body)))
	w.WriteHeader(resp.Status)
	w.Write(resp.Body)
}
