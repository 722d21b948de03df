package engine

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/sdk/abi"
)

// PoolConfig configures a Pool. Zero fields take the defaults shown.
type PoolConfig struct {
	// Size is the most instances alive at once (4).
	Size int
	// MinWarm instances are kept instantiated and idle-ready (1); the pool
	// replaces discarded ones in the background.
	MinWarm int
	// MaxCalls recycles an instance after this many calls (10000).
	MaxCalls int
	// MaxMemoryPages recycles an instance whose memory grew past this many
	// 64 KiB pages (wasm memory never shrinks) (512, i.e. 32 MiB).
	MaxMemoryPages uint32
	// IdleTimeout closes an idle instance, above MinWarm, that served no
	// call for this long, so a pool that grew under load gives its memory
	// back (2m). Negative: never.
	IdleTimeout time.Duration
	// AcquireTimeout bounds the wait for a free instance (2s); past it a
	// call fails with ErrBusy.
	AcquireTimeout time.Duration
	// CallTimeout bounds each guest call (10s); past it the instance is
	// closed and the call fails with ErrTimeout.
	CallTimeout time.Duration
	// MaxResponseBytes caps a response (8 MiB).
	MaxResponseBytes uint32
	// Config is the module configuration seen during instantiation.
	Config []byte
	// ConfigOf, when set, gives the configuration seen during each
	// instantiation instead of Config: the current one, for a module whose
	// configuration changes while it runs.
	ConfigOf func() []byte
	// Logger is the module's logger (guest output and logs).
	Logger hclog.Logger
}

func (c *PoolConfig) defaults() {
	if c.Size <= 0 {
		c.Size = 4
	}
	if c.MinWarm <= 0 {
		c.MinWarm = 1
	}
	c.MinWarm = min(c.MinWarm, c.Size)
	if c.MaxCalls <= 0 {
		c.MaxCalls = 10000
	}
	if c.MaxMemoryPages == 0 {
		c.MaxMemoryPages = 512
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 2 * time.Minute
	}
	if c.AcquireTimeout <= 0 {
		c.AcquireTimeout = 2 * time.Second
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = 10 * time.Second
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = 8 << 20
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
}

// Pool is a bounded set of warm instances of one module version.
//
// A call acquires an idle instance (or instantiates one while the pool has
// fewer than Size), waiting at most AcquireTimeout; one instance serves one
// call at a time. After the call the instance goes back to the idle set,
// unless it failed in any way (trap, panic, deadline, bad response), reached
// MaxCalls, or its memory passed MaxMemoryPages: then it is closed and, to
// keep MinWarm, replaced in the background. Instances above MinWarm that
// stay idle for IdleTimeout are closed (the least recently used first: the
// idle set is a stack, so the busiest instances stay warm).
type Pool struct {
	e      *Engine
	m      *Module
	cfg    PoolConfig
	sem    chan struct{} // one token per live-or-creatable instance slot in use
	mu     sync.Mutex
	idle   []*instance // least recently used first
	all    map[*instance]struct{}
	live   int
	closed bool
	nextID atomic.Uint64
	bg     sync.WaitGroup

	stop   chan struct{}  // closed by Close: the reaper ends
	reaper sync.WaitGroup // the reaper goroutine

	calls, failures, recycled, discarded, shrunk atomic.Uint64
	waiting                                      atomic.Int64 // calls waiting for a free instance
	memBytes                                     atomic.Int64
	// gen counts Renew calls: an instance started before the last one is
	// retired instead of serving again.
	gen atomic.Uint64
}

// NewPool instantiates MinWarm instances of m, so a module that cannot
// start (a trap in init, an ABI mismatch) fails here, not on a request.
func (e *Engine) NewPool(ctx context.Context, m *Module, cfg PoolConfig) (*Pool, error) {
	cfg.defaults()
	p := &Pool{e: e, m: m, cfg: cfg, sem: make(chan struct{}, cfg.Size), all: map[*instance]struct{}{}, stop: make(chan struct{})}
	for range cfg.MinWarm {
		p.mu.Lock()
		p.live++ // reserved; newInstance gives it back on failure
		p.mu.Unlock()
		in, err := p.newInstance(ctx)
		if err != nil {
			p.Close(ctx)
			return nil, err
		}
		p.mu.Lock()
		p.idle = append(p.idle, in)
		p.mu.Unlock()
	}
	if cfg.IdleTimeout > 0 && cfg.MinWarm < cfg.Size {
		p.reaper.Go(p.reap)
	}
	return p, nil
}

// reap closes idle instances above MinWarm once they have been idle for
// IdleTimeout, until the pool closes.
func (p *Pool) reap() {
	t := time.NewTicker(max(p.cfg.IdleTimeout/2, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case now := <-t.C:
			p.shrink(now)
		}
	}
}

// shrink closes the instances above MinWarm idle since before
// now - IdleTimeout.
func (p *Pool) shrink(now time.Time) {
	p.mu.Lock()
	n := 0
	for n < len(p.idle) && p.live-n > p.cfg.MinWarm && now.Sub(p.idle[n].lastUsed) >= p.cfg.IdleTimeout {
		n++
	}
	old := append([]*instance(nil), p.idle[:n]...)
	p.idle = append(p.idle[:0], p.idle[n:]...)
	p.live -= n
	p.mu.Unlock()
	for _, in := range old {
		p.shrunk.Add(1)
		p.drop(in)
	}
}

// drop closes an instance the pool has let go of (it is neither idle nor
// in a call, and p.live no longer counts it).
func (p *Pool) drop(in *instance) {
	p.mu.Lock()
	delete(p.all, in)
	p.memBytes.Add(-int64(in.pages) * 65536)
	p.mu.Unlock()
	in.close()
}

// newInstance instantiates into a live slot the caller reserved (p.live
// already counts it, so the pool never exceeds Size); on failure it gives
// the slot back.
func (p *Pool) newInstance(ctx context.Context) (*instance, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.CallTimeout)
	defer cancel()
	gen := p.gen.Load() // before the configuration: a Renew meanwhile retires this one
	config := p.cfg.Config
	if p.cfg.ConfigOf != nil {
		config = p.cfg.ConfigOf()
	}
	in, err := p.e.instantiate(ctx, p.m, p.nextID.Add(1), &CallEnv{Config: config, Logger: p.cfg.Logger})
	if err != nil {
		p.mu.Lock()
		p.live--
		p.mu.Unlock()
		return nil, err
	}
	in.gen = gen
	in.pages = in.memoryPages()
	in.resident = in.residentBytes()
	in.lastUsed = time.Now()
	p.mu.Lock()
	p.all[in] = struct{}{}
	p.memBytes.Add(int64(in.pages) * 65536)
	p.mu.Unlock()
	return in, nil
}

// Renew retires every instance, idle ones at once and busy ones when their
// call ends, so that every later call runs in an instance started after
// it, with the configuration of that moment (ConfigOf): a module that reads
// its settings once, when it starts, sees the owner's new ones. No call
// fails or waits for it.
func (p *Pool) Renew() {
	p.gen.Add(1)
	p.mu.Lock()
	stale := p.idle
	p.idle = nil
	p.live -= len(stale)
	refill := !p.closed && p.live < p.cfg.MinWarm
	if refill {
		p.bg.Add(1) // under the lock, so Close's bg.Wait sees it
	}
	p.mu.Unlock()
	for _, in := range stale {
		p.recycled.Add(1)
		p.drop(in)
	}
	if refill {
		p.refill()
	}
}

func (p *Pool) acquire(ctx context.Context) (*instance, error) {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	select {
	case p.sem <- struct{}{}: // a free slot: no wait
	default:
		p.waiting.Add(1)
		t := time.NewTimer(p.cfg.AcquireTimeout)
		select {
		case p.sem <- struct{}{}:
		case <-t.C:
			p.waiting.Add(-1)
			return nil, fmt.Errorf("%w: %s: waited %s", ErrBusy, p.m.name, p.cfg.AcquireTimeout)
		case <-ctx.Done():
			p.waiting.Add(-1)
			t.Stop()
			return nil, fmt.Errorf("%w: %s: %w", ErrBusy, p.m.name, ctx.Err())
		}
		t.Stop()
		p.waiting.Add(-1)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.sem
		return nil, ErrClosed
	}
	var in *instance
	if n := len(p.idle); n > 0 {
		in = p.idle[n-1]
		p.idle = p.idle[:n-1]
	} else {
		p.live++ // reserve: we hold a slot token, so live stays <= Size
	}
	p.mu.Unlock()
	if in != nil && in.gen != p.gen.Load() { // started before a Renew: its slot serves a new one
		p.recycled.Add(1)
		p.drop(in)
		in = nil
	}
	if in == nil {
		var err error
		if in, err = p.newInstance(ctx); err != nil {
			<-p.sem
			return nil, err
		}
	}
	if !in.inUse.CompareAndSwap(false, true) {
		panic("engine: instance handed to two calls at once")
	}
	return in, nil
}

func (p *Pool) release(in *instance, failed bool) {
	in.inUse.Store(false)
	pages := in.memoryPages()
	discard := failed || in.calls >= p.cfg.MaxCalls || pages > p.cfg.MaxMemoryPages || in.gen != p.gen.Load()
	p.mu.Lock()
	keep := !discard && !p.closed
	if keep {
		p.memBytes.Add((int64(pages) - int64(in.pages)) * 65536)
		in.pages = pages
		in.lastUsed = time.Now()
		p.idle = append(p.idle, in)
	} else {
		p.live--
	}
	refill := !keep && !p.closed && p.live < p.cfg.MinWarm
	if refill {
		p.bg.Add(1) // under the lock, so Close's bg.Wait sees it
	}
	p.mu.Unlock()
	if !keep {
		if failed {
			p.discarded.Add(1)
		} else {
			p.recycled.Add(1)
		}
		p.drop(in)
	}
	<-p.sem
	if refill {
		p.refill()
	}
}

// refill instantiates a replacement in the background, keeping MinWarm.
// The caller has done p.bg.Add(1).
func (p *Pool) refill() {
	go func() {
		defer p.bg.Done()
		select {
		case p.sem <- struct{}{}:
		default:
			return // every slot is in use: no need
		}
		defer func() { <-p.sem }()
		p.mu.Lock()
		if p.closed || p.live >= p.cfg.MinWarm {
			p.mu.Unlock()
			return
		}
		p.live++
		p.mu.Unlock()
		in, err := p.newInstance(context.Background())
		if err != nil {
			p.cfg.Logger.Error("could not replace a module instance", "error", err)
			return
		}
		p.mu.Lock()
		if p.closed {
			p.live--
			p.mu.Unlock()
			p.drop(in)
			return
		}
		p.idle = append(p.idle, in)
		p.mu.Unlock()
	}()
}

// HTTP runs one request through an instance. The call's deadline is
// CallTimeout from now, or ctx's deadline if that is earlier; ctx's
// cancellation (a client going away) does not interrupt a guest call, only
// the deadline does.
func (p *Pool) HTTP(ctx context.Context, req *abi.HTTPRequest, env *CallEnv) (*abi.HTTPResponse, error) {
	in, err := p.acquire(ctx)
	if err != nil {
		return nil, err
	}
	if env.Logger == nil {
		env.Logger = p.cfg.Logger
	}
	st := &callState{env: env, deadline: time.Now().Add(p.cfg.CallTimeout)}
	if d, ok := ctx.Deadline(); ok && d.Before(st.deadline) {
		st.deadline = d
	}
	cctx, cancel := context.WithDeadline(withState(context.WithoutCancel(ctx), st), st.deadline)
	resp, err := in.serveHTTP(cctx, req, p.cfg.MaxResponseBytes)
	cancel()
	p.calls.Add(1)
	if err != nil && st.timedOut {
		err = fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	if err != nil {
		p.failures.Add(1)
		err = fmt.Errorf("%s (instance %d): %w", p.m.name, in.id, err)
	}
	p.release(in, err != nil)
	return resp, err
}

// Close waits for running calls to finish (or ctx to end), then closes every
// idle instance; instances still busy when ctx ends are closed as their calls
// return. Calls after Close fail with ErrClosed. Close is idempotent.
func (p *Pool) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	close(p.stop)
	p.reaper.Wait()
	var err error
	held := 0
wait:
	for range cap(p.sem) {
		select {
		case p.sem <- struct{}{}:
			held++
		case <-ctx.Done():
			err = fmt.Errorf("engine: close %s: %w", p.m.name, ctx.Err())
			break wait
		}
	}
	p.bg.Wait()
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.live -= len(idle)
	p.mu.Unlock()
	for _, in := range idle {
		p.drop(in)
	}
	for range held {
		<-p.sem
	}
	return err
}

// Stats is a snapshot of a pool's counters.
type Stats struct {
	Live, Idle int
	// MemoryBytes is the linear memory of the live instances as the guests
	// see it (their memory size, at their last release).
	MemoryBytes int64
	// MemoryResidentBytes is the part of it in physical memory: measured
	// now for idle instances, at their last measure for busy ones; -1 when
	// it cannot be told (Config.HeapMemory, or not Linux).
	MemoryResidentBytes int64
	// CodeBytes is the module's machine code in memory, shared by its
	// instances: the pages resident now when it is mapped from a file (the
	// default), else all of it; -1: unknown. WasmBytes is the
	// size of its wasm, which wazero keeps decoded on the Go heap (about
	// 1.7 times as much there: an estimate, see RATIONALE.md).
	CodeBytes, WasmBytes int64
	// Shrunk counts instances closed after IdleTimeout idle.
	Calls, Failures, Recycled, Discarded, Shrunk uint64
}

// Load is how busy a pool is now (Pool.Load).
type Load struct {
	// Size is the most instances alive at once (PoolConfig.Size).
	Size int
	// Live counts the instances alive or being made; Idle those of them
	// waiting for a call, so Live-Idle serve calls (or are being made for
	// one).
	Live, Idle int
	// Waiting counts the calls waiting for an instance (all Size busy).
	Waiting int
}

// Load returns how busy the pool is, cheaply (no system call: Stats
// measures memory, Load does not).
func (p *Pool) Load() Load {
	p.mu.Lock()
	l := Load{Size: p.cfg.Size, Live: p.live, Idle: len(p.idle)}
	p.mu.Unlock()
	l.Waiting = int(p.waiting.Load())
	return l
}

// Stats returns the pool's counters. It measures the idle instances'
// resident memory (a system call each).
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	s := Stats{Live: p.live, Idle: len(p.idle), CodeBytes: p.m.codeBytes(), WasmBytes: p.m.wasmBytes}
	for _, in := range p.idle { // not in a call: safe to look at
		in.resident = in.residentBytes()
	}
	for in := range p.all {
		if in.resident < 0 || s.MemoryResidentBytes < 0 {
			s.MemoryResidentBytes = -1
			continue
		}
		s.MemoryResidentBytes += in.resident
	}
	p.mu.Unlock()
	s.MemoryBytes = p.memBytes.Load()
	s.Calls, s.Failures = p.calls.Load(), p.failures.Load()
	s.Recycled, s.Discarded, s.Shrunk = p.recycled.Load(), p.discarded.Load(), p.shrunk.Load()
	return s
}
