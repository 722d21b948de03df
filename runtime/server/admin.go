package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/websonic/websonic/internal/clientaddr"
	"github.com/websonic/websonic/runtime/internal/admin"
	"github.com/websonic/websonic/runtime/internal/updater"
)

// adminModules carries the admin area's module actions through the
// site's module request queue, as the CLI's do (Console); the admin
// area's context bounds each wait.
type adminModules struct{ c *Console }

func (m adminModules) Installed(ctx context.Context) ([]updater.Installed, error) {
	return updater.ListFrom(ctx, m.c.db.Pool)
}

func (m adminModules) Preview(ctx context.Context, module string) (*updater.Preview, error) {
	return m.c.Preview(ctx, ModuleRequest{Action: "approve", Module: module}, RequestOptions{})
}

func (m adminModules) Approve(ctx context.Context, module, digest string) (string, error) {
	return m.c.Request(ctx, ModuleRequest{Action: "approve", Module: module, Digest: digest}, RequestOptions{})
}

// openAdmin builds the admin area (package admin) on the server's site.
func (s *Server) openAdmin() (*admin.Area, error) {
	a, err := admin.New(admin.Config{
		Pool: s.db.Pool, Site: s.site, Modules: adminModules{&Console{db: s.db}}, Catalog: s.catalog,
		Runtime:       adminRuntime{s},
		Extras:        adminExtras{s}, // admin_modextras.go
		SecureCookies: s.cfg.SecureCookies, Logger: s.log,
		Lifecycle: adminLifecycle{s, &Console{db: s.db}},
		Language:  s.look.language, Appearance: adminAppearance{s.look},
		ThemeStore: s.themeStore(),    // admin_themestore.go
		Mail:       s.mail.Describe(), // mail.go
		Privacy:    adminPrivacy{s},   // privacy.go
		Migration:  s.portal,          // admin_migration.go
		Backups:    s.backups,         // backup_admin.go
	})
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	return a, nil
}

// AdminHandler is the admin area's whole HTTP surface, to serve on an
// origin of its own (Config.AdminAddr): never mount it on the site's.
func (s *Server) AdminHandler() http.Handler { return s.adminHandler }

func (s *Server) adminRouter(a *admin.Area) http.Handler {
	r := chi.NewRouter()
	httpLog := s.log.Named("http").Named("admin")
	r.Use(clientaddr.New(s.cfg.TrustedProxies).Middleware, securityHeaders, requestID, recoverer(httpLog))
	r.Use(s.site.BlockedAddresses) // blocked addresses reach no part of the site
	r.Mount("/", a.Handler())
	return r
}

// serveAdmin serves the admin area on cfg.AdminAddr (over TLS with the
// site's certificates when tlsCfg is not nil) until the returned stop
// is called.
func (s *Server) serveAdmin(tlsCfg *tls.Config) (stop func(context.Context) error, err error) {
	ln, err := s.cfg.Listen("tcp", s.cfg.AdminAddr)
	if err != nil {
		return nil, fmt.Errorf("server: admin area: %w", err)
	}
	scheme := "http"
	if tlsCfg != nil {
		ln, scheme = tls.NewListener(ln, tlsCfg), "https"
	}
	hs := newHTTPServer(s.adminHandler, s.log)
	s.log.Info("serving the admin area", "url", scheme+"://"+ln.Addr().String())
	go hs.Serve(ln) //nolint:errcheck // ErrServerClosed at Shutdown
	return hs.Shutdown, nil
}
