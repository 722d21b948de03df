package admin

import (
	"context"
	"github.com/websonic/websonic/internal/i18n"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/websonic/websonic/runtime/internal/coredb"
)

// signInForm is login.html's data.
type signInForm struct {
	Username string
	Next     string
}

// safeNext keeps next only when it is a path of the area itself.
func safeNext(next string) string {
	if !strings.HasPrefix(next, Prefix+"/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return Prefix + "/"
	}
	return next
}

func (a *Area) handleLoginForm(w http.ResponseWriter, r *http.Request) {
	a.show(w, r, nil, http.StatusOK, "login.html", page{Title: i18n.Key("Admin sign-in"), Data: signInForm{Next: safeNext(r.URL.Query().Get("next"))}})
}

func (a *Area) handleLogin(w http.ResponseWriter, r *http.Request) {
	if err := readForm(w, r, 0); err != nil {
		a.message(w, r, nil, http.StatusBadRequest, i18n.Key("Bad request"), i18n.Key("The form could not be read."))
		return
	}
	p := a.printer(r)
	form := signInForm{Username: r.PostForm.Get("username"), Next: safeNext(r.PostForm.Get("next"))}
	u, err := a.cfg.Site.CheckLogin(w, r, form.Username, r.PostForm.Get("password"))
	if err == nil && !mayEnter(u) {
		a.log.Warn("admin sign-in refused: not an admin or auditor", "user", u.Username)
		a.audit(r.Context(), r, u.ID, "admin.login_refused", u.Username, map[string]any{"reason": "not an admin or auditor"})
		a.show(w, r, nil, http.StatusForbidden, "login.html", page{Printer: p, Title: i18n.Key("Admin sign-in"), Data: form,
			Error: p.T("Only admins and auditors may sign in here.")})
		return
	}
	if err == nil && u.ErasePending {
		a.show(w, r, nil, http.StatusForbidden, "login.html", page{Printer: p, Title: i18n.Key("Admin sign-in"), Data: form,
			Error: p.T("Your account is about to be deleted: keep it from your account's privacy page first.")})
		return
	}
	if err != nil {
		status, msg := a.cfg.Site.LoginFailureIn(w, p, err)
		if status == http.StatusInternalServerError {
			a.fail(w, r, nil, "admin sign-in failed", err)
			return
		}
		a.show(w, r, nil, status, "login.html", page{Printer: p, Title: i18n.Key("Admin sign-in"), Data: form, Error: p.T(msg)})
		return
	}
	if err := a.start(r.Context(), w, r, u); err != nil {
		a.fail(w, r, nil, "starting the admin session failed", err)
		return
	}
	a.log.Info("admin signed in", "user", u.Username)
	a.audit(r.Context(), r, u.ID, "admin.login", u.Username, nil)
	http.Redirect(w, r, form.Next, http.StatusSeeOther)
}

func (a *Area) handleLogout(w http.ResponseWriter, r *http.Request) {
	s, err := a.current(r.Context(), r)
	if err != nil {
		a.fail(w, r, nil, "reading the admin session failed", err)
		return
	}
	if s == nil {
		a.message(w, r, nil, http.StatusUnauthorized, i18n.Key("Sign in required"), i18n.Key("Please sign in to the admin area."))
		return
	}
	if err := readForm(w, r, 0); err != nil || !s.checkCSRF(r.PostForm.Get("csrf")) {
		a.message(w, r, nil, http.StatusForbidden, i18n.Key("Refused"), i18n.Key("The form's token is missing or wrong: reload the page and try again."))
		return
	}
	if err := a.end(r.Context(), w, r); err != nil {
		a.fail(w, r, nil, "ending the admin session failed", err)
		return
	}
	http.Redirect(w, r, Prefix+"/login", http.StatusSeeOther)
}

// clientIP is r's client address (the clientaddr middleware has set
// RemoteAddr from trusted proxies' headers).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (a *Area) auditDetail(ctx context.Context, actor int64, action, subject string, detail map[string]any) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := coredb.Audit(ctx, a.cfg.Pool, actor, action, subject, detail); err != nil {
		a.log.Error("audit log", "error", err)
	}
}
