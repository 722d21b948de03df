package tlsserve

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/hashicorp/go-hclog"
)

// startRedirect serves plain HTTP on cfg.RedirectAddr: ACME http-01
// challenges when acme is set, and a redirect to the HTTPS listener at
// httpsAddr for everything else.
func (l *Listener) startRedirect(httpsAddr net.Addr, acme *certmagic.ACMEIssuer) error {
	ln := l.cfg.redirectLn
	if ln == nil {
		var err error
		listen := l.cfg.Listen
		if listen == nil {
			listen = net.Listen
		}
		if ln, err = listen("tcp", l.cfg.RedirectAddr); err != nil {
			return fmt.Errorf("tlsserve: redirect listener: %w", err)
		}
	}
	if l.cfg.RedirectListener != nil {
		ln = l.cfg.RedirectListener(ln)
	}
	port := 443
	if ta, ok := httpsAddr.(*net.TCPAddr); ok {
		port = ta.Port
	}
	h := redirectHandler(port)
	if acme != nil {
		h = acme.HTTPChallengeHandler(h)
	}
	l.redirLn = ln
	l.redirect = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          l.log.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	}
	l.bg.Add(1)
	go func() {
		defer l.bg.Done()
		if err := l.redirect.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			l.log.Error("the HTTP redirect listener stopped", "error", err)
		}
	}()
	l.log.Info("redirecting HTTP to HTTPS", "addr", ln.Addr().String())
	return nil
}

// hostRE is what a redirect may name: a DNS name (an IP literal is
// checked apart).
var hostRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$`)

// redirectHandler sends GET and HEAD to the same host and path over HTTPS
// on port (308, which keeps the method), and refuses other methods: their
// body already crossed the network in clear, and a client that follows a
// redirect would send it again.
func redirectHandler(port int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(r.Host); err == nil {
			host = h
		}
		if net.ParseIP(host) == nil && !hostRE.MatchString(host) {
			http.Error(w, "bad Host header", http.StatusBadRequest)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "this server takes requests over HTTPS only", http.StatusBadRequest)
			return
		}
		target := net.JoinHostPort(host, strconv.Itoa(port))
		if port == 443 {
			target = host
			if net.ParseIP(host) != nil && net.ParseIP(host).To4() == nil {
				target = "[" + host + "]"
			}
		}
		w.Header().Set("Connection", "close")
		http.Redirect(w, r, "https://"+target+r.URL.RequestURI(), http.StatusPermanentRedirect)
	})
}
