package limit

import (
	"net/http"
	"sync/atomic"
	"time"
)

// Requests caps the requests in progress: Max in all, PerClient from one
// client (as Key tells clients apart). Unlike a cap on connections it
// holds whatever the protocol: over HTTP/2 one connection carries many
// requests at once.
type Requests struct {
	max        int64
	key        func(*http.Request) string
	per        *counts
	retryAfter string
	open       atomic.Int64
	refused    atomic.Int64
}

// NewRequests returns a cap of max requests in all and perClient per
// client key (both positive); refusals ask to retry after retryAfter.
func NewRequests(max, perClient int, key func(*http.Request) string, retryAfter time.Duration) *Requests {
	return &Requests{max: int64(max), key: key, per: newCounts(perClient), retryAfter: RetryAfter(retryAfter)}
}

// Middleware serves a request within the caps, and refuses it at once
// otherwise: 429 when its client has PerClient in progress, 503 when Max
// are, both with Retry-After.
func (q *Requests) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := q.key(r)
		if !q.per.take(key) {
			q.refuse(w, http.StatusTooManyRequests, "limit: too many requests in progress from this client")
			return
		}
		defer q.per.release(key)
		if q.open.Add(1) > q.max {
			q.open.Add(-1)
			q.refuse(w, http.StatusServiceUnavailable, "limit: too many requests in progress")
			return
		}
		defer q.open.Add(-1)
		next.ServeHTTP(w, r)
	})
}

func (q *Requests) refuse(w http.ResponseWriter, status int, msg string) {
	q.refused.Add(1)
	w.Header().Set("Retry-After", q.retryAfter)
	http.Error(w, msg, status)
}

// Open is the number of requests in progress.
func (q *Requests) Open() int { return int(q.open.Load()) }

// Refused is the number of requests refused.
func (q *Requests) Refused() int64 { return q.refused.Load() }
