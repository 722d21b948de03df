// Package jobs runs the modules' scheduled jobs (capabilities.schedules,
// sdk/ABI.md section 13): at each tick of a job's cron schedule, evaluated
// in UTC, the host calls the running module on abi.JobPathPrefix+name.
//
// Replicas sharing the site's database run each tick exactly once: the row
// (module, job, tick) of websonic.job_runs is inserted with ON CONFLICT DO
// NOTHING, and only the replica whose insert took runs it. A tick is the
// schedule's time, not a replica's clock reading, so clocks a few seconds
// apart agree on it. A tick missed while no runtime ran (after the job was
// first seen) runs once when a runtime starts, not once per missed tick.
// A job never overlaps itself, across replicas: a tick that finds its
// previous run still going is recorded as skipped. In one runtime a module
// runs one job at a time, in its own goroutine, so a slow job holds up
// neither other modules' jobs nor more than one of the module's instances
// (its requests keep the others).
//
// Jobs follow the running modules: a module's jobs start when it starts,
// stop when it stops, and a swapped-in version's schedules replace the old
// ones (Scheduler.Poll looks at the running modules each time).
//
// The runtime's own jobs (Config.Core: retention rules, the erasure of
// accounts whose grace period ended) are Go functions with a schedule,
// run by the same machinery under the module name CoreModule ("_core"),
// which no module can take: exactly once per tick across replicas, never
// overlapping themselves, recorded and listed like the modules' jobs.
package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/internal/commands"
	"github.com/websonic/websonic/runtime/internal/engine"
	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/manifest"
)

// Module is a running module as the scheduler sees it (*modhost.Module).
type Module interface {
	Manifest() *manifest.Manifest
	Call(ctx context.Context, path string, user *abi.User, body []byte, requestID string) (*abi.HTTPResponse, error)
}

// Config configures a Scheduler.
type Config struct {
	Pool *pgxpool.Pool
	// Modules lists the running modules.
	Modules func() []Module
	// Now is the scheduler's clock (time.Now); tests move it.
	Now func() time.Time
	// Every is how often Run looks for due ticks and module changes (1s).
	Every time.Duration
	// Deadline is the modules' call deadline (30s): a run still recorded
	// as running well past it belongs to a runtime that stopped.
	Deadline time.Duration
	// History is how many runs of each job are kept (20).
	History int
	// Core are the runtime's own jobs (core.go), recorded as module
	// CoreModule; each run gets a context that ends after 2×Deadline, so
	// a core job does its work in bounded batches (none by default).
	Core   []CoreJob
	Logger hclog.Logger
}

// Call is the body the host posts to abi.JobPathPrefix+Job.
type Call struct {
	Job  string    `json:"job"`
	Tick time.Time `json:"tick"`
}

// Run statuses.
const (
	StatusRunning = "running"
	StatusOK      = "ok"
	StatusError   = "error"
	StatusTimeout = "timeout"
	StatusSkipped = "skipped"
)

type key struct{ module, job string }

// entry is a job of the running version of a module.
type entry struct {
	mod   Module
	cron  string
	sched Schedule
	next  time.Time
}

// Scheduler runs the jobs of the running modules.
type Scheduler struct {
	cfg Config
	log hclog.Logger

	core *coreModule // nil without Config.Core

	mu      sync.Mutex
	entries map[key]*entry
	mods    map[string]Module        // the version whose jobs were registered
	slots   map[string]chan struct{} // one job at a time per module
	pending map[key]bool             // a run of the job is waiting or running here
	wg      sync.WaitGroup
}

// New makes a scheduler; Run (or Poll) runs it. The error is about
// Config.Core: a job without a unique identifier, a Run func or a valid
// schedule.
func New(cfg Config) (*Scheduler, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Every <= 0 {
		cfg.Every = time.Second
	}
	if cfg.Deadline <= 0 {
		cfg.Deadline = 30 * time.Second
	}
	if cfg.History <= 0 {
		cfg.History = 20
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	core, err := newCoreModule(cfg.Core, 2*cfg.Deadline)
	if err != nil {
		return nil, err
	}
	return &Scheduler{cfg: cfg, log: cfg.Logger, core: core, entries: map[key]*entry{}, mods: map[string]Module{},
		slots: map[string]chan struct{}{}, pending: map[key]bool{}}, nil
}

// modules are the running modules, and the core's jobs as one more.
func (s *Scheduler) modules() []Module {
	ms := s.cfg.Modules()
	if s.core != nil {
		ms = append(slices.Clip(ms), Module(s.core))
	}
	return ms
}

// Run polls every Config.Every until ctx ends, then waits for the runs
// in flight (their calls end with ctx).
func (s *Scheduler) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Every)
	defer t.Stop()
	for {
		s.Poll(ctx)
		select {
		case <-ctx.Done():
			s.Wait()
			return
		case <-t.C:
		}
	}
}

// Wait waits for the runs Poll started.
func (s *Scheduler) Wait() { s.wg.Wait() }

// Poll looks at the running modules at Config.Now: it registers the jobs
// of a module version it has not seen (running a missed tick once if
// this runtime just started), forgets those of stopped modules, and
// starts a run of each job whose tick is due. It never waits for a run.
func (s *Scheduler) Poll(ctx context.Context) {
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[key]bool{}
	running := map[string]bool{}
	for _, m := range s.modules() {
		man := m.Manifest()
		running[man.Name] = true
		if s.mods[man.Name] != m {
			s.forget(ctx, man)
			s.mods[man.Name] = m
		}
		for _, sc := range man.Capabilities.Schedules {
			k := key{man.Name, sc.Name}
			seen[k] = true
			e := s.entries[k]
			if e == nil || e.mod != m || e.cron != sc.Cron {
				s.add(ctx, k, m, sc, e, now)
				continue
			}
			if e.next.IsZero() || e.next.After(now) {
				continue
			}
			tick := e.next
			for t := e.sched.Next(tick); !t.IsZero() && !t.After(now); t = e.sched.Next(t) {
				tick = t // a late poll (a suspended process) runs the newest tick only
			}
			e.next = e.sched.Next(now)
			s.fire(ctx, k, e, tick)
		}
	}
	for k := range s.entries {
		if !seen[k] {
			delete(s.entries, k)
		}
	}
	for name := range s.mods {
		if !running[name] {
			delete(s.mods, name)
		}
	}
}

// add (re)computes a job's entry for a module version; prev is the entry
// of the version before (nil on first sight in this runtime).
func (s *Scheduler) add(ctx context.Context, k key, m Module, sc manifest.Schedule, prev *entry, now time.Time) {
	sched, err := Parse(sc.Cron)
	if err != nil {
		s.log.Error("a job's schedule does not parse", "module", k.module, "job", k.job, "error", err)
		return
	}
	since, err := s.register(ctx, k, sc.Cron, now)
	if err != nil {
		s.log.Error("registering a job", "module", k.module, "job", k.job, "error", err)
		return // tried again at the next poll
	}
	e := &entry{mod: m, cron: sc.Cron, sched: sched, next: sched.Next(now)}
	s.entries[k] = e
	var due time.Time
	switch {
	case prev == nil:
		// First sight in this runtime: a tick missed while none ran
		// (the claim tells whether another replica ran it).
		if p := sched.Prev(now); !p.IsZero() && p.After(since) {
			due = p
		}
	case !prev.next.IsZero() && !prev.next.After(now):
		due = sched.Prev(now) // due as the module was swapped
	}
	if !due.IsZero() {
		s.fire(ctx, k, e, due)
	}
}

// register records the job (when first seen) and returns since when it
// exists.
func (s *Scheduler) register(ctx context.Context, k key, cron string, now time.Time) (time.Time, error) {
	var since time.Time
	err := s.cfg.Pool.QueryRow(ctx, `INSERT INTO websonic.jobs (module, job, cron, since, seen) VALUES ($1, $2, $3, $4, $4)
		ON CONFLICT (module, job) DO UPDATE SET cron = EXCLUDED.cron, seen = EXCLUDED.seen RETURNING since`,
		k.module, k.job, cron, now).Scan(&since)
	if err != nil {
		return time.Time{}, fmt.Errorf("jobs: %w", err)
	}
	return since, nil
}

// forget removes the records of jobs a module version no longer declares
// (their history goes too).
func (s *Scheduler) forget(ctx context.Context, man *manifest.Manifest) {
	names := []string{}
	for _, sc := range man.Capabilities.Schedules {
		names = append(names, sc.Name)
	}
	err := pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM websonic.jobs WHERE module = $1 AND NOT job = ANY($2)`, man.Name, names); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM websonic.job_runs WHERE module = $1 AND NOT job = ANY($2)`, man.Name, names)
		return err
	})
	if err != nil && ctx.Err() == nil {
		s.log.Warn("forgetting removed jobs", "module", man.Name, "error", err)
	}
}

// fire starts a run of tick in its own goroutine (the caller holds s.mu).
// A run of the same job still waiting or running here makes the tick
// skipped.
func (s *Scheduler) fire(ctx context.Context, k key, e *entry, tick time.Time) {
	if s.pending[k] {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.skip(ctx, k, tick, "the previous run was still going")
		}()
		return
	}
	s.pending[k] = true
	slot := s.slots[k.module]
	if slot == nil {
		slot = make(chan struct{}, 1)
		s.slots[k.module] = slot
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() {
			s.mu.Lock()
			delete(s.pending, k)
			s.mu.Unlock()
		}()
		select {
		case slot <- struct{}{}:
		case <-ctx.Done():
			return
		}
		defer func() { <-slot }()
		s.run(ctx, k, e.mod, tick)
	}()
}

// claim decides whether this runtime runs tick: it inserts the tick's row
// as running, or as skipped when the job's previous run (anywhere) is
// still going; false when another replica has the tick already.
func (s *Scheduler) claim(ctx context.Context, k key, tick time.Time, status, reason string) (bool, error) {
	var won bool
	err := pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		// The job's own row, locked: a lock no module can take or hold
		// (any role can take any advisory lock, so an advisory key here
		// would let a module stall every other module's jobs).
		var known bool
		if err := tx.QueryRow(ctx, `SELECT true FROM websonic.jobs WHERE module = $1 AND job = $2 FOR UPDATE`, k.module, k.job).Scan(&known); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return nil // forgotten meanwhile (the module was swapped or stopped): not ours to run
			}
			return err
		}
		// A run left 'running' well past the deadline: its runtime stopped.
		stale := 2*s.cfg.Deadline + time.Minute
		if _, err := tx.Exec(ctx, `UPDATE websonic.job_runs SET status = 'error', finished_at = now(),
			error = 'the runtime running it stopped' WHERE module = $1 AND job = $2 AND status = 'running'
			AND started_at < now() - make_interval(secs => $3)`, k.module, k.job, stale.Seconds()); err != nil {
			return err
		}
		if status == StatusRunning {
			var busy bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM websonic.job_runs WHERE module = $1 AND job = $2 AND status = 'running')`,
				k.module, k.job).Scan(&busy); err != nil {
				return err
			}
			if busy {
				status, reason = StatusSkipped, "the previous run was still going"
			}
		}
		tag, err := tx.Exec(ctx, `INSERT INTO websonic.job_runs (module, job, tick, status, error, finished_at)
			VALUES ($1, $2, $3, $4, $5, CASE WHEN $4 = 'skipped' THEN now() END) ON CONFLICT DO NOTHING`, k.module, k.job, tick, status, reason)
		if err != nil {
			return err
		}
		won = tag.RowsAffected() == 1 && status == StatusRunning
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("jobs: claiming %s/%s at %s: %w", k.module, k.job, tick.Format(time.RFC3339), err)
	}
	return won, nil
}

func (s *Scheduler) skip(ctx context.Context, k key, tick time.Time, reason string) {
	if _, err := s.claim(ctx, k, tick, StatusSkipped, reason); err != nil && ctx.Err() == nil {
		s.log.Error("recording a skipped tick", "error", err)
	}
}

// run claims tick and, if this runtime won it, calls the module and
// records the outcome.
func (s *Scheduler) run(ctx context.Context, k key, m Module, tick time.Time) {
	won, err := s.claim(ctx, k, tick, StatusRunning, "")
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("job", "module", k.module, "job", k.job, "error", err)
		}
		return
	}
	if !won {
		return
	}
	body, _ := json.Marshal(Call{Job: k.job, Tick: tick.UTC()})
	start := time.Now()
	resp, err := m.Call(ctx, abi.JobPathPrefix+k.job, nil, body, "job-"+randomID())
	took := time.Since(start)
	status, msg := StatusOK, ""
	switch {
	case errors.Is(err, engine.ErrTimeout):
		status, msg = StatusTimeout, "did not finish within the call deadline"
	case err != nil && resp != nil:
		status, msg = StatusError, "the module declares the job but does not serve it"
	case err != nil && ctx.Err() != nil:
		status, msg = StatusError, "the runtime stopped during the run"
	case err != nil:
		status, msg = StatusError, err.Error()
	case resp.Status < 200 || resp.Status > 299:
		status, msg = StatusError, commands.ErrorMessage(resp.Body)
		if msg == "" {
			msg = fmt.Sprintf("status %d", resp.Status)
		}
	}
	if status != StatusOK {
		s.log.Warn("scheduled job failed", "module", k.module, "job", k.job, "tick", tick, "status", status, "error", msg)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := s.cfg.Pool.Exec(rctx, `UPDATE websonic.job_runs SET status = $4, error = $5, finished_at = now(), duration_ms = $6
		WHERE module = $1 AND job = $2 AND tick = $3`, k.module, k.job, tick, status, msg, took.Milliseconds()); err != nil {
		s.log.Error("recording a job's run", "module", k.module, "job", k.job, "error", err)
	}
	if _, err := s.cfg.Pool.Exec(rctx, `DELETE FROM websonic.job_runs WHERE module = $1 AND job = $2 AND tick < (
		SELECT tick FROM websonic.job_runs WHERE module = $1 AND job = $2 ORDER BY tick DESC OFFSET $3 LIMIT 1)`,
		k.module, k.job, s.cfg.History-1); err != nil {
		s.log.Error("pruning a job's history", "module", k.module, "job", k.job, "error", err)
	}
}

func randomID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
