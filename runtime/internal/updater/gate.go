package updater

import (
	"context"
	"errors"
	"sync"
)

// ErrPreempted: the site owner's request took the TUF client from a
// background check or reconcile, which stops and is tried again later.
var ErrPreempted = errors.New("updater: pre-empted by a request of the site owner")

// priority says who waits for whom at the TUF client.
type priority int

const (
	// background work (checks, reconciles, the start) waits its turn and
	// yields to the owner.
	background priority = iota
	// owner requests (install, approve) pre-empt background work.
	owner
)

// gate hands out the TUF client, one operation at a time (tufrepo holds
// one lock for a whole Refresh or Download, transfer included). An owner
// who finds background work holding it cancels that work's context with
// ErrPreempted and takes it next; background work never takes it while an
// owner waits. So a check held by a slow registry never delays the owner
// by more than a cancellation.
type gate struct {
	mu      sync.Mutex
	busy    bool
	owners  int                     // owners waiting
	cancel  context.CancelCauseFunc // the holder's context's
	preempt bool                    // the holder is background work, not yet pre-empted
	free    chan struct{}           // closed when the holder leaves
}

func newGate() *gate { return &gate{free: make(chan struct{})} }

// acquire waits for the TUF client. It returns the context to run the
// operation under (cancelled with ErrPreempted when an owner takes over
// from background work) and the function that hands the client back.
func (g *gate) acquire(ctx context.Context, p priority) (context.Context, func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	g.mu.Lock()
	if p == owner {
		g.owners++
	}
	for g.busy || (p == background && g.owners > 0) {
		if p == owner && g.preempt {
			g.cancel(ErrPreempted)
			g.preempt = false
		}
		free := g.free
		g.mu.Unlock()
		select {
		case <-free:
		case <-ctx.Done():
			g.mu.Lock()
			if p == owner {
				g.owners--
			}
			g.mu.Unlock()
			return nil, nil, ctx.Err()
		}
		g.mu.Lock()
	}
	if p == owner {
		g.owners--
	}
	defer g.mu.Unlock()
	return g.take(ctx, p), g.release, nil
}

// try takes the TUF client only if nobody holds it or waits for it.
func (g *gate) try(ctx context.Context) (context.Context, func(), bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.busy || g.owners > 0 {
		return nil, nil, false
	}
	return g.take(ctx, owner), g.release, true
}

// take marks the client held; g.mu is held.
func (g *gate) take(ctx context.Context, p priority) context.Context {
	var cctx context.Context
	cctx, g.cancel = context.WithCancelCause(ctx)
	g.busy, g.preempt = true, p == background
	return cctx
}

func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cancel(nil)
	g.busy, g.preempt, g.cancel = false, false, nil
	close(g.free)
	g.free = make(chan struct{})
}
