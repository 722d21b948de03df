package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Job is a scheduled job as recorded: its schedule, next tick and newest
// runs.
type Job struct {
	Module, Job, Cron string
	// Next is the next tick after the time List was given (zero: none).
	Next time.Time
	// Runs are the newest runs first (at most List's history).
	Runs []Run
}

// Last is the newest run, or nil.
func (j *Job) Last() *Run {
	if len(j.Runs) == 0 {
		return nil
	}
	return &j.Runs[0]
}

// Run is one run of a job.
type Run struct {
	Tick     time.Time
	Started  time.Time
	Duration time.Duration // zero while running
	Status   string        // running, ok, error, timeout, skipped
	Error    string
}

// Querier is what List needs of a pool.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// List lists the recorded jobs by module and name, with the next tick
// after now and up to history newest runs each.
func List(ctx context.Context, db Querier, now time.Time, history int) ([]Job, error) {
	rows, err := db.Query(ctx, `SELECT module, job, cron FROM websonic.jobs ORDER BY module, job`)
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Job, error) {
		var j Job
		err := r.Scan(&j.Module, &j.Job, &j.Cron)
		return j, err
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	for i := range out {
		j := &out[i]
		if s, err := Parse(j.Cron); err == nil {
			j.Next = s.Next(now)
		}
		rows, err := db.Query(ctx, `SELECT tick, started_at, coalesce(duration_ms, 0), status, error FROM websonic.job_runs
			WHERE module = $1 AND job = $2 ORDER BY tick DESC LIMIT $3`, j.Module, j.Job, history)
		if err != nil {
			return nil, fmt.Errorf("jobs: %w", err)
		}
		j.Runs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Run, error) {
			var run Run
			var ms int64
			err := r.Scan(&run.Tick, &run.Started, &ms, &run.Status, &run.Error)
			run.Duration = time.Duration(ms) * time.Millisecond
			return run, err
		})
		if err != nil {
			return nil, fmt.Errorf("jobs: %w", err)
		}
	}
	return out, nil
}
