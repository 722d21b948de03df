package server

import (
	"context"
	"fmt"
	"time"

	"github.com/websonic/websonic/runtime/internal/jobs"
	"github.com/websonic/websonic/runtime/internal/requestq"
)

// ScheduledJob is a module's scheduled job as recorded: schedule, next
// tick and newest runs (jobs.Job).
type ScheduledJob = jobs.Job

// JobRun is one run of a scheduled job.
type JobRun = jobs.Run

// openRequestsAndJobs makes the site's request queue, which every runtime
// serves (with or without a registry), registers the server's actions on
// it, and makes the jobs scheduler. Requests a stopped runtime was working
// on are failed.
func (s *Server) openRequestsAndJobs(ctx context.Context) error {
	var err error
	if s.queue, err = requestq.New(ctx, requestq.Config{Pool: s.db.Pool, Unhandled: unhandledRequest, Logger: s.log.Named("requests")}); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	if err := requestq.FailStale(ctx, s.db.Pool); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	s.handleRequests()
	deadline := s.cfg.Pool.CallTimeout
	if deadline <= 0 {
		deadline = 10 * time.Second
	}
	s.jobs, err = jobs.New(jobs.Config{
		Pool: s.db.Pool, Now: s.cfg.JobClock, Deadline: deadline, Logger: s.log.Named("jobs"),
		Modules: func() []jobs.Module {
			ms := s.enabledModules() // a disabled module's jobs do not run
			out := make([]jobs.Module, len(ms))
			for i, m := range ms {
				out[i] = m
			}
			return out
		},
		Core: s.coreJobs(),
	})
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	return nil
}

// serveRequestsAndJobs serves the request queue and runs scheduled jobs
// until ctx ends or the returned stop is called (which waits for them).
func (s *Server) serveRequestsAndJobs(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{}, 2)
	go func() { s.queue.Run(ctx); done <- struct{}{} }()
	go func() { s.jobs.Run(ctx); done <- struct{}{} }()
	return func() {
		cancel()
		<-done
		<-done
	}
}

// Jobs lists the site's scheduled jobs with their next tick and up to
// history newest runs each (for the admin UI).
func (s *Server) Jobs(ctx context.Context, history int) ([]ScheduledJob, error) {
	return jobs.List(ctx, s.db.Pool, s.jobClock(), history)
}

func (s *Server) jobClock() time.Time {
	if s.cfg.JobClock != nil {
		return s.cfg.JobClock()
	}
	return time.Now()
}

// Jobs lists the site's scheduled jobs with their next tick and up to
// history newest runs each (`websonic jobs`).
func (c *Console) Jobs(ctx context.Context, history int) ([]ScheduledJob, error) {
	return jobs.List(ctx, c.db.Pool, time.Now(), history)
}
