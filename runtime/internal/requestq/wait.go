package requestq

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// A listener session counts only for a role that may answer requests: a
// module's role can name its session alike but holds no such privilege.
const listenerSession = `a.datname = current_database() AND a.application_name = $%d
	AND has_table_privilege(a.usesysid, 'websonic.module_requests', 'UPDATE')`

// takerAlive is true for a request r whose taking listener session is
// still connected ($1 is ListenerName).
var takerAlive = `(r.taken_by IS NOT NULL AND EXISTS (SELECT 1 FROM pg_stat_activity a
	WHERE a.pid = r.taken_by AND a.backend_start <= r.taken_at AND ` + fmt.Sprintf(listenerSession, 1) + `))`

// Listeners counts the runtimes listening for module requests on db.
func Listeners(ctx context.Context, db DB) (int, error) {
	var n int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity a WHERE `+fmt.Sprintf(listenerSession, 1), ListenerName).Scan(&n); err != nil {
		return 0, fmt.Errorf("requestq: runtimes: %w", err)
	}
	return n, nil
}

// Request statuses.
const (
	StatusPending   = "pending"   // queued, no runtime took it yet
	StatusRunning   = "running"   // a runtime took it and works on it
	StatusDone      = "done"      // answered: Result says what was done
	StatusFailed    = "failed"    // answered: Result says why not
	StatusCancelled = "cancelled" // never taken, and now never will be
)

// RequestState is what became of a request so far.
type RequestState struct {
	ID      int64
	Request Request
	Status  string
	Result  string
	// TakenBy is the backend pid of the request listener of the runtime
	// that took it, TakenAt when; TakerAlive says whether that session is
	// still connected.
	TakenBy    int32
	TakenAt    time.Time
	TakerAlive bool
	// Listeners counts the runtimes listening for requests.
	Listeners int
}

// What a request that did not succeed became (see RequestError).
var (
	// ErrNoRuntime: no runtime listens for requests on the database, so
	// nothing was queued.
	ErrNoRuntime = errors.New("no runtime is answering module requests")
	// ErrNotTaken: no runtime took the request; it was cancelled and will
	// never run.
	ErrNotTaken = errors.New("no runtime took the request")
	// ErrStillRunning: the wait ended while a runtime works on the
	// request; it finishes on its own.
	ErrStillRunning = errors.New("the request is still running")
	// ErrTakerGone: the runtime that took the request is gone and no
	// runtime is connected; the next start marks it failed.
	ErrTakerGone = errors.New("the runtime working on the request stopped")
	// ErrFailed: the runtime answered that the request failed.
	ErrFailed = errors.New("the request failed")
)

// RequestError is a request that did not succeed, and exactly why: Err is
// one of ErrNotTaken, ErrStillRunning, ErrTakerGone and ErrFailed.
type RequestError struct {
	State RequestState
	Err   error
}

func (e *RequestError) Unwrap() error { return e.Err }

func (e *RequestError) Error() string {
	st := e.State
	what := fmt.Sprintf("request %d (%s)", st.ID, describe(st.Request))
	outcome := "`websonic module list` shows the outcome"
	changed := "`websonic module list` shows what changed"
	if st.Request.Action == "exec" {
		outcome = "the site's audit log records its outcome (command.run)"
		changed = "the site's audit log records what ran (command.run)"
	}
	switch e.Err {
	case ErrFailed:
		return st.Result
	case ErrNotTaken:
		why := "no runtime took it in time"
		if st.Listeners == 0 {
			why = "no runtime is answering requests any more (it stopped, or lost its database connection)"
		}
		return fmt.Sprintf("%s was never taken by a runtime: %s, so it was cancelled and nothing changed; send it again", what, why)
	case ErrStillRunning:
		return fmt.Sprintf("%s was taken by a runtime (database session %d) at %s and is still running: it finishes on its own; "+
			"%s (do not send it again)", what, st.TakenBy, st.TakenAt.Format(time.TimeOnly), outcome)
	case ErrTakerGone:
		return fmt.Sprintf("%s was taken by a runtime (database session %d) at %s, which stopped before answering, and no runtime is connected: "+
			"it may be half done; the next start marks it failed; %s", what, st.TakenBy, st.TakenAt.Format(time.TimeOnly), changed)
	}
	return fmt.Sprintf("%s: %v", what, e.Err)
}

// describe names a request for the owner: "install hello@1.2.0", "exec
// hello greet".
func describe(r Request) string {
	s := r.Action + " " + r.Module
	if r.Version != "" {
		s += "@" + r.Version
	}
	if r.Command != "" {
		s += " " + r.Command
	}
	if r.DryRun {
		s += " (what it would do)"
	}
	return s
}

// heartbeat is how often Wait reports progress when nothing changes.
const heartbeat = 15 * time.Second

// handover is how long Wait goes on while no runtime is connected before
// it gives up: a graceful restart (a self-update, a reload) hands the
// work to a new process, whose request listener connects a moment after
// the old one's closed, and that process answers what the old one took.
const handover = 15 * time.Second

// Wait waits for request id to be answered and returns the runtime's
// answer. progress (if not nil) sees the request queued first (even when
// a runtime took it before Wait's first look), then every change, and the
// state every 15 s. When ctx ends first, a request no runtime took is
// cancelled (it must not run at some later start) and the error says
// exactly what became of the request: a *RequestError (see its Err).
// Wait also stops early when no runtime has been connected for handover:
// a pending request is then cancelled (ErrNotTaken), a running one
// reported (ErrTakerGone).
func Wait(ctx context.Context, db DB, id int64, progress func(RequestState)) (string, error) {
	var last RequestState
	lastReport := time.Time{}
	var alone time.Time           // since when no runtime is connected (zero: one is)
	poll := 20 * time.Millisecond // quick answers (exec) come back quickly
	for {
		st, err := requestState(ctx, db, id)
		if err != nil {
			if ctx.Err() != nil {
				return abandon(db, id)
			}
			return "", err
		}
		if progress != nil && lastReport.IsZero() && st.Status != StatusPending {
			// Taken before the first look: it was queued all the same.
			queued := st
			queued.Status, queued.TakenBy, queued.TakenAt, queued.TakerAlive = StatusPending, 0, time.Time{}, false
			progress(queued)
			last = queued
		}
		if progress != nil && (st.Status != last.Status || st.TakerAlive != last.TakerAlive || st.Listeners != last.Listeners ||
			lastReport.IsZero() || time.Since(lastReport) >= heartbeat) {
			progress(st)
			lastReport = time.Now()
		}
		last = st
		switch {
		case st.Listeners > 0:
			alone = time.Time{}
		case alone.IsZero():
			alone = time.Now()
		}
		gone := st.Listeners == 0 && time.Since(alone) >= handover
		switch {
		case st.Status == StatusDone:
			return st.Result, nil
		case st.Status == StatusFailed:
			return "", &RequestError{State: st, Err: ErrFailed}
		case st.Status == StatusCancelled:
			return "", &RequestError{State: st, Err: ErrNotTaken}
		case st.Status == StatusPending && gone:
			return abandon(db, id)
		case st.Status == StatusRunning && !st.TakerAlive && gone:
			return "", &RequestError{State: st, Err: ErrTakerGone}
		}
		select {
		case <-ctx.Done():
			return abandon(db, id)
		case <-time.After(poll):
		}
		poll = min(2*poll, 200*time.Millisecond)
	}
}

func requestState(ctx context.Context, db DB, id int64) (RequestState, error) {
	st := RequestState{ID: id}
	var takenAt *time.Time
	var args []byte
	err := db.QueryRow(ctx, `SELECT r.action, r.module, r.version, r.channel, r.policy, r.dry_run, r.digest, r.command, r.args, r.actor,
		r.status, r.result, coalesce(r.taken_by, 0), r.taken_at, `+takerAlive+`,
		(SELECT count(*) FROM pg_stat_activity a WHERE `+fmt.Sprintf(listenerSession, 1)+`)
		FROM websonic.module_requests r WHERE r.id = $2`, ListenerName, id).Scan(
		&st.Request.Action, &st.Request.Module, &st.Request.Version, &st.Request.Channel, &st.Request.Policy, &st.Request.DryRun, &st.Request.Digest,
		&st.Request.Command, &args, &st.Request.Actor,
		&st.Status, &st.Result, &st.TakenBy, &takenAt, &st.TakerAlive, &st.Listeners)
	if err != nil {
		return st, fmt.Errorf("requestq: request %d: %w", id, err)
	}
	st.Request.Args = args
	if takenAt != nil {
		st.TakenAt = *takenAt
	}
	return st, nil
}

// abandon is Wait giving up: a request no runtime took is cancelled (a
// runtime claims under the row lock with SKIP LOCKED, and this update
// re-checks the status under the same lock, so exactly one of the two
// wins); then it reports what the request is, which may be answered.
func abandon(db DB, id int64) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := db.Exec(ctx, `UPDATE websonic.module_requests SET status = 'cancelled', done_at = now(),
		result = 'cancelled: no runtime took it' WHERE id = $1 AND status = 'pending'`, id); err != nil {
		return "", fmt.Errorf("requestq: gave up waiting for request %d, and could not cancel it: %w", id, err)
	}
	st, err := requestState(ctx, db, id)
	if err != nil {
		return "", fmt.Errorf("requestq: gave up waiting for request %d, and could not read it back: %w", id, err)
	}
	switch st.Status {
	case StatusDone:
		return st.Result, nil // answered as the wait ran out
	case StatusFailed:
		return "", &RequestError{State: st, Err: ErrFailed}
	case StatusCancelled:
		return "", &RequestError{State: st, Err: ErrNotTaken}
	case StatusRunning:
		if !st.TakerAlive && st.Listeners == 0 {
			return "", &RequestError{State: st, Err: ErrTakerGone}
		}
		return "", &RequestError{State: st, Err: ErrStillRunning}
	}
	return "", fmt.Errorf("requestq: request %d has status %q", id, st.Status)
}
