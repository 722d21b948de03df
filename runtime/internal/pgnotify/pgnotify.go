// Package pgnotify gives the runtime PostgreSQL notification channels that
// modules can neither forge nor hear, and a listener that coalesces.
//
// PostgreSQL has no privilege for NOTIFY or LISTEN: a module's role may
// notify any channel it can name (a million notifications on the runtime's
// old, fixed channel cost the runtime and PostgreSQL ~80 s of CPU) and
// listen to any. So the runtime's channels are named with a random part,
// made once per site and kept in websonic.channels, which only the
// serving role can read; a module cannot learn it either from the catalogs
// (pg_listening_channels shows a session its own channels only) or from
// pg_stat_activity (other roles' statements are hidden from it).
//
// A Listener wakes its reader at most once per round however many
// notifications arrive: a burst, legitimate or not, costs one round of
// work, never one per notification. Payloads are not delivered: a
// notification means "look again", and the reader reads the state from its
// tables. Notifications sent on other channels never reach the runtime's
// process; PostgreSQL's listening backend still skips over them in its
// queue, which is cheap but not free (see RATIONALE.md).
//
// The realtime hub builds on the same two pieces.
package pgnotify

import (
	"context"
	"fmt"
	"regexp"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

var purposeRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,20}$`)

// Querier is the part of a pool, connection or transaction Channel needs.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Channel returns the site's channel for purpose ("modules", …), making
// it on first use: websonic_<purpose>_<128 random bits in hex>.
func Channel(ctx context.Context, db Querier, purpose string) (string, error) {
	if !purposeRE.MatchString(purpose) {
		return "", fmt.Errorf("pgnotify: bad purpose %q", purpose)
	}
	var name string
	// gen_random_uuid draws from PostgreSQL's strong random source; two
	// replicas racing both read the one row that won.
	err := db.QueryRow(ctx, `WITH made AS (
			INSERT INTO websonic.channels (purpose, name)
			VALUES ($1, 'websonic_' || $1 || '_' || pg_catalog.replace(pg_catalog.gen_random_uuid()::text, '-', ''))
			ON CONFLICT (purpose) DO NOTHING RETURNING name)
		SELECT name FROM made UNION ALL SELECT name FROM websonic.channels WHERE purpose = $1 LIMIT 1`, purpose).Scan(&name)
	if err != nil {
		return "", fmt.Errorf("pgnotify: channel %s: %w", purpose, err)
	}
	return name, nil
}

// Notify sends a notification on channel within db's transaction or
// statement.
func Notify(ctx context.Context, db interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}, channel string) error {
	if _, err := db.Exec(ctx, `SELECT pg_catalog.pg_notify($1, '')`, channel); err != nil {
		return fmt.Errorf("pgnotify: notify: %w", err)
	}
	return nil
}

// Listener listens to one channel on a connection of its own.
type Listener struct {
	channel  string
	cfg      *pgconn.Config
	log      hclog.Logger
	onListen func(pid uint32)
	c        chan struct{}
	received atomic.Int64
	done     chan struct{}
}

// ListenConfig configures Listen.
type ListenConfig struct {
	// Pool's connection settings make the listener's connection (it takes
	// no connection from the pool).
	Pool *pgxpool.Pool
	// Channel is the channel to listen to (Channel).
	Channel string
	// AppName, when set, is the session's application_name.
	AppName string
	// OnListen, when set, is called with the session's backend pid once it
	// listens, and with 0 when that connection is lost.
	OnListen func(pid uint32)
	Logger   hclog.Logger
}

// Listen starts listening until ctx ends, reconnecting with backoff when
// the connection breaks. C receives after each (re)connection too, since
// notifications may have been missed meanwhile.
func Listen(ctx context.Context, cfg ListenConfig) *Listener {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.OnListen == nil {
		cfg.OnListen = func(uint32) {}
	}
	l := &Listener{
		channel:  cfg.Channel,
		cfg:      cfg.Pool.Config().ConnConfig.Config.Copy(),
		log:      cfg.Logger,
		onListen: cfg.OnListen,
		c:        make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	if cfg.AppName != "" {
		l.cfg.RuntimeParams["application_name"] = cfg.AppName
	}
	l.cfg.OnNotification = func(_ *pgconn.PgConn, n *pgconn.Notification) {
		if n.Channel != l.channel {
			return
		}
		l.received.Add(1)
		l.wake()
	}
	go l.run(ctx)
	return l
}

// C receives when the channel was notified since the last receive: one
// value stands for any number of notifications.
func (l *Listener) C() <-chan struct{} { return l.c }

// Received counts the notifications that arrived on the channel.
func (l *Listener) Received() int64 { return l.received.Load() }

// Done is closed once the listener has stopped (its context ended).
func (l *Listener) Done() <-chan struct{} { return l.done }

func (l *Listener) wake() {
	select {
	case l.c <- struct{}{}:
	default:
	}
}

func (l *Listener) run(ctx context.Context) {
	defer close(l.done)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := l.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		l.log.Warn("notifications interrupted; listening again", "error", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

func (l *Listener) listenOnce(ctx context.Context) error {
	conn, err := pgconn.ConnectConfig(ctx, l.cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{l.channel}.Sanitize()).ReadAll(); err != nil {
		return err
	}
	l.onListen(conn.PID())
	defer l.onListen(0)
	l.wake()
	for {
		if err := conn.WaitForNotification(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
	}
}
