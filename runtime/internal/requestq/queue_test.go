package requestq

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/websonic/websonic/internal/pgtest"
	"github.com/websonic/websonic/runtime/internal/coredb/coredbtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func waitListeners(t *testing.T, db DB, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := Listeners(context.Background(), db)
		if err == nil && got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d listeners, want %d (%v)", got, n, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestEachRequestOnce: three runtimes serve one site's queue while
// requests pour in from several senders; each request is carried out
// exactly once, by whichever runtime took it, and its sender gets its
// own answer. Overlapping Runs of one Queue (the server's and the
// updater's) share one listener session.
func TestEachRequestOnce(t *testing.T) {
	cdb, _ := coredbtest.Open(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var handled sync.Map // request module → count
	var total atomic.Int64
	var wg sync.WaitGroup
	for i := range 3 {
		q, err := New(ctx, Config{Pool: cdb.Pool})
		if err != nil {
			t.Fatal(err)
		}
		q.Handle("exec", func(ctx context.Context, r Request) (string, error) {
			n, _ := handled.LoadOrStore(r.Module, new(atomic.Int64))
			n.(*atomic.Int64).Add(1)
			total.Add(1)
			if r.Command == "fail" {
				return "", errors.New("failed as asked")
			}
			return fmt.Sprintf("%s by %d with %s", r.Module, i, r.Args), nil
		})
		for range 2 { // two overlapping runs, one listener
			wg.Add(1)
			go func() { defer wg.Done(); q.Run(ctx) }()
		}
	}
	waitListeners(t, cdb.Pool, 3)

	const senders, each = 4, 10
	var sent sync.WaitGroup
	for s := range senders {
		sent.Add(1)
		go func() {
			defer sent.Done()
			for i := range each {
				module := fmt.Sprintf("m%d-%d", s, i)
				cmd := "ok"
				if i%5 == 0 {
					cmd = "fail"
				}
				id, err := Enqueue(ctx, cdb.Pool, Request{Action: "exec", Module: module, Command: cmd, Args: []byte(`{"n": "1"}`), Actor: "test"})
				if err != nil {
					t.Error(err)
					return
				}
				wctx, wcancel := context.WithTimeout(ctx, time.Minute)
				res, err := Wait(wctx, cdb.Pool, id, nil)
				wcancel()
				switch {
				case cmd == "fail" && (!errors.Is(err, ErrFailed) || err.Error() != "failed as asked"):
					t.Errorf("%s: Wait = %q, %v", module, res, err)
				case cmd == "ok" && (err != nil || !strings.HasPrefix(res, module+" by ") || !strings.HasSuffix(res, `{"n": "1"}`)):
					t.Errorf("%s: Wait = %q, %v", module, res, err)
				}
			}
		}()
	}
	sent.Wait()
	if total.Load() != senders*each {
		t.Fatalf("%d requests carried out, want %d", total.Load(), senders*each)
	}
	handled.Range(func(k, v any) bool {
		if n := v.(*atomic.Int64).Load(); n != 1 {
			t.Errorf("%s carried out %d times", k, n)
		}
		return true
	})
	cancel()
	wg.Wait()
	waitListeners(t, cdb.Pool, 0)
}

// TestUnhandled: a request no one registered fails with the queue's
// Unhandled error, not silence.
func TestUnhandled(t *testing.T) {
	cdb, _ := coredbtest.Open(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	q, err := New(ctx, Config{Pool: cdb.Pool, Unhandled: func(r Request) error { return fmt.Errorf("no registry to %s", r.Action) }})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { q.Run(ctx); close(done) }()
	waitListeners(t, cdb.Pool, 1)
	id, err := Enqueue(ctx, cdb.Pool, Request{Action: "install", Module: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Wait(ctx, cdb.Pool, id, nil); !errors.Is(err, ErrFailed) || err.Error() != "no registry to install" {
		t.Fatalf("Wait = %v", err)
	}
	cancel()
	<-done
}

// TestWaitOutlastsAHandover: a request whose runtime is gone, with no
// runtime connected, is not given up at once: a graceful restart's new
// process connects a moment later and answers what the old one took (a
// self-update's own request). Wait returns that answer.
func TestWaitOutlastsAHandover(t *testing.T) {
	cdb, _ := coredbtest.Open(t)
	ctx := context.Background()
	var id int64
	// Taken by a session that is gone (pid 1), and no listener at all.
	if err := cdb.Pool.QueryRow(ctx, `INSERT INTO websonic.module_requests (action, module, status, taken_by, taken_at)
		VALUES ('runtime_update', 'websonic', 'running', 1, now()) RETURNING id`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	answered := make(chan struct{})
	time.AfterFunc(time.Second, func() { // the new process answers
		defer close(answered)
		if _, err := cdb.Pool.Exec(ctx, `UPDATE websonic.module_requests SET status = 'done', result = 'updated to 1.1.0' WHERE id = $1`, id); err != nil {
			t.Error(err)
		}
	})
	got, err := Wait(ctx, cdb.Pool, id, nil)
	<-answered
	if err != nil || got != "updated to 1.1.0" {
		t.Fatalf("Wait across a handover = %q, %v; want the new process's answer", got, err)
	}
}
