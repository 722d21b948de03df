package modhost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/internal/i18n"
	"github.com/websonic/websonic/internal/safetmpl"
	"github.com/websonic/websonic/runtime/internal/assetserve"
	"github.com/websonic/websonic/runtime/internal/engine"
	"github.com/websonic/websonic/runtime/internal/respcache"
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
	// responses that ask for it (abihttp.LayoutHeader), under the
	// Content-Security-Policy csp (assetserve.FramedCSP for the module's
	// version); nil sends fragments as they are.
	Layout func(w http.ResponseWriter, r *http.Request, status int, title string, fragment []byte, csp string)
	// PrivateCookies name the core site's own cookies (its session cookie,
	// the login guard's device cookie): they are removed from requests
	// before they reach a module, and a module cannot set them.
	PrivateCookies []string
	// Printer gives the translator of the module's page templates for a
	// request (the visitor's language, the module's catalogue over the
	// site's); nil leaves their keys untranslated.
	Printer func(r *http.Request, m *Module) *i18n.Printer
	// Services are the host services modules may call (abi.ImportHost),
	// by name; each checks the caller's manifest itself.
	Services map[string]Service
	// Cache, when set, stores the responses modules mark cacheable
	// (package respcache; cache.go).
	Cache  *respcache.Cache
	Logger hclog.Logger
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
	m     *manifest.Manifest
	views []string // the core data views approved for this version
	pool  *engine.Pool
	db    *sandboxdb.ModuleDB
	code  *engine.Module
	// config is the resolved configuration every call reads (SetConfig
	// swaps it while the module runs).
	config atomic.Pointer[[]byte]
	log    hclog.Logger
	h      *Host
	// assets are the version's static assets (nil: none), served under
	// assetPrefix ("" without assets).
	assets      *assetserve.Set
	assetPrefix string
	cacheGen    uint64 // the version's generation in Config.Cache
	// pages are the version's page templates (nil: none), which the host
	// renders for sdk.Render.
	pages *safetmpl.Pages

	// requests counts the requests inside TryServeHTTP, plus retiredBit
	// once Close has begun; drained is closed when it is retired and no
	// request is left.
	requests  atomic.Int64
	drained   chan struct{}
	drainOnce sync.Once
	closeOnce sync.Once
	closeErr  error
}

// StartOptions are Start's choices for an update. The zero value starts a
// module that is not running.
type StartOptions struct {
	// Replaces is the running version of the module that this start
	// prepares to replace (an update). It keeps serving meanwhile: both
	// versions' core data views stay granted until the caller settles them
	// with Host.Settle, and the module's recorded version stays its.
	Replaces *Module
	// Rollback accepts a package whose migrations are a prefix of the ones
	// already applied (an older version after a newer one migrated); see
	// sandboxdb.OpenOptions.
	Rollback bool
}

// Start provisions, migrates, compiles and warms a module, then calls its
// health entry point. On any error nothing of it keeps running, and the
// error is a *StartError naming the stage that failed; with
// opts.Replaces, the running version's database grants are restored.
func (h *Host) Start(ctx context.Context, p *Package, ap Approval, opts StartOptions) (_ *Module, err error) {
	m := p.Manifest
	stage := StageConfig
	var mod *Module
	defer func() {
		if err == nil {
			return
		}
		if mod != nil {
			mod.Close(context.Background())
		}
		if old := opts.Replaces; old != nil && stage != StageConfig {
			// Open granted the union of both versions' views: give the
			// running version back exactly its own. Even if ctx has ended.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			if rerr := h.Settle(rctx, old); rerr != nil {
				h.log.Error("could not restore the running version's database grants", "module", m.Name, "error", rerr)
			}
			cancel()
		}
		err = &StartError{Module: m.Name, Version: m.Version, Stage: stage, Err: err}
	}()
	if old := opts.Replaces; old != nil && old.m.Name != m.Name {
		return nil, fmt.Errorf("modhost: %s cannot replace module %s", m.Name, old.m.Name)
	}
	if !abi.Speaks(m.ABIVersion) {
		stage = StageCompile
		return nil, fmt.Errorf("%w: %s declares ABI v%d; this runtime speaks v%d to v%d", engine.ErrABI, m.Name, m.ABIVersion, abi.MinVersion, abi.Version)
	}
	cfg, err := m.ResolveConfig(ap.Config)
	if err != nil {
		return nil, fmt.Errorf("modhost: %s: %w", m.Name, err)
	}
	log := h.log.Named(m.Name)
	mod = &Module{m: m, views: slices.Clone(ap.Views), log: log, h: h, drained: make(chan struct{})}
	mod.config.Store(&cfg)
	if h.cfg.Cache != nil {
		mod.cacheGen = h.cfg.Cache.Generation()
	}
	if len(p.Assets) > 0 {
		mod.assets, mod.assetPrefix = assetserve.NewSet(p.Assets), assetserve.Prefix(m.Name, m.Version, p.AssetsDigest)
	}
	stage = StageTemplates
	if mod.pages, err = safetmpl.ParsePages(templateFiles(p)); err != nil {
		return nil, err
	}
	start := time.Now()
	stage = StageProvision
	oo := sandboxdb.OpenOptions{Rollback: opts.Rollback}
	if old := opts.Replaces; old != nil {
		oo.Update, oo.RunningViews = true, old.views
	}
	if mod.db, err = h.cfg.Broker.Open(ctx, m, ap.Views, p.Migrations, oo); err != nil {
		if errors.Is(err, sandboxdb.ErrMigration) {
			stage = StageMigrate
		}
		return nil, err
	}
	stage = StageCompile
	if mod.code, err = h.cfg.Engine.Compile(ctx, m.Name, p.Wasm); err != nil {
		return nil, err
	}
	stage = StageInstantiate
	pc := h.cfg.Pool
	pc.Config, pc.ConfigOf, pc.Logger = cfg, mod.Config, log
	if mod.pool, err = h.cfg.Engine.NewPool(ctx, mod.code, pc); err != nil {
		return nil, err
	}
	stage = StageHealth
	if err := mod.Health(ctx); err != nil {
		return nil, err
	}
	log.Info("module started", "version", m.Version, "took", time.Since(start).Round(time.Millisecond))
	return mod, nil
}

// Settle sets the module's database grants to exactly m's approved views
// and records m's version as the module's running one: after an update
// switched to m (and the previous version has stopped), or, with the
// running version, after an update that failed.
func (h *Host) Settle(ctx context.Context, m *Module) error {
	return h.cfg.Broker.Grant(ctx, m.m, m.views)
}

// Manifest is the module's manifest.
func (m *Module) Manifest() *manifest.Manifest { return m.m }

// Config is the module's resolved configuration (a JSON object: the
// owner's values over the schema's defaults), as its calls see it now.
func (m *Module) Config() []byte { return *m.config.Load() }

// SetConfig resolves the owner's values against the manifest's
// config_schema (manifest.ResolveConfig) and, if they pass, makes them the
// configuration of every call that starts from now on; calls in flight
// keep the one they started with. The module's instances are renewed
// (engine.Pool.Renew), so a module that reads its settings once, when it
// starts, sees them too. It is safe for concurrent use.
func (m *Module) SetConfig(values map[string]json.RawMessage) error {
	cfg, err := m.m.ResolveConfig(values)
	if err != nil {
		return fmt.Errorf("modhost: %s: %w", m.m.Name, err)
	}
	m.config.Store(&cfg)
	m.PurgeCache() // pages made with the old settings
	if m.pool != nil {
		m.pool.Renew() // a module may read its settings once, when an instance starts
	}
	return nil
}

// Stats returns the module's pool counters.
func (m *Module) Stats() engine.Stats {
	if m.pool == nil {
		return engine.Stats{}
	}
	return m.pool.Stats()
}

// Load returns how busy the module's pool is (engine.Pool.Load).
func (m *Module) Load() engine.Load {
	if m.pool == nil {
		return engine.Load{}
	}
	return m.pool.Load()
}

// Assets are the version's static assets (nil: none) and the URL path
// they are served under; they stay valid after Close.
func (m *Module) Assets() (*assetserve.Set, string) { return m.assets, m.assetPrefix }

// DB is the module's database access (tests use its pool).
func (m *Module) DB() *sandboxdb.ModuleDB { return m.db }

// Close retires the module: requests not yet inside it are refused
// (TryServeHTTP returns false, ServeHTTP answers 503), the ones inside finish
// (or ctx ends), and then it releases everything it holds. Close is
// idempotent.
func (m *Module) Close(ctx context.Context) error {
	m.closeOnce.Do(func() {
		if m.requests.Or(retiredBit) == 0 {
			m.drainOnce.Do(func() { close(m.drained) })
		}
		select {
		case <-m.drained:
		case <-ctx.Done():
		}
		if m.pool != nil {
			m.closeErr = m.pool.Close(ctx)
		}
		if m.code != nil {
			m.closeErr = errors.Join(m.closeErr, m.code.Close(ctx))
		}
		if m.db != nil {
			m.db.Close()
		}
		m.dropCache()
	})
	return m.closeErr
}

// retiredBit marks Module.requests once Close has begun.
const retiredBit = 1 << 62

// enter counts a request in, unless the module is retired.
func (m *Module) enter() bool {
	if m.requests.Add(1)&retiredBit != 0 {
		m.leave()
		return false
	}
	return true
}

func (m *Module) leave() {
	if m.requests.Add(-1) == retiredBit {
		m.drainOnce.Do(func() { close(m.drained) })
	}
}

// ServeHTTP carries a request into the module. The host has already checked
// the route's access level. After Close it answers 503.
func (m *Module) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !m.TryServeHTTP(w, r) {
		w.Header().Set("Retry-After", "1")
		http.Error(w, fmt.Sprintf("%s (request id %s)", http.StatusText(http.StatusServiceUnavailable), m.h.cfg.RequestID(r)), http.StatusServiceUnavailable)
	}
}

// TryServeHTTP is ServeHTTP for a router that can route again: once Close
// has begun it returns false without touching w or r, and the caller sends
// the request to the module's current version. A request it accepts keeps
// this version until answered; Close waits for it.
func (m *Module) TryServeHTTP(w http.ResponseWriter, r *http.Request) bool {
	if !m.enter() {
		return false
	}
	defer m.leave()
	m.serve(w, r)
	return true
}

func (m *Module) serve(w http.ResponseWriter, r *http.Request) {
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
		Headers:    m.requestHeaders(r),
		Body:       body,
		User:       m.h.cfg.UserOf(r),
	}
	resp, answered, err := m.roundTrip(w, r, req) // through the response cache (cache.go)
	cancelled := err != nil && errors.Is(err, context.Canceled) && r.Context().Err() != nil
	if m.h.cfg.Metrics != nil {
		m.h.cfg.Metrics.observe(m.m.Name, time.Since(start), outcome(err, cancelled))
	}
	if cancelled {
		// The client went away while its request waited for an instance:
		// not an overload, and nothing to answer. 499 (as nginx logs it)
		// keeps the access log honest.
		m.log.Debug("client went away before a module instance was free", "request_id", rid, "method", r.Method, "path", r.URL.Path)
		w.WriteHeader(StatusClientClosedRequest)
		return
	}
	if answered {
		return
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
	if name, ok := abihttp.Render(resp); ok {
		if err := m.render(r, resp, name); err != nil {
			m.log.Error("module page template failed", "request_id", rid, "method", r.Method, "path", r.URL.Path, "template", name, "error", err)
			http.Error(w, fmt.Sprintf("%s (request id %s)", http.StatusText(http.StatusInternalServerError), rid), http.StatusInternalServerError)
			return
		}
	}
	if title, ok := abihttp.Layout(resp); ok && m.h.cfg.Layout != nil {
		abihttp.ResponseHeader(w.Header(), resp, m.h.cfg.PrivateCookies...)
		w.Header().Del("Content-Type")
		m.h.cfg.Layout(w, r, resp.Status, title, resp.Body, assetserve.FramedCSP(r, m.assetPrefix))
		return
	}
	writeResponse(w, resp, m.h.cfg.PrivateCookies, assetserve.ModuleCSP(r, m.assetPrefix))
}

// requestHeaders are the headers a module receives of r: the client's
// (abihttp.RequestHeaders) and the host's abihttp.AssetsHeader.
func (m *Module) requestHeaders(r *http.Request) []abi.Header {
	h := abihttp.RequestHeaders(r.Header, m.h.cfg.PrivateCookies...)
	if m.assetPrefix != "" {
		h = append(h, abi.Header{Name: abihttp.AssetsHeader, Value: m.assetPrefix})
	}
	return h
}

// StatusClientClosedRequest is the status a request is logged with when
// its client went away before a module instance was free (nginx's 499).
const StatusClientClosedRequest = 499

// outcome labels a call's latency: ok, error, or cancelled (the client
// went away while the request was queued, see serve).
func outcome(err error, cancelled bool) string {
	switch {
	case cancelled:
		return "cancelled"
	case err != nil:
		return "error"
	}
	return "ok"
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

// writeResponse sends a module's response under the policy csp; for HEAD,
// net/http drops the body and keeps its length.
func writeResponse(w http.ResponseWriter, resp *abi.HTTPResponse, private []string, csp string) {
	abihttp.ResponseHeader(w.Header(), resp, private...)
	// Added to any policy of the module's own (browsers enforce every
	// policy): the only scripts that run on the site's origin are the
	// module version's signed assets and the host's own
	// (assetserve.ModuleCSP). See RATIONALE.md.
	w.Header().Add("Content-Security-Policy", csp)
	w.Header().Set("Content-Length", strconv.Itoa(len(resp.Body)))
	w.WriteHeader(resp.Status)
	w.Write(resp.Body)
}

// Drop deletes a module's database for good (sandboxdb.Broker.Drop); no
// version of it may be running.
func (h *Host) Drop(ctx context.Context, name string) error {
	return h.cfg.Broker.Drop(ctx, name)
}
