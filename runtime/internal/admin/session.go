package admin

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"time"

	"github.com/websonic/websonic/internal/clientaddr"
	"github.com/websonic/websonic/runtime/internal/site"
)

// The admin session cookie: AdminCookie over plain HTTP, HostAdminCookie
// (Secure, Path=/, no Domain: a sibling subdomain cannot plant it) over
// HTTPS. Both are private cookies of the runtime: never sent to a module,
// never set by one.
const (
	AdminCookie     = "websonic_admin"
	HostAdminCookie = "__Host-" + AdminCookie
)

const tokenLen = 32

// csrfLabel keys a session's CSRF token.
const csrfLabel = "websonic admin csrf v1"

func tokenHash(token []byte) []byte {
	h := sha256.Sum256(token)
	return h[:]
}

func (a *Area) secure(r *http.Request) bool { return a.cfg.SecureCookies || clientaddr.HTTPS(r) }

func (a *Area) cookieName(r *http.Request) string {
	if a.secure(r) {
		return HostAdminCookie
	}
	return AdminCookie
}

// cookieToken is the token of r's admin cookie, nil when none or malformed.
func (a *Area) cookieToken(r *http.Request) []byte {
	c, err := r.Cookie(a.cookieName(r))
	if err != nil {
		return nil
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(c.Value)
	if err != nil || len(b) != tokenLen {
		return nil
	}
	return b
}

func (a *Area) setCookie(w http.ResponseWriter, r *http.Request, token []byte, maxAge int) {
	v := ""
	if token != nil {
		v = base64.RawURLEncoding.EncodeToString(token)
	}
	http.SetCookie(w, &http.Cookie{
		Name: a.cookieName(r), Value: v, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: a.secure(r), SameSite: http.SameSiteStrictMode,
	})
}

// session is a signed-in admin: the user and the session's token.
type session struct {
	user  *site.User
	token []byte
}

// csrf is the session's CSRF token.
func (s *session) csrf() string {
	m := hmac.New(sha256.New, s.token)
	m.Write([]byte(csrfLabel))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF compares a form's token with the session's in constant time.
func (s *session) checkCSRF(got string) bool {
	want := s.csrf()
	return len(got) == len(want) && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// start stores a new session for u (a fresh token: a planted cookie is
// worthless) and sets its cookie, ending r's previous admin session.
func (a *Area) start(ctx context.Context, w http.ResponseWriter, r *http.Request, u *site.User) error {
	if old := a.cookieToken(r); old != nil {
		if _, err := a.cfg.Pool.Exec(ctx, `DELETE FROM websonic.admin_sessions WHERE token_hash = $1`, tokenHash(old)); err != nil {
			return fmt.Errorf("admin: end session: %w", err)
		}
	}
	token := make([]byte, tokenLen)
	rand.Read(token)
	if _, err := a.cfg.Pool.Exec(ctx, `DELETE FROM websonic.admin_sessions WHERE expires_at <= now()`); err != nil {
		return fmt.Errorf("admin: sweep sessions: %w", err)
	}
	if _, err := a.cfg.Pool.Exec(ctx, `INSERT INTO websonic.admin_sessions (token_hash, user_id, expires_at)
		VALUES ($1, $2, now() + make_interval(secs => $3))`, tokenHash(token), u.ID, a.cfg.SessionTTL.Seconds()); err != nil {
		return fmt.Errorf("admin: create session: %w", err)
	}
	a.setCookie(w, r, token, int(a.cfg.SessionTTL/time.Second))
	return nil
}

// current is r's admin session, nil when there is none, it expired, or its
// user may no longer hold one (banned, suspended, erased). A user whose
// admin or auditor role was taken since keeps the session, and every route
// refuses them by its rule (403).
func (a *Area) current(ctx context.Context, r *http.Request) (*session, error) {
	token := a.cookieToken(r)
	if token == nil {
		return nil, nil
	}
	// The site's one rule of who may hold a session (not banned,
	// suspended or erased), on the area's own sessions.
	u, err := a.cfg.Site.Store().SessionUserIn(ctx, site.AdminSessions, token)
	if err != nil || u == nil {
		return nil, err
	}
	return &session{user: u, token: token}, nil
}

// end deletes r's admin session and clears its cookie.
func (a *Area) end(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	if token := a.cookieToken(r); token != nil {
		if _, err := a.cfg.Pool.Exec(ctx, `DELETE FROM websonic.admin_sessions WHERE token_hash = $1`, tokenHash(token)); err != nil {
			return fmt.Errorf("admin: end session: %w", err)
		}
	}
	a.setCookie(w, r, nil, -1)
	return nil
}

func clientHTTPS(r *http.Request) bool { return clientaddr.HTTPS(r) }
