package site

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"time"
)

// SessionCookie is the name of the session cookie.
const SessionCookie = "websonic_session"

const tokenLen = 32

// newToken returns a fresh session token.
func newToken() []byte {
	b := make([]byte, tokenLen)
	rand.Read(b) // never fails (crypto/rand)
	return b
}

// cookieToken returns the token in r's session cookie, or nil when there is
// none or it is malformed (present reports whether a cookie was sent at all).
func cookieToken(r *http.Request) (token []byte, present bool) {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return nil, false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(c.Value)
	if err != nil || len(b) != tokenLen {
		return nil, true
	}
	return b, true
}

func (s *Site) setSessionCookie(w http.ResponseWriter, token []byte) {
	http.SetCookie(w, &http.Cookie{
		Name:     SessionCookie,
		Value:    base64.RawURLEncoding.EncodeToString(token),
		Path:     "/",
		MaxAge:   int(s.cfg.SessionTTL / time.Second),
		HttpOnly: true,
		Secure:   s.cfg.SecureCookies,
		SameSite: http.SameSiteLaxMode,
	})
}

func (s *Site) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name:     SessionCookie,
		Value:    "",
		Path:     "/",
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   s.cfg.SecureCookies,
		SameSite: http.SameSiteLaxMode,
	})
}

// Sessions is middleware that reads the session cookie and, for a live
// session, puts its *User in the request context (see UserFrom). It never
// fails a request: a malformed, unknown or expired cookie is cleared and the
// request goes on anonymously; a database error is logged and the request
// goes on anonymously with the cookie kept.
func (s *Site) Sessions(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, present := cookieToken(r)
		if !present {
			next.ServeHTTP(w, r)
			return
		}
		if token == nil {
			s.clearSessionCookie(w)
			next.ServeHTTP(w, r)
			return
		}
		u, err := s.store.sessionUser(r.Context(), token)
		switch {
		case err != nil:
			s.log.Error("reading session failed", "error", err)
		case u == nil:
			s.clearSessionCookie(w)
		default:
			r = r.WithContext(WithUser(r.Context(), u))
		}
		next.ServeHTTP(w, r)
	})
}
