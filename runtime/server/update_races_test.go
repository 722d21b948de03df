package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
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
	e.publishVersion("1.0.0")
	if _, err := e.updater().Install(ctx, "versioned", "", tufrepo.ChannelStable, updater.PolicyAuto); err != nil {
		t.Fatal(err)
	}
	e.publishVersion("1.1.0", withDistinctWasm("1.1.0"))
	if err := e.updater().Check(ctx); err != nil {
		t.Fatal(err)
	}
	e.site.wantServing(t, "1.1.0")
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

// TestReconcileNeverUndoesAnUpdate: a reconcile pass waiting for the
// updater's lock while an update finishes must not swap the old version
// back from its stale list.
func TestReconcileNeverUndoesAnUpdate(t *testing.T) {
	e := newUpdateEnv(t)
	ctx := context.Background()
	e.publishVersion("1.0.0")
	if _, err := e.updater().Install(ctx, "versioned", "", tufrepo.ChannelStable, updater.PolicyAuto); err != nil {
		t.Fatal(err)
	}
	e.publishVersion("1.1.0", withDistinctWasm("1.1.0"))
	// 1.1.0's download hangs until released: the update holds the lock.
	release := make(chan struct{})
	var hung atomic.Bool
	f := func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		if strings.Contains(r.URL.Path, "/blobs/") && hung.CompareAndSwap(false, true) {
			<-release
		}
		return false
	}
	e.tamper.Store(&f)
	checked := make(chan error, 1)
	go func() { checked <- e.updater().Check(ctx) }()
	waitFor(t, hung.Load)
	// A module recorded as installed that does not start.
	if _, err := e.site.srv.db.Pool.Exec(ctx, `INSERT INTO websonic.module_installs (name, version, digest, approved)
		VALUES ('aaa', '1.0.0', 'sha256:'||repeat('0', 64), '{}')`); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go e.updater().Run(runCtx) // reconcile lists versioned@1.0.0, then waits on the lock for aaa
	time.Sleep(2 * time.Second)
	close(release)
	if err := <-checked; err != nil {
		t.Fatal(err)
	}
	e.site.wantServing(t, "1.1.0")
	deadline := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadline) {
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
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRequestTimeoutSaysWhatHappened: when the CLI stops waiting while a
// runtime works on its request, it says so instead of "nobody answered".
func TestRequestTimeoutSaysWhatHappened(t *testing.T) {
	e := newUpdateEnv(t)
	ctx := context.Background()
	e.publishVersion("1.0.0")
	release := make(chan struct{})
	f := func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		if strings.Contains(r.URL.Path, "/blobs/") {
			<-release
		}
		return false
	}
	e.tamper.Store(&f)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go e.updater().Run(runCtx)
	_, err := Request(ctx, Config{DataDir: e.dataDir, DatabaseURL: e.siteDB.URL}, ModuleRequest{Action: "install", Module: "versioned"}, 3*time.Second)
	var status string
	e.site.srv.db.Pool.QueryRow(ctx, `SELECT status FROM websonic.module_requests ORDER BY id DESC LIMIT 1`).Scan(&status)
	close(release)
	waitFor(t, func() bool {
		_, b := get(t, http.DefaultClient, e.site.URL+"/versioned")
		return b == "versioned 1.0.0"
	})
	if status == "running" && (err == nil || !strings.Contains(err.Error(), "still working")) {
		t.Fatalf("the CLI reported %v while the request's status was %q, and the install then completed", err, status)
	}
}

// TestUnansweredRequestIsCancelled: with no runtime answering, the CLI's
// request is cancelled when it stops waiting, so it cannot run by surprise
// at a later start.
func TestUnansweredRequestIsCancelled(t *testing.T) {
	e := newUpdateEnv(t)
	ctx := context.Background()
	_, err := Request(ctx, Config{DataDir: e.dataDir, DatabaseURL: e.siteDB.URL}, ModuleRequest{Action: "rollback", Module: "versioned"}, time.Second)
	if err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Fatalf("Request with no runtime running = %v", err)
	}
	var pending int
	if err := e.site.srv.db.Pool.QueryRow(ctx, `SELECT count(*) FROM websonic.module_requests WHERE status = 'pending'`).Scan(&pending); err != nil || pending != 0 {
		t.Fatalf("%d requests still pending (%v)", pending, err)
	}
}
