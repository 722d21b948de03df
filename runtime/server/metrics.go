package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/websonic/websonic/runtime/internal/site"
)

// minMetricsToken is the shortest Config.MetricsToken accepted.
const minMetricsToken = 16

// metrics is the Prometheus handler of the server's registry.
func (s *Server) metrics() http.Handler {
	return promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg})
}

// metricsAccess guards /metrics on the site's own listener: a request with
// the configured bearer token (Config.MetricsToken), or a signed-in admin,
// may read it; no one else, wherever they connect from (behind a proxy on the
// same machine every client is "loopback"). A scraper without a token uses
// the separate metrics listener (Config.MetricsAddr) instead.
func (s *Server) metricsAccess(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch s.bearer(r) {
		case tokenValid:
			next.ServeHTTP(w, r)
			return
		case tokenInvalid:
			s.refuseToken(w)
			return
		}
		if u := site.UserFrom(r.Context()); !u.Has(site.RoleAdmin) {
			s.site.Deny(w, r, u, site.RoleAdmin)
			return
		}
		next.ServeHTTP(w, r)
	})
}

type tokenCheck int

const (
	tokenAbsent tokenCheck = iota
	tokenValid
	tokenInvalid
)

// bearer checks r's "Authorization: Bearer" against Config.MetricsToken in
// constant time (over the SHA-256 of both, so the length does not leak
// either). Any Authorization header is invalid when no token is configured.
func (s *Server) bearer(r *http.Request) tokenCheck {
	v := r.Header.Get("Authorization")
	if v == "" {
		return tokenAbsent
	}
	got, ok := strings.CutPrefix(v, "Bearer ")
	if !ok || s.cfg.MetricsToken == "" {
		return tokenInvalid
	}
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(s.cfg.MetricsToken))
	if subtle.ConstantTimeCompare(a[:], b[:]) == 1 {
		return tokenValid
	}
	return tokenInvalid
}

func (s *Server) refuseToken(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
	http.Error(w, "invalid metrics token", http.StatusUnauthorized)
}

// metricsHandler is what the metrics listener serves: GET /metrics only,
// with the security headers, and the token required when one is configured.
func (s *Server) metricsHandler() http.Handler {
	mux := http.NewServeMux()
	prom := s.metrics()
	mux.Handle("GET /metrics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.MetricsToken != "" && s.bearer(r) != tokenValid {
			s.refuseToken(w)
			return
		}
		prom.ServeHTTP(w, r)
	}))
	return securityHeaders(mux)
}

// ListenAndServeMetrics serves /metrics on Config.MetricsAddr until ctx
// ends: the address is the access control (bind it to loopback or a private
// interface that only the scraper reaches), and the token too when
// Config.MetricsToken is set. It serves plain HTTP.
func (s *Server) ListenAndServeMetrics(ctx context.Context) error {
	if s.cfg.MetricsAddr == "" {
		return errors.New("server: no metrics address configured (Config.MetricsAddr)")
	}
	ln, err := s.cfg.Listen("tcp", s.cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("server: metrics listener: %w", err)
	}
	return s.ServeMetrics(ctx, ln)
}

// ServeMetrics serves /metrics on ln until ctx ends; see
// ListenAndServeMetrics.
func (s *Server) ServeMetrics(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.metricsHandler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          s.log.Named("metrics").StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	}
	s.log.Info("serving metrics", "url", "http://"+ln.Addr().String()+"/metrics", "token", s.cfg.MetricsToken != "")
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("server: metrics listener: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := hs.Shutdown(sctx)
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) {
		err = errors.Join(err, e)
	}
	return err
}
