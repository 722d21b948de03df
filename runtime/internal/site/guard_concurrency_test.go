package site

import (
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestSprayingGuardCountsAttemptsInFlight: the site-wide budget of
// failures bounds the attempts under way too. An attempt's failure is
// known only once its password hash is done, so attempts begun together —
// many usernames from many clients, all at once — must each hold a
// token from the start; otherwise every one of them passes while the first
// token is still there, and the budget bounds nothing.
func TestSprayingGuardCountsAttemptsInFlight(t *testing.T) {
	cfg := testGuard
	cfg.globalBurst = 6
	cfg.clientBurst = 1000
	g := newLoginGuard(cfg)
	now := time.Unix(1e9, 0)
	var begun []attempt
	for i := range 10 * cfg.globalBurst {
		a, wait, _ := g.begin("user"+strconv.Itoa(i), "198.51.100."+strconv.Itoa(i+1), "", now)
		if wait == 0 {
			begun = append(begun, a)
		}
	}
	if len(begun) > cfg.globalBurst {
		t.Errorf("%d attempts under way at once with a budget of %d failures", len(begun), cfg.globalBurst)
	}
	for _, a := range begun {
		g.end(a, attemptFailed, now)
	}
	if _, wait, why := g.begin("someone", "198.51.100.250", "", now); wait == 0 || why != limitGlobal {
		t.Errorf("after the budget was spent: wait %v (%s), want the site-wide limit", wait, why)
	}
	// An attempt that succeeds or aborts gives its token back.
	g = newLoginGuard(cfg)
	for i := range 3 * cfg.globalBurst {
		a, wait, _ := g.begin("user"+strconv.Itoa(i), "198.51.100."+strconv.Itoa(i+1), "", now)
		if wait > 0 {
			t.Fatalf("attempt %d refused (%v) though every earlier one ended without failing", i+1, wait)
		}
		g.end(a, []outcome{attemptSucceeded, attemptAborted}[i%2], now)
	}
}

// TestSprayingOverHTTP is the attack over HTTP: many clients, each with a
// username of its own, all at once; no more of them get an answer to
// their guess than the site's budget of failures allows.
func TestSprayingOverHTTP(t *testing.T) {
	cfg := testGuard
	cfg.globalBurst = 4
	cfg.clientBurst = 1000
	e := newGuardedEnv(t, Config{}, cfg)
	const n = 40
	statuses := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			res := e.loginFrom(e.client(), "198.51.100."+strconv.Itoa(i+1), "user"+strconv.Itoa(i), "Summer2024!")
			statuses[i] = res.StatusCode
		})
	}
	close(start)
	wg.Wait()
	answered := 0
	for _, s := range statuses {
		switch s {
		case http.StatusUnauthorized:
			answered++
		case http.StatusTooManyRequests:
		default:
			t.Errorf("status %d", s)
		}
	}
	if answered > cfg.globalBurst {
		t.Errorf("%d of %d concurrent guesses were answered with a budget of %d failures", answered, n, cfg.globalBurst)
	}
}
