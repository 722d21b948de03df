package jobs

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/internal/pgtest"
	"github.com/websonic/websonic/runtime/internal/coredb/coredbtest"
	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/manifest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// guest stands for a running module version (the real ones run in the
// server's tests): it counts the calls of each job and tick, and reports
// a job running twice at once.
type guest struct {
	man     *manifest.Manifest
	mu      sync.Mutex
	calls   map[string]int // "job tick" → calls
	running map[string]bool
	overlap atomic.Bool
	delay   time.Duration
}

func newGuest(name string, schedules ...manifest.Schedule) *guest {
	return &guest{man: &manifest.Manifest{Name: name, Version: "1.0.0", Capabilities: manifest.Capabilities{Schedules: schedules}},
		calls: map[string]int{}, running: map[string]bool{}}
}

func (g *guest) Manifest() *manifest.Manifest { return g.man }

func (g *guest) Call(ctx context.Context, path string, user *abi.User, body []byte, id string) (*abi.HTTPResponse, error) {
	var c Call
	if err := json.Unmarshal(body, &c); err != nil || path != abi.JobPathPrefix+c.Job || user != nil {
		return &abi.HTTPResponse{Status: http.StatusBadRequest}, nil
	}
	g.mu.Lock()
	if g.running[c.Job] {
		g.overlap.Store(true)
	}
	g.running[c.Job] = true
	g.calls[c.Job+" "+c.Tick.Format("15:04")]++
	g.mu.Unlock()
	time.Sleep(g.delay)
	g.mu.Lock()
	g.running[c.Job] = false
	g.mu.Unlock()
	return &abi.HTTPResponse{Status: http.StatusOK}, nil
}

func (g *guest) count(key string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls[key]
}

// TestHammerExactlyOnce: four replicas whose clocks differ by up to 3 s
// poll concurrently, every 10 s of their clocks, through 30 ticks of two
// jobs: every tick of every job runs exactly once, and never while the job
// runs elsewhere. (The clock waits for the runs between polls: a run that
// took a whole minute would make the next tick skipped.)
func TestHammerExactlyOnce(t *testing.T) {
	cdb, _ := coredbtest.Open(t)
	ctx := context.Background()
	base := time.Date(2030, 1, 1, 0, 0, 30, 0, time.UTC)
	var now atomic.Int64
	now.Store(base.UnixNano())
	g := newGuest("m", manifest.Schedule{Name: "a", Cron: "* * * * *"}, manifest.Schedule{Name: "b", Cron: "*/2 * * * *"})
	var scheds []*Scheduler
	for i := range 4 {
		skew := time.Duration(i-2) * 1500 * time.Millisecond
		scheds = append(scheds, mustNew(t, Config{Pool: cdb.Pool, Modules: func() []Module { return []Module{g} },
			Now: func() time.Time { return time.Unix(0, now.Load()).Add(skew) }, Logger: testLogger(t)}))
	}
	for step := 0; step < 30*6; step++ { // every 10 s for 30 minutes
		now.Add(int64(10 * time.Second))
		var wg sync.WaitGroup
		for _, s := range scheds {
			wg.Add(1)
			go func() { defer wg.Done(); s.Poll(ctx) }()
		}
		wg.Wait()
		for _, s := range scheds {
			s.Wait()
		}
	}
	for m := 1; m <= 30; m++ {
		tick := base.Add(time.Duration(m)*time.Minute - 30*time.Second).Format("15:04")
		if n := g.count("a " + tick); n != 1 {
			t.Errorf("job a at %s ran %d times", tick, n)
		}
		if n := g.count("b " + tick); m%2 == 0 && n != 1 || m%2 == 1 && n != 0 {
			t.Errorf("job b at %s ran %d times", tick, n)
		}
	}
	if g.overlap.Load() {
		t.Error("a job ran twice at once")
	}
	var rows int
	if err := cdb.Pool.QueryRow(ctx, `SELECT count(*) FROM websonic.job_runs WHERE module = 'm' AND job = 'a'`).Scan(&rows); err != nil || rows != 20 {
		t.Errorf("%d runs of a kept, want the 20 newest (%v)", rows, err)
	}
}

// TestFollowsTheModules: a swapped-in version's schedules replace the old
// ones (a dropped job is forgotten), and a stopped module's jobs stop.
func TestFollowsTheModules(t *testing.T) {
	cdb, _ := coredbtest.Open(t)
	ctx := context.Background()
	clock := time.Date(2030, 1, 1, 0, 0, 30, 0, time.UTC)
	v1 := newGuest("m", manifest.Schedule{Name: "old", Cron: "* * * * *"})
	v2 := newGuest("m", manifest.Schedule{Name: "new", Cron: "* * * * *"})
	running := []Module{v1}
	s := mustNew(t, Config{Pool: cdb.Pool, Modules: func() []Module { return running }, Now: func() time.Time { return clock }})
	step := func() { clock = clock.Add(time.Minute); s.Poll(ctx); s.Wait() }
	s.Poll(ctx)
	step() // 00:01:30: v1 runs old
	running = []Module{v2}
	step() // 00:02:30: v2 swapped in; its new job starts with the next tick
	step() // 00:03:30: v2 runs new
	running = nil
	step() // 00:04:30: stopped
	if v1.count("old 00:01") != 1 || len(v1.calls) != 1 || v2.count("new 00:03") != 1 || len(v2.calls) != 1 {
		t.Fatalf("v1 %v, v2 %v", v1.calls, v2.calls)
	}
	js, err := List(ctx, cdb.Pool, clock, 5)
	if err != nil || len(js) != 1 || js[0].Job != "new" || js[0].Last().Status != StatusOK || !js[0].Next.Equal(time.Date(2030, 1, 1, 0, 5, 0, 0, time.UTC)) {
		t.Fatalf("List = %+v, %v", js, err)
	}
}

func testLogger(t *testing.T) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testWriter{t}})
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// TestAdvisoryLocksHoldNothing: advisory locks are anyone's (a module's
// role may take any key), so a session holding the keys a scheduler could
// plausibly use must not hold up a job's run.
func TestAdvisoryLocksHoldNothing(t *testing.T) {
	cdb, _ := coredbtest.Open(t)
	ctx := context.Background()
	base := time.Date(2030, 1, 1, 0, 0, 30, 0, time.UTC)
	var now atomic.Int64
	now.Store(base.UnixNano())
	g := newGuest("m", manifest.Schedule{Name: "a", Cron: "* * * * *"})
	s := mustNew(t, Config{Pool: cdb.Pool, Modules: func() []Module { return []Module{g} },
		Now: func() time.Time { return time.Unix(0, now.Load()) }, Logger: testLogger(t)})
	s.Poll(ctx) // sees the job
	s.Wait()

	hog, err := cdb.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer hog.Release()
	for _, q := range []string{
		`SELECT pg_advisory_lock(hashtext('websonic.jobs'), hashtext('m/a'))`,
		`SELECT pg_advisory_lock(hashtext('websonic.jobs'))`,
		`SELECT pg_advisory_lock(hashtext('m/a'))`,
	} {
		if _, err := hog.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	defer hog.Exec(ctx, `SELECT pg_advisory_unlock_all()`)

	now.Add(int64(time.Minute))
	pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	s.Poll(pctx)
	s.Wait()
	if n := g.count("a 00:01"); n != 1 {
		t.Fatalf("the 00:01 tick ran %d times while another session held advisory locks, want 1", n)
	}
}
