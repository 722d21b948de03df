package modhost

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
)

func TestHealthyStatus(t *testing.T) {
	for status, want := range map[int]bool{
		200: true, 204: true, 299: true,
		404: true, // no health entry point: a guest from before it existed
		301: false, 400: false, 500: false, 503: false,
	} {
		if got := healthy(status); got != want {
			t.Errorf("healthy(%d) = %v, want %v", status, got, want)
		}
	}
}

// closeAsync runs m.Close(ctx) in the background; the channel is closed
// when it returns.
func closeAsync(m *Module, ctx context.Context) <-chan struct{} {
	closed := make(chan struct{})
	go func() {
		m.Close(ctx)
		close(closed)
	}()
	return closed
}

// The Close tests run in a synctest bubble: synctest.Wait returns once
// every other goroutine of the test is blocked for good or gone, so a Close
// still running then is waiting (not slow to return), and one that
// returned did not wait.

// TestCloseWaitsForRequests: Close refuses new requests at once and
// returns only when the ones already inside have left.
func TestCloseWaitsForRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := &Module{drained: make(chan struct{})}
		if !m.enter() {
			t.Fatal("a fresh module refused a request")
		}
		ctx, cancel := context.WithCancel(context.Background()) // never cancelled before the end
		defer cancel()
		closed := closeAsync(m, ctx)
		synctest.Wait()
		select {
		case <-closed:
			t.Fatal("Close returned while a request was inside")
		default:
		}
		if m.enter() {
			t.Fatal("a closing module accepted a request")
		}
		m.leave()
		<-closed
		if m.enter() {
			t.Fatal("a closed module accepted a request")
		}
	})
}

// TestCloseGivesUpWithItsContext: a request that never leaves holds Close
// only until Close's context ends; when it does leave later, nothing
// breaks.
func TestCloseGivesUpWithItsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := &Module{drained: make(chan struct{})}
		if !m.enter() {
			t.Fatal("a fresh module refused a request")
		}
		ctx, cancel := context.WithCancel(context.Background())
		closed := closeAsync(m, ctx)
		synctest.Wait()
		select {
		case <-closed:
			t.Fatal("Close returned while a request was inside and its context alive")
		default:
		}
		cancel()
		<-closed
		m.leave()
		select {
		case <-m.drained:
		default:
			t.Fatal("the last request left a closed module but drained is still open")
		}
	})
}

// TestCloseHammer: P goroutines send requests in a loop, and Close begins
// once each has had warmUp answered, while one more request is held inside.
// Close must wait for it; every loop must end refused; no request may be
// accepted after the module drained or Close returned; and the count must
// come back to exactly "retired, none inside".
func TestCloseHammer(t *testing.T) {
	const P, warmUp = 8, 1000
	synctest.Test(t, func(t *testing.T) {
		m := &Module{drained: make(chan struct{})}
		var (
			inside        atomic.Int64
			closeReturned atomic.Bool
			accepted      atomic.Int64
			violations    = make(chan string, P)
			wg            sync.WaitGroup
			warm          sync.WaitGroup // each goroutine had warmUp requests answered
		)
		if !m.enter() { // the anchor: held inside until Close waits
			t.Fatal("a fresh module refused a request")
		}
		inside.Add(1)
		warm.Add(P)
		for range P {
			wg.Go(func() {
				n := 0
				for {
					if !m.enter() {
						if n < warmUp {
							warm.Done()
						}
						return
					}
					accepted.Add(1)
					select {
					case <-m.drained:
						violations <- "a request was accepted after the module drained"
					default:
					}
					if closeReturned.Load() {
						violations <- "a request was accepted after Close returned"
						m.leave()
						return
					}
					inside.Add(1)
					runtime.Gosched() // stay inside a while
					inside.Add(-1)
					m.leave()
					if n++; n == warmUp {
						warm.Done()
					}
				}
			})
		}
		warm.Wait() // Close begins while requests flow
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		closed := closeAsync(m, ctx)
		synctest.Wait() // every loop has been refused; Close waits for the anchor
		select {
		case <-closed:
			t.Fatal("Close returned while a request was inside")
		default:
		}
		inside.Add(-1)
		m.leave() // the anchor leaves
		<-closed
		closeReturned.Store(true)
		if n := inside.Load(); n != 0 {
			t.Fatalf("%d requests inside after Close returned", n)
		}
		wg.Wait()
		close(violations)
		for v := range violations {
			t.Error(v)
		}
		if m.enter() {
			t.Fatal("a closed module accepted a request")
		}
		if n := m.requests.Load(); n != retiredBit {
			t.Fatalf("request count %d after all left, want none", n-retiredBit)
		}
		t.Logf("%d requests accepted", accepted.Load())
	})
}
