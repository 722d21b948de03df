package pgnotify_test

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/websonic/websonic/internal/pgtest"
	"github.com/websonic/websonic/runtime/internal/coredb/coredbtest"
	"github.com/websonic/websonic/runtime/internal/pgnotify"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestChannel(t *testing.T) {
	ctx := context.Background()
	a, _ := coredbtest.Open(t)
	b, _ := coredbtest.Open(t)
	first, err := pgnotify.Channel(ctx, a.Pool, "modules")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^websonic_modules_[0-9a-f]{32}$`).MatchString(first) {
		t.Errorf("channel %q", first)
	}
	again, err := pgnotify.Channel(ctx, a.Pool, "modules")
	if err != nil || again != first {
		t.Errorf("second call = %q, %v; want %q", again, err, first)
	}
	other, err := pgnotify.Channel(ctx, b.Pool, "modules")
	if err != nil || other == first {
		t.Errorf("another site's channel = %q, %v; want a different one", other, err)
	}
	for _, bad := range []string{"", "Modules", "a-b", "x; DROP TABLE y", "abcdefghijklmnopqrstuvwxyz"} {
		if _, err := pgnotify.Channel(ctx, a.Pool, bad); err == nil {
			t.Errorf("purpose %q accepted", bad)
		}
	}
}

// TestListenerCoalesces: a burst of notifications wakes the reader once.
func TestListenerCoalesces(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, _ := coredbtest.Open(t)
	ch, err := pgnotify.Channel(ctx, db.Pool, "test")
	if err != nil {
		t.Fatal(err)
	}
	l := pgnotify.Listen(ctx, pgnotify.ListenConfig{Pool: db.Pool, Channel: ch})
	<-l.C() // the wake after connecting
	const n = 500
	for i := range n {
		// Separate transactions: PostgreSQL folds equal notifications of
		// one transaction into one.
		if _, err := db.Pool.Exec(ctx, `SELECT pg_notify($1, $2::int::text)`, ch, i); err != nil {
			t.Fatal(err)
		}
	}
	for l.Received() < n {
		select {
		case <-l.Done():
			t.Fatal("listener stopped")
		case <-time.After(10 * time.Millisecond):
		}
	}
	wakes := 0
	for {
		select {
		case <-l.C():
			wakes++
			continue
		default:
		}
		break
	}
	if wakes != 1 {
		t.Errorf("%d notifications woke the reader %d times, want once", n, wakes)
	}
	cancel()
	<-l.Done()
}
