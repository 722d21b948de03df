package site

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// testGuard is defaultGuard with smaller numbers, so that HTTP tests need few
// password hashes.
var testGuard = guardConfig{
	pair:            backoffPolicy{free: 3, base: time.Minute, max: 10 * time.Minute, forget: time.Hour},
	user:            backoffPolicy{free: 6, base: time.Minute, max: time.Hour, forget: time.Hour},
	clientPerMinute: 1, clientBurst: 5,
	globalPerMinute: 1, globalBurst: 100,
	familiarFor: time.Hour,
	maxPairs:    100, maxUsers: 100, maxClients: 100, maxFamiliar: 100,
}

// TestBackoffGrows: past the free failures each failure doubles the wait,
// up to the cap; an attempt after the wait goes ahead.
func TestBackoffGrows(t *testing.T) {
	cfg := testGuard
	cfg.pair = backoffPolicy{free: 2, base: time.Second, max: 8 * time.Second, forget: time.Hour}
	cfg.user.free = 1000
	cfg.clientBurst = 1000
	g := newLoginGuard(cfg)
	now := time.Unix(1e9, 0)
	var waits []time.Duration
	for range 8 {
		a, wait, _ := g.begin("alice", "192.0.2.1", "", now)
		if wait > 0 {
			waits = append(waits, wait)
			now = now.Add(wait)
			if a, wait, _ = g.begin("alice", "192.0.2.1", "", now); wait > 0 {
				t.Fatalf("refused again after waiting: %v", wait)
			}
		}
		g.end(a, attemptFailed, now)
	}
	want := []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second, 8 * time.Second}
	if fmt.Sprint(waits) != fmt.Sprint(want) {
		t.Errorf("waits %v, want %v", waits, want)
	}
	// A success clears the pair's backoff.
	now = now.Add(8 * time.Second)
	a, _, _ := g.begin("alice", "192.0.2.1", "", now)
	g.end(a, attemptSucceeded, now)
	for i := range 2 {
		a, wait, _ := g.begin("alice", "192.0.2.1", "", now)
		if wait > 0 {
			t.Fatalf("attempt %d after a success refused: %v", i+1, wait)
		}
		g.end(a, attemptFailed, now)
	}
	// Failures are forgotten once idle for longer than forget.
	if _, wait, _ := g.begin("alice", "192.0.2.1", "", now); wait == 0 {
		t.Fatal("third failure in a row not delayed")
	}
	if _, wait, _ := g.begin("alice", "192.0.2.1", "", now.Add(2*time.Hour)); wait > 0 {
		t.Errorf("failures not forgotten after two idle hours: wait %v", wait)
	}
}

// TestLoginGuardHammer runs P goroutines × N attempts over a few users and
// many clients against small tables: under -race, with the tables bounded,
// and with the one-at-a-time rule holding: of many parallel attempts on one
// pair past its free ones, exactly the free ones go ahead.
func TestLoginGuardHammer(t *testing.T) {
	cfg := testGuard
	cfg.maxPairs, cfg.maxUsers, cfg.maxClients, cfg.maxFamiliar = 50, 10, 20, 30
	g := newLoginGuard(cfg)
	start := time.Unix(1e9, 0)
	const P, N = 8, 2000
	var wg sync.WaitGroup
	for p := range P {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(p), 1))
			for i := range N {
				now := start.Add(time.Duration(i) * time.Second)
				user := "user" + strconv.Itoa(rng.IntN(20))
				client := "198.51.100." + strconv.Itoa(rng.IntN(200))
				if i%10 == 0 {
					g.allowRegistration(client, now)
				}
				a, wait, _ := g.begin(user, client, "device"+strconv.Itoa(rng.IntN(40)), now)
				if wait > 0 {
					continue
				}
				g.end(a, outcome(rng.IntN(3)), now)
				if i%500 == 0 {
					g.prune(now)
				}
			}
		}()
	}
	wg.Wait()
	pairs, users, clients, familiar := g.sizes()
	if pairs > cfg.maxPairs || users > cfg.maxUsers || clients > cfg.maxClients || familiar > cfg.maxFamiliar {
		t.Errorf("tables over their bounds: %d pairs, %d users, %d clients, %d familiar", pairs, users, clients, familiar)
	}

	// Parallel attempts on one fresh pair: exactly pair.free go ahead.
	g = newLoginGuard(cfg)
	var mu sync.Mutex
	var allowed []attempt
	ready := make(chan struct{})
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-ready
			if a, wait, _ := g.begin("alice", "203.0.113.9", "", start); wait == 0 {
				mu.Lock()
				allowed = append(allowed, a)
				mu.Unlock()
			}
		}()
	}
	close(ready)
	wg.Wait()
	if len(allowed) != cfg.pair.free {
		t.Fatalf("%d of 64 parallel attempts went ahead, want %d", len(allowed), cfg.pair.free)
	}
	for _, a := range allowed {
		g.end(a, attemptFailed, start)
	}
	if _, wait, why := g.begin("alice", "203.0.113.9", "", start); wait != cfg.pair.base || why != limitPair {
		t.Errorf("after the free failures: wait %v (%s), want %v for the pair", wait, why, cfg.pair.base)
	}
}

// TestOwnerKeepsLoggingIn is the lock-out attack: an attacker hammers
// alice's username from one address; alice, from her own, still gets in and
// the attacker is slowed, with a Retry-After to say how long.
func TestOwnerKeepsLoggingIn(t *testing.T) {
	e := newEnv(t, Config{}, nil) // the production limits
	e.user("alice", goodPassword, RoleMember)
	const attacker, owner = "198.51.100.66", "203.0.113.10"
	var last result
	for i := range defaultGuard.pair.free + 2 {
		last = e.loginFrom(e.client(), attacker, "alice", "guess number "+strconv.Itoa(i))
	}
	if last.StatusCode != http.StatusTooManyRequests || last.Header.Get("Retry-After") == "" || !strings.Contains(last.body, "Too many login attempts") {
		t.Fatalf("attacker's attempt after %d failures: %d, Retry-After %q:\n%s", defaultGuard.pair.free, last.StatusCode, last.Header.Get("Retry-After"), last.body)
	}
	// Even the right password waits, from the attacker's address.
	if res := e.loginFrom(e.client(), attacker, "ALICE", goodPassword); res.StatusCode != http.StatusTooManyRequests || sessionCookie(res.Response) != nil {
		t.Errorf("right password from the attacker's address: %d", res.StatusCode)
	}
	// Alice, from her own address, gets in.
	if res := e.loginFrom(e.client(), owner, "alice", goodPassword); res.StatusCode != http.StatusSeeOther || sessionCookie(res.Response) == nil {
		t.Fatalf("owner's login during the attack: %d\n%s", res.StatusCode, res.body)
	}
	// Another IPv6 address in the attacker's /64 is the same client.
	e.user("bob", goodPassword, RoleMember)
	for i := range defaultGuard.pair.free {
		e.loginFrom(e.client(), "2001:db8:1:2::"+strconv.Itoa(i+1), "bob", "wrong password "+strconv.Itoa(i))
	}
	if res := e.loginFrom(e.client(), "2001:db8:1:2::ffff", "bob", goodPassword); res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("same /64, other address: %d, want 429", res.StatusCode)
	}
}

// TestDistributedAttack: many addresses each stay under their pair limit, so
// the username's own backoff slows them, yet alice's familiar browser, with
// which she signed in before, still gets in.
func TestDistributedAttack(t *testing.T) {
	e := newGuardedEnv(t, Config{}, testGuard)
	e.user("alice", goodPassword, RoleMember)
	const owner = "203.0.113.10"
	browser := e.client()
	e.loginFrom(browser, owner, "alice", goodPassword) // familiar from now on
	for i := range testGuard.user.free {
		if res := e.loginFrom(e.client(), "198.51.100."+strconv.Itoa(i+1), "alice", "wrong password"); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i+1, res.StatusCode)
		}
	}
	if res := e.loginFrom(e.client(), "198.51.100.200", "alice", "wrong password"); res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a new address after %d failures on the account: %d, want 429", testGuard.user.free, res.StatusCode)
	}
	if res := e.loginFrom(browser, owner, "alice", goodPassword); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("owner from her familiar browser: %d\n%s", res.StatusCode, res.body)
	}
}

// TestSprayingGuard: a few guesses each at many usernames from many
// addresses empty the site-wide budget of failures; then unfamiliar
// attempts wait, and familiar ones still go ahead.
func TestSprayingGuard(t *testing.T) {
	cfg := testGuard
	cfg.globalBurst = 6
	e := newGuardedEnv(t, Config{}, cfg)
	e.user("alice", goodPassword, RoleMember)
	const owner = "203.0.113.10"
	browser := e.client()
	e.loginFrom(browser, owner, "alice", goodPassword)
	for i := range cfg.globalBurst {
		if res := e.loginFrom(e.client(), "198.51.100."+strconv.Itoa(i+1), "user"+strconv.Itoa(i), "Summer2024!"); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("spray %d: %d", i+1, res.StatusCode)
		}
	}
	res := e.loginFrom(e.client(), "198.51.100.99", "someone", "Summer2024!")
	if res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("spraying past the site's budget: %d, want 429", res.StatusCode)
	}
	if res := e.loginFrom(browser, owner, "alice", goodPassword); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("familiar login during spraying: %d", res.StatusCode)
	}
}

// TestClientGuard: one address trying many usernames (and registering) is
// limited by its own bucket; other addresses are not.
func TestClientGuard(t *testing.T) {
	e := newGuardedEnv(t, Config{}, testGuard)
	const attacker = "198.51.100.7"
	for i := range testGuard.clientBurst {
		if res := e.loginFrom(e.client(), attacker, "user"+strconv.Itoa(i), "wrong password"); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i+1, res.StatusCode)
		}
	}
	if res := e.loginFrom(e.client(), attacker, "zed", "wrong password"); res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("past the client's burst: %d, want 429", res.StatusCode)
	}
	res := e.postFrom(e.client(), attacker, "/register", map[string][]string{"username": {"newbie"}, "password": {goodPassword}})
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Fatalf("registration past the client's burst: %d", res.StatusCode)
	}
	if res := e.loginFrom(e.client(), "198.51.100.8", "zed", "wrong password"); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("another address: %d, want 401", res.StatusCode)
	}
}
