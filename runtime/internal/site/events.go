package site

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/websonic/websonic/runtime/internal/pgnotify"
)

// UserEventsPurpose names the pgnotify channel on which user events are
// announced (see UserEvent).
const UserEventsPurpose = "users"

// Kinds of UserEvent.
const (
	EventSessionEnded = "session_ended" // one of the user's sessions ended (logout, expiry, revoked)
	EventBanned       = "banned"
	EventUnbanned     = "unbanned"
	EventSuspended    = "suspended"
	EventKicked       = "kicked" // the user's connections must end, the account stays
	EventRoles        = "roles"
	EventPassword     = "password"
)

// UserEvent is a change to a user that every replica must act on at once
// (websonic.user_events): the realtime hub re-checks the user's sockets.
type UserEvent struct {
	ID     int64
	UserID int64
	Kind   string
}

// Execer is what RecordUserEvent needs: a pool, a connection or a
// transaction (then the event is announced when it commits).
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// RecordUserEvent appends a user event and notifies the site's users
// channel, inside db's transaction if it is one.
func RecordUserEvent(ctx context.Context, db Execer, userID int64, kind string) error {
	if _, err := db.Exec(ctx, `INSERT INTO websonic.user_events (user_id, kind) VALUES ($1, $2)`, userID, kind); err != nil {
		return fmt.Errorf("site: record user event: %w", err)
	}
	channel, err := pgnotify.Channel(ctx, db, UserEventsPurpose)
	if err != nil {
		return fmt.Errorf("site: record user event: %w", err)
	}
	return pgnotify.Notify(ctx, db, channel)
}

// UserEventsAfter returns up to limit user events with an id above after,
// oldest first.
func UserEventsAfter(ctx context.Context, db interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}, after int64, limit int) ([]UserEvent, error) {
	rows, err := db.Query(ctx, `SELECT id, user_id, kind FROM websonic.user_events WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("site: user events: %w", err)
	}
	evs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[UserEvent])
	if err != nil {
		return nil, fmt.Errorf("site: user events: %w", err)
	}
	return evs, nil
}

// LastUserEvent is the id of the newest user event (0 for none): a
// replica starting up reads events after it.
func LastUserEvent(ctx context.Context, db interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}) (int64, error) {
	var id int64
	if err := db.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM websonic.user_events`).Scan(&id); err != nil {
		return 0, fmt.Errorf("site: user events: %w", err)
	}
	return id, nil
}
