package jobs

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/websonic/websonic/runtime/internal/coredb/coredbtest"
	"github.com/websonic/websonic/sdk/manifest"
)

func mustNew(t testing.TB, cfg Config) *Scheduler {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestCoreJobsExactlyOnce: three replicas with skewed clocks run a core
// job once per tick, next to a module's job, record its runs and errors
// under CoreModule, and List shows it.
func TestCoreJobsExactlyOnce(t *testing.T) {
	cdb, _ := coredbtest.Open(t)
	ctx := context.Background()
	base := time.Date(2030, 1, 1, 0, 0, 30, 0, time.UTC)
	var now atomic.Int64
	now.Store(base.UnixNano())
	var mu sync.Mutex
	runs := map[string]int{}
	core := []CoreJob{
		{Name: "sweep", Cron: "* * * * *", Run: func(ctx context.Context, tick time.Time) error {
			mu.Lock()
			runs[tick.Format("15:04")]++
			mu.Unlock()
			if _, ok := ctx.Deadline(); !ok {
				return errors.New("no deadline")
			}
			return nil
		}},
		{Name: "broken", Cron: "*/5 * * * *", Run: func(context.Context, time.Time) error { return errors.New("disk on fire") }},
	}
	g := newGuest("m", manifest.Schedule{Name: "a", Cron: "* * * * *"})
	var scheds []*Scheduler
	for i := range 3 {
		skew := time.Duration(i-1) * 2 * time.Second
		scheds = append(scheds, mustNew(t, Config{Pool: cdb.Pool, Modules: func() []Module { return []Module{g} }, Core: core,
			Now: func() time.Time { return time.Unix(0, now.Load()).Add(skew) }, Logger: testLogger(t)}))
	}
	for range 10 * 6 { // every 10 s for 10 minutes
		now.Add(int64(10 * time.Second))
		var wg sync.WaitGroup
		for _, s := range scheds {
			wg.Go(func() { s.Poll(ctx) })
		}
		wg.Wait()
		for _, s := range scheds {
			s.Wait()
		}
	}
	for m := 1; m <= 10; m++ {
		tick := base.Add(time.Duration(m)*time.Minute - 30*time.Second).Format("15:04")
		if runs[tick] != 1 {
			t.Errorf("core job at %s ran %d times, want 1", tick, runs[tick])
		}
		if n := g.count("a " + tick); n != 1 {
			t.Errorf("the module's job at %s ran %d times", tick, n)
		}
	}
	list, err := List(ctx, cdb.Pool, time.Unix(0, now.Load()), 3)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]*Job{}
	for i := range list {
		found[list[i].Module+"/"+list[i].Job] = &list[i]
	}
	if j := found[CoreModule+"/sweep"]; j == nil || j.Last() == nil || j.Last().Status != StatusOK {
		t.Errorf("core job sweep not listed with an ok run: %+v", j)
	}
	if j := found[CoreModule+"/broken"]; j == nil || j.Last() == nil || j.Last().Status != StatusError || !strings.Contains(j.Last().Error, "disk on fire") {
		t.Errorf("core job broken not listed with its error: %+v", j)
	}
}

func TestCoreJobsChecked(t *testing.T) {
	run := func(context.Context, time.Time) error { return nil }
	for _, tc := range []struct {
		name string
		jobs []CoreJob
	}{
		{"bad name", []CoreJob{{Name: "Sweep", Cron: "* * * * *", Run: run}}},
		{"twice", []CoreJob{{Name: "a", Cron: "* * * * *", Run: run}, {Name: "a", Cron: "0 * * * *", Run: run}}},
		{"no func", []CoreJob{{Name: "a", Cron: "* * * * *"}}},
		{"bad cron", []CoreJob{{Name: "a", Cron: "61 * * * *", Run: run}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(Config{Core: tc.jobs}); err == nil || !strings.HasPrefix(err.Error(), "jobs: ") {
				t.Errorf("New accepted %+v (error %v)", tc.jobs, err)
			}
		})
	}
}
