package updater

import (
	"context"
	"errors"
	"runtime"
	"testing"
)

type grant struct {
	ctx     context.Context
	release func()
}

// acquireAsync acquires g in a goroutine; the grant arrives on the channel.
func acquireAsync(t *testing.T, g *gate, p priority) <-chan grant {
	ch := make(chan grant, 1)
	go func() {
		ctx, release, err := g.acquire(context.Background(), p)
		if err != nil {
			t.Error(err)
		}
		ch <- grant{ctx, release}
	}()
	return ch
}

// waitOwners spins until n owners wait at g (no timing involved: it
// yields until the goroutines got there).
func waitOwners(g *gate, n int) {
	for {
		g.mu.Lock()
		got := g.owners
		g.mu.Unlock()
		if got == n {
			return
		}
		runtime.Gosched()
	}
}

func notYet(t *testing.T, ch <-chan grant, who string) {
	t.Helper()
	select {
	case <-ch:
		t.Fatalf("%s got the TUF client while another held it", who)
	default:
	}
}

// TestGateOwnerPreemptsBackground: an owner arriving while background work
// holds the client cancels that work with ErrPreempted and gets the client
// as soon as it is handed back.
func TestGateOwnerPreemptsBackground(t *testing.T) {
	g := newGate()
	bctx, brelease, err := g.acquire(context.Background(), background)
	if err != nil {
		t.Fatal(err)
	}
	owned := acquireAsync(t, g, owner)
	<-bctx.Done()
	if cause := context.Cause(bctx); !errors.Is(cause, ErrPreempted) {
		t.Fatalf("background work ended with %v, want ErrPreempted", cause)
	}
	notYet(t, owned, "the owner")
	brelease()
	o := <-owned
	if o.ctx.Err() != nil {
		t.Fatal("the owner's context is done")
	}
	o.release()
}

// TestGateBackgroundYieldsToOwners: background work waiting for the client
// lets every waiting owner go first, and is never pre-empted by an owner
// holding it.
func TestGateBackgroundYieldsToOwners(t *testing.T) {
	g := newGate()
	octx, orelease, err := g.acquire(context.Background(), owner)
	if err != nil {
		t.Fatal(err)
	}
	bg := acquireAsync(t, g, background)
	second := acquireAsync(t, g, owner)
	waitOwners(g, 1)
	orelease()
	if octx.Err() == nil {
		t.Fatal("a released grant's context is still live")
	}
	o2 := <-second
	notYet(t, bg, "background work")
	o2.release()
	b := <-bg
	if b.ctx.Err() != nil {
		t.Fatal("background work's context is done")
	}
	b.release()
}

// TestGateTry: try never waits: it fails while the client is held and
// succeeds once it is free.
func TestGateTry(t *testing.T) {
	g := newGate()
	_, release, err := g.acquire(context.Background(), background)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := g.try(context.Background()); ok {
		t.Fatal("try took a held client")
	}
	release()
	_, release, ok := g.try(context.Background())
	if !ok {
		t.Fatal("try failed on a free client")
	}
	release()
}

// TestGateAcquireCancelled: a caller whose context ends stops waiting and
// is no longer counted.
func TestGateAcquireCancelled(t *testing.T) {
	g := newGate()
	_, release, err := g.acquire(context.Background(), background)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := g.acquire(ctx, owner); !errors.Is(err, context.Canceled) {
		t.Fatalf("acquire with a cancelled context = %v", err)
	}
	release()
	if _, _, ok := g.try(context.Background()); !ok {
		t.Fatal("a cancelled owner still blocks the client")
	}
}
