package server

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/websonic/websonic/runtime/internal/engine"
	"github.com/websonic/websonic/runtime/internal/site"
)

// replica opens another runtime on s's database (as a second replica, or
// a restart), with the jobs clock clk.
func (s *testSite) replica(t *testing.T, clk *fakeClock) *Server {
	t.Helper()
	mods, err := cmdjobsModules()
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.srv.cfg
	cfg.DataDir = siteDataDir(t)
	cfg.ModulesDir = mods
	cfg.JobClock = clk.now
	srv, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(context.Background()) })
	return srv
}

// pollAll polls the replicas' schedulers at once and waits for the runs.
func pollAll(replicas ...*Server) {
	var wg sync.WaitGroup
	for _, r := range replicas {
		wg.Add(1)
		go func() { defer wg.Done(); r.jobs.Poll(context.Background()) }()
	}
	wg.Wait()
	for _, r := range replicas {
		r.jobs.Wait()
	}
}

// ticksRun lists what the cmdjobs module recorded: "job tick ×runs".
func ticksRun(t *testing.T, srv *Server, admin *site.User) []string {
	t.Helper()
	res, err := srv.RunCommand(context.Background(), admin, "cmdjobs", "runs", nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range res.Rows {
		out = append(out, fmt.Sprintf("%v %v x%v", r[0], strings.TrimPrefix(fmt.Sprint(r[1]), "2030-01-01T"), r[2]))
	}
	return out
}

func jobRuns(t *testing.T, srv *Server, module, job string) []string {
	t.Helper()
	js, err := srv.Jobs(context.Background(), 20)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range js {
		if j.Module == module && j.Job == job {
			var out []string
			for _, r := range j.Runs {
				out = append(out, r.Tick.UTC().Format("15:04")+" "+r.Status)
			}
			sort.Strings(out)
			return out
		}
	}
	t.Fatalf("no job %s/%s in %+v", module, job, js)
	return nil
}

// TestJobsExactlyOncePerTick: two replicas on one database, polling at
// the same ticks, run each tick of a job exactly once; a job that traps
// or passes its deadline is recorded as failed and its next tick runs;
// after the runtimes were down for several ticks, a start runs the newest
// missed tick once.
func TestJobsExactlyOncePerTick(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 30, 0, time.UTC)
	clk := newFakeClock(t0)
	short := func(c *Config) { c.Pool = engine.PoolConfig{Size: 2, CallTimeout: 2 * time.Second} }
	a := newCmdjobsSite(t, clk, short)
	b := a.replica(t, clk)
	admin := a.user(t, "root_admin", site.RoleAdmin)

	pollAll(a.srv, b) // first sight: nothing due (the jobs are new)
	if got := ticksRun(t, a.srv, admin); len(got) != 0 {
		t.Fatalf("ran before the first tick: %v", got)
	}
	// Ticks 00:01 (flaky traps), 00:02 (flaky loops past its deadline),
	// 00:03 (flaky succeeds). Each tick is polled twice, 2 s apart, as
	// replicas whose clocks differ would.
	for m := 1; m <= 3; m++ {
		tick := time.Date(2030, 1, 1, 0, m, 0, 0, time.UTC)
		clk.set(tick.Add(time.Second))
		pollAll(a.srv, b)
		clk.set(tick.Add(3 * time.Second))
		pollAll(a.srv, b)
	}
	want := []string{"flaky 00:03:00Z x1", "tick 00:01:00Z x1", "tick 00:02:00Z x1", "tick 00:03:00Z x1"}
	if got := ticksRun(t, a.srv, admin); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("runs:\n got %v\nwant %v", got, want)
	}
	if got, want := jobRuns(t, a.srv, "cmdjobs", "flaky"), []string{"00:01 error", "00:02 timeout", "00:03 ok"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("flaky's runs = %v, want %v", got, want)
	}
	js, err := b.Jobs(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range js {
		if j.Module == "cmdjobs" && j.Job == "flaky" {
			if last := j.Last(); last == nil || last.Status != "ok" || !j.Next.Equal(time.Date(2030, 1, 1, 0, 4, 0, 0, time.UTC)) {
				t.Fatalf("flaky: next %v, last %+v", j.Next, last)
			}
		}
	}

	// The site is down from 00:03:30 to 00:07:30 (a and b poll no more),
	// then two replicas start.
	clk.set(time.Date(2030, 1, 1, 0, 7, 30, 0, time.UTC))
	c := a.replica(t, clk)
	d := a.replica(t, clk)
	pollAll(c, d)
	pollAll(c, d) // nothing more is due
	want = append(want, "tick 00:07:00Z x1")
	if got := ticksRun(t, c, admin); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("after the restart, runs:\n got %v\nwant the newest missed tick once: %v", got, want)
	}
	// 00:07 is minute 1 modulo 3: flaky trapped, and is recorded so.
	if got := jobRuns(t, c, "cmdjobs", "flaky"); got[len(got)-1] != "00:07 error" {
		t.Fatalf("flaky's runs after the restart = %v", got)
	}
}

// TestJobsFollowTheModules: a job never overlaps itself (a tick that finds
// it running is skipped), a slow job holds up neither another module's
// jobs nor the module's requests, and hostile jobs (a loop, a trap) are
// recorded as failed while the neighbours run theirs.
func TestJobsFollowTheModules(t *testing.T) {
	clk := newFakeClock(time.Date(2030, 12, 31, 23, 59, 30, 0, time.UTC))
	s := newCmdjobsSite(t, clk, func(c *Config) { c.Pool = engine.PoolConfig{Size: 2, CallTimeout: 3 * time.Second} })
	admin := s.user(t, "root_admin", site.RoleAdmin)
	ctx := context.Background()
	s.srv.jobs.Poll(ctx)
	// 2031-01-01 00:00: hostile's yearly loop and trap, cmdjobs' tick and
	// flaky (minute 0: succeeds).
	clk.set(time.Date(2031, 1, 1, 0, 0, 1, 0, time.UTC))
	s.srv.jobs.Poll(ctx)
	// While hostile's loop holds one of its instances, cmdjobs' jobs
	// finish and hostile still answers requests.
	waitFor(t, func() bool {
		got := ticksRun(t, s.srv, admin)
		return len(got) == 2
	})
	resp, err := s.Client().Get(s.URL + "/hostile/ok")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("hostile's request during its looping job: %v %v", resp, err)
	}
	resp.Body.Close()
	// The next poll, while hostile's loop may still run, records nothing
	// twice; once it ends, its trap runs and both are failures.
	s.srv.jobs.Poll(ctx)
	s.srv.jobs.Wait()
	if got := jobRuns(t, s.srv, "hostile", "loop"); strings.Join(got, "|") != "00:00 timeout" {
		t.Fatalf("hostile loop's runs = %v", got)
	}
	if got := jobRuns(t, s.srv, "hostile", "trap"); strings.Join(got, "|") != "00:00 error" {
		t.Fatalf("hostile trap's runs = %v", got)
	}
	if got := jobRuns(t, s.srv, "cmdjobs", "tick"); strings.Join(got, "|") != "00:00 ok" {
		t.Fatalf("cmdjobs tick's runs = %v", got)
	}
}

// TestJobSkipsWhileRunning: a tick that comes while the job's previous
// run (on any replica) is still going is recorded as skipped, not run.
func TestJobSkipsWhileRunning(t *testing.T) {
	clk := newFakeClock(time.Date(2030, 1, 1, 0, 0, 30, 0, time.UTC))
	s := newCmdjobsSite(t, clk)
	ctx := context.Background()
	s.srv.jobs.Poll(ctx)
	// Another replica is running 00:01 of tick (its row says so).
	if _, err := s.srv.db.Pool.Exec(ctx, `INSERT INTO websonic.job_runs (module, job, tick, status) VALUES ('cmdjobs', 'tick', '2030-01-01T00:01:00Z', 'running')`); err != nil {
		t.Fatal(err)
	}
	clk.set(time.Date(2030, 1, 1, 0, 2, 0, 0, time.UTC))
	s.srv.jobs.Poll(ctx)
	s.srv.jobs.Wait()
	if got := jobRuns(t, s.srv, "cmdjobs", "tick"); strings.Join(got, "|") != "00:01 running|00:02 skipped" {
		t.Fatalf("tick's runs = %v", got)
	}
}
