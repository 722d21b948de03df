package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/websonic/websonic/internal/clientaddr"
	"github.com/websonic/websonic/internal/i18n"
	"github.com/websonic/websonic/internal/pgembed"
	"github.com/websonic/websonic/internal/tlsserve"
	"github.com/websonic/websonic/runtime/internal/admin"
	"github.com/websonic/websonic/runtime/internal/assetserve"
	"github.com/websonic/websonic/runtime/internal/dbroles"
	"github.com/websonic/websonic/runtime/internal/engine"
	"github.com/websonic/websonic/runtime/internal/jobs"
	"github.com/websonic/websonic/runtime/internal/locales"
	"github.com/websonic/websonic/runtime/internal/logstore"
	"github.com/websonic/websonic/runtime/internal/mail"
	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/runtime/internal/movelink"
	"github.com/websonic/websonic/runtime/internal/outbound"
	"github.com/websonic/websonic/runtime/internal/privacy"
	"github.com/websonic/websonic/runtime/internal/realtime"
	"github.com/websonic/websonic/runtime/internal/requestq"
	"github.com/websonic/websonic/runtime/internal/respcache"
	"github.com/websonic/websonic/runtime/internal/sandboxdb"
	"github.com/websonic/websonic/runtime/internal/site"
	"github.com/websonic/websonic/runtime/internal/telemetry"
	"github.com/websonic/websonic/runtime/internal/theme"
	"github.com/websonic/websonic/runtime/internal/updater"
	"github.com/websonic/websonic/runtime/internal/usersvc"
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
	// load at start; a folder that fails is reported (log, /readyz) and the
	// others serve. While Serve runs, a rebuilt folder is swapped in.
	// Their builds are unsigned: each waits for the owner's approval of
	// what it asks for before it first runs, and again when a rebuild asks
	// for more (the admin area, `websonic module approve NAME`), unless
	// ApproveLocalModules.
	ModulesDir string
	// ApproveLocalModules approves at once everything the modules of
	// ModulesDir ask for: development only (`websonic dev`, `websonic
	// serve --dev-approve-local`).
	ApproveLocalModules bool
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
	// RegistryCA, when set, holds the PEM certificates of the only CAs
	// trusted for the registry's TLS certificate (the system roots).
	RegistryCA []byte
	// PlainLoopbackRegistry lets Registry be a plain http:// URL on a
	// loopback address: development only (websonic dev). Otherwise the
	// registry is reached over HTTPS only.
	PlainLoopbackRegistry bool
	// TLS serves HTTPS: certificate files, ACME or a self-signed
	// development certificate, and an HTTP redirect listener (package
	// tlsserve); its Dir defaults to DataDir/tls. Zero serves plain HTTP.
	TLS tlsserve.Config
	// UpdateInterval is how often Serve checks for updates besides the
	// registry's watch stream (10 minutes).
	UpdateInterval time.Duration
	// UpdateLimits bound the updater's registry transfers and its package
	// store (the defaults of updater.Limits).
	UpdateLimits updater.Limits
	// RolePrefix starts the names of the roles the runtime makes, which
	// PostgreSQL keeps cluster-wide (the site's, recorded at its first
	// start; "websonic_" for a new site). Sites sharing one PostgreSQL
	// server need different prefixes; a site's prefix cannot change.
	RolePrefix string
	// SecureCookies makes every session cookie Secure and __Host- prefixed
	// (false: only on requests that came over HTTPS, directly or through a
	// trusted proxy). Set it behind a TLS proxy that is not in
	// TrustedProxies.
	SecureCookies bool
	// TrustedProxies are the proxies whose X-Forwarded-For and
	// X-Forwarded-Proto are believed, rightmost untrusted hop first (none:
	// the peer is the client). See package clientaddr.
	TrustedProxies []netip.Prefix
	// GenericLoginErrors answers an unknown username and a wrong password
	// with one message (false: distinct messages).
	GenericLoginErrors bool
	// SiteKey, when set, is the site's data key ring as WEBSONIC_SITE_KEY
	// gives it ("": the key file DataDir/data-keys.json, made at the
	// site's first start; see package privacy).
	SiteKey string
	// AdminAddr is where ListenAndServe serves the admin area (package
	// admin): a listener of its own, so that the admin area is another
	// origin than the site's and no module script can drive it ("": no
	// admin area; `websonic serve` defaults to 127.0.0.1:8081). It uses the
	// site's TLS certificates when TLS is on. If it cannot listen there, the
	// site serves without an admin area (the error is logged).
	AdminAddr string
	// MetricsAddr is where ListenAndServeMetrics serves /metrics to a
	// scraper ("": no metrics listener). On the site's own listener only a
	// MetricsToken bearer or a signed-in admin may read /metrics.
	MetricsAddr string
	// MetricsToken, at least 16 characters, lets a scraper read /metrics
	// with "Authorization: Bearer <token>", on either listener; on the
	// metrics listener it is then required ("": no token).
	MetricsToken string
	// MemoryLimitPages caps each module instance's memory (2048 = 128 MiB).
	MemoryLimitPages uint32
	// Pool is the per-module instance pool template.
	Pool engine.PoolConfig
	// StatementTimeout is each module role's statement_timeout (5s).
	StatementTimeout time.Duration
	// ModuleStorageQuota is each module's storage quota unless the owner
	// set its own (1 GiB); see sandboxdb.Broker.CheckStorage.
	ModuleStorageQuota int64
	// StorageCheckEvery is how often module storage is measured (10s).
	StorageCheckEvery time.Duration
	// DatabaseLimits bound the embedded PostgreSQL (pgembed.DefaultLimits).
	DatabaseLimits pgembed.Limits
	Logger         hclog.Logger
	// Outbound configures modules' outbound HTTP (http.fetch): the origins
	// the owner lets reach non-public addresses (PrivateOrigins), time-outs
	// and size caps (package outbound's defaults). Logger and Metrics are
	// the server's.
	Outbound outbound.Config
	// Mail is the owner's mail relay for modules' e-mail (mail.send):
	// Relay, From, Password, rates (package mail's defaults; no relay: a
	// send fails saying so). Logger and Metrics are the server's. See mail.go.
	Mail mail.Config
	// JobClock is the clock of scheduled jobs (time.Now): tests move it.
	JobClock func() time.Time
	// Realtime bounds the realtime hub (/ws): connections, subscriptions,
	// frame and event sizes, queues, rates, timeouts, retention (the
	// defaults of realtime.Limits; sdk/ABI.md section 11).
	Realtime realtime.Limits
	// Telemetry is the admin area's metrics history (telemetry.Config's
	// defaults; Gatherer and Logger are the server's) and Logs its store
	// of recent log entries (logstore.Config's defaults). See telemetry.go.
	Telemetry telemetry.Config
	Logs      logstore.Config
	// ResponseCache bounds the host's cache of the responses modules mark
	// cacheable (respcache.Config's defaults: 64 MiB, a quarter per
	// module); a negative MaxBytes turns it off. See respcache.go.
	ResponseCache respcache.Config
	// Listen opens Serve's own listeners: the admin area's, the metrics
	// one (ListenAndServeMetrics) and the HTTP redirect (net.Listen).
	// `websonic serve` passes its restarter's (package restart), so that a
	// graceful restart hands them to the new process.
	Listen func(network, addr string) (net.Listener, error)
	// Serving, when set, is called once, when Serve serves on all its
	// listeners: the moment a graceful restart may tell the old process to
	// go (see Ready).
	Serving func()
	// SelfUpdate is the runtime's self-update (updater.RuntimeConfig; the
	// zero value does nothing). It needs Registry.
	SelfUpdate updater.RuntimeConfig
	// Backup is where backups go and what opens them; the schedule runs
	// in Serve (backup.go).
	Backup BackupConfig
	// PublicURL is the site's public address, which the migration
	// portal's one-time links start with ("": https:// and the first of
	// TLS.ACMEDomains, else http:// and Addr).
	PublicURL string
	// MaxMoveArchive caps a site archive the migration portal receives,
	// uploaded or downloaded (64 GiB).
	MaxMoveArchive int64
}

// Server is a running Web Sonic runtime.
type Server struct {
	cfg     Config
	log     hclog.Logger
	db      *database
	site    *site.Site
	engine  *engine.Engine
	host    *modhost.Host
	broker  *sandboxdb.Broker
	reg     *prometheus.Registry
	updater *updater.Updater // nil without a Registry
	local   *localModules    // nil without a ModulesDir
	queue   *requestq.Queue  // the owner's requests (commands.go)
	jobs    *jobs.Scheduler  // scheduled jobs (jobs.go)
	keys    *privacy.Keyring
	hub     *realtime.Hub
	catalog *i18n.Catalog // the runtime's messages (package locales)
	look    *appearance   // the site's settings and theme (appearance.go)
	state   atomic.Pointer[serving]
	mu      sync.Mutex // serialises module starts, swaps and Close
	handler http.Handler
	// adminHandler serves the admin area on its own origin (admin.go).
	adminHandler http.Handler
	adminArea    *admin.Area
	portal       *portal            // the migration portal (admin_migration.go)
	backups      *adminBackups      // the admin area's backups page (backup_admin.go)
	telemetry    *telemetry.Sampler // telemetry.go
	logs         *logstore.Store
	themes       themeHooks    // the site's theme hooks (themes.go)
	mstate       *moduleState  // the owner's choices per module (modstate.go)
	mail         *mail.Service // mail.send (mail.go)
}

// serving is what the server serves: the running modules and their routes,
// switched together in one atomic store (under mu) and never changed after.
type serving struct {
	modules []*modhost.Module
	routes  *routeTable
	assets  []servedAssets // see assets.go
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
	if cfg.StorageCheckEvery <= 0 {
		cfg.StorageCheckEvery = 10 * time.Second
	}
	if cfg.Listen == nil {
		cfg.Listen = net.Listen
	}
	if cfg.TLS.Listen == nil {
		cfg.TLS.Listen = cfg.Listen
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.RolePrefix != "" {
		if err := dbroles.CheckPrefix(cfg.RolePrefix); err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
	}
	if cfg.MetricsToken != "" && len(cfg.MetricsToken) < minMetricsToken {
		return nil, fmt.Errorf("server: metrics token: use at least %d characters (e.g. openssl rand -hex 32)", minMetricsToken)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, reg: prometheus.NewRegistry()}
	if err := s.openTelemetry(); err != nil { // first: it tees s.log into the log store
		return nil, err
	}
	s.state.Store(&serving{routes: &routeTable{}})
	defer func() {
		if err != nil {
			s.Close(context.Background())
		}
	}()
	if s.catalog, err = locales.Catalog(); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if s.db, err = openDatabase(ctx, cfg, "websonic runtime", false, s.log); err != nil {
		return nil, err
	}
	if s.look, err = s.openAppearance(ctx); err != nil {
		return nil, err
	}
	s.SetThemeHooks(s.look.hooks()) // appearance.go: themes from the registry are the site's too
	if s.site, err = site.New(site.Config{
		Pool: s.db.Pool, Logger: s.log, SecureCookies: cfg.SecureCookies, Nav: s.nav, Catalog: s.catalog, Look: s.look.current,
		GenericLoginErrors: cfg.GenericLoginErrors, ExportUser: s.ExportUser, Now: cfg.JobClock, // privacy.go
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
	if v := cfg.SelfUpdate.Version; v != "" { // which build serves, across graceful restarts and self-updates
		s.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "websonic_build_info", Help: "The running runtime's version (label version); always 1.",
			ConstLabels: prometheus.Labels{"version": v},
		}, func() float64 { return 1 }))
	}
	s.broker = sandboxdb.New(sandboxdb.Config{
		DB: s.db.Pool, Roles: s.db.Roles, StatementTimeout: cfg.StatementTimeout, StorageQuota: cfg.ModuleStorageQuota,
		Logger: s.log.Named("sandboxdb"),
	})
	// The host services modules reach through abi.ImportHost, by name;
	// each service registers its names here before any module starts.
	services := map[string]modhost.Service{}
	obc := cfg.Outbound
	obc.Logger, obc.Metrics = s.log.Named("outbound"), s.reg
	if services[abi.ServiceFetch], err = outbound.New(obc); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if s.keys, err = privacy.Load(ctx, privacy.Config{Dir: cfg.DataDir, Env: cfg.SiteKey, DB: s.db.Pool, Logger: s.log}); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	s.keys.Register(services)
	if err := s.openMail(services); err != nil { // mail.go
		return nil, err
	}
	usersvc.Register(services, s.site.Store(), s.log.Named("usersvc"))
	s.registerStatus(services) // status.go
	if s.hub, err = s.openRealtime(ctx, services); err != nil {
		return nil, err
	}
	respCache := s.openResponseCache(services) // respcache.go
	s.host = modhost.New(modhost.Config{
		Cache:          respCache,
		Services:       services,
		Engine:         s.engine,
		Broker:         s.broker,
		Pool:           cfg.Pool,
		UserOf:         abiUser,
		RequestID:      func(r *http.Request) string { return RequestID(r.Context()) },
		Metrics:        modhost.NewMetrics(s.reg, s.Modules),
		PrivateCookies: []string{site.SessionCookie, site.DeviceCookie, admin.AdminCookie},
		Layout:         s.site.Frame,
		Printer:        func(r *http.Request, m *modhost.Module) *i18n.Printer { return s.site.Printer(r).With(s.catalogOf(m)) },
		Logger:         s.log.Named("module"),
	})
	if err := s.openRequestsAndJobs(ctx); err != nil {
		return nil, err
	}
	s.handleUserRequests()                         // userdata.go
	if err := s.openModuleState(ctx); err != nil { // modstate.go
		return nil, err
	}
	if cfg.ModulesDir != "" {
		// Each folder on its own: one that fails is logged and shown on
		// /readyz, and the others serve.
		if s.local, err = openLocal(ctx, s, cfg.ModulesDir); err != nil {
			return nil, err
		}
	}
	if cfg.Registry != "" {
		if len(cfg.TrustedRoot) == 0 {
			return nil, errors.New("server: a registry needs its pinned root (--trusted-root root.json, from the publisher's `websonic keys init`)")
		}
		if s.updater, err = updater.New(ctx, updater.Config{
			Registry: cfg.Registry, Root: cfg.TrustedRoot, Dir: filepath.Join(cfg.DataDir, "updates"), Pool: s.db.Pool,
			Runtime: swapper{s}, Interval: cfg.UpdateInterval, Token: cfg.RegistryToken, Limits: cfg.UpdateLimits, Logger: s.log.Named("updater"),
			RegistryCA: cfg.RegistryCA, PlainLoopback: cfg.PlainLoopbackRegistry, Queue: s.queue,
			ValidateTheme: s.validateTheme, ThemesChanged: s.themesChanged, ThemeInUse: s.themeInUse, // themes.go
			SelfUpdate: cfg.SelfUpdate,
		}); err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
		if err := s.updater.Boot(ctx); err != nil {
			s.log.Error("some installed modules did not start; the others serve", "error", err)
		}
		s.look.setSource(theme.Combine(installedThemes{s}, theme.Bundled()))
		s.look.installedChanged(ctx)
	} else {
		s.warnUnserved(ctx)
	}
	s.handleModuleRequests() // localapproval.go: approve (local modules too), uninstall, export
	if s.portal, err = s.openPortal(); err != nil {
		return nil, err
	}
	s.backups = s.openAdminBackups() // backup_admin.go
	s.handler = s.router()
	if s.adminArea, err = s.openAdmin(); err != nil {
		return nil, err
	}
	s.adminHandler = s.adminRouter(s.adminArea)
	if n, err := s.site.Store().CountAdmins(ctx); err == nil && n == 0 {
		s.log.Warn("this site has no admin yet: run `websonic admin create --username NAME` (the site may keep running)")
	}
	return s, nil
}

// warnUnserved names the modules installed from a registry that a runtime
// started without one does not serve: only the updater serves them (from
// its store, verified against the pinned root), and it needs the registry.
func (s *Server) warnUnserved(ctx context.Context) {
	ins, err := updater.ListFrom(ctx, s.db.Pool)
	if err != nil {
		s.log.Warn("could not list the modules installed from a registry", "error", err)
		return
	}
	var unserved []string
	for _, in := range ins {
		if s.Module(in.Name) == nil { // not loaded from --modules-dir either
			unserved = append(unserved, in.Name+"@"+in.Version)
		}
	}
	if len(unserved) > 0 {
		s.log.Warn("modules installed from a registry are not served: start with --registry URL --trusted-root FILE (as when they were installed) to serve and update them",
			"modules", unserved)
	}
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
	ap = s.withStoredConfig(ctx, p.Manifest, ap)
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
	s.state.Store(&serving{modules: append(slices.Clone(cur.modules), m), routes: routes, assets: assetsAfter(cur.assets, m, nil)})
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
// gracefully (in-flight requests get 15 s); over HTTPS when cfg.TLS is
// enabled.
func (s *Server) ListenAndServe(ctx context.Context) error {
	ln, err := s.cfg.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends, over TLS when cfg.TLS is enabled
// (ln is then wrapped; a certificate that does not load is an error).
// Meanwhile it follows the registry (Config.Registry) and the modules
// folder (Config.ModulesDir) for new versions, and measures module storage.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	ln, scheme, tlsErr := tlsserve.Wrap(ctx, s.cfg.TLS, ln, s.cfg.DataDir, s.log)
	if tlsErr != nil {
		return fmt.Errorf("server: %w", tlsErr)
	}
	defer ln.Close()
	hs := newHTTPServer(s.handler, s.log)
	fresh := trackFresh(hs) // drain.go
	s.log.Info("serving", "url", scheme+"://"+ln.Addr().String())
	if s.cfg.AdminAddr != "" {
		var tlsCfg *tls.Config
		if tl, ok := ln.(interface{ TLSConfig() *tls.Config }); ok && scheme == "https" {
			tlsCfg = tl.TLSConfig()
		}
		// A busy admin port leaves the site serving, without an admin area:
		// the site's users should not pay for it.
		if stopAdmin, err := s.serveAdmin(tlsCfg); err != nil {
			s.log.Error("the admin area is not served", "addr", s.cfg.AdminAddr, "error", err)
		} else {
			defer func() {
				sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				defer cancel()
				stopAdmin(sctx)
			}()
		}
	}
	if s.updater != nil {
		// Waited for: a request the updater's queue took is answered
		// before Serve returns and the database closes.
		uctx, stop := context.WithCancel(ctx)
		updated := make(chan struct{})
		go func() { defer close(updated); s.updater.Run(uctx) }()
		defer func() { stop(); <-updated }()
	}
	stopRequestsAndJobs := s.serveRequestsAndJobs(ctx)
	defer s.startBackups(ctx)() // backup.go
	defer s.serveTelemetry(ctx)()
	defer stopRequestsAndJobs()
	bctx, stopStorage := context.WithCancel(ctx)
	defer stopStorage()
	go s.broker.WatchStorage(bctx, s.cfg.StorageCheckEvery)
	if s.local != nil { // swap in rebuilt local modules (reload.go)
		stop := s.local.watch(ctx)
		defer stop()
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	if s.cfg.Serving != nil {
		s.cfg.Serving()
	}
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
	err = errors.Join(err, drain(sctx, hs, ln, fresh, errc))
	return err
}

// newHTTPServer is an http.Server with the runtime's timeouts and limits.
func newHTTPServer(h http.Handler, log hclog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	}
}

// Close stops modules, the engine, the site and the database, in that
// order. It waits for a Start or Swap in progress.
func (s *Server) Close(ctx context.Context) error {
	// Before taking s.mu: the module state's follower may be taking a
	// switched-in site up (followSiteSwitch), which stops and starts
	// modules under s.mu; it ends on the cancel.
	s.closeModuleState()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.portal.close()
	s.backups.close()
	var err error
	if s.hub != nil { // its sockets first: they call modules
		s.hub.Close()
	}
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
	s.look.close()
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

	if len(s.cfg.TrustedProxies) > 0 {
		s.log.Info("believing X-Forwarded-For and X-Forwarded-Proto from trusted proxies", "proxies", s.cfg.TrustedProxies)
	}
	r.Use(clientaddr.New(s.cfg.TrustedProxies).Middleware, warnUntrustedProxy(s.log), securityHeaders)
	r.Use(requestID, accessLog(httpLog, requests, latency), recoverer(httpLog))
	r.Use(crossOrigin())
	r.Get("/healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	r.Get("/readyz", s.ready)
	r.Handle(assetserve.Root+"*", http.HandlerFunc(s.serveAsset)) // public, cookie-free
	r.Get(realtime.ClientScriptPath, realtime.ClientScript)
	r.Handle(appearanceRoot+"*", http.HandlerFunc(s.look.serveStatic))                                  // the logo and the theme's assets: public, cookie-free
	r.With(s.site.BlockedAddresses).Handle(movelink.LinkPath+"*", http.HandlerFunc(s.portal.serveLink)) // one-time links: cookie-free
	r.Group(func(r chi.Router) {
		r.Use(s.site.BlockedAddresses, s.site.Sessions)
		r.Handle("/metrics", s.metricsAccess(s.metrics()))
		r.Get("/ws", s.hub.ServeHTTP)
		s.site.Routes(r)
		r.NotFound(s.serveModule) // module routes live in the swappable route table
	})
	return r
}

// Ready reports whether the runtime can serve what /readyz checks: its
// database answers (within 2 s). Module problems do not make it unready:
// /readyz lists them and the other modules serve.
func (s *Server) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := s.db.Pool.Ping(ctx); err != nil {
		return fmt.Errorf("server: database unavailable: %w", err)
	}
	return nil
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	if err := s.Ready(r.Context()); err != nil {
		http.Error(w, "database unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ready\n"))
	for _, p := range s.ModuleProblems() {
		fmt.Fprintln(w, p)
	}
}

// nav lists the module links the user may see, each label translated by
// its module's catalogue into p's language.
func (s *Server) nav(u *site.User, p *i18n.Printer) []site.NavLink {
	var links []site.NavLink
	for _, m := range s.enabledModules() {
		mp := p.With(s.catalogOf(m))
		for _, n := range m.Manifest().Capabilities.Nav {
			if need, ok := roleOf[n.Access]; ok && !u.Has(need) {
				continue
			}
			links = append(links, site.NavLink{Label: mp.T(n.Label), Path: n.Path})
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
