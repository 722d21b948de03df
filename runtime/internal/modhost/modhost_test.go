package modhost

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
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

// TestCloseWaitsForRequests: Close refuses new requests at once and
// returns only when the ones already inside have left.
func TestCloseWaitsForRequests(t *testing.T) {
	m := &Module{drained: make(chan struct{})}
	if !m.enter() {
		t.Fatal("a fresh module refused a request")
	}
	closed := make(chan struct{})
	go func() {
		m.Close(context.Background())
		close(closed)
	}()
	for m.requests.Load()&retiredBit == 0 {
		runtime.Gosched() // Close has not begun yet
	}
	if m.enter() {
		t.Fatal("a closing module accepted a request")
	}
	select {
	case <-closed:
		t.Fatal("Close returned while a request was inside")
	default:
	}
	m.leave()
	<-closed
}

// TestCloseHammer: P goroutines × N requests while Close runs; when Close
// returns no request is inside, and none gets in afterwards.
func TestCloseHammer(t *testing.T) {
	const P, N = 8, 20000
	m := &Module{drained: make(chan struct{})}
	var inside atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range P {
		wg.Go(func() {
			<-start
			for range N {
				if !m.enter() {
					continue
				}
				inside.Add(1)
				inside.Add(-1)
				m.leave()
			}
		})
	}
	close(start)
	m.Close(context.Background())
	if n := inside.Load(); n != 0 {
		t.Fatalf("%d requests inside after Close returned", n)
	}
	wg.Wait()
	if m.enter() {
		t.Fatal("a closed module accepted a request")
	}
	if n := m.requests.Load(); n != retiredBit {
		t.Fatalf("request count %d after all left, want none", n-retiredBit)
	}
}
