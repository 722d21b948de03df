package server

import (
	"net/http"
	"strings"

	"github.com/websonic/websonic/internal/clientaddr"
)

// Security headers that every response gets, whoever wrote it (core pages,
// modules, health checks, /metrics, errors, 404s), unless the handler set its
// own where that is allowed (see RATIONALE.md, "Why these headers?").
const (
	// referrerPolicy keeps the site's URLs (ticket ids, search terms) to the
	// site; a handler may set another.
	referrerPolicy = "same-origin"
	// hsts asks browsers to use HTTPS only, for a year, on this host only:
	// the owner's other subdomains are not the runtime's to pin.
	hsts = "max-age=31536000"
)

// securityHeaders adds, just before a response's header is written:
// X-Content-Type-Options: nosniff (always); Referrer-Policy where missing; a
// frame policy where missing (X-Frame-Options: DENY unless a
// Content-Security-Policy names frame-ancestors, and CSP frame-ancestors
// 'none' when there is no CSP at all); and Strict-Transport-Security when
// the request came over HTTPS (clientaddr.HTTPS: TLS, or a trusted proxy
// saying so).
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hw := &headerWriter{ResponseWriter: w, https: clientaddr.HTTPS(r)}
		next.ServeHTTP(hw, r)
		hw.apply() // a handler that wrote nothing still answers 200 with headers
	})
}

// headerWriter applies the security headers once, before the first
// WriteHeader or Write.
type headerWriter struct {
	http.ResponseWriter
	https   bool
	applied bool
}

func (w *headerWriter) apply() {
	if w.applied {
		return
	}
	w.applied = true
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	if h.Get("Referrer-Policy") == "" {
		h.Set("Referrer-Policy", referrerPolicy)
	}
	csp := strings.Join(h.Values("Content-Security-Policy"), ",")
	if !strings.Contains(strings.ToLower(csp), "frame-ancestors") && h.Get("X-Frame-Options") == "" {
		h.Set("X-Frame-Options", "DENY")
	}
	if csp == "" {
		h.Set("Content-Security-Policy", "frame-ancestors 'none'")
	}
	if w.https && h.Get("Strict-Transport-Security") == "" {
		h.Set("Strict-Transport-Security", hsts)
	}
}

func (w *headerWriter) WriteHeader(code int) {
	if code >= 200 || code == http.StatusSwitchingProtocols {
		w.apply() // 1xx informational headers go out without them
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *headerWriter) Write(p []byte) (int, error) {
	w.apply()
	return w.ResponseWriter.Write(p)
}

func (w *headerWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
