package server

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/websonic/websonic/internal/pgtest"
	"github.com/websonic/websonic/internal/tufrepo"
	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/runtime/internal/updater"
)

// console opens the site's console, as the CLI does.
func (e *updateEnv) console(t *testing.T) *Console {
	t.Helper()
	c, err := OpenConsole(context.Background(), Config{DataDir: e.dataDir, DatabaseURL: e.siteDB.URL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitListener waits until a runtime listens for module requests and
// returns its session's backend pid.
func (e *updateEnv) waitListener(t *testing.T) int32 {
	t.Helper()
	var pid int32
	waitFor(t, func() bool {
		err := e.site.srv.db.Pool.QueryRow(context.Background(),
			`SELECT pid FROM pg_stat_activity WHERE application_name = $1`, updater.ListenerName).Scan(&pid)
		return err == nil
	})
	return pid
}

func (e *updateEnv) requestStatus(t *testing.T, id int64) string {
	t.Helper()
	var status string
	if err := e.site.srv.db.Pool.QueryRow(context.Background(), `SELECT status FROM websonic.module_requests WHERE id = $1`, id).Scan(&status); err != nil {
		t.Fatal(err)
	}
	return status
}

// TestRequestWithNoRuntime: with no runtime answering, a request is
// refused at once and nothing is queued to run by surprise later.
func TestRequestWithNoRuntime(t *testing.T) {
	e := newUpdateEnv(t) // the runtime is open but does not Run
	ctx := context.Background()
	_, err := e.console(t).Request(ctx, ModuleRequest{Action: "rollback", Module: "versioned"}, RequestOptions{Wait: time.Hour})
	if !errors.Is(err, ErrNoRuntime) {
		t.Fatalf("Request with no runtime answering = %v", err)
	}
	var n int
	if err := e.site.srv.db.Pool.QueryRow(ctx, `SELECT count(*) FROM websonic.module_requests`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d requests queued (%v)", n, err)
	}
}

// TestOpenConsoleNeedsASite: the owner's commands never make a site, in a
// data directory or in an external database.
func TestOpenConsoleNeedsASite(t *testing.T) {
	ctx := context.Background()
	empty := t.TempDir()
	if _, err := OpenConsole(ctx, Config{DataDir: empty}); !errors.Is(err, ErrNoSite) || !strings.Contains(err.Error(), empty) {
		t.Fatalf("OpenConsole on an empty folder = %v", err)
	}
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Fatalf("OpenConsole created %v", entries)
	}
	db := pgtest.NewDB(t)
	if _, err := OpenConsole(ctx, Config{DataDir: t.TempDir(), DatabaseURL: db.URL}); !errors.Is(err, ErrNoSite) {
		t.Fatalf("OpenConsole on an empty database = %v", err)
	}
}

// TestRequestTakenByAStoppedRuntime: a request whose runtime stopped while
// working on it is reported so, and failed by the next start, which leaves
// alone what a live replica is working on.
func TestRequestTakenByAStoppedRuntime(t *testing.T) {
	e := newUpdateEnv(t)
	ctx := context.Background()
	pool := e.site.srv.db.Pool
	// A runtime took request 1 and died: its session (pid 1) is gone.
	var dead int64
	if err := pool.QueryRow(ctx, `INSERT INTO websonic.module_requests (action, module, status, taken_by, taken_at)
		VALUES ('rollback', 'versioned', 'running', 1, now()) RETURNING id`).Scan(&dead); err != nil {
		t.Fatal(err)
	}
	_, err := updater.Wait(ctx, pool, dead, nil)
	if !errors.Is(err, updater.ErrTakerGone) || !strings.Contains(err.Error(), "stopped before answering") {
		t.Fatalf("Wait on the request of a stopped runtime = %v", err)
	}

	// A live replica takes request 2 (its listener session is alive).
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go e.updater().Run(runCtx)
	live := e.waitListener(t)
	var taken int64
	if err := pool.QueryRow(ctx, `INSERT INTO websonic.module_requests (action, module, status, taken_by, taken_at)
		VALUES ('rollback', 'versioned', 'running', $1, now()) RETURNING id`, live).Scan(&taken); err != nil {
		t.Fatal(err)
	}
	// Another replica starts.
	srv, err := Open(ctx, Config{
		DataDir: t.TempDir(), DatabaseURL: e.siteDB.URL, RolePrefix: e.siteDB.Prefix(), Registry: e.proxy.URL, TrustedRoot: e.root,
		PlainLoopbackRegistry: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(ctx)
	if s := e.requestStatus(t, dead); s != "failed" {
		t.Errorf("the stopped runtime's request is %q after a start, want failed", s)
	}
	if s := e.requestStatus(t, taken); s != "running" {
		t.Errorf("a start failed the request a live runtime works on: %q", s)
	}
}

// installThenUpdate installs versioned@1.0.0, then updates it to 1.1.0
// through a check.
func (e *updateEnv) installThenUpdate(t *testing.T) {
	t.Helper()
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
}

// TestRollbackTwice: a second rollback does not go forward to the version
// the first one left.
func TestRollbackTwice(t *testing.T) {
	e := newUpdateEnv(t)
	ctx := context.Background()
	e.installThenUpdate(t)
	if _, err := e.updater().Rollback(ctx, "versioned"); err != nil {
		t.Fatal(err)
	}
	e.site.wantServing(t, "1.0.0")
	rel, err := e.updater().Rollback(ctx, "versioned")
	if !errors.Is(err, updater.ErrNothingOlder) || !strings.Contains(err.Error(), "install versioned@1.1.0") {
		t.Fatalf("second rollback = %v, %v; serving %s", rel, err, servingVersion(t, e))
	}
	e.site.wantServing(t, "1.0.0")
}

// TestPreviewBindsTheInstall: the owner sees what a release asks for, and
// the install that follows installs exactly that release or nothing.
func TestPreviewBindsTheInstall(t *testing.T) {
	e := newUpdateEnv(t)
	ctx := context.Background()
	noUsers := func(p *modhost.Package) { p.Manifest.Capabilities.CoreData = nil }
	e.publishVersion("1.0.0", noUsers)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go e.updater().Run(runCtx)
	c := e.console(t)
	e.waitListener(t)
	install := ModuleRequest{Action: "install", Module: "versioned"}
	p, err := c.Preview(ctx, install, RequestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != "1.0.0" || p.Digest == "" || len(p.Capabilities.Routes) == 0 || p.Installed != "" {
		t.Fatalf("preview %+v", p)
	}
	if ins, _ := e.updater().List(ctx); len(ins) != 0 {
		t.Fatalf("a preview installed %+v", ins)
	}
	// A newer release appears between the preview and the install.
	e.publishVersion("1.1.0")
	install.Digest = p.Digest
	if _, err := c.Request(ctx, install, RequestOptions{}); err == nil || !strings.Contains(err.Error(), "changed since it was confirmed") {
		t.Fatalf("install of a release other than the one shown = %v", err)
	}
	if ins, _ := e.updater().List(ctx); len(ins) != 0 {
		t.Fatalf("installed %+v", ins)
	}
	if p, err = c.Preview(ctx, ModuleRequest{Action: "install", Module: "versioned"}, RequestOptions{}); err != nil || p.Version != "1.1.0" {
		t.Fatalf("preview %+v %v", p, err)
	}
	install.Digest = p.Digest
	if _, err := c.Request(ctx, install, RequestOptions{}); err != nil {
		t.Fatal(err)
	}
	e.site.wantServing(t, "1.1.0")
}

// TestUnreachableRegistry: a registry that does not answer is called
// unreachable, with its address and the cause, not a refusal of its
// metadata; installed modules keep serving.
func TestUnreachableRegistry(t *testing.T) {
	e := newUpdateEnv(t)
	ctx := context.Background()
	e.publishVersion("1.0.0")
	if _, err := e.updater().Install(ctx, "versioned", "", tufrepo.ChannelStable, updater.PolicyAuto); err != nil {
		t.Fatal(err)
	}
	e.proxy.Close() // the registry's address stops answering
	for name, op := range map[string]func() error{
		"install": func() error {
			_, err := e.updater().Install(ctx, "versioned", "", tufrepo.ChannelStable, updater.PolicyAuto)
			return err
		},
		"check": func() error { return e.updater().Check(ctx) },
	} {
		err := op()
		if !errors.Is(err, updater.ErrUnreachable) || !strings.Contains(err.Error(), e.proxy.URL) || !strings.Contains(err.Error(), "connection refused") ||
			strings.Contains(err.Error(), "refused:") {
			t.Errorf("%s with the registry unreachable = %v", name, err)
		}
	}
	if ev := e.lastEvent(); ev.Outcome != "alert" || !strings.Contains(ev.Reason, "registry unreachable: "+e.proxy.URL) {
		t.Errorf("the owner was told %+v", ev)
	}
	e.site.wantServing(t, "1.0.0")
}
