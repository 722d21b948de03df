package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/websonic/websonic/internal/tufrepo"
	"github.com/websonic/websonic/runtime/internal/updater"
)

// moduleUpdates lists the audit log's module.update entries (from, to).
func (e *updateEnv) moduleUpdates(t *testing.T) [][2]string {
	t.Helper()
	rows, err := e.site.srv.db.Pool.Query(context.Background(),
		`SELECT detail->>'from', detail->>'to' FROM websonic.audit_log WHERE action = 'module.update' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][2]string
	for rows.Next() {
		var f, to string
		if err := rows.Scan(&f, &to); err != nil {
			t.Fatal(err)
		}
		out = append(out, [2]string{f, to})
	}
	return out
}

// TestRollbackRefusesRevoked: right after a restart (no refresh yet), a
// rollback to a version its publisher revoked is refused.
func TestRollbackRefusesRevoked(t *testing.T) {
	e := newUpdateEnv(t)
	ctx := context.Background()
	e.installThenUpdate(t)
	if err := e.pub.Revoke(ctx, "versioned", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	// The runtime restarts (the registry is up and lists 1.0.0 as revoked).
	e.site.srv.Close(ctx)
	e.start()
	e.site.wantServing(t, "1.1.0")
	rel, err := e.updater().Rollback(ctx, "versioned")
	if err == nil {
		t.Fatalf("Rollback installed %s@%s, which the publisher revoked; serving now: %v", rel.Module, rel.Version, servingVersion(t, e))
	}
	if !errors.Is(err, tufrepo.ErrRevoked) && !errors.Is(err, updater.ErrVerify) {
		t.Fatalf("Rollback = %v", err)
	}
}

func servingVersion(t *testing.T, e *updateEnv) string {
	_, b := get(t, http.DefaultClient, e.site.URL+"/versioned")
	return b
}

// TestReconcileNeverUndoesAnUpdate: a reconcile pass that listed the
// installations before an update committed, and reaches the module after
// the update switched, must not swap the old version back from its stale
// list. The pass is held at the module listed before it (one recorded but
// not startable, whose start asks the registry), across the whole update.
func TestReconcileNeverUndoesAnUpdate(t *testing.T) {
	e := newUpdateEnv(t)
	ctx := context.Background()
	e.publishVersion("1.0.0")
	if _, err := e.updater().Install(ctx, "versioned", "", tufrepo.ChannelStable, updater.PolicyAuto); err != nil {
		t.Fatal(err)
	}
	e.publishVersion("1.1.0", withDistinctWasm("1.1.0"))
	// The update's download hangs until released, after its metadata.
	// Then the first metadata request (the reconcile pass's) hangs until
	// released.
	blobRelease, blobHung := make(chan struct{}), make(chan struct{})
	metaRelease, metaHung := make(chan struct{}), make(chan struct{})
	var blobFirst, metaArmed, metaFirst atomic.Bool
	f := func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		switch {
		case strings.Contains(r.URL.Path, "/blobs/") && blobFirst.CompareAndSwap(false, true):
			close(blobHung)
			<-blobRelease
		case strings.HasPrefix(r.URL.Path, "/v1/tuf/") && metaArmed.Load() && metaFirst.CompareAndSwap(false, true):
			close(metaHung)
			<-metaRelease
		}
		return false
	}
	e.tamper.Store(&f)
	checked := make(chan error, 1)
	go func() { checked <- e.updater().Check(ctx) }()
	select {
	case <-blobHung:
	case err := <-checked:
		t.Fatalf("the update ended (%v) before its download hung", err)
	}
	// A module recorded as installed that does not start; its name sorts
	// first, so the pass takes it before versioned.
	if _, err := e.site.srv.db.Pool.Exec(ctx, `INSERT INTO websonic.module_installs (name, version, digest, approved)
		VALUES ('aaa', '1.0.0', 'sha256:'||repeat('0', 64), '{}')`); err != nil {
		t.Fatal(err)
	}
	metaArmed.Store(true)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go e.updater().Run(runCtx)
	<-metaHung // the pass has listed versioned@1.0.0 and asks the registry for aaa
	close(blobRelease)
	if err := <-checked; err != nil {
		t.Fatal(err)
	}
	e.site.wantServing(t, "1.1.0")
	close(metaRelease)
	// The pass is over once the reconciler waits again.
	waitGoroutine(t, "done reconciling", func(state string, stack []string) bool {
		return strings.HasPrefix(state, "select") && calls(stack, "updater.(*Updater).reconciler(") &&
			!calls(stack, "updater.(*Updater).reconcile(")
	})
	if b := servingVersion(t, e); b != "versioned 1.1.0" {
		ins, _ := e.updater().List(ctx)
		var rec string
		for _, in := range ins {
			if in.Name == "versioned" {
				rec = in.Version
			}
		}
		t.Fatalf("after the update to 1.1.0 committed and switched, the runtime serves %q (recorded: %s); module.update entries: %v", b, rec, e.moduleUpdates(t))
	}
	if ups := e.moduleUpdates(t); !slices.Equal(ups, [][2]string{{"1.0.0", "1.1.0"}}) {
		t.Fatalf("module.update entries %v, want only 1.0.0 to 1.1.0", ups)
	}
}

// waitGoroutine waits until one of the test binary's goroutines is in the
// state match wants (state is its wait reason, as "select" or
// "sync.Mutex.Lock"; stack its function lines, innermost first): for a
// goroutine that stops where the code under test offers no event to wait
// on.
func waitGoroutine(t *testing.T, what string, match func(state string, stack []string) bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute) // a hang detector, not a timing check
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n == len(buf) {
			buf = make([]byte, 2*len(buf))
			continue
		}
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			lines := strings.Split(g, "\n")
			_, state, _ := strings.Cut(lines[0], "[")
			var stack []string
			for _, l := range lines[1:] {
				if !strings.HasPrefix(l, "\t") {
					stack = append(stack, l)
				}
			}
			if match(state, stack) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no goroutine %s within a minute", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// calls reports whether a function line of stack contains fn.
func calls(stack []string, fn string) bool {
	return slices.ContainsFunc(stack, func(l string) bool { return strings.Contains(l, fn) })
}

// TestRequestTimeoutSaysWhatHappened: when the CLI stops waiting while a
// runtime works on its request, it says that the request was taken and
// still runs, naming the runtime, and leaves it running: the install then
// completes.
func TestRequestTimeoutSaysWhatHappened(t *testing.T) {
	e := newUpdateEnv(t)
	ctx := context.Background()
	e.publishVersion("1.0.0")
	downloading, release := e.holdDownloads(t)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go e.updater().Run(runCtx)
	c := e.console(t)
	listener := e.waitListener(t)

	// The CLI gives up (its wait ends) once the runtime is downloading.
	waitCtx, giveUp := context.WithCancel(ctx)
	done := make(chan error, 1)
	var seen []string // what the progress said, in order
	running := make(chan struct{})
	var sawRunning sync.Once
	go func() {
		_, err := c.Request(waitCtx, ModuleRequest{Action: "install", Module: "versioned"}, RequestOptions{
			Wait: time.Hour,
			Progress: func(st RequestState) {
				if seen = append(seen, st.Status); st.Status == "running" {
					sawRunning.Do(func() { close(running) })
				}
			},
		})
		done <- err
	}()
	<-downloading
	<-running // the CLI saw it taken
	giveUp()
	err := <-done
	if seen[0] != "pending" || seen[len(seen)-1] != "running" {
		t.Errorf("progress reported %v, want pending first and running last", seen)
	}
	var re *updater.RequestError
	if !errors.As(err, &re) || !errors.Is(err, updater.ErrStillRunning) || !strings.Contains(err.Error(), "still running") ||
		!strings.Contains(err.Error(), fmt.Sprintf("database session %d", listener)) {
		t.Fatalf("the CLI reported %v for a request the runtime (session %d) had taken and was working on", err, listener)
	}
	if status := e.requestStatus(t, re.State.ID); status != "running" {
		t.Fatalf("after the CLI gave up, the request it reported as still running is %q", status)
	}
	release()
	waitFor(t, func() bool {
		_, b := get(t, http.DefaultClient, e.site.URL+"/versioned")
		return b == "versioned 1.0.0"
	})
	waitFor(t, func() bool { return e.requestStatus(t, re.State.ID) == "done" })
}

// holdDownloads makes the registry hold blob downloads until release is
// called (at the latest when the test ends); downloading is closed when
// the first one arrives.
func (e *updateEnv) holdDownloads(t *testing.T) (downloading <-chan struct{}, release func()) {
	started, held := make(chan struct{}), make(chan struct{})
	var first, done sync.Once
	f := func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		if strings.Contains(r.URL.Path, "/blobs/") {
			first.Do(func() { close(started) })
			<-held
		}
		return false
	}
	e.tamper.Store(&f)
	release = func() { done.Do(func() { close(held) }) }
	t.Cleanup(release)
	return started, release
}

// TestNeverTakenRequestIsCancelled: a request no runtime took when the CLI
// stops waiting (the runtime is busy with another) is cancelled, said so,
// and never runs later.
func TestNeverTakenRequestIsCancelled(t *testing.T) {
	e := newUpdateEnv(t)
	ctx := context.Background()
	e.publishVersion("1.0.0")
	downloading, release := e.holdDownloads(t)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go e.updater().Run(runCtx)
	c := e.console(t)
	e.waitListener(t)
	first := make(chan error, 1)
	go func() {
		_, err := c.Request(ctx, ModuleRequest{Action: "install", Module: "versioned"}, RequestOptions{Wait: time.Hour})
		first <- err
	}()
	<-downloading // the runtime is busy with the install

	waitCtx, giveUp := context.WithCancel(ctx)
	defer giveUp()
	_, err := c.Request(waitCtx, ModuleRequest{Action: "policy", Module: "versioned", Policy: "pinned"}, RequestOptions{
		Wait: time.Hour,
		Progress: func(st RequestState) {
			if st.Status == "pending" {
				giveUp()
			}
		},
	})
	var re *updater.RequestError
	if !errors.As(err, &re) || !errors.Is(err, updater.ErrNotTaken) || !strings.Contains(err.Error(), "never taken") {
		t.Fatalf("the CLI reported %v for a request no runtime took", err)
	}
	if status := e.requestStatus(t, re.State.ID); status != "cancelled" {
		t.Fatalf("the request the CLI gave up on is %q, want cancelled", status)
	}
	release()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	// A later request is answered, and the cancelled one was not run
	// before it (requests run in order).
	if _, err := c.Request(ctx, ModuleRequest{Action: "policy", Module: "versioned", Channel: "stable"}, RequestOptions{}); err != nil {
		t.Fatal(err)
	}
	if status := e.requestStatus(t, re.State.ID); status != "cancelled" {
		t.Fatalf("the cancelled request became %q", status)
	}
	ins, err := e.updater().List(ctx)
	if err != nil || len(ins) != 1 || ins[0].Policy != updater.PolicyAuto {
		t.Fatalf("installed %+v (%v): the cancelled policy request ran", ins, err)
	}
}
