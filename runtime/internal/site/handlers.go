package site

import (
	"bytes"
	"errors"
	"html/template"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/websonic/websonic/internal/i18n"
	"github.com/websonic/websonic/runtime/internal/coredb"
	"github.com/websonic/websonic/runtime/internal/theme"
)

// maxFormBytes bounds the body of the site's forms.
const maxFormBytes = 64 << 10

// formValues is what the forms give back to the user after an error (never
// the password).
type formValues struct {
	Username, DisplayName, Email string
}

// pageData is what a handler hands to render: Title is a catalogue key
// (translated at render, but a module's title), Error and Message are
// already translated.
type pageData struct {
	Title   string
	Error   string        // the form's error message, if any
	Next    string        // where to go after login or registration
	Form    formValues    // what the user typed
	Message string        // error.html's text
	SignIn  bool          // error.html offers a sign-in link
	Content template.HTML // frame.html's body: a module's HTML fragment
	Audit   *auditPage    // audit.html's entries
}

// Routes registers the core pages on r. They expect Sessions to run before
// them (r.Use(s.Sessions)).
func (s *Site) Routes(r chi.Router) {
	r.Get("/", s.handleHome)
	r.Get("/register", s.handleRegisterForm)
	r.Post("/register", s.handleRegister)
	r.Get("/login", s.handleLoginForm)
	r.Post("/login", s.handleLogin)
	r.Post("/logout", s.handleLogout)
	r.Get("/account", s.handleAccount)
	r.Get("/account/audit", s.handleAudit)
	s.privacyRoutes(r) // account_privacy.go
}

// render writes page with status, filling in the parts every page shows.
// Frame renders a module's HTML fragment inside the site's layout, with
// the navigation and sign-in state, under title and the
// Content-Security-Policy csp, which the module host builds so that the
// page runs only the module version's signed asset scripts (see
// RATIONALE.md). The fragment is the module's own markup and is not
// escaped.
func (s *Site) Frame(w http.ResponseWriter, r *http.Request, status int, title string, fragment []byte, csp string) {
	if title == "" {
		title = s.look().Site.Name
	}
	s.renderCSP(w, r, status, theme.PageFrame, pageData{Title: title, Content: template.HTML(fragment)}, csp)
}

// pageCSP is the policy of the site's own pages: no script at all; styles,
// images and fonts from the site (the theme's assets, the logo), and the
// inline style that carries the owner's accent colour.
const pageCSP = "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func (s *Site) render(w http.ResponseWriter, r *http.Request, status int, page string, d pageData) {
	s.renderCSP(w, r, status, page, d, pageCSP)
}

func (s *Site) renderCSP(w http.ResponseWriter, r *http.Request, status int, page string, d pageData, csp string) {
	look := s.look()
	p := s.printerFor(r, look)
	u := UserFrom(r.Context())
	tp := theme.NewPage(p)
	tp.Site = look.Site
	tp.Title = d.Title
	if page != theme.PageFrame { // a module's title is its own
		tp.Title = p.T(d.Title)
	}
	tp.User = themeUser(u)
	if s.cfg.Nav != nil {
		for _, l := range s.cfg.Nav(u, p) {
			tp.Nav = append(tp.Nav, theme.Link{Label: l.Label, Path: l.Path})
		}
	}
	tp.Error, tp.Next, tp.Message, tp.SignIn, tp.Content = d.Error, d.Next, d.Message, d.SignIn, d.Content
	tp.Form = theme.Form{Username: d.Form.Username, DisplayName: d.Form.DisplayName, Email: d.Form.Email}
	tp.Audit = d.Audit.forTheme()
	tp.PasswordMin = minPasswordLen
	buf := bufPool.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 1<<20 {
			buf.Reset()
			bufPool.Put(buf)
		}
	}()
	if err := look.Theme.Render(buf, page, tp); err != nil {
		s.log.Error("rendering page failed", "page", page, "theme", look.Theme.Name(), "error", err)
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Language", p.Lang())
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", csp)
	h.Set("Content-Length", strconv.Itoa(buf.Len())) // also right for HEAD, whose body net/http drops
	h.Add("Vary", "Accept-Language")
	w.WriteHeader(status)
	w.Write(buf.Bytes()) //nolint:errcheck // the client went away
}

// bufPool holds the pages' render buffers.
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// themeUser is u as themes see it.
func themeUser(u *User) *theme.User {
	if u == nil {
		return nil
	}
	return &theme.User{Username: u.Username, DisplayName: u.DisplayName, Email: u.Email, Roles: u.Roles()}
}

// fail answers an unexpected error with a 500 page; err goes to the log only.
func (s *Site) fail(w http.ResponseWriter, r *http.Request, msg string, err error) {
	s.log.Error(msg, "path", r.URL.Path, "error", err)
	s.render(w, r, http.StatusInternalServerError, theme.PageError, pageData{
		Title: i18n.Key("Error"), Message: formMessage(s.Printer(r), err),
	})
}

// Deny is the one place that answers "not allowed" for a request that needs
// role need: an anonymous GET or HEAD is redirected (303) to the login page,
// which comes back here afterwards; any other anonymous request gets 401; a
// signed-in user without the role gets a 403 page.
func (s *Site) Deny(w http.ResponseWriter, r *http.Request, u *User, need Role) {
	switch {
	case u == nil && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		http.Redirect(w, r, "/login?next="+url.QueryEscape(safeNext(r.URL.RequestURI())), http.StatusSeeOther)
	case u == nil:
		s.render(w, r, http.StatusUnauthorized, theme.PageError, pageData{
			Title: i18n.Key("Sign in required"), Message: s.Printer(r).T("Please sign in to do this."), SignIn: true,
		})
	default:
		s.log.Info("access denied", "user", u.Username, "need", need, "path", r.URL.Path)
		p := s.Printer(r)
		s.render(w, r, http.StatusForbidden, theme.PageError, pageData{
			Title: i18n.Key("Not allowed"), Message: p.T("This page needs the {role} role, which your account does not have.", "role", p.T(string(need))),
		})
	}
}

// roleNames are the roles' names, translated where pages show them.
var roleNames = []string{i18n.Key("admin"), i18n.Key("staff"), i18n.Key("auditor"), i18n.Key("member")}

// NotFound answers a page that does not exist with the theme's error
// page (404).
func (s *Site) NotFound(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusNotFound, theme.PageError, pageData{
		Title: i18n.Key("Page not found"), Message: s.Printer(r).T("There is no page at this address. Check the address, or start again from the home page."),
	})
}

// safeNext returns next when it is a local path ("/..." but not "//..." or
// "/\...", which browsers read as another host), else "/".
func safeNext(next string) string {
	if next == "" || next[0] != '/' || len(next) > 2048 {
		return "/"
	}
	if len(next) > 1 && (next[1] == '/' || next[1] == '\\') {
		return "/"
	}
	// Browsers drop tabs and newlines from URLs ("/\t/evil" is "//evil"):
	// refuse every control character and space.
	for i := 0; i < len(next); i++ {
		if next[i] <= ' ' || next[i] == 0x7f {
			return "/"
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return next
}

// clientIP is the login guard's key for r's client: the host of
// r.RemoteAddr, with IPv6 addresses cut to their /64 (one subscriber's usual
// allocation). The site reads no forwarding header itself: the server's
// clientaddr middleware has already set RemoteAddr to the client that its
// trusted proxies name, and only to that.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// parseForm reads a url-encoded form of at most maxFormBytes.
func parseForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	return r.ParseForm()
}

// badForm answers a form body that cannot be read.
func (s *Site) badForm(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusBadRequest
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		status = http.StatusRequestEntityTooLarge
	}
	s.render(w, r, status, theme.PageError, pageData{Title: i18n.Key("Bad request"), Message: s.Printer(r).T("The form could not be read.")})
}

func (s *Site) handleHome(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, theme.PageHome, pageData{Title: i18n.Key("Welcome")})
}

func (s *Site) handleAccount(w http.ResponseWriter, r *http.Request) {
	u := UserFrom(r.Context())
	if !u.Has(RoleMember) {
		s.Deny(w, r, u, RoleMember)
		return
	}
	s.render(w, r, http.StatusOK, theme.PageAccount, pageData{Title: i18n.Key("Your account")})
}

func (s *Site) handleRegisterForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, theme.PageRegister, pageData{Title: i18n.Key("Create an account"), Next: safeNext(r.URL.Query().Get("next"))})
}

func (s *Site) handleRegister(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		s.badForm(w, r, err)
		return
	}
	d := pageData{
		Title: i18n.Key("Create an account"),
		Next:  safeNext(r.PostForm.Get("next")),
		Form: formValues{
			Username:    r.PostForm.Get("username"),
			DisplayName: r.PostForm.Get("display_name"),
			Email:       r.PostForm.Get("email"),
		},
	}
	ip := clientIP(r)
	var err error
	var u *User
	if err = s.checkAddress(r); err != nil {
		s.log.Warn("registration from a blocked address refused", "ip", ip)
	} else if wait := s.guard.allowRegistration(ip, time.Now()); wait > 0 {
		err = &RateLimitError{Wait: wait}
		s.log.Warn("registration rate limited", "ip", ip, "wait", wait)
	} else {
		u, err = s.store.CreateUser(r.Context(), NewUser{
			Username:    d.Form.Username,
			DisplayName: d.Form.DisplayName,
			Email:       d.Form.Email,
			Password:    r.PostForm.Get("password"),
			Role:        RoleMember,
		})
	}
	if err != nil {
		status := httpStatus(err)
		if status == http.StatusInternalServerError {
			s.fail(w, r, "registration failed", err)
			return
		}
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", strconv.Itoa(retryAfter(err)))
		}
		d.Error = formMessage(s.Printer(r), err)
		s.render(w, r, status, theme.PageRegister, d)
		return
	}
	s.log.Info("user registered", "user", u.Username, "ip", ip)
	s.guard.remember(normalizeUsername(u.Username), s.newDevice(w, r), time.Now())
	if err := s.startSession(w, r, u); err != nil {
		s.fail(w, r, "starting session failed", err)
		return
	}
	http.Redirect(w, r, d.Next, http.StatusSeeOther)
}

func (s *Site) handleLoginForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, theme.PageLogin, pageData{Title: i18n.Key("Log in"), Next: safeNext(r.URL.Query().Get("next"))})
}

func (s *Site) handleLogin(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		s.badForm(w, r, err)
		return
	}
	typed := r.PostForm.Get("username")
	d := pageData{Title: i18n.Key("Log in"), Next: safeNext(r.PostForm.Get("next")), Form: formValues{Username: typed}}
	u, err := s.CheckLogin(w, r, typed, r.PostForm.Get("password"))
	if err != nil {
		status, msg := s.LoginFailureIn(w, s.Printer(r), err)
		if status == http.StatusInternalServerError {
			s.fail(w, r, "login failed", err)
			return
		}
		d.Error = msg
		s.render(w, r, status, theme.PageLogin, d)
		return
	}
	ip := clientIP(r)
	if err := s.startSession(w, r, u); err != nil {
		s.fail(w, r, "starting session failed", err)
		return
	}
	s.log.Info("user logged in", "user", u.Username, "ip", ip)
	if err := coredb.Audit(r.Context(), s.cfg.Pool, u.ID, "user.login", u.Username, map[string]any{"ip": ip}); err != nil {
		s.log.Error("auditing login failed", "error", err)
	}
	if due, err := s.store.ErasurePending(r.Context(), u.ID); err == nil && !due.IsZero() {
		d.Next = "/account/privacy" // it offers to cancel the deletion they asked for
	}
	http.Redirect(w, r, d.Next, http.StatusSeeOther)
}

// CheckLogin checks a sign-in attempt of the user typed with password,
// under the login guard (rate limits, back-off, familiar devices: see
// ratelimit.go), and audits a failure. It is the one password check of
// every sign-in form: the site's and the admin area's. On success it
// returns the user (whose role the caller checks) and may give the
// browser a device cookie; it starts no session. Errors are the site's:
// ErrMissingCredentials, ErrUnknownUser, ErrWrongPassword, a
// *RateLimitError, or a database error; LoginFailure turns them into an
// answer.
func (s *Site) CheckLogin(w http.ResponseWriter, r *http.Request, typed, password string) (*User, error) {
	username := normalizeUsername(typed)
	ip := clientIP(r)
	var u *User
	var err error
	switch {
	case username == "" || password == "":
		err = errMissingCredentials
	default:
		if err = s.checkAddress(r); err != nil {
			s.log.Warn("login from a blocked address refused", "user", logUser(username), "ip", ip, "error", err)
			break
		}
		a, wait, why := s.guard.begin(username, ip, s.deviceID(r), time.Now())
		if wait > 0 {
			err = &RateLimitError{Wait: wait}
			s.log.Warn("login rate limited", "user", logUser(username), "ip", ip, "limit", why, "wait", wait)
			break
		}
		u, err = s.store.Authenticate(r.Context(), username, password)
		o := attemptAborted
		switch {
		case err == nil:
			o = attemptSucceeded
			if !a.familiar {
				// A new id, even if the browser brought one the guard
				// never gave this user: a planted id (a sibling subdomain
				// over plain HTTP) must not become familiar.
				a.device = s.newDevice(w, r)
			}
		case errors.Is(err, ErrUnknownUser), errors.Is(err, ErrWrongPassword):
			o = attemptFailed
		}
		s.guard.end(a, o, time.Now())
	}
	if errors.Is(err, ErrUnknownUser) || errors.Is(err, ErrWrongPassword) {
		reason := "wrong_password"
		if errors.Is(err, ErrUnknownUser) {
			reason = "unknown_user"
		}
		subject := logUser(username)
		s.log.Info("login failed", "user", subject, "reason", reason, "ip", ip)
		if aerr := coredb.Audit(r.Context(), s.cfg.Pool, 0, "user.login_failed", subject, map[string]any{"reason": reason, "ip": ip}); aerr != nil {
			s.log.Error("auditing failed login failed", "error", aerr)
		}
	}
	return u, err
}

// LoginFailure is LoginFailureIn in English.
func (s *Site) LoginFailure(w http.ResponseWriter, err error) (status int, message string) {
	return s.LoginFailureIn(w, nil, err)
}

// LoginFailureIn is the answer to CheckLogin's error: the status and the
// message for the form, translated by p (generic when
// Config.GenericLoginErrors asks for it); it sets Retry-After on w for a
// rate-limited attempt. A 500 status means an unexpected error, for the
// log only.
func (s *Site) LoginFailureIn(w http.ResponseWriter, p *i18n.Printer, err error) (status int, message string) {
	status = httpStatus(err)
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter(err)))
	}
	message = formMessage(p, err)
	if s.cfg.GenericLoginErrors && status == http.StatusUnauthorized {
		message = p.T(genericLoginMessage)
	}
	return status, message
}

// checkAddress refuses a sign-in or registration from a blocked address,
// or one a banned user came from (ErrAddressBlocked).
func (s *Site) checkAddress(r *http.Request) error {
	a, ok := remoteAddr(r)
	if !ok {
		return nil
	}
	return s.store.addressRefused(r.Context(), a)
}

// logUser is username cut to a length fit for logs and the audit log.
func logUser(username string) string {
	if len(username) > maxUserKeyLen {
		return username[:maxUserKeyLen]
	}
	return username
}

// startSession ends the request's current session, if any, and starts a new
// one for u: a fresh token every time, so a planted cookie is worthless.
func (s *Site) startSession(w http.ResponseWriter, r *http.Request, u *User) error {
	if old, _ := s.cookieToken(r); old != nil {
		if err := s.store.deleteSession(r.Context(), old); err != nil {
			s.log.Warn("ending previous session failed", "error", err)
		}
	}
	token := newToken()
	if err := s.store.createSession(r.Context(), token, u.ID, s.cfg.SessionTTL); err != nil {
		return err
	}
	if err := s.store.noteLogin(r.Context(), u.ID); err != nil {
		s.log.Warn("recording a sign-in's time failed", "error", err)
	}
	if p, ok := clientPrefix(r); ok {
		if err := s.store.noteAddress(r.Context(), u.ID, p, true); err != nil {
			s.log.Warn("recording the address of a sign-in failed", "error", err)
		}
	}
	s.setSessionCookie(w, r, token)
	return nil
}

func (s *Site) handleLogout(w http.ResponseWriter, r *http.Request) {
	if token, _ := s.cookieToken(r); token != nil {
		if err := s.store.deleteSession(r.Context(), token); err != nil {
			s.fail(w, r, "logout failed", err)
			return
		}
	}
	s.clearSessionCookie(w, r)
	if u := UserFrom(r.Context()); u != nil {
		s.log.Info("user logged out", "user", u.Username, "ip", clientIP(r))
		if err := coredb.Audit(r.Context(), s.cfg.Pool, u.ID, "user.logout", u.Username, nil); err != nil {
			s.log.Error("auditing logout failed", "error", err)
		}
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
