package requestq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/runtime/internal/pgnotify"
)

// DB is what the request functions need of a pool.
type DB interface {
	Begin(context.Context) (pgx.Tx, error)
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
	QueryRow(context.Context, string, ...any) pgx.Row
}

// NotifyPurpose names the site's channel (package pgnotify) of module
// changes and requests: Enqueue notifies it, and so does the updater when
// an installation changes.
const NotifyPurpose = "modules"

// ListenerName is the application_name of the database session on which
// a runtime listens for module requests (Run). Its sessions are how the
// CLI knows a runtime answers (Listeners), and its backend pid, recorded
// in a request it takes, tells whether that runtime is still there.
const ListenerName = "websonic runtime: module requests"

// Request is a request from the CLI or the admin UI. Which fields matter
// depends on the action.
type Request struct {
	Action  string // install, rollback, approve, policy, exec, commands
	Module  string
	Version string
	Channel string
	Policy  string
	// DryRun asks what an install or approve would do (a Preview, as
	// JSON in the result) without doing it.
	DryRun bool
	// Digest, when set, binds an install or approve to the release the
	// owner saw (Preview.Digest): any other is refused.
	Digest string
	// Command is the admin command an exec runs.
	Command string
	// Args are an exec's arguments: a JSON object (nil: none).
	Args json.RawMessage
	// Actor says who sent the request, for the audit log ("" for the
	// terminal's user unknown).
	Actor string
}

// Handler carries out a request and returns its result (text, or JSON the
// sender decodes); an error fails the request with its message.
type Handler func(ctx context.Context, r Request) (string, error)

// Config configures a Queue.
type Config struct {
	// Pool is the runtime's pool; the listener's session is made with
	// its settings.
	Pool *pgxpool.Pool
	// Unhandled is the error of a request whose action no one registered
	// (nil: a generic one).
	Unhandled func(r Request) error
	Logger    hclog.Logger
}

// Queue serves the site's module requests with the handlers its owners
// registered.
type Queue struct {
	cfg      Config
	log      hclog.Logger
	channel  string
	mu       sync.Mutex
	handlers map[string]Handler
	wakers   []func()
	runners  int
	stop     context.CancelFunc
	done     chan struct{}
}

// New prepares a queue on cfg.Pool (it reads the site's channel name).
func New(ctx context.Context, cfg Config) (*Queue, error) {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	channel, err := pgnotify.Channel(ctx, cfg.Pool, NotifyPurpose)
	if err != nil {
		return nil, fmt.Errorf("requestq: %w", err)
	}
	return &Queue{cfg: cfg, log: cfg.Logger, channel: channel, handlers: map[string]Handler{}}, nil
}

// Channel is the site's module channel (NotifyPurpose).
func (q *Queue) Channel() string { return q.channel }

// Handle registers h for action; a second registration replaces the first.
func (q *Queue) Handle(action string, h Handler) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.handlers[action] = h
}

// Handler returns the handler registered for action (nil: none), so that
// an owner may wrap another's.
func (q *Queue) Handler(action string) Handler {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.handlers[action]
}

// OnWake registers f to run after every round of Run: on each
// notification of the channel (a request, or an installation change
// another runtime made) and every few seconds. f must not block.
func (q *Queue) OnWake(f func()) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.wakers = append(q.wakers, f)
}

// Run serves the queue until ctx ends. Calls may overlap (the server's
// Serve and the updater's Run both call it): the queue is served once,
// by one listener session, until the last of them ends.
func (q *Queue) Run(ctx context.Context) {
	q.mu.Lock()
	q.runners++
	if q.runners == 1 {
		lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		q.stop, q.done = cancel, make(chan struct{})
		go func(done chan struct{}) {
			defer close(done)
			q.listen(lctx)
		}(q.done)
	}
	q.mu.Unlock()
	<-ctx.Done()
	q.mu.Lock()
	q.runners--
	var done chan struct{}
	if q.runners == 0 {
		q.stop()
		done = q.done
	}
	q.mu.Unlock()
	if done != nil {
		<-done
	}
}

// listen answers requests when the site's module channel is notified
// (pgnotify: one round for any burst of notifications), and every few
// seconds in case a notification was missed, then runs the wakers.
func (q *Queue) listen(ctx context.Context) {
	var pid atomic.Uint32
	l := pgnotify.Listen(ctx, pgnotify.ListenConfig{
		Pool: q.cfg.Pool, Channel: q.channel, AppName: ListenerName, Logger: q.log.Named("notify"),
		OnListen: func(p uint32) {
			pid.Store(p)
			if p != 0 {
				q.log.Info("answering module requests", "session", p)
			}
		},
	})
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		if p := pid.Load(); p != 0 {
			q.serve(ctx, p)
		}
		q.mu.Lock()
		wakers := q.wakers
		q.mu.Unlock()
		for _, f := range wakers {
			f()
		}
		select {
		case <-ctx.Done():
			<-l.Done()
			return
		case <-l.C():
		case <-t.C:
		}
	}
}

// serve answers pending requests, one at a time, each claimed by one
// runtime: the one whose request listener has backend pid listener.
func (q *Queue) serve(ctx context.Context, listener uint32) {
	for ctx.Err() == nil {
		var r Request
		var id int64
		var args []byte
		err := q.cfg.Pool.QueryRow(ctx, `UPDATE websonic.module_requests SET status = 'running', taken_by = $1, taken_at = now()
			WHERE id = (SELECT id FROM websonic.module_requests WHERE status = 'pending' ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1)
			RETURNING id, action, module, version, channel, policy, dry_run, digest, command, args, actor`, int32(listener)).Scan(
			&id, &r.Action, &r.Module, &r.Version, &r.Channel, &r.Policy, &r.DryRun, &r.Digest, &r.Command, &args, &r.Actor)
		if errors.Is(err, pgx.ErrNoRows) {
			return
		}
		if err != nil {
			q.log.Error("module requests", "error", err)
			return
		}
		r.Args = args
		result, rerr := q.do(ctx, r)
		status := StatusDone
		if rerr != nil {
			status, result = StatusFailed, rerr.Error()
		}
		if _, err := q.cfg.Pool.Exec(context.WithoutCancel(ctx), `UPDATE websonic.module_requests SET status = $2, result = $3, done_at = now() WHERE id = $1`,
			id, status, result); err != nil {
			q.log.Error("module requests", "error", err)
		}
	}
}

func (q *Queue) do(ctx context.Context, r Request) (string, error) {
	q.mu.Lock()
	h := q.handlers[r.Action]
	q.mu.Unlock()
	if h == nil {
		if q.cfg.Unhandled != nil {
			return "", q.cfg.Unhandled(r)
		}
		return "", fmt.Errorf("the runtime that took the request cannot %s", r.Action)
	}
	return h(ctx, r)
}

// FailStale fails the requests a stopped runtime was working on (another
// replica's, whose listener session is alive, go on). A runtime calls it
// as it starts.
func FailStale(ctx context.Context, db DB) error {
	if _, err := db.Exec(ctx, `UPDATE websonic.module_requests r SET status = 'failed', done_at = now(),
		result = 'the runtime stopped while working on it: send it again' WHERE status = 'running' AND NOT `+takerAlive,
		ListenerName); err != nil {
		return fmt.Errorf("requestq: %w", err)
	}
	return nil
}

// Enqueue records a request for the running runtimes and wakes them.
func Enqueue(ctx context.Context, db DB, r Request) (int64, error) {
	var id int64
	var args []byte
	if len(r.Args) > 0 {
		args = r.Args
	}
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO websonic.module_requests (action, module, version, channel, policy, dry_run, digest, command, args, actor)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`, r.Action, r.Module, r.Version, r.Channel, r.Policy, r.DryRun, r.Digest,
			r.Command, args, r.Actor).Scan(&id); err != nil {
			return err
		}
		channel, err := pgnotify.Channel(ctx, tx, NotifyPurpose)
		if err != nil {
			return err
		}
		return pgnotify.Notify(ctx, tx, channel)
	})
	if err != nil {
		return 0, fmt.Errorf("requestq: request: %w", err)
	}
	return id, nil
}
