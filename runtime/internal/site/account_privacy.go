package site

import (
	"bytes"
	"context"
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/websonic/websonic/internal/i18n"
	"github.com/websonic/websonic/runtime/internal/theme"
)

// The account's privacy page (/account/privacy): the signed-in user
// downloads what the site keeps about them (Config.ExportUser, at most
// once per ExportEvery) and deletes their account: after their password,
// the account is scheduled for erasure after the owner's grace period and
// every session of theirs ends; signing in before it is due offers to
// cancel. The erasure itself is the runtime's job (it calls every
// module's erasure entry point).

// ExportEvery is how often a user may download their data.
const ExportEvery = 10 * time.Minute

// privacyPage is the privacy page's fragment, in the site's layout.
var privacyPage = template.Must(template.New("privacy").Parse(`<h1>{{.T "Your data"}}</h1>
{{- if .Message}}<p class="notice" role="status">{{.Message}}</p>{{end}}
{{- if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
{{- if .Due}}
<section class="card" aria-labelledby="pending">
<h2 id="pending">{{.T "Your account is about to be deleted"}}</h2>
<p>{{.T "You asked to delete your account. It will be erased on {due} (UTC), with what every part of the site keeps about you." "due" .Due}}</p>
<form method="post" action="/account/privacy/cancel"><button id="cancel-erasure">{{.T "Keep my account"}}</button></form>
</section>
{{- end}}
<section class="card" aria-labelledby="download">
<h2 id="download">{{.T "Download my data"}}</h2>
<p>{{.T "A zip archive of what the site keeps about you: your account, the addresses you signed in from, the audit entries about you, and each module's part."}}</p>
<form method="post" action="/account/privacy/export"><button id="download-data">{{.T "Download my data"}}</button></form>
</section>
{{- if not .Due}}
<section class="card" aria-labelledby="delete">
<h2 id="delete">{{.T "Delete my account"}}</h2>
<p>{{.T "Your account will be erased after {days} days, with what every part of the site keeps about you; messages others need stay, without your name. You are signed out everywhere at once; sign in before then to cancel." "days" .Grace}}</p>
<form method="post" action="/account/privacy/delete">
<label for="erase-password">{{.T "Your password"}}</label>
<input id="erase-password" name="password" type="password" autocomplete="current-password" required>
<button id="delete-account">{{.T "Delete my account"}}</button>
</form>
</section>
{{- end}}`))

type privacyData struct {
	*i18n.Printer
	Message, Error, Due string
	Grace               int
}

// privacyRoutes registers the account's privacy page on r (Routes calls
// it).
func (s *Site) privacyRoutes(r chi.Router) {
	r.Get("/account/privacy", s.handlePrivacy)
	r.Post("/account/privacy/export", s.handleExportSelf)
	r.Post("/account/privacy/delete", s.handleEraseSelf)
	r.Post("/account/privacy/cancel", s.handleCancelErasure)
}

// showPrivacy renders the privacy page for u with a message or an error.
func (s *Site) showPrivacy(w http.ResponseWriter, r *http.Request, u *User, status int, message, errText string) {
	p := s.Printer(r)
	ctx := r.Context()
	due, err := s.store.ErasurePending(ctx, u.ID)
	if err != nil {
		s.fail(w, r, "reading a pending erasure failed", err)
		return
	}
	ps, err := s.store.PrivacySettings(ctx)
	if err != nil {
		s.fail(w, r, "reading the privacy settings failed", err)
		return
	}
	d := privacyData{Printer: p, Message: message, Error: errText, Grace: ps.EraseGraceDays}
	if !due.IsZero() {
		d.Due = due.UTC().Format("2006-01-02 15:04")
	}
	var buf bytes.Buffer
	if err := privacyPage.Execute(&buf, d); err != nil {
		s.fail(w, r, "rendering the privacy page failed", err)
		return
	}
	s.Frame(w, r, status, p.T("Your data"), buf.Bytes(), pageCSP)
}

// member is the signed-in user, or nil after answering with Deny.
func (s *Site) member(w http.ResponseWriter, r *http.Request) *User {
	u := UserFrom(r.Context())
	if !u.Has(RoleMember) {
		s.Deny(w, r, u, RoleMember)
		return nil
	}
	return u
}

func (s *Site) handlePrivacy(w http.ResponseWriter, r *http.Request) {
	if u := s.member(w, r); u != nil {
		s.showPrivacy(w, r, u, http.StatusOK, "", "")
	}
}

// exportedRecently says whether user id downloaded their data within
// ExportEvery (the audit log knows, across replicas).
func (s *Site) exportedRecently(ctx context.Context, id int64) (bool, error) {
	var recent bool
	err := s.cfg.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM websonic.audit_log WHERE actor_id = $1 AND action = 'user.export'
		AND subject = $1::bigint::text AND at > now() - make_interval(secs => $2))`, id, ExportEvery.Seconds()).Scan(&recent)
	return recent, err
}

func (s *Site) handleExportSelf(w http.ResponseWriter, r *http.Request) {
	u := s.member(w, r)
	if u == nil {
		return
	}
	p := s.Printer(r)
	if s.cfg.ExportUser == nil {
		s.showPrivacy(w, r, u, http.StatusServiceUnavailable, "", p.T("Downloads are not available on this site."))
		return
	}
	switch recent, err := s.exportedRecently(r.Context(), u.ID); {
	case err != nil:
		s.fail(w, r, "checking the export rate failed", err)
		return
	case recent:
		w.Header().Set("Retry-After", strconv.Itoa(int(ExportEvery.Seconds())))
		s.showPrivacy(w, r, u, http.StatusTooManyRequests, "", p.T("You downloaded your data a few minutes ago. Please wait {minutes} minutes between downloads.", "minutes", int(ExportEvery.Minutes())))
		return
	}
	var buf bytes.Buffer
	if err := s.cfg.ExportUser(r.Context(), u.ID, &buf); err != nil && buf.Len() == 0 {
		s.fail(w, r, "exporting a user's data failed", err)
		return
	} else if err != nil {
		s.log.Warn("a user's export is incomplete", "user", u.Username, "error", err) // the archive's manifest says which part
	}
	h := w.Header()
	h.Set("Content-Type", "application/zip")
	h.Set("Content-Disposition", `attachment; filename="`+u.Username+`-data.zip"`) // usernames are a-z, 0-9, '.', '_', '-'
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.Write(buf.Bytes()) //nolint:errcheck // the client went away
}

func (s *Site) handleEraseSelf(w http.ResponseWriter, r *http.Request) {
	u := s.member(w, r)
	if u == nil {
		return
	}
	if err := parseForm(w, r); err != nil {
		s.badForm(w, r, err)
		return
	}
	p := s.Printer(r)
	// The password again, through the login guard (rate limits, audited
	// failures): a stolen session alone cannot delete the account.
	if _, err := s.CheckLogin(w, r, u.Username, r.PostForm.Get("password")); err != nil {
		status, msg := s.LoginFailureIn(w, p, err)
		if status == http.StatusInternalServerError {
			s.fail(w, r, "checking the password failed", err)
			return
		}
		s.showPrivacy(w, r, u, status, "", msg)
		return
	}
	due, err := s.store.RequestErasure(r.Context(), Actor{UserID: u.ID}, u.ID, s.now())
	switch {
	case errors.Is(err, ErrLastAdmin):
		s.showPrivacy(w, r, u, http.StatusConflict, "", p.T("You are the site's last admin: make someone else an admin before deleting your account."))
		return
	case err != nil:
		s.fail(w, r, "requesting an erasure failed", err)
		return
	}
	s.log.Info("user asked to delete their account", "user", u.Username, "due", due)
	s.clearSessionCookie(w, r)
	r = r.WithContext(WithUser(r.Context(), nil)) // the page shows them signed out, as they are
	s.render(w, r, http.StatusOK, theme.PageError, pageData{Title: i18n.Key("Account deletion requested"),
		Message: p.T("Your account will be erased on {due} (UTC). You have been signed out everywhere. To keep your account, sign in before then.", "due", due.UTC().Format("2006-01-02 15:04")), SignIn: true})
}

func (s *Site) handleCancelErasure(w http.ResponseWriter, r *http.Request) {
	u := s.member(w, r)
	if u == nil {
		return
	}
	p := s.Printer(r)
	if _, err := s.store.CancelErasure(r.Context(), Actor{UserID: u.ID}, u.ID); err != nil {
		s.fail(w, r, "cancelling an erasure failed", err)
		return
	}
	s.log.Info("user cancelled the deletion of their account", "user", u.Username)
	s.showPrivacy(w, r, u, http.StatusOK, p.T("Your account is kept: the deletion is cancelled."), "")
}

// erasureAllows reports whether r is one of the few requests a user
// whose erasure is pending may make: their privacy page (to cancel, or to
// download their data first) and signing out.
func erasureAllows(r *http.Request) bool {
	switch r.URL.Path {
	case "/account/privacy":
		return r.Method == http.MethodGet || r.Method == http.MethodHead
	case "/account/privacy/cancel", "/account/privacy/export", "/logout":
		return r.Method == http.MethodPost
	}
	return false
}

// pendingErasure answers a request of a user whose erasure is pending
// that erasureAllows refuses: a page they open leads to their privacy
// page, anything else (a form, an API call, the realtime socket) is
// refused with 403 saying why. Nothing reaches a module.
func (s *Site) pendingErasure(w http.ResponseWriter, r *http.Request) {
	if (r.Method == http.MethodGet || r.Method == http.MethodHead) && r.Header.Get("Upgrade") == "" {
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, "/account/privacy", http.StatusSeeOther)
		return
	}
	p := s.Printer(r)
	s.render(w, r, http.StatusForbidden, theme.PageError, pageData{Title: i18n.Key("Account deletion requested"),
		Message: p.T("Your account is about to be deleted. Keep it from your account's privacy page to use the site again.")})
}

// now is the site's clock (Config.Now).
func (s *Site) now() time.Time {
	if s.cfg.Now != nil {
		return s.cfg.Now()
	}
	return time.Now()
}
