package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/websonic/websonic/internal/clientaddr"
)

type requestIDKey struct{}

// RequestID returns the request's id, set by the requestID middleware.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// requestID gives every request a random id, in its context and in the
// X-Request-Id response header. An incoming X-Request-Id is not trusted.
func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b [8]byte
		rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

// statusWriter records the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += n
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// accessLog logs every request and records it in the HTTP metrics, labelled
// by chi's route pattern (not the raw path) and the method, if HTTP defines
// it (metricMethod), to bound cardinality. The
// remote address is the client that clientaddr derived; the proxy that
// forwarded the request, if any, is logged as the peer.
func accessLog(log hclog.Logger, requests *prometheus.CounterVec, latency *prometheus.HistogramVec) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			sw := &statusWriter{ResponseWriter: w}
			next.ServeHTTP(sw, r)
			if sw.status == 0 {
				sw.status = http.StatusOK
			}
			d := time.Since(start)
			route := chi.RouteContext(r.Context()).RoutePattern()
			if route == "" {
				route = "unmatched"
			}
			method := metricMethod(r.Method)
			requests.WithLabelValues(method, route, strconv.Itoa(sw.status)).Inc()
			latency.WithLabelValues(method, route).Observe(d.Seconds())
			args := []any{"id", RequestID(r.Context()), "method", r.Method, "path", redactLinkPath(r.URL.Path),
				"status", sw.status, "bytes", sw.bytes, "duration", d.Round(time.Microsecond), "remote", r.RemoteAddr}
			if info, ok := clientaddr.FromContext(r.Context()); ok && info.Forwarded {
				args = append(args, "peer", info.Peer) // the trusted proxy
			}
			log.Info("request", args...)
		})
	}
}

// metricMethod is a request's method as a metrics label: the visitor
// chooses it (any token is a method to net/http), so the ones HTTP defines
// are kept and every other is "other", which bounds the label's values.
func metricMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// recoverer turns a panic in a core handler into a 500 with the request id.
func recoverer(log hclog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if v := recover(); v != nil {
					if v == http.ErrAbortHandler {
						panic(v)
					}
					id := RequestID(r.Context())
					log.Error("panic serving request", "id", id, "panic", v, "stack", string(debug.Stack()))
					http.Error(w, fmt.Sprintf("Internal Server Error (request id %s)", id), http.StatusInternalServerError)
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}
