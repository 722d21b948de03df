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

	"github.com/websonic/websonic/internal/pgembed"
	"github.com/websonic/websonic/runtime/internal/engine"
	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/runtime/internal/sandboxdb"
	"github.com/websonic/websonic/runtime/internal/site"
	"github.com/websonic/websonic/runtime/internal/updater"
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
	// Registry is the registry's URL. With it, the modules recorded as
	// installed start from verified packages at Open, and Serve follows
	// the registry for updates (package updater).
	Registry string
	// TrustedRoot is the registry's pinned TUF root.json (the publisher's
	// `websonic keys init` writes it). It is trusted on first use only:
	// later runs follow the verified rotations kept in DataDir/updates.
	TrustedRoot []byte
	// RegistryToken pulls from a registry that requires a token.
	RegistryToken string
	// UpdateInterval is how often Serve checks for updates besides the
	// registry's watch stream (10 minutes).
	UpdateInterval time.Duration
	// UpdateLimits bound the updater's registry transfers and its package
	// store (the defaults of updater.Limits).
	UpdateLimits updater.Limits
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
	db      *pgembed.DB
	site    *site.Site
	engine  *engine.Engine
	host    *modhost.Host
	reg     *prometheus.Registry
	updater *updater.Updater // nil without a Registry
	state   atomic.Pointer[serving]
	mu      sync.Mutex // serialises module starts, swaps and Close
	handler http.Handler
}

// serving is what the server serves: the running modules and their routes,
// switched together in one atomic store (under mu) and never changed after.
type serving struct {
	modules []*modhost.Module
	routes  *routeTable
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
	s.state.Store(&serving{routes: &routeTable{}})
	defer func() {
		if err != nil {
			s.Close(context.Background())
		}
	}()
	if s.db, err = openDatabase(ctx, cfg.DatabaseURL, cfg.DataDir, "websonic runtime", s.log); err != nil {
		return nil, err
	}
	if s.site, err = site.New(site.Config{
		Pool: s.db.Pool, Logger: s.log, SecureCookies: cfg.SecureCookies, Nav: s.nav,
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
			Admin: s.db.Pool, RolePrefix: cfg.RolePrefix, StatementTimeout: cfg.StatementTimeout,
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
	if cfg.Registry != "" {
		if len(cfg.TrustedRoot) == 0 {
			return nil, errors.New("server: a registry needs its pinned root (--trusted-root root.json, from the publisher's `websonic keys init`)")
		}
		if s.updater, err = updater.New(ctx, updater.Config{
			Registry: cfg.Registry, Root: cfg.TrustedRoot, Dir: filepath.Join(cfg.DataDir, "updates"), Pool: s.db.Pool,
			Runtime: swapper{s}, Interval: cfg.UpdateInterval, Token: cfg.RegistryToken, Limits: cfg.UpdateLimits, Logger: s.log.Named("updater"),
		}); err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
		if err := s.updater.Boot(ctx); err != nil {
			s.log.Error("some installed modules did not start; the others serve", "error", err)
		}
	}
	s.handler = s.router()
	if n, err := s.site.Store().CountAdmins(ctx); err == nil && n == 0 {
		s.log.Warn("this site has no admin yet: run `websonic admin create --username NAME` (the site may keep running)")
	}
	return s, nil
}

// Start runs a module and mounts its routes; it may be called while the
// server serves. A module whose routes overlap a running module's fails, as
// does one that is already running (use Swap to update it).
func (s *Server) Start(ctx context.Context, p *modhost.Package, ap modhost.Approval) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Module(p.Manifest.Name) != nil {
		return fmt.Errorf("server: module %s is already running", p.Manifest.Name)
	}
	_, err := s.start(ctx, p, ap, false, nil)
	return err
}

// start starts a module that is not running; the caller holds s.mu. commit,
// if not nil, runs just before the module takes traffic. On failure it
// returns the stage that failed.
func (s *Server) start(ctx context.Context, p *modhost.Package, ap modhost.Approval, rollback bool, commit func(context.Context) error) (modhost.Stage, error) {
	if _, err := s.state.Load().routes.with(p.Manifest, nil); err != nil {
		return StageRoutes, err // before any work
	}
	m, err := s.host.Start(ctx, p, ap, modhost.StartOptions{Rollback: rollback})
	if err != nil {
		var se *modhost.StartError
		if errors.As(err, &se) {
			return se.Stage, err
		}
		return StageProvision, err
	}
	cur := s.state.Load()
	routes, err := cur.routes.with(m.Manifest(), m)
	if err != nil {
		m.Close(ctx)
		return StageRoutes, err
	}
	if commit != nil {
		if err := commit(ctx); err != nil {
			m.Close(ctx)
			return StageCommit, err
		}
	}
	s.state.Store(&serving{modules: append(slices.Clone(cur.modules), m), routes: routes})
	s.audit(ctx, "module.start", m.Manifest().Name, map[string]any{
		"version": m.Manifest().Version, "core_data": ap.Views, "rollback": rollback,
	})
	return "", nil
}

// Modules lists the running modules.
func (s *Server) Modules() []*modhost.Module { return s.state.Load().modules }

// Module returns the running version of the named module, or nil.
func (s *Server) Module(name string) *modhost.Module {
	for _, m := range s.Modules() {
		if m.Manifest().Name == name {
			return m
		}
	}
	return nil
}

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
	if s.updater != nil {
		uctx, stop := context.WithCancel(ctx)
		defer stop()
		go s.updater.Run(uctx)
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	var dbExited <-chan struct{} // nil (never ready) without an embedded cluster
	if s.db.Cluster != nil {
		dbExited = s.db.Cluster.Done()
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
// order. It waits for a Start or Swap in progress.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	// Unrouted first, so that no request looks a closed module up.
	for _, m := range s.state.Swap(&serving{routes: &routeTable{}}).modules {
		err = errors.Join(err, m.Close(ctx))
	}
	if s.engine != nil {
		err = errors.Join(err, s.engine.Close(ctx))
	}
	if s.site != nil {
		s.site.Close()
	}
	if s.db != nil {
		err = errors.Join(err, s.db.Close())
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
	if err := s.db.Pool.Ping(ctx); err != nil {
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
