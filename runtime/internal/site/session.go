package site

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"time"

	"github.com/websonic/websonic/internal/clientaddr"
)

// SessionCookie is the name of the session cookie over plain HTTP. Over
// HTTPS it is HostSessionCookie: the __Host- prefix makes browsers refuse it
// unless it is Secure, has Path=/ and no Domain, so neither a sibling
// subdomain nor a plain-HTTP response can plant or overwrite it.
const (
	SessionCookie     = "websonic_session"
	HostSessionCookie = "__Host-" + SessionCookie
)

// DeviceCookie names the cookie by which the login guard knows a browser
// that signed in before (see ratelimit.go); over HTTPS it is
// HostDeviceCookie. It is a random id, worth nothing but a familiar
// client's place in the guard: it grants no access, and like the session
// cookie it never reaches a module, nor may a module set it.
const (
	DeviceCookie     = "websonic_device"
	HostDeviceCookie = "__Host-" + DeviceCookie
)

// deviceIDLen is a device id's length in bytes.
const deviceIDLen = 16

// deviceID returns r's device id, "" when it sent none or a malformed one.
func (s *Site) deviceID(r *http.Request) string {
	name := DeviceCookie
	if s.secure(r) {
		name = HostDeviceCookie
	}
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	if b, err := base64.RawURLEncoding.Strict().DecodeString(c.Value); err != nil || len(b) != deviceIDLen {
		return ""
	}
	return c.Value
}

// newDevice gives the browser of r a new device id, in a cookie that lasts
// as long as the guard remembers a familiar browser.
func (s *Site) newDevice(w http.ResponseWriter, r *http.Request) string {
	b := make([]byte, deviceIDLen)
	rand.Read(b)
	id := base64.RawURLEncoding.EncodeToString(b)
	name := DeviceCookie
	if s.secure(r) {
		name = HostDeviceCookie
	}
	http.SetCookie(w, &http.Cookie{
		Name:     name,
		Value:    id,
		Path:     "/",
		MaxAge:   int(s.guard.cfg.familiarFor / time.Second),
		HttpOnly: true,
		Secure:   s.secure(r),
		SameSite: http.SameSiteLaxMode,
	})
	return id
}

const tokenLen = 32

// newToken returns a fresh session token.
func newToken() []byte {
	b := make([]byte, tokenLen)
	rand.Read(b) // never fails (crypto/rand)
	return b
}

// secure reports whether r's session cookie is the Secure, __Host- one.
func (s *Site) secure(r *http.Request) bool {
	return s.cfg.SecureCookies || clientaddr.HTTPS(r)
}

// cookieName is the session cookie's name for r. A request over HTTPS only
// counts the __Host- cookie, so a cookie planted over plain HTTP or by a
// sibling subdomain is never read there.
func (s *Site) cookieName(r *http.Request) string {
	if s.secure(r) {
		return HostSessionCookie
	}
	return SessionCookie
}

// cookieToken returns the token in r's session cookie, or nil when there is
// none or it is malformed (present reports whether a cookie was sent at all).
func (s *Site) cookieToken(r *http.Request) (token []byte, present bool) {
	c, err := r.Cookie(s.cookieName(r))
	if err != nil {
		return nil, false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(c.Value)
	if err != nil || len(b) != tokenLen {
		return nil, true
	}
	return b, true
}

func (s *Site) setSessionCookie(w http.ResponseWriter, r *http.Request, token []byte) {
	http.SetCookie(w, &http.Cookie{
		Name:     s.cookieName(r),
		Value:    base64.RawURLEncoding.EncodeToString(token),
		Path:     "/",
		MaxAge:   int(s.cfg.SessionTTL / time.Second),
		HttpOnly: true,
		Secure:   s.secure(r),
		SameSite: http.SameSiteLaxMode,
	})
}

func (s *Site) clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name:     s.cookieName(r),
		Value:    "",
		Path:     "/",
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   s.secure(r),
		SameSite: http.SameSiteLaxMode,
	})
}

// Sessions is middleware that reads the session cookie and, for a live
// session, puts its *User in the request context (see UserFrom). It never
// fails a request: a malformed, unknown or expired cookie is cleared and the
// request goes on anonymously; a database error is logged and the request
// goes on anonymously with the cookie kept. The one exception: a user
// whose erasure is pending reaches only their privacy page and sign-out
// (pendingErasure, account_privacy.go).
func (s *Site) Sessions(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, present := s.cookieToken(r)
		if !present {
			next.ServeHTTP(w, r)
			return
		}
		if token == nil {
			s.clearSessionCookie(w, r)
			next.ServeHTTP(w, r)
			return
		}
		u, err := s.store.sessionUser(r.Context(), token)
		switch {
		case err != nil:
			s.log.Error("reading session failed", "error", err)
		case u == nil:
			s.clearSessionCookie(w, r)
		default:
			r = r.WithContext(WithUser(r.Context(), u))
			if p, ok := clientPrefix(r); ok {
				if err := s.store.noteAddress(r.Context(), u.ID, p, false); err != nil {
					s.log.Warn("recording a session's address failed", "error", err)
				}
			}
			if u.ErasePending && !erasureAllows(r) {
				s.pendingErasure(w, r)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
