package site

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// keyLimiter is a token bucket per key with bounded memory: a key whose
// bucket has refilled completely is indistinguishable from a new key, so it
// is dropped by prune; when maxKeys keys are live nonetheless, new keys are
// refused (fail closed) until some refill.
type keyLimiter struct {
	limit   rate.Limit
	burst   int
	maxKeys int

	mu   sync.Mutex
	keys map[string]*rate.Limiter
}

func newKeyLimiter(perMinute, burst, maxKeys int) *keyLimiter {
	return &keyLimiter{
		limit:   rate.Every(time.Minute / time.Duration(perMinute)),
		burst:   burst,
		maxKeys: maxKeys,
		keys:    make(map[string]*rate.Limiter),
	}
}

// allow takes one token for key at now, reporting whether there was one.
func (l *keyLimiter) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.keys[key]
	if lim == nil {
		if len(l.keys) >= l.maxKeys {
			l.pruneLocked(now)
			if len(l.keys) >= l.maxKeys {
				return false
			}
		}
		lim = rate.NewLimiter(l.limit, l.burst)
		l.keys[key] = lim
	}
	return lim.AllowN(now, 1)
}

// prune drops the keys whose buckets are full again.
func (l *keyLimiter) prune(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pruneLocked(now)
}

func (l *keyLimiter) pruneLocked(now time.Time) {
	for k, lim := range l.keys {
		if lim.TokensAt(now) >= float64(l.burst) {
			delete(l.keys, k)
		}
	}
}

func (l *keyLimiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}

// Login limits: per username, 5 attempts a minute (burst 5) whoever makes
// them, against guessing one account's password from many addresses; per
// client IP, 20 a minute (burst 20), against one address trying many
// accounts. Registration, which also spends a password hash, counts against
// the IP limit.
const (
	userPerMinute = 5
	userBurst     = 5
	ipPerMinute   = 20
	ipBurst       = 20
	// 50 000 keys of ~200 bytes is ~10 MB at most.
	maxLimiterKeys = 50_000
	// Usernames longer than this are invalid anyway; cap the key size.
	maxUserKeyLen = 64
)

// loginLimiter rate-limits password attempts by client IP and by username.
type loginLimiter struct {
	byIP, byUser *keyLimiter
}

func newLoginLimiter() *loginLimiter {
	return &loginLimiter{
		byIP:   newKeyLimiter(ipPerMinute, ipBurst, maxLimiterKeys),
		byUser: newKeyLimiter(userPerMinute, userBurst, maxLimiterKeys),
	}
}

// allow reports whether a password attempt from ip for username (normalized;
// "" for registrations, which only the IP limit covers) may go ahead.
func (l *loginLimiter) allow(ip, username string, now time.Time) bool {
	if !l.byIP.allow(ip, now) {
		return false
	}
	if username == "" {
		return true
	}
	if len(username) > maxUserKeyLen {
		username = username[:maxUserKeyLen]
	}
	return l.byUser.allow(username, now)
}

func (l *loginLimiter) prune(now time.Time) {
	l.byIP.prune(now)
	l.byUser.prune(now)
}
