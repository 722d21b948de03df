package engine

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/websonic/websonic/sdk/abi"
)

// holdDB holds a guest call inside the host: the hostile module's
// POST /hostile/sql with the body "hold" blocks in its first database
// request until release is closed (or the call's deadline). Every request
// then fails with the error "held", which the guest reports in its answer.
type holdDB struct {
	once    sync.Once
	entered chan struct{} // closed when the call is held
	release chan struct{}
}

func newHoldDB() *holdDB {
	return &holdDB{entered: make(chan struct{}), release: make(chan struct{})}
}

func (h *holdDB) Do(ctx context.Context, req []byte) []byte {
	var r abi.DBRequest
	if err := r.Unmarshal(req); err == nil && r.SQL == "hold" {
		h.once.Do(func() { close(h.entered) })
		select {
		case <-h.release:
		case <-ctx.Done():
		}
	}
	return (&abi.DBResult{Err: &abi.DBError{Message: "held"}}).AppendMarshal(nil)
}

// hold starts a call that the pool's instance serves until h.release is
// closed; it returns once the call is inside the guest, and the call's
// outcome arrives on the channel.
func hold(t *testing.T, p *Pool, h *holdDB) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		resp, err := p.HTTP(context.Background(), &abi.HTTPRequest{Method: "POST", URI: "/hostile/sql", Host: "test", Body: []byte("hold")}, &CallEnv{DB: h})
		if err == nil {
			var out struct{ Error string }
			if jerr := json.Unmarshal(resp.Body, &out); jerr != nil || resp.Status != 200 || !strings.Contains(out.Error, "held") {
				err = errors.New("the held call answered " + string(resp.Body))
			}
		}
		done <- err
	}()
	select {
	case <-h.entered:
	case err := <-done:
		t.Fatalf("the call ended before it was held: %v", err)
	}
	return done
}

// doneSpy is a context that reports when Done is first asked for: a Close
// waiting for a slot asks for it, so the test knows that Close waits
// without sleeping.
type doneSpy struct {
	context.Context
	once  sync.Once
	asked chan struct{}
}

func newDoneSpy(ctx context.Context) *doneSpy {
	return &doneSpy{Context: ctx, asked: make(chan struct{})}
}

func (c *doneSpy) Done() <-chan struct{} {
	c.once.Do(func() { close(c.asked) })
	return c.Context.Done()
}

// TestBusyPool: while the only instance serves a call, another call fails
// with ErrBusy after AcquireTimeout; once it is free, calls succeed.
func TestBusyPool(t *testing.T) {
	e := newEngine(t, Config{})
	p := hostilePool(t, e, PoolConfig{Size: 1, AcquireTimeout: 50 * time.Millisecond, CallTimeout: time.Hour})
	h := newHoldDB()
	held := hold(t, p, h)
	if _, err := get(p, "/hostile/ok"); !errors.Is(err, ErrBusy) {
		t.Fatalf("err = %v, want ErrBusy while the only instance is busy", err)
	}
	close(h.release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if resp, err := get(p, "/hostile/ok"); err != nil || string(resp.Body) != "ok" {
		t.Fatalf("after the call: %v", err)
	}
}

// TestCloseWaitsForCalls: Close refuses new calls at once, returns only
// after the running call has finished (which gets its whole answer), and
// leaves no instance alive.
func TestCloseWaitsForCalls(t *testing.T) {
	e := newEngine(t, Config{})
	p := hostilePool(t, e, PoolConfig{Size: 1, CallTimeout: time.Hour})
	h := newHoldDB()
	held := hold(t, p, h)
	ctx := newDoneSpy(context.Background())
	closed := make(chan error, 1)
	go func() { closed <- p.Close(ctx) }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a call was running", err)
	case <-ctx.asked:
		// Close waits: for the call's slot, or for ctx, which never ends.
	}
	if _, err := get(p, "/hostile/ok"); !errors.Is(err, ErrClosed) {
		t.Fatalf("a call to a closing pool: err = %v, want ErrClosed", err)
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a call was running", err)
	default:
	}
	close(h.release)
	if err := <-held; err != nil {
		t.Fatalf("the call running during Close: %v", err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if s := p.Stats(); s.Live != 0 || s.Idle != 0 || s.MemoryBytes != 0 {
		t.Fatalf("stats = %+v after Close", s)
	}
}

// TestCloseGivesUpWithItsContext: when Close's context ends before a
// running call, Close says so; the call still finishes, and its instance
// is closed as it returns.
func TestCloseGivesUpWithItsContext(t *testing.T) {
	e := newEngine(t, Config{})
	p := hostilePool(t, e, PoolConfig{Size: 2, MinWarm: 2, CallTimeout: time.Hour})
	h := newHoldDB()
	held := hold(t, p, h)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close with a call running and its context over: err = %v, want context.Canceled", err)
	}
	if s := p.Stats(); s.Live != 1 || s.Idle != 0 {
		t.Fatalf("stats = %+v: Close must close the idle instance and leave the busy one to its call", s)
	}
	close(h.release)
	if err := <-held; err != nil {
		t.Fatalf("the call running during Close: %v", err)
	}
	if s := p.Stats(); s.Live != 0 || s.MemoryBytes != 0 {
		t.Fatalf("stats = %+v: the busy instance outlived its call", s)
	}
}

// TestRenew: Renew retires the idle instances at once and a busy one when
// its call ends (which itself finishes normally); every later call runs in
// a new instance.
func TestRenew(t *testing.T) {
	e := newEngine(t, Config{})
	p := hostilePool(t, e, PoolConfig{Size: 1, CallTimeout: time.Hour})
	if _, err := get(p, "/hostile/ok"); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Recycled != 0 || st.Idle != 1 {
		t.Fatalf("before Renew: %+v", st)
	}
	p.Renew()
	if st := p.Stats(); st.Recycled != 1 || st.Idle != 0 {
		t.Fatalf("after Renew, the idle instance is still there: %+v", st)
	}
	h := newHoldDB()
	held := hold(t, p, h)
	p.Renew() // the instance serving the held call was started before it
	close(h.release)
	if err := <-held; err != nil {
		t.Fatalf("the call running during Renew: %v", err)
	}
	if st := p.Stats(); st.Recycled != 2 || st.Idle != 0 {
		t.Fatalf("the busy instance was not retired after its call: %+v", st)
	}
	if resp, err := get(p, "/hostile/ok"); err != nil || string(resp.Body) != "ok" {
		t.Fatalf("after Renew: %v", err)
	}
	if st := p.Stats(); st.Recycled != 2 || st.Idle != 1 {
		t.Fatalf("the new instance does not serve again: %+v", st)
	}
}
