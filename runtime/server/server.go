package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/websonic/websonic/runtime/internal/coredb"
	"github.com/websonic/websonic/runtime/internal/engine"
	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/runtime/internal/sandboxdb"
	"github.com/websonic/websonic/runtime/internal/site"
	"github.com/websonic/websonic/sdk/abi"
)

// Config configures the runtime. Zero fields take the defaults shown.
type Config struct {
	// Addr is where ListenAndServe listens ("127.0.0.1:8080").
	Addr string
	// DataDir holds the embedded PostgreSQL cluster and the compilation
	// cache ("data").
	DataDir string
	// DatabaseURL names an external PostgreSQL; "" starts the embedded one.
	// The URL's role needs CREATEROLE and ownership of the database, never
	// SUPERUSER (see package coredb).
	DatabaseURL string
	// ModulesDir holds local, unsigned module builds (one folder each) to
	// load at start. Development only: every capability they ask for is
	// approved.
	ModulesDir string
	// RolePrefix starts module role names, which are cluster-wide
	// ("websonic_").
	RolePrefix string
	// SecureCookies marks session cookies Secure (serve over HTTPS).
	SecureCookies bool
	// MemoryLimitPages caps each module instance's memory (2048 = 128 MiB).
	MemoryLimitPages uint32
	// Pool is the per-module instance pool template.
	Pool engine.PoolConfig
	// StatementTimeout is each module role's statement_timeout (5s).
	StatementTimeout time.Duration
	Logger           hclog.Logger
}

var rolePrefixRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,19}$`)

// Server is a running Web Sonic runtime.
type Server struct {
	cfg     Config
	log     hclog.Logger
	db      *database
	site    *site.Site
	engine  *engine.Engine
	host    *modhost.Host
	reg     *prometheus.Registry
	modules atomic.Pointer[[]*modhost.Module]
	routes  atomic.Pointer[routeTable]
	mu      sync.Mutex // serialises module starts and stops
	handler http.Handler
}

// Open starts everything but the listener: database, migrations, site,
// engine, and the modules in ModulesDir. On error nothing is left running.
func Open(ctx context.Context, cfg Config) (_ *Server, err error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:8080"
	}
	if cfg.DataDir == "" {
		cfg.DataDir = "data"
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.RolePrefix != "" && !rolePrefixRE.MatchString(cfg.RolePrefix) {
		return nil, fmt.Errorf("server: role prefix %q: use up to 20 of a-z, 0-9, _ starting with a letter or _", cfg.RolePrefix)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, reg: prometheus.NewRegistry()}
	s.modules.Store(&[]*modhost.Module{})
	s.routes.Store(&routeTable{})
	defer func() {
		if err != nil {
			s.Close(context.Background())
		}
	}()
	if s.db, err = openDatabase(ctx, cfg.DatabaseURL, cfg.DataDir, s.log); err != nil {
		return nil, err
	}
	if s.site, err = site.New(site.Config{
		Pool: s.db.pool, Logger: s.log, SecureCookies: cfg.SecureCookies, Nav: s.nav,
	}); err != nil {
		return nil, err
	}
	if s.engine, err = engine.New(ctx, engine.Config{
		CacheDir:         filepath.Join(cfg.DataDir, "cache", "wazero"),
		MemoryLimitPages: cfg.MemoryLimitPages,
		Logger:           s.log.Named("engine"),
	}); err != nil {
		return nil, err
	}
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.host = modhost.New(modhost.Config{
		Engine: s.engine,
		Broker: sandboxdb.New(sandboxdb.Config{
			Admin: s.db.pool, RolePrefix: cfg.RolePrefix, StatementTimeout: cfg.StatementTimeout,
			Logger: s.log.Named("sandboxdb"),
		}),
		Pool:          cfg.Pool,
		UserOf:        abiUser,
		RequestID:     func(r *http.Request) string { return RequestID(r.Context()) },
		Metrics:       modhost.NewMetrics(s.reg, s.Modules),
		SessionCookie: site.SessionCookie,
		Layout: func(w http.ResponseWriter, r *http.Request, status int, title string, fragment []byte) {
			s.site.Frame(w, r, status, title, fragment)
		},
		Logger: s.log.Named("module"),
	})
	if cfg.ModulesDir != "" {
		pkgs, err := modhost.LoadAll(cfg.ModulesDir)
		if err != nil {
			return nil, err
		}
		for _, p := range pkgs {
			s.log.Warn("development mode: loading an unsigned local module and approving all it asks for",
				"module", p.Manifest.Name, "version", p.Manifest.Version, "core_data", p.Manifest.Capabilities.CoreData)
			if err := s.Start(ctx, p, modhost.ApproveAll(p.Manifest)); err != nil {
				return nil, err
			}
		}
	}
	s.handler = s.router()
	if n, err := s.site.Store().CountAdmins(ctx); err == nil && n == 0 {
		s.log.Warn("this site has no admin yet: run `websonic admin create --username NAME` (the site may keep running)")
	}
	return s, nil
}

// Start runs a module and mounts its routes; it may be called while the
// server serves. A module whose routes overlap a running module's fails.
func (s *Server) Start(ctx context.Context, p *modhost.Package, ap modhost.Approval) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.Modules() {
		if m.Manifest().Name == p.Manifest.Name {
			return fmt.Errorf("server: module %s is already running", p.Manifest.Name)
		}
	}
	if _, err := s.routes.Load().with(p.Manifest, nil); err != nil {
		return err // before any work
	}
	m, err := s.host.Start(ctx, p, ap)
	if err != nil {
		return err
	}
	routes, err := s.routes.Load().with(m.Manifest(), m)
	if err != nil {
		m.Close(ctx)
		return err
	}
	mods := append(slices.Clone(s.Modules()), m)
	s.modules.Store(&mods)
	s.routes.Store(routes)
	if err := coredb.Audit(ctx, s.db.pool, 0, "module.start", m.Manifest().Name, map[string]any{
		"version": m.Manifest().Version, "core_data": ap.Views,
	}); err != nil {
		s.log.Error("audit log", "error", err)
	}
	return nil
}

// Modules lists the running modules.
func (s *Server) Modules() []*modhost.Module { return *s.modules.Load() }

// Handler is the runtime's whole HTTP surface.
func (s *Server) Handler() http.Handler { return s.handler }

// CreateAdmin creates an admin account; errors are the site's (invalid or
// taken username, weak password…), with messages fit for the user.
func (s *Server) CreateAdmin(ctx context.Context, username, displayName, email, password string) (int64, error) {
	u, err := s.site.Store().CreateUser(ctx, site.NewUser{
		Username: username, DisplayName: displayName, Email: email, Password: password, Role: site.RoleAdmin,
	})
	if err != nil {
		return 0, err
	}
	return u.ID, nil
}

// ListenAndServe serves on cfg.Addr until ctx ends, then shuts down
// gracefully (in-flight requests get 15 s).
func (s *Server) ListenAndServe(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          s.log.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	}
	s.log.Info("serving", "url", "http://"+ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	var dbExited <-chan struct{} // nil (never ready) without an embedded cluster
	if s.db.cluster != nil {
		dbExited = s.db.cluster.Done()
	}
	var err error
	select {
	case err := <-errc:
		return fmt.Errorf("server: %w", err)
	case <-dbExited:
		err = errors.New("server: the embedded PostgreSQL exited unexpectedly; see the log above")
		s.log.Error("the embedded PostgreSQL exited; shutting down")
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err = errors.Join(err, hs.Shutdown(sctx))
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) {
		err = errors.Join(err, e)
	}
	return err
}

// Close stops modules, the engine, the site and the database, in that
// order.
func (s *Server) Close(ctx context.Context) error {
	var err error
	for _, m := range s.Modules() {
		err = errors.Join(err, m.Close(ctx))
	}
	s.modules.Store(&[]*modhost.Module{})
	if s.engine != nil {
		err = errors.Join(err, s.engine.Close(ctx))
	}
	if s.site != nil {
		s.site.Close()
	}
	if s.db != nil {
		err = errors.Join(err, s.db.close())
	}
	return err
}

func (s *Server) router() http.Handler {
	r := chi.NewRouter()
	httpLog := s.log.Named("http")
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "websonic_http_requests_total", Help: "HTTP requests by method, route and status.",
	}, []string{"method", "route", "status"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "websonic_http_request_duration_seconds", Help: "HTTP request latency by method and route.",
		Buckets: prometheus.DefBuckets,
	}, []string{"method", "route"})
	s.reg.MustRegister(requests, latency)

	r.Use(requestID, accessLog(httpLog, requests, latency), recoverer(httpLog))
	r.Use(http.NewCrossOriginProtection().Handler)
	r.Get("/healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	r.Get("/readyz", s.ready)
	r.Group(func(r chi.Router) {
		r.Use(s.site.Sessions)
		r.Handle("/metrics", s.metricsAccess(promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg})))
		s.site.Routes(r)
		r.NotFound(s.serveModule) // module routes live in the swappable route table
	})
	return r
}

// metricsAccess lets a scraper on the same machine, or a signed-in admin,
// read /metrics: module names and traffic are not for everyone.
func (s *Server) metricsAccess(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			next.ServeHTTP(w, r)
			return
		}
		if u := site.UserFrom(r.Context()); !u.Has(site.RoleAdmin) {
			s.site.Deny(w, r, u, site.RoleAdmin)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.db.pool.Ping(ctx); err != nil {
		http.Error(w, "database unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ready\n"))
}

// nav lists the module links the user may see.
func (s *Server) nav(u *site.User) []site.NavLink {
	var links []site.NavLink
	for _, m := range s.Modules() {
		for _, n := range m.Manifest().Capabilities.Nav {
			if need, ok := roleOf[n.Access]; ok && !u.Has(need) {
				continue
			}
			links = append(links, site.NavLink{Label: n.Label, Path: n.Path})
		}
	}
	return links
}

func abiUser(r *http.Request) *abi.User {
	u := site.UserFrom(r.Context())
	if u == nil {
		return nil
	}
	return &abi.User{ID: u.ID, Username: u.Username, DisplayName: u.DisplayName, Roles: u.Roles()}
}
