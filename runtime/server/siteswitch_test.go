package server

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/runtime/internal/privacy"
	"github.com/websonic/websonic/runtime/internal/requestq"
)

// logWatch passes a runtime's log to the test's and tells when a line
// holding one of its words was written.
type logWatch struct {
	t     testing.TB
	mu    sync.Mutex
	words map[string]chan struct{}
}

func newLogWatch(t testing.TB, words ...string) *logWatch {
	w := &logWatch{t: t, words: map[string]chan struct{}{}}
	for _, s := range words {
		w.words[s] = make(chan struct{})
	}
	return w
}

func (w *logWatch) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	w.mu.Lock()
	defer w.mu.Unlock()
	for s, c := range w.words {
		if strings.Contains(string(p), s) {
			close(c)
			delete(w.words, s)
		}
	}
	return len(p), nil
}

// seen waits until a line with word was logged (or fails after a
// generous while: the switch's notification, or the 30 s re-read, must
// have come by then).
func (w *logWatch) seen(t testing.TB, word string) {
	t.Helper()
	w.mu.Lock()
	c, ok := w.words[word]
	w.mu.Unlock()
	if !ok {
		return
	}
	select {
	case <-c:
	case <-time.After(2 * time.Minute):
		t.Fatalf("the runtime never logged %q", word)
	}
}

// watchedSite is newSite logging at Info through a logWatch for words.
func watchedSite(t *testing.T, words ...string) (*testSite, *logWatch) {
	t.Helper()
	mods, err := modulesDir()
	if err != nil {
		t.Fatal(err)
	}
	watch := newLogWatch(t, words...)
	return newSiteWith(t, mods, hclog.New(&hclog.LoggerOptions{Level: hclog.Info, Output: watch})), watch
}

// TestCloseWhileTakingUpASwitch: a runtime closing while it takes a
// switched-in site up (on the module_state notification) closes; it
// does not wait for a reload that waits for the Close.
func TestCloseWhileTakingUpASwitch(t *testing.T) {
	s, watch := watchedSite(t, "taking it up")
	ctx := context.Background()

	// Hold the data keys' table: the take-up stops at its first step
	// (reading the keys again) until the Close cancels it.
	conn, err := s.srv.db.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	holder := conn.Hijack() // outside the pool, which Close closes
	defer holder.Close(ctx)
	tx, err := holder.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `LOCK TABLE websonic.data_keys IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}

	if err := (siteLogins{}).keep(ctx, s.srv.db, nil); err != nil { // a switch: new incarnation, notified
		t.Fatal(err)
	}
	watch.seen(t, "taking it up")
	// Asked outside the holder's transaction, which would see its first
	// snapshot of pg_stat_activity for good (and hang when that was taken
	// before the take-up waited, as under load).
	deadline := time.Now().Add(2 * time.Minute)
	for waiting := 0; waiting == 0; time.Sleep(20 * time.Millisecond) {
		if err := s.srv.db.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND query LIKE '%websonic.data_keys%' AND pid <> pg_backend_pid()`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the take-up never waited on the data keys' lock")
		}
	}

	closed := make(chan error, 1)
	go func() { closed <- s.srv.Close(ctx) }()
	select {
	case err := <-closed:
		if err != nil {
			t.Logf("close: %v", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("Close never returned: it waits for the take-up, which waits for the server's lock Close holds")
	}
}

// TestSiteReloadReportsTheTakeUp: the site_reload request reports how the
// runtime took the switched-in site up, also when the switch's
// notification got there first: a take-up that failed (here: the data key
// is another site's) is an error, which the restore command turns into
// advice, not "took up the imported site".
func TestSiteReloadReportsTheTakeUp(t *testing.T) {
	s, watch := watchedSite(t, "took up an imported site")
	ctx := context.Background()

	key := make([]byte, 32)
	rand.Read(key)
	b, err := json.Marshal(map[string]any{"version": 1, "keys": []map[string]any{{"id": 1, "key": key, "created": time.Now().UTC()}}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(s.srv.cfg.DataDir, privacy.KeyFile)
	if err := os.WriteFile(path+".other", b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".other", path); err != nil {
		t.Fatal(err)
	}

	if err := (siteLogins{}).keep(ctx, s.srv.db, nil); err != nil {
		t.Fatal(err)
	}
	watch.seen(t, "took up an imported site") // the notification's take-up ran
	res, err := s.srv.handleSiteReload(ctx, requestq.Request{Action: ActionSiteReload})
	if err == nil || !strings.Contains(err.Error(), privacy.ErrKeyMismatch.Error()) {
		t.Fatalf("site_reload after a take-up that failed: %q, %v; want the key mismatch", res, err)
	}
	if res, err := s.srv.handleSiteReload(ctx, requestq.Request{Action: ActionSiteReload}); err == nil {
		t.Fatalf("asked again: %q, want the same error", res)
	}
}
