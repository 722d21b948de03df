package admin

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/runtime/internal/coredb"
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
	Pool    *pgxpool.Pool // required, migrated (websonic.admin_sessions)
	Site    *site.Site    // required: its password check and login guard
	Modules Modules       // required
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

//go:embed templates/*.html
var templateFS embed.FS

var pageNames = []string{"login.html", "modules.html", "message.html"}

// New returns the admin area.
func New(cfg Config) (*Area, error) {
	if cfg.Pool == nil || cfg.Site == nil || cfg.Modules == nil {
		return nil, errors.New("admin: Config.Pool, Site and Modules are required")
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
	a := &Area{cfg: cfg, log: cfg.Logger.Named("admin"), pages: map[string]*template.Template{}}
	for _, name := range pageNames {
		t, err := template.ParseFS(templateFS, "templates/layout.html", "templates/"+name)
		if err != nil {
			return nil, fmt.Errorf("admin: templates: %w", err)
		}
		a.pages[name] = t
	}
	return a, nil
}

// Handler is the admin area's whole HTTP surface, for its own listener.
// The caller adds the runtime's common middleware (client address,
// request id, security headers) around it.
func (a *Area) Handler() http.Handler {
	r := chi.NewRouter()
	r.Use(isolate)
	r.Get("/", a.handleHome)
	r.Get("/login", a.handleLoginForm)
	r.Post("/login", a.handleLogin)
	r.Post("/logout", a.handleLogout)
	r.Post("/modules/approve", a.handleApprove)
	return r
}

// pageCSP: admin pages run no script at all, load nothing from elsewhere,
// post forms only to the admin area, and are never framed.
const pageCSP = "default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; img-src 'self'; " +
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

// pageData is what every template gets.
type pageData struct {
	Title   string
	User    *site.User
	CSRF    string
	Error   string
	Message string
	Form    struct{ Username string }
	Pending []pending
}

// pending is a module whose staged update awaits approval.
type pending struct {
	updater.Installed
	Preview *updater.Preview
	Error   string
}

func (a *Area) render(w http.ResponseWriter, status int, page string, d pageData) {
	var buf bytes.Buffer
	if err := a.pages[page].ExecuteTemplate(&buf, "layout", d); err != nil {
		a.log.Error("rendering page failed", "page", page, "error", err)
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes()) //nolint:errcheck // the client went away
}

func (a *Area) fail(w http.ResponseWriter, r *http.Request, msg string, err error) {
	a.log.Error(msg, "path", r.URL.Path, "error", err)
	a.render(w, http.StatusInternalServerError, "message.html", pageData{Title: "Error", Message: "Something went wrong; the log says what."})
}

// signedIn is r's admin session; without one it answers (a redirect to
// the login page for a GET, 401 otherwise) and returns nil.
func (a *Area) signedIn(w http.ResponseWriter, r *http.Request) *session {
	s, err := a.current(r.Context(), r)
	if err != nil {
		a.fail(w, r, "reading the admin session failed", err)
		return nil
	}
	if s == nil {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
		} else {
			a.render(w, http.StatusUnauthorized, "message.html", pageData{Title: "Sign in required", Message: "Please sign in to the admin area."})
		}
	}
	return s
}

const maxFormBytes = 16 << 10

func parseForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	return r.ParseForm()
}

func (a *Area) handleLoginForm(w http.ResponseWriter, r *http.Request) {
	a.render(w, http.StatusOK, "login.html", pageData{Title: "Admin sign-in"})
}

func (a *Area) handleLogin(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		a.render(w, http.StatusBadRequest, "message.html", pageData{Title: "Bad request", Message: "The form could not be read."})
		return
	}
	d := pageData{Title: "Admin sign-in"}
	d.Form.Username = r.PostForm.Get("username")
	u, err := a.cfg.Site.CheckLogin(w, r, d.Form.Username, r.PostForm.Get("password"))
	if err == nil && !u.Has(site.RoleAdmin) {
		a.log.Warn("admin sign-in refused: not an admin", "user", u.Username)
		a.audit(r.Context(), u.ID, "admin.login_refused", u.Username, map[string]any{"reason": "not an admin"})
		a.render(w, http.StatusForbidden, "login.html", pageData{Title: "Admin sign-in", Error: "Only admins may sign in here."})
		return
	}
	if err != nil {
		status, msg := a.cfg.Site.LoginFailure(w, err)
		if status == http.StatusInternalServerError {
			a.fail(w, r, "admin sign-in failed", err)
			return
		}
		d.Error = msg
		a.render(w, status, "login.html", d)
		return
	}
	if err := a.start(r.Context(), w, r, u); err != nil {
		a.fail(w, r, "starting the admin session failed", err)
		return
	}
	a.log.Info("admin signed in", "user", u.Username)
	a.audit(r.Context(), u.ID, "admin.login", u.Username, nil)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (a *Area) handleLogout(w http.ResponseWriter, r *http.Request) {
	s := a.signedIn(w, r)
	if s == nil {
		return
	}
	if err := parseForm(w, r); err != nil || !s.checkCSRF(r.PostForm.Get("csrf")) {
		a.render(w, http.StatusForbidden, "message.html", pageData{Title: "Refused", Message: "The form's token is missing or wrong."})
		return
	}
	if err := a.end(r.Context(), w, r); err != nil {
		a.fail(w, r, "ending the admin session failed", err)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (a *Area) handleHome(w http.ResponseWriter, r *http.Request) {
	s := a.signedIn(w, r)
	if s == nil {
		return
	}
	d := pageData{Title: "Modules awaiting approval", User: s.user, CSRF: s.csrf()}
	ins, err := a.cfg.Modules.Installed(r.Context())
	if err != nil {
		a.fail(w, r, "listing modules failed", err)
		return
	}
	for _, in := range ins {
		if in.StagedVersion == "" {
			continue
		}
		p := pending{Installed: in}
		ctx, cancel := context.WithTimeout(r.Context(), a.cfg.RequestWait)
		p.Preview, err = a.cfg.Modules.Preview(ctx, in.Name)
		cancel()
		if err != nil {
			p.Error = err.Error()
		}
		d.Pending = append(d.Pending, p)
	}
	a.render(w, http.StatusOK, "modules.html", d)
}

// handleApprove approves a module's staged release: the form names the
// module and the digest of the release the admin was shown, carries the
// session's CSRF token and the admin's password (asked again: approving
// grants a module new powers over the site).
func (a *Area) handleApprove(w http.ResponseWriter, r *http.Request) {
	s := a.signedIn(w, r)
	if s == nil {
		return
	}
	if err := parseForm(w, r); err != nil {
		a.render(w, http.StatusBadRequest, "message.html", pageData{Title: "Bad request", Message: "The form could not be read."})
		return
	}
	if !s.checkCSRF(r.PostForm.Get("csrf")) {
		a.log.Warn("approval refused: bad CSRF token", "user", s.user.Username)
		a.render(w, http.StatusForbidden, "message.html", pageData{Title: "Refused", Message: "The form's token is missing or wrong."})
		return
	}
	module, digest := r.PostForm.Get("module"), r.PostForm.Get("digest")
	if module == "" || digest == "" {
		a.render(w, http.StatusBadRequest, "message.html", pageData{Title: "Bad request", Message: "Name the module and the release."})
		return
	}
	u, err := a.cfg.Site.CheckLogin(w, r, s.user.Username, r.PostForm.Get("password"))
	if err != nil || u.ID != s.user.ID {
		status, msg := a.cfg.Site.LoginFailure(w, err)
		if err == nil || status == http.StatusInternalServerError {
			status, msg = http.StatusForbidden, "Your password was not confirmed."
		}
		a.render(w, status, "message.html", pageData{Title: "Not approved", Message: "Confirm with your password: " + msg})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.RequestWait)
	defer cancel()
	res, err := a.cfg.Modules.Approve(ctx, module, digest)
	a.audit(r.Context(), s.user.ID, "admin.module_approve", module, map[string]any{"digest": digest, "ok": err == nil})
	if err != nil {
		a.log.Warn("approval failed", "user", s.user.Username, "module", module, "error", err)
		a.render(w, http.StatusConflict, "message.html", pageData{Title: "Not approved", User: s.user, Message: err.Error()})
		return
	}
	a.log.Info("module approved", "user", s.user.Username, "module", module, "digest", digest)
	a.render(w, http.StatusOK, "message.html", pageData{Title: "Approved", User: s.user, Message: res})
}

func (a *Area) audit(ctx context.Context, actor int64, action, subject string, detail any) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := coredb.Audit(ctx, a.cfg.Pool, actor, action, subject, detail); err != nil {
		a.log.Error("audit log", "error", err)
	}
}
