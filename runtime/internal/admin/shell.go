package admin

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/websonic/websonic/internal/i18n"
	"github.com/websonic/websonic/runtime/internal/site"
)

// Prefix is where the admin area lives on its own origin; "/" redirects
// here.
const Prefix = "/admin"

// Access is who may use a route of the area.
type Access int

const (
	// Admins: users holding the admin role. (The zero Access allows no
	// one: a route must say who may use it.)
	Admins Access = iota + 1
	// Readers: admins and auditors (who only read: the audit log, the
	// system logs, the dashboard).
	Readers
)

func (a Access) String() string {
	switch a {
	case Admins:
		return "admin"
	case Readers:
		return "admin, auditor"
	}
	return "no one"
}

// Allows says whether a user holding roles may use a route of access a.
func (a Access) Allows(roles ...site.Role) bool { return a.allows(&site.User{Granted: roles}) }

// allows says whether u may use a route of access a.
func (a Access) allows(u *site.User) bool {
	switch a {
	case Admins:
		return u.Has(site.RoleAdmin)
	case Readers:
		return u.Has(site.RoleAdmin) || u.Has(site.RoleAuditor)
	}
	return false
}

// mayEnter says whether u may hold an admin session at all.
func mayEnter(u *site.User) bool { return Readers.allows(u) }

// Route is one route of the area, as the route table declares it.
type Route struct {
	Method, Pattern string // Pattern is below Prefix
	Access          Access
	// MaxBody bounds a POST's body (16 KiB when 0); a multipart form may
	// carry files up to it.
	MaxBody int64
	handle  func(w http.ResponseWriter, r *http.Request, q *request)
}

// Routes lists the area's signed-in routes with their access rules (the
// tests walk it: a route without a rule cannot exist).
func (a *Area) Routes() []Route { return a.routes() }

// navItem is an entry of the side navigation.
type navItem struct {
	Path, Label string
	Module      string // a module's admin page: the module (moduleAdminNav)
	Access      Access
}

// request is what a signed-in route's handler gets.
type request struct {
	*session
	p *i18n.Printer
}

// T translates for the request's page.
func (q *request) T(key string, args ...any) string { return q.p.T(key, args...) }

// page is what every template gets: the shell's parts, and Data, the
// page's own.
type page struct {
	*i18n.Printer
	Title string
	User  *site.User
	CSRF  string
	Nav   []navItem
	// ModuleNav are the modules' admin pages (moduleAdminNav), a group of
	// their own.
	ModuleNav []navItem
	Current   string // the path of the page, to mark its entry in Nav
	Error     string
	Message   string
	// Note is secondary, technical text shown small below Message (a
	// runtime's own answer); Detail is technical text folded away below
	// it (an error's reason). Both are untranslated.
	Note, Detail string
	Data         any
}

// When writes a time as every page of the area does: {{$.When .At}}.
func (d page) When(t time.Time) string { return whenIn(d.Printer, t) }

// whenIn writes t for a page in p's language, in the server's time zone,
// named ("30 nov. 2026 14:05 CET"); "" for the zero time.
func whenIn(p *i18n.Printer, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.Local()
	return p.Time(t) + " " + t.Format("MST")
}

// Path joins Prefix and p, for templates: {{$.Path "/modules"}}.
func (page) Path(p string) string { return Prefix + p }

// Has says whether the signed-in user holds role.
func (d page) Has(role string) bool { return d.User.Has(site.Role(role)) }

//go:embed templates/*.html templates/partials/*.html static
var assetFS embed.FS

// parse parses every page of templates/ with the layout and the partial
// templates every page may use (templates/partials).
func parse() (map[string]*template.Template, error) {
	names, err := fs.Glob(assetFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimPrefix(n, "templates/")
		if name == "layout.html" {
			continue
		}
		t, err := template.New(name).Funcs(funcs).ParseFS(assetFS, "templates/layout.html", "templates/partials/*.html", n)
		if err != nil {
			return nil, fmt.Errorf("admin: templates: %w", err)
		}
		pages[name] = t
	}
	return pages, nil
}

// funcs are the templates' helpers beyond the page's methods.
var funcs = template.FuncMap{
	"list": func(xs ...any) []any { return xs },
	"join": strings.Join,
	"query": func(pairs ...any) string { // "a", 1, "b", "x" → a=1&b=x
		v := url.Values{}
		for i := 0; i+1 < len(pairs); i += 2 {
			if s := fmt.Sprint(pairs[i+1]); s != "" {
				v.Set(fmt.Sprint(pairs[i]), s)
			}
		}
		return v.Encode()
	},
}

// printer is the language of r's pages: the owner's choice, then the
// browser's.
func (a *Area) printer(r *http.Request) *i18n.Printer {
	choice := ""
	if a.cfg.Language != nil {
		choice = a.cfg.Language(r.Context())
	}
	return a.cfg.Catalog.Printer(a.cfg.Catalog.Negotiate(choice, r.Header.Get("Accept-Language")))
}

// show renders page name in the shell for q (nil: signed out).
func (a *Area) show(w http.ResponseWriter, r *http.Request, q *request, status int, name string, d page) {
	if q != nil {
		d.Printer, d.User, d.CSRF = q.p, q.user, q.csrf()
		for _, n := range a.nav() {
			if n.Access.allows(q.user) {
				d.Nav = append(d.Nav, n)
			}
		}
		if a.cfg.Extras != nil && Admins.allows(q.user) {
			d.ModuleNav = a.moduleAdminNav(a.cfg.Extras.Names(), q.p.Lang())
		}
	} else if d.Printer == nil {
		d.Printer = a.printer(r)
	}
	d.Current = strings.TrimPrefix(r.URL.Path, Prefix)
	d.Title, d.Message = d.T(d.Title), d.T(d.Message)
	t := a.pages[name]
	if t == nil {
		a.log.Error("no such page", "page", name)
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", d); err != nil {
		a.log.Error("rendering page failed", "page", name, "error", err)
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Language", d.Lang())
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes()) //nolint:errcheck // the client went away
}

// message answers with a short page: a title and a sentence (both
// translated by the caller or here when they are catalogue keys).
func (a *Area) message(w http.ResponseWriter, r *http.Request, q *request, status int, title, msg string) {
	a.show(w, r, q, status, "message.html", page{Title: title, Message: msg})
}

// fail answers an unexpected error: the log says what, the page says
// that something went wrong.
func (a *Area) fail(w http.ResponseWriter, r *http.Request, q *request, msg string, err error) {
	a.log.Error(msg, "path", r.URL.Path, "error", err)
	a.message(w, r, q, http.StatusInternalServerError, i18n.Key("Error"), i18n.Key("Something went wrong; the system log says what."))
}

// guard runs rt for a signed-in user it allows: others are sent to the
// sign-in page (GET) or refused; a POST's form is read (within MaxBody)
// and its CSRF token checked before the handler runs.
func (a *Area) guard(rt Route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := a.current(r.Context(), r)
		if err != nil {
			a.fail(w, r, nil, "reading the admin session failed", err)
			return
		}
		if s == nil {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, Prefix+"/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			a.message(w, r, nil, http.StatusUnauthorized, i18n.Key("Sign in required"), i18n.Key("Please sign in to the admin area."))
			return
		}
		q := &request{session: s, p: a.printer(r)}
		if !rt.Access.allows(s.user) {
			a.log.Warn("admin route refused", "user", s.user.Username, "path", r.URL.Path)
			a.message(w, r, q, http.StatusForbidden, i18n.Key("Not allowed"), i18n.Key("Your role does not give access to this page."))
			return
		}
		if r.Method == http.MethodPost {
			if err := readForm(w, r, rt.MaxBody); err != nil {
				a.message(w, r, q, http.StatusBadRequest, i18n.Key("Bad request"), i18n.Key("The form could not be read."))
				return
			}
			if !s.checkCSRF(r.PostForm.Get("csrf")) {
				a.log.Warn("admin form refused: bad CSRF token", "user", s.user.Username, "path", r.URL.Path)
				a.message(w, r, q, http.StatusForbidden, i18n.Key("Refused"), i18n.Key("The form's token is missing or wrong: reload the page and try again."))
				return
			}
		} else if r.Method != http.MethodGet && r.Method != http.MethodHead && !s.checkCSRF(r.Header.Get(CSRFHeader)) {
			// A script's request (the migration portal's upload): the token in a header.
			a.log.Warn("admin request refused: bad CSRF token", "user", s.user.Username, "path", r.URL.Path)
			http.Error(w, "Forbidden: the request's token is missing or wrong: reload the page and try again", http.StatusForbidden)
			return
		}
		rt.handle(w, r, q)
	}
}

const maxFormBytes = 16 << 10

// CSRFHeader carries the CSRF token of a script's request that is not a
// form post (PUT): the page's token, from its form.
const CSRFHeader = "X-CSRF-Token"

// readForm reads a POST's form, urlencoded or multipart, within max bytes
// (maxFormBytes when 0).
func readForm(w http.ResponseWriter, r *http.Request, max int64) error {
	if max <= 0 {
		max = maxFormBytes
	}
	r.Body = http.MaxBytesReader(w, r.Body, max)
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "multipart/form-data" {
		return r.ParseMultipartForm(max)
	}
	return r.ParseForm()
}

// mount adds the route table to r.
func (a *Area) mount(r chi.Router) {
	for _, rt := range a.routes() {
		r.Method(rt.Method, rt.Pattern, a.guard(rt))
	}
}

// audit records an admin action in the site's audit log.
func (a *Area) audit(ctx context.Context, r *http.Request, actor int64, action, subject string, detail map[string]any) {
	if detail == nil {
		detail = map[string]any{}
	}
	if ip := clientIP(r); ip != "" {
		detail["ip"] = ip
	}
	a.auditDetail(ctx, actor, action, subject, detail)
}
