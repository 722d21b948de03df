package admin

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"slices"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/internal/i18n"
	"github.com/websonic/websonic/runtime/internal/site"
	"github.com/websonic/websonic/runtime/internal/updater"
)

// Modules is what the admin area does with the site's modules: the same
// requests as `websonic module list|approve`, through the site's module
// request queue (server.Console).
type Modules interface {
	// Installed lists the modules installed from the registry.
	Installed(ctx context.Context) ([]updater.Installed, error)
	// Preview says what approving module's staged update would grant.
	Preview(ctx context.Context, module string) (*updater.Preview, error)
	// Approve approves and installs module's staged release, which must
	// be the one of digest (the one the admin saw); it returns the
	// runtime's answer.
	Approve(ctx context.Context, module, digest string) (string, error)
}

// Config configures an Area. Zero fields take the defaults shown.
type Config struct {
	Pool      *pgxpool.Pool // required, migrated (websonic.admin_sessions)
	Site      *site.Site    // required: its password check and login guard
	Modules   Modules       // required
	Lifecycle Lifecycle     // the Modules pages' actions (modules.go); nil: none
	Extras    ModuleExtras  // the module toggle, settings, commands and pages (extras.go); nil: none
	Catalog   *i18n.Catalog // required: the runtime's messages (package locales)
	// Runtime feeds the dashboard's health, figures and charts and the
	// system logs page (nil: they show none).
	Runtime Runtime
	// Language is the owner's choice of language for the site ("" or nil:
	// the browser's).
	Language func(ctx context.Context) string
	// Appearance is the site's settings and themes (nil: those pages answer 404).
	Appearance Appearance
	ThemeStore ThemeStore // themes from the registry (themestore.go); nil: none
	// Privacy is the record of processing and the privacy rules
	// (privacy.go); nil: those pages answer 404.
	Privacy Privacy
	// Migration is the migration portal (migration.go; nil: its pages
	// answer 404).
	Migration Migration
	// Backups is the site's backups (backups.go; nil: its page answers
	// 404 and the dashboard shows no backup alert).
	Backups Backups
	// Mail says, for the settings page, where modules' e-mail goes: the
	// mail relay and sender, never its password ("": the site has none).
	Mail string
	// SecureCookies makes the session cookie Secure and __Host- prefixed
	// even for a request that did not come over HTTPS as far as the area
	// can tell (as site.Config.SecureCookies).
	SecureCookies bool
	// SessionTTL is an admin session's lifetime (8 hours).
	SessionTTL time.Duration
	// RequestWait bounds the wait for the runtime's answer to a module
	// request (1 minute).
	RequestWait time.Duration
	Logger      hclog.Logger // the area logs to Logger.Named("admin")
}

// Area is the admin area. It is safe for concurrent use.
type Area struct {
	cfg   Config
	log   hclog.Logger
	pages map[string]*template.Template
}

// New returns the admin area.
func New(cfg Config) (*Area, error) {
	if cfg.Pool == nil || cfg.Site == nil || cfg.Modules == nil || cfg.Catalog == nil {
		return nil, errors.New("admin: Config.Pool, Site, Modules and Catalog are required")
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 8 * time.Hour
	}
	if cfg.RequestWait <= 0 {
		cfg.RequestWait = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	pages, err := parse()
	if err != nil {
		return nil, err
	}
	return &Area{cfg: cfg, log: cfg.Logger.Named("admin"), pages: pages}, nil
}

// routes is the area's route table: every signed-in page and action, with
// who may use it. Sign-in and sign-out are the only routes outside it.
func (a *Area) routes() []Route {
	return append([]Route{
		{Method: "GET", Pattern: "/", Access: Readers, handle: a.handleDashboard},
		{Method: "GET", Pattern: "/logs", Access: Readers, handle: a.handleLogs},
		{Method: "GET", Pattern: "/modules", Access: Admins, handle: a.handleModules},
		{Method: "POST", Pattern: "/modules/approve", Access: Admins, handle: a.handleApprove},
		{Method: "GET", Pattern: "/modules/available", Access: Admins, handle: a.handleAvailable},
		{Method: "GET", Pattern: "/modules/install", Access: Admins, handle: a.handleInstallForm},
		{Method: "POST", Pattern: "/modules/install", Access: Admins, handle: a.handleInstall},
		{Method: "GET", Pattern: "/modules/{name}", Access: Admins, handle: a.handleModule},
		{Method: "POST", Pattern: "/modules/{name}/policy", Access: Admins, handle: a.handlePolicy},
		{Method: "POST", Pattern: "/modules/{name}/update", Access: Admins, handle: a.handleUpdateNow},
		{Method: "POST", Pattern: "/modules/{name}/rollback", Access: Admins, handle: a.handleRollback},
		{Method: "POST", Pattern: "/modules/{name}/export", Access: Admins, handle: a.handleExport}, // POST: it queues work and audits
		{Method: "POST", Pattern: "/modules/{name}/uninstall", Access: Admins, handle: a.handleUninstall},
		{Method: "GET", Pattern: "/updates", Access: Admins, handle: a.handleUpdates},
		// Users, IP blocks and the audit log (people.go, blocks.go, audit.go).
		{Method: "GET", Pattern: "/users", Access: Admins, handle: a.handleUsers},
		{Method: "GET", Pattern: "/users/{id}", Access: Admins, handle: a.handleUser},
		{Method: "POST", Pattern: "/users/{id}/roles", Access: Admins, handle: a.handleRole},
		{Method: "POST", Pattern: "/users/{id}/ban", Access: Admins, handle: a.handleBan},
		{Method: "POST", Pattern: "/users/{id}/unban", Access: Admins, handle: a.handleUnban},
		{Method: "POST", Pattern: "/users/{id}/suspend", Access: Admins, handle: a.handleSuspend},
		{Method: "POST", Pattern: "/users/{id}/unsuspend", Access: Admins, handle: a.handleUnsuspend},
		{Method: "POST", Pattern: "/users/{id}/password", Access: Admins, handle: a.handlePassword},
		{Method: "POST", Pattern: "/users/{id}/sessions/end", Access: Admins, handle: a.handleEndSession},
		{Method: "POST", Pattern: "/users/{id}/sessions/end-all", Access: Admins, handle: a.handleEndSessions},
		{Method: "GET", Pattern: "/blocks", Access: Admins, handle: a.handleBlocks},
		{Method: "POST", Pattern: "/blocks", Access: Admins, handle: a.handleBlock},
		{Method: "POST", Pattern: "/blocks/remove", Access: Admins, handle: a.handleUnblock},
		{Method: "GET", Pattern: "/audit", Access: Readers, handle: a.handleAudit},
		{Method: "GET", Pattern: "/settings", Access: Admins, handle: a.handleSettings},
		{Method: "POST", Pattern: "/settings", Access: Admins, handle: a.handleSaveSettings},
		{Method: "GET", Pattern: "/settings/logo", Access: Admins, handle: a.handleLogo},
		{Method: "POST", Pattern: "/settings/logo", Access: Admins, MaxBody: maxLogoForm, handle: a.handleUploadLogo},
		{Method: "GET", Pattern: "/settings/logo/remove", Access: Admins, handle: a.handleRemoveLogoForm},
		{Method: "POST", Pattern: "/settings/logo/remove", Access: Admins, handle: a.handleRemoveLogo},
		{Method: "GET", Pattern: "/themes", Access: Admins, handle: a.handleThemes},
		{Method: "POST", Pattern: "/themes/activate", Access: Admins, handle: a.handleActivateTheme},
		{Method: "GET", Pattern: "/themes/{name}/preview", Access: Admins, handle: a.handlePreview},
		{Method: "GET", Pattern: "/themes/assets/*", Access: Admins, handle: a.handlePreviewAsset},
		{Method: "GET", Pattern: "/themes/available", Access: Admins, handle: a.handleThemeCatalogue}, // themestore.go
		{Method: "GET", Pattern: "/themes/install", Access: Admins, handle: a.handleThemeInstallForm},
		{Method: "POST", Pattern: "/themes/install", Access: Admins, handle: a.handleThemeInstall},
		{Method: "GET", Pattern: "/themes/{name}/manage", Access: Admins, handle: a.handleThemeManage},
		{Method: "POST", Pattern: "/themes/{name}/policy", Access: Admins, handle: a.handleThemePolicy},
		{Method: "POST", Pattern: "/themes/{name}/rollback", Access: Admins, handle: a.handleThemeRollback},
		{Method: "POST", Pattern: "/themes/{name}/uninstall", Access: Admins, handle: a.handleThemeUninstall},
	}, slices.Concat(a.extrasRoutes(), a.privacyRoutes(), a.migrationRoutes(), a.backupRoutes())...) // extras.go, privacy.go, migration.go, backups.go
}

// nav is the side navigation; each entry shows to the users its access
// allows.
func (a *Area) nav() []navItem {
	return []navItem{
		{Path: "/", Label: i18n.Key("Dashboard"), Access: Readers},
		{Path: "/modules", Label: i18n.Key("Modules"), Access: Admins},
		{Path: "/modules/available", Label: i18n.Key("Available modules"), Access: Admins},
		{Path: "/updates", Label: i18n.Key("Updates"), Access: Admins},
		{Path: "/logs", Label: i18n.Key("System logs"), Access: Readers},
		{Path: "/users", Label: i18n.Key("Users"), Access: Admins},
		{Path: "/blocks", Label: i18n.Key("IP blocks"), Access: Admins},
		{Path: "/audit", Label: i18n.Key("Audit log"), Access: Readers},
		{Path: "/settings", Label: i18n.Key("Site settings"), Access: Admins},
		{Path: "/privacy", Label: i18n.Key("Privacy"), Access: Admins},
		{Path: "/backups", Label: i18n.Key("Backups"), Access: Admins},
		{Path: "/themes", Label: i18n.Key("Themes"), Access: Admins},
		{Path: "/themes/available", Label: i18n.Key("Themes you can add"), Access: Admins},
		{Path: "/migration/export", Label: i18n.Key("Move this site"), Access: Admins},
		{Path: "/migration/import", Label: i18n.Key("Move a site here"), Access: Admins},
	}
}

// Handler is the admin area's whole HTTP surface, for its own listener.
// The caller adds the runtime's common middleware (client address,
// request id, security headers) around it.
func (a *Area) Handler() http.Handler {
	r := chi.NewRouter()
	r.Use(isolate)
	r.Get("/", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, Prefix+"/", http.StatusSeeOther) })
	r.Route(Prefix, func(r chi.Router) {
		r.Get("/login", a.handleLoginForm)
		r.Post("/login", a.handleLogin)
		r.Post("/logout", a.handleLogout)
		r.Handle("/static/*", http.StripPrefix(Prefix, http.FileServerFS(assetFS)))
		a.mount(r)
	})
	return r
}

// pageCSP: admin pages run no script at all, load nothing from elsewhere,
// post forms only to the admin area, and are never framed.
const pageCSP = "default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self' data:; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// isolate refuses every request that another origin of the same site (a
// module page on the site's origin: another port of the same host is
// same-site) or another site could have made, but a top-level navigation,
// which changes nothing; and it sets the headers that keep the area's
// pages out of other origins' reach. See the package doc.
func isolate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", pageCSP)
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Referrer-Policy", "same-origin") // not no-referrer: Chromium then sends Origin: null on its own form posts
		h.Set("Cache-Control", "no-store")
		h.Add("Vary", "Sec-Fetch-Site, Sec-Fetch-Mode, Sec-Fetch-Dest, Origin")
		if why := refusal(r); why != "" {
			http.Error(w, "Forbidden: "+why+"\n", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// refusal says why r may not reach the admin area ("" when it may).
func refusal(r *http.Request) string {
	safe := r.Method == http.MethodGet || r.Method == http.MethodHead
	site := r.Header.Get("Sec-Fetch-Site")
	switch site {
	case "same-origin":
	case "none": // typed, bookmarked: the user's own doing
		if !safe {
			return "a state-changing request must come from the admin area's own pages"
		}
	case "":
		// No Fetch Metadata: an old browser or a non-browser client. Reading
		// is allowed; changing is not (no browser we support omits it).
		if !safe {
			return "a state-changing request must carry Sec-Fetch-Site: same-origin"
		}
	default: // same-site (the site's own origin, another port), cross-site
		if !safe || r.Header.Get("Sec-Fetch-Mode") != "navigate" || r.Header.Get("Sec-Fetch-Dest") != "document" {
			return "the admin area answers requests from other origins only as top-level navigations"
		}
	}
	if !safe {
		origin := r.Header.Get("Origin")
		if origin == "" || origin != selfOrigin(r) {
			return "a state-changing request must come from the admin area's own origin"
		}
	}
	return ""
}

// selfOrigin is the admin area's origin as r's client sees it.
func selfOrigin(r *http.Request) string {
	scheme := "http://"
	if r.TLS != nil || clientHTTPS(r) {
		scheme = "https://"
	}
	return scheme + r.Host
}
