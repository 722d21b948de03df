package engine

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"
)

// waitFor polls cond until it holds, failing the test after a generous
// deadline (no timing is asserted: only that it happens).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPoolShrinksWhenIdle: a pool that grew to its size under load closes
// the instances above MinWarm once they have been idle for IdleTimeout,
// releases their memory, and serves on afterwards (growing again).
func TestPoolShrinksWhenIdle(t *testing.T) {
	e := newEngine(t, Config{})
	p := hostilePool(t, e, PoolConfig{Size: 3, MinWarm: 1, IdleTimeout: 10 * time.Millisecond, CallTimeout: time.Hour})
	var holds []*holdDB
	var held []<-chan error
	for range 3 {
		h := newHoldDB()
		holds = append(holds, h)
		held = append(held, hold(t, p, h))
	}
	if s := p.Stats(); s.Live != 3 {
		t.Fatalf("live = %d with three calls held, want 3", s.Live)
	}
	for i, h := range holds {
		close(h.release)
		if err := <-held[i]; err != nil {
			t.Fatal(err)
		}
	}
	// An instance leaves the count before its memory is unmapped: wait for
	// both (the unmapping lagged under load).
	waitFor(t, "the pool to shrink to MinWarm", func() bool { return p.Stats().Live == 1 && (!canMap || e.mem.live.Load() == 1) })
	s := p.Stats()
	if s.Shrunk != 2 || s.Idle != 1 || s.MemoryBytes <= 0 {
		t.Errorf("after shrinking: %+v, want 2 shrunk and one idle instance", s)
	}
	if canMap {
		if n := e.mem.live.Load(); n != 1 {
			t.Errorf("%d linear memory mappings left, want 1 (the warm instance)", n)
		}
		if s.MemoryResidentBytes <= 0 || s.MemoryResidentBytes > s.MemoryBytes {
			t.Errorf("resident %d of %d bytes: want some, not more than allocated", s.MemoryResidentBytes, s.MemoryBytes)
		}
	}
	for range 3 { // it serves, and may grow again
		if resp, err := get(p, "/hostile/ok"); err != nil || string(resp.Body) != "ok" {
			t.Fatalf("after shrinking: %v", err)
		}
	}
	if s := p.Stats(); s.Live < 1 || s.Failures != 0 {
		t.Errorf("after serving again: %+v", s)
	}
}

// TestPoolShrinkHammer: calls in bursts from many goroutines while the pool
// shrinks (IdleTimeout 1ms), recycles (MaxCalls) and renews: every call
// gets its answer, the pool never exceeds its size nor drops below MinWarm
// for good, and no instance or mapping is left over. Run with -race.
func TestPoolShrinkHammer(t *testing.T) {
	e := newEngine(t, Config{})
	const size = 4
	p := hostilePool(t, e, PoolConfig{Size: size, MinWarm: 1, MaxCalls: 30, IdleTimeout: time.Millisecond, AcquireTimeout: time.Minute})
	const P, N = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, P*N+1)
	for g := range P {
		wg.Go(func() {
			for i := range N {
				if i%10 == 0 { // a pause, so that instances go idle and are reaped
					time.Sleep(time.Duration(rand.IntN(3)) * time.Millisecond)
				}
				if g == 0 && i%15 == 0 {
					p.Renew()
				}
				resp, err := get(p, "/hostile/ok")
				if err != nil {
					errs <- fmt.Errorf("g%d call %d: %w", g, i, err)
					continue
				}
				if resp.Status != 200 || string(resp.Body) != "ok" {
					errs <- fmt.Errorf("g%d call %d: %d %q", g, i, resp.Status, resp.Body)
				}
				if s := p.Stats(); s.Live > size {
					errs <- fmt.Errorf("%d live instances in a pool of %d", s.Live, size)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	s := p.Stats()
	if s.Calls != P*N || s.Failures != 0 {
		t.Errorf("stats = %+v, want %d calls and no failures", s, P*N)
	}
	waitFor(t, "the pool to settle at MinWarm", func() bool { s := p.Stats(); return s.Live == 1 && s.Idle == 1 })
	if canMap {
		waitFor(t, "one mapping left", func() bool { return e.mem.live.Load() == 1 })
	}
	t.Logf("after the hammer: %+v (GOMAXPROCS %d)", p.Stats(), runtime.GOMAXPROCS(0))
}

// TestLinearMemoryIsMapped: an instance's linear memory is a mapping of
// its own, of which only the touched pages are resident, unmapped when the
// instance closes; HeapMemory leaves it to wazero.
func TestLinearMemoryIsMapped(t *testing.T) {
	if !canMap {
		t.Skip("linear memory mappings are Linux only")
	}
	for _, heap := range []bool{false, true} {
		t.Run(fmt.Sprintf("heap=%v", heap), func(t *testing.T) {
			e := newEngine(t, Config{HeapMemory: heap})
			p := hostilePool(t, e, PoolConfig{Size: 2, MinWarm: 2, IdleTimeout: -1})
			if resp, err := get(p, "/hostile/ok"); err != nil || string(resp.Body) != "ok" {
				t.Fatalf("call: %v", err)
			}
			s := p.Stats()
			if heap {
				if e.mem.live.Load() != 0 || s.MemoryResidentBytes != -1 {
					t.Fatalf("heap memory: %d mappings, resident %d; want none, unknown", e.mem.live.Load(), s.MemoryResidentBytes)
				}
				return
			}
			if n := e.mem.live.Load(); n != 2 {
				t.Fatalf("%d mappings for 2 instances", n)
			}
			if s.MemoryResidentBytes <= 0 || s.MemoryResidentBytes >= s.MemoryBytes {
				t.Errorf("resident %d of %d bytes: want some but not all (a Go guest leaves most of its heap arena untouched at first)", s.MemoryResidentBytes, s.MemoryBytes)
			}
			t.Logf("2 instances: %d KiB allocated, %d KiB resident", s.MemoryBytes>>10, s.MemoryResidentBytes>>10)
			if err := p.Close(t.Context()); err != nil {
				t.Fatal(err)
			}
			if n := e.mem.live.Load(); n != 0 {
				t.Errorf("%d mappings left after Close", n)
			}
		})
	}
}
