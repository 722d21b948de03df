package site

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// The login guard slows password guessing without letting anyone lock an
// account's owner out (see RATIONALE.md, "Why slow the attacker and not lock
// the account?"). It keeps, in bounded memory, per process:
//
//   - a backoff per (username, client): after pair.free failures each further
//     failure doubles the wait before the next attempt from that client for
//     that username (pair.base, 2×, 4×… up to pair.max); a success clears it.
//     A browser that has signed in to that account before (a "familiar"
//     pair) is known by its device cookie, not its address, and has a
//     backoff of its own: that is the only limit on it, so the owner's own
//     browser keeps getting in while the account is attacked, from
//     whatever address she comes (a phone changing networks) and whoever
//     shares it (carrier NAT, an office, an untrusted proxy);
//   - a backoff per username that only unfamiliar clients feed and obey, so
//     an attack spread over many addresses is slowed too (NIST SP 800-63B:
//     no more than 100 consecutive failures on one account);
//   - a token bucket per client for every password attempt it makes
//     (logins from unfamiliar pairs and registrations), against one client
//     trying many usernames;
//   - a global token bucket of failures from unfamiliar pairs, against
//     spraying (many usernames from many clients): while it is empty, only
//     familiar pairs may try. Each unfamiliar attempt under way holds a
//     token until it ends (spent if it failed), so attempts begun together
//     cannot overshoot it.
//
// Beyond a key's free attempts only one attempt at a time may be in flight,
// so parallel requests cannot overshoot the backoff. Buckets are keyed by the
// typed username whether or not the account exists, so the guard tells
// nothing about which accounts exist.

// backoffPolicy is an exponential backoff: free failures, then waits of
// base, 2·base, 4·base… capped at max; failures older than forget are
// forgotten.
type backoffPolicy struct {
	free      int
	base, max time.Duration
	forget    time.Duration
}

// wait is the pause after the n-th consecutive failure.
func (p backoffPolicy) wait(n int) time.Duration {
	if n < p.free {
		return 0
	}
	d := p.base
	for i := p.free; i < n && d < p.max; i++ {
		d *= 2
	}
	return min(d, p.max)
}

// backoff is one key's state.
type backoff struct {
	failures int       // consecutive failures not yet forgotten
	last     time.Time // of the last failure
	next     time.Time // no attempt before this
	pending  int       // attempts allowed and not yet ended
}

// check returns how long an attempt at now must wait (0: go ahead).
func (b *backoff) check(p backoffPolicy, now time.Time) time.Duration {
	if b == nil || b.failures+b.pending < p.free {
		return 0
	}
	if now.Before(b.next) {
		return b.next.Sub(now)
	}
	if b.pending > 0 {
		return time.Second // one at a time past the free attempts
	}
	return 0
}

func (b *backoff) stale(p backoffPolicy, now time.Time) bool {
	return b.pending == 0 && now.Sub(b.last) > p.forget && !now.Before(b.next)
}

func (b *backoff) fail(p backoffPolicy, now time.Time) {
	b.failures++
	b.last = now
	b.next = now.Add(p.wait(b.failures))
}

// guardConfig holds the guard's limits; defaultGuard is what a Site uses.
type guardConfig struct {
	pair, user backoffPolicy
	// clientPerMinute and clientBurst bound every client's password
	// attempts outside its familiar pairs.
	clientPerMinute, clientBurst int
	// globalPerMinute and globalBurst bound the failures of unfamiliar
	// pairs, all clients together.
	globalPerMinute, globalBurst int
	// familiarFor is how long a successful login makes its pair familiar.
	familiarFor time.Duration
	// Table sizes: least recently used entries go first.
	maxPairs, maxUsers, maxClients, maxFamiliar int
}

// defaultGuard: 5 free failures per (user, client), then 1 s doubling up to
// 15 min; 20 free failures per user from unfamiliar clients, then 1 s
// doubling up to 1 h (so at most ~24 guesses a day once it is reached); 30
// attempts a minute per client; 120 failures a minute (burst 600) for the
// whole site. The tables hold 20 000 pairs, 10 000 users, 10 000 clients
// and 20 000 familiar pairs: about 10 MB at most.
var defaultGuard = guardConfig{
	pair:            backoffPolicy{free: 5, base: time.Second, max: 15 * time.Minute, forget: 24 * time.Hour},
	user:            backoffPolicy{free: 20, base: time.Second, max: time.Hour, forget: 24 * time.Hour},
	clientPerMinute: 30, clientBurst: 30,
	globalPerMinute: 120, globalBurst: 600,
	familiarFor: 30 * 24 * time.Hour,
	maxPairs:    20_000, maxUsers: 10_000, maxClients: 10_000, maxFamiliar: 20_000,
}

// maxUserKeyLen caps the username part of a key (valid usernames are
// shorter).
const maxUserKeyLen = 64

// limitReason says which limit refused an attempt, for the log.
type limitReason string

const (
	limitPair   limitReason = "user_and_client"
	limitUser   limitReason = "user"
	limitClient limitReason = "client"
	limitGlobal limitReason = "site"
)

// loginGuard applies the limits above. It is safe for concurrent use.
type loginGuard struct {
	cfg    guardConfig
	mu     sync.Mutex
	pairs  *lru[*backoff]
	users  *lru[*backoff]
	client *lru[*rate.Limiter]
	known  *lru[time.Time] // familiar pair → when it last signed in
	global *rate.Limiter
	// inFlight counts the unfamiliar attempts begun and not yet ended:
	// each holds one of global's tokens until it ends, since whether it
	// fails is known only after its password hash.
	inFlight int
}

func newLoginGuard(cfg guardConfig) *loginGuard {
	return &loginGuard{
		cfg:    cfg,
		pairs:  newLRU[*backoff](cfg.maxPairs),
		users:  newLRU[*backoff](cfg.maxUsers),
		client: newLRU[*rate.Limiter](cfg.maxClients),
		known:  newLRU[time.Time](cfg.maxFamiliar),
		global: rate.NewLimiter(perMinute(cfg.globalPerMinute), cfg.globalBurst),
	}
}

func perMinute(n int) rate.Limit { return rate.Every(time.Minute / time.Duration(n)) }

// attempt is one allowed password attempt; end it with loginGuard.end.
type attempt struct {
	username   string
	pair, user string
	familiar   bool
	// device is the client's device id (its device cookie), "" for none.
	// A success makes (username, device) familiar; the caller gives an
	// unfamiliar browser a new id before ending its success, so that an
	// id the guard never gave this user (planted) is never vouched for.
	device string
}

// outcome is how an attempt ended.
type outcome int

const (
	attemptFailed    outcome = iota // wrong password or unknown user
	attemptSucceeded                // signed in
	attemptAborted                  // neither (an internal error): counts for nothing
)

func pairKey(user, client string) string {
	if len(user) > maxUserKeyLen {
		user = user[:maxUserKeyLen]
	}
	return user + "\x00" + client
}

// deviceKey is the key of (user, device): a client key is an address or
// a prefix, never with a space.
func deviceKey(user, device string) string { return pairKey(user, "device "+device) }

// begin asks whether username (normalized) may try a password from client,
// with the device id of its device cookie ("" for none), at now. If so it
// returns the attempt, which the caller must end; if not, how long to wait
// and which limit refused.
func (g *loginGuard) begin(username, client, device string, now time.Time) (attempt, time.Duration, limitReason) {
	g.mu.Lock()
	defer g.mu.Unlock()
	a := attempt{username: username, pair: pairKey(username, client), user: pairKey(username, ""), device: device}
	if device != "" {
		if at, ok := g.known.get(deviceKey(username, device)); ok && now.Sub(at) <= g.cfg.familiarFor {
			a.familiar, a.pair = true, deviceKey(username, device)
		}
	}
	pb := g.backoff(g.pairs, g.cfg.pair, a.pair, now)
	if w := pb.check(g.cfg.pair, now); w > 0 {
		return attempt{}, w, limitPair
	}
	var ub *backoff
	if !a.familiar {
		ub = g.backoff(g.users, g.cfg.user, a.user, now)
		if w := ub.check(g.cfg.user, now); w > 0 {
			return attempt{}, w, limitUser
		}
		if g.global.TokensAt(now) < float64(g.inFlight+1) {
			return attempt{}, waitForToken(g.global, now), limitGlobal
		}
		if w := g.takeClient(client, now); w > 0 {
			return attempt{}, w, limitClient
		}
	}
	if pb == nil {
		pb = &backoff{}
		g.pairs.put(a.pair, pb)
	}
	pb.pending++
	if !a.familiar {
		if ub == nil {
			ub = &backoff{}
			g.users.put(a.user, ub)
		}
		ub.pending++
		g.inFlight++
	}
	return a, 0, ""
}

// backoff returns the live backoff under key, forgetting a stale one.
func (g *loginGuard) backoff(t *lru[*backoff], p backoffPolicy, key string, now time.Time) *backoff {
	b, ok := t.get(key)
	if ok && b.stale(p, now) {
		t.delete(key)
		return nil
	}
	return b
}

// takeClient takes one token from client's bucket, or says how long until
// there is one.
func (g *loginGuard) takeClient(client string, now time.Time) time.Duration {
	lim, ok := g.client.get(client)
	if !ok {
		lim = rate.NewLimiter(perMinute(g.cfg.clientPerMinute), g.cfg.clientBurst)
		g.client.put(client, lim)
	}
	if lim.AllowN(now, 1) {
		return 0
	}
	return waitForToken(lim, now)
}

// waitForToken is how long until lim has a whole token at now.
func waitForToken(lim *rate.Limiter, now time.Time) time.Duration {
	missing := 1 - lim.TokensAt(now)
	return max(time.Second, time.Duration(missing/float64(lim.Limit())*float64(time.Second)))
}

// end records how an attempt that begin allowed ended.
func (g *loginGuard) end(a attempt, o outcome, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	pb, _ := g.pairs.get(a.pair)
	var ub *backoff
	if !a.familiar {
		ub, _ = g.users.get(a.user)
	}
	// Either may have been dropped to make room meanwhile: then the
	// attempt is simply not counted there.
	for _, b := range []*backoff{pb, ub} {
		if b != nil && b.pending > 0 {
			b.pending--
		}
	}
	if !a.familiar && g.inFlight > 0 {
		g.inFlight--
	}
	switch o {
	case attemptSucceeded:
		g.pairs.delete(a.pair)
		if a.device != "" {
			g.known.put(deviceKey(a.username, a.device), now)
		}
	case attemptFailed:
		if pb == nil {
			pb = &backoff{}
			g.pairs.put(a.pair, pb)
		}
		pb.fail(g.cfg.pair, now)
		if !a.familiar {
			if ub == nil {
				ub = &backoff{}
				g.users.put(a.user, ub)
			}
			ub.fail(g.cfg.user, now)
			g.global.AllowN(now, 1) // spend a token; none left means the guard is up
		}
	}
}

// remember makes (username, device) familiar, as a successful login does:
// a registration signs its browser in.
func (g *loginGuard) remember(username, device string, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.known.put(deviceKey(username, device), now)
}

// allowRegistration takes a token from client's bucket for a registration
// (which spends a password hash too), or says how long to wait.
func (g *loginGuard) allowRegistration(client string, now time.Time) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.takeClient(client, now)
}

// prune drops forgotten backoffs, expired familiar pairs and client buckets
// that are full again (indistinguishable from new ones).
func (g *loginGuard) prune(now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pairs.deleteIf(func(b *backoff) bool { return b.stale(g.cfg.pair, now) })
	g.users.deleteIf(func(b *backoff) bool { return b.stale(g.cfg.user, now) })
	g.known.deleteIf(func(at time.Time) bool { return now.Sub(at) > g.cfg.familiarFor })
	g.client.deleteIf(func(l *rate.Limiter) bool { return l.TokensAt(now) >= float64(g.cfg.clientBurst) })
}

// sizes returns the number of entries in each table (for tests).
func (g *loginGuard) sizes() (pairs, users, clients, familiar int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.pairs.len(), g.users.len(), g.client.len(), g.known.len()
}
