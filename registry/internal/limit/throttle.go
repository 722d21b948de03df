package limit

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ErrLimited is wrapped by every Refusal.
var ErrLimited = errors.New("limit: too many requests")

// Refusal is a request refused by a limit, with the wait after which the
// client may try again (the Retry-After header).
type Refusal struct {
	What  string        // what was limited, e.g. "failed authentications"
	After time.Duration // at least a second
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("%v: %s: retry after %s", ErrLimited, r.What, RetryAfter(r.After))
}

// Is makes every Refusal match ErrLimited.
func (r *Refusal) Is(target error) bool { return target == ErrLimited }

// RetryAfter formats d as a Retry-After value: whole seconds, rounded up,
// at least 1.
func RetryAfter(d time.Duration) string {
	return strconv.FormatInt(max(1, int64((d+time.Second-1)/time.Second)), 10)
}

// Rate is a token bucket: Burst events at once, then one every Every.
type Rate struct {
	Every time.Duration
	Burst int
}

// maxThrottled bounds the clients a Throttle remembers (see Take).
const maxThrottled = 100_000

// Throttle keeps one token bucket of a Rate per client key. It is safe for
// concurrent use; its memory is bounded (maxThrottled clients: past that,
// clients whose bucket has refilled are forgotten, as they hold nothing).
type Throttle struct {
	what  string
	limit rate.Limit
	burst int
	now   func() time.Time

	mu sync.Mutex
	m  map[string]*rate.Limiter
}

// NewThrottle returns a Throttle of r; what names it in refusals; now is
// the clock (nil for time.Now).
func NewThrottle(what string, r Rate, now func() time.Time) *Throttle {
	if now == nil {
		now = time.Now
	}
	return &Throttle{what: what, limit: rate.Every(r.Every), burst: max(r.Burst, 1), now: now, m: map[string]*rate.Limiter{}}
}

// bucket returns key's bucket, creating it; t.mu is held.
func (t *Throttle) bucket(key string, now time.Time) *rate.Limiter {
	if l, ok := t.m[key]; ok {
		return l
	}
	if len(t.m) >= maxThrottled {
		for k, l := range t.m {
			if l.TokensAt(now) >= float64(t.burst) {
				delete(t.m, k)
			}
		}
		if len(t.m) >= maxThrottled {
			clear(t.m) // a flood of clients: start over rather than grow
		}
	}
	l := rate.NewLimiter(t.limit, t.burst)
	t.m[key] = l
	return l
}

// Take takes a token from key's bucket: nil, or a *Refusal (which wraps
// ErrLimited) when the bucket is empty.
func (t *Throttle) Take(key string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	l := t.bucket(key, now)
	if l.AllowN(now, 1) {
		return nil
	}
	return t.refusal(l, now)
}

// Check is Take without taking: nil while key's bucket holds a token.
// Charge failures with Take and Check before the work they guard.
func (t *Throttle) Check(key string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	l, ok := t.m[key]
	if !ok {
		return nil
	}
	now := t.now()
	if l.TokensAt(now) >= 1 {
		return nil
	}
	return t.refusal(l, now)
}

func (t *Throttle) refusal(l *rate.Limiter, now time.Time) *Refusal {
	missing := 1 - l.TokensAt(now)
	wait := time.Duration(missing * float64(time.Second) / float64(t.limit))
	return &Refusal{What: t.what, After: max(wait, time.Second)}
}
