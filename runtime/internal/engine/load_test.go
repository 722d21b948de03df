package engine

import (
	"context"
	"errors"
	"testing"

	"github.com/websonic/websonic/sdk/abi"
)

// TestPoolLoad: Load counts the instance serving a call as busy and the
// calls waiting for it as waiting, and both go back to zero. (The test
// holds the pool's only instance itself, with acquire and release.)
func TestPoolLoad(t *testing.T) {
	e := newEngine(t, Config{})
	p := hostilePool(t, e, PoolConfig{Size: 1, MinWarm: 1})
	if l := p.Load(); l != (Load{Size: 1, Live: 1, Idle: 1}) {
		t.Fatalf("idle pool: %+v", l)
	}
	in, err := p.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if l := p.Load(); l != (Load{Size: 1, Live: 1}) {
		t.Fatalf("one call: %+v", l)
	}
	call := func(ctx context.Context, done chan<- error) {
		_, err := p.HTTP(ctx, &abi.HTTPRequest{Method: "GET", URI: "/hostile/ok", Host: "test"}, &CallEnv{})
		done <- err
	}
	// Three calls wait, then give up.
	const waiters = 3
	ctx, giveUp := context.WithCancel(context.Background())
	defer giveUp()
	gaveUp := make(chan error, waiters)
	for range waiters {
		go call(ctx, gaveUp)
	}
	waitFor(t, "three waiting calls", func() bool { return p.Load().Waiting == waiters })
	giveUp()
	for range waiters {
		if err := <-gaveUp; !errors.Is(err, ErrBusy) {
			t.Fatalf("a waiter gave up with %v, want ErrBusy", err)
		}
	}
	if l := p.Load(); l.Waiting != 0 {
		t.Fatalf("after the waiters gave up: %+v", l)
	}
	// One more waits, and is served when the instance is free.
	served := make(chan error, 1)
	go call(context.Background(), served)
	waitFor(t, "a waiting call", func() bool { return p.Load().Waiting == 1 })
	p.release(in, false)
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if l := p.Load(); l != (Load{Size: 1, Live: 1, Idle: 1}) {
		t.Fatalf("idle again: %+v", l)
	}
}
