package realtime

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/sdk/abi"
)

// Purpose names the site's pgnotify channel of new events.
const Purpose = "realtime"

// Event is a published event as websonic.realtime_events holds it.
type Event struct {
	ID    int64
	Topic string
	Data  []byte // compact JSON
	// RevokeUser, when not 0, makes the event a revocation (Hub.Revoke):
	// that user's subscriptions to Topic end here (RevokeEveryone: every
	// subscription's); it is never delivered.
	RevokeUser int64
}

// RevokeEveryone, as a revocation's user, ends every subscription to the
// topic, signed in or not (Hub.Revoke).
const RevokeEveryone = -1

// revokes reports whether e, a revocation, ends the subscriptions of the
// connection's user u (nil: not signed in).
func (e Event) revokes(u *abi.User) bool {
	return e.RevokeUser == RevokeEveryone || u != nil && u.ID == e.RevokeUser
}

// store reads and writes websonic.realtime_events.
type store struct {
	pool    *pgxpool.Pool
	channel string
}

// insert appends an event and notifies the channel, in one transaction
// that holds the table's EXCLUSIVE lock (readers go on): ids are then
// assigned in commit order, so a reader that saw id n never later finds a
// smaller one committed.
func (s *store) insert(ctx context.Context, topic string, data []byte, revokeUser int64) (id int64, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("realtime: publish to %s: %w", topic, err)
		}
	}()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Release()
	// Two round trips, the transaction spelled out. Events are
	// ephemeral: the commit need not wait for the WAL's flush (a crash may
	// lose the last few; a client that saw one is then told to reload, its
	// last_id being beyond the newest).
	var lock pgx.Batch
	lock.Queue(`BEGIN`)
	lock.Queue(`SET LOCAL synchronous_commit = off`)
	lock.Queue(`LOCK TABLE websonic.realtime_events IN EXCLUSIVE MODE`)
	err = conn.SendBatch(ctx, &lock).Close()
	if err == nil {
		// Not in the lock's batch: the INSERT's parse takes the table's
		// ROW EXCLUSIVE lock, and two publishers holding it while
		// waiting for EXCLUSIVE would deadlock.
		var b pgx.Batch
		b.Queue(`INSERT INTO websonic.realtime_events (topic, data, revoke_user) VALUES ($1, $2::text::json, nullif($3, 0)) RETURNING id`,
			topic, string(data), revokeUser).
			QueryRow(func(row pgx.Row) error { return row.Scan(&id) })
		b.Queue(`SELECT pg_catalog.pg_notify($1, '')`, s.channel)
		b.Queue(`COMMIT`)
		err = conn.SendBatch(ctx, &b).Close()
	}
	if err != nil {
		// Never hand back a connection inside a transaction.
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, rerr := conn.Exec(rctx, `ROLLBACK`); rerr != nil {
			conn.Conn().Close(rctx)
		}
		return 0, err
	}
	return id, nil
}

// after returns up to limit events with an id above id, oldest first.
func (s *store) after(ctx context.Context, id int64, limit int) ([]Event, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, topic, data::text, coalesce(revoke_user, 0) FROM websonic.realtime_events WHERE id > $1 ORDER BY id LIMIT $2`, id, limit)
	if err != nil {
		return nil, fmt.Errorf("realtime: read events: %w", err)
	}
	evs, err := pgx.CollectRows(rows, scanEvent)
	if err != nil {
		return nil, fmt.Errorf("realtime: read events: %w", err)
	}
	return evs, nil
}

func scanEvent(row pgx.CollectableRow) (Event, error) {
	var e Event
	var data string
	err := row.Scan(&e.ID, &e.Topic, &data, &e.RevokeUser)
	e.Data = []byte(data)
	return e, err
}

// last is the newest event's id, or the horizon when the table is empty.
func (s *store) last(ctx context.Context) (int64, error) {
	var id int64
	err := s.pool.QueryRow(ctx, `SELECT greatest((SELECT coalesce(max(id), 0) FROM websonic.realtime_events),
		(SELECT swept_through FROM websonic.realtime_horizon))`).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("realtime: last event: %w", err)
	}
	return id, nil
}

// catchUp reads, in one snapshot, up to limit events of topic after id,
// the horizon (events up to it were swept) and the newest id.
func (s *store) catchUp(ctx context.Context, topic string, id int64, limit int) (evs []Event, horizon, newest int64, err error) {
	rows, err := s.pool.Query(ctx, `SELECT h.swept_through,
			greatest(h.swept_through, (SELECT coalesce(max(id), 0) FROM websonic.realtime_events)),
			e.id, e.topic, e.data::text, e.revoke_user
		FROM websonic.realtime_horizon h
		LEFT JOIN LATERAL (SELECT id, topic, data, coalesce(revoke_user, 0) AS revoke_user FROM websonic.realtime_events
			WHERE topic = $1 AND id > $2 ORDER BY id LIMIT $3) e ON true`, topic, id, limit)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("realtime: catch up %s: %w", topic, err)
	}
	defer rows.Close()
	for rows.Next() {
		var eid, revoke *int64
		var etopic, data *string
		if err := rows.Scan(&horizon, &newest, &eid, &etopic, &data, &revoke); err != nil {
			return nil, 0, 0, fmt.Errorf("realtime: catch up %s: %w", topic, err)
		}
		if eid != nil {
			evs = append(evs, Event{ID: *eid, Topic: *etopic, Data: []byte(*data), RevokeUser: *revoke})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, 0, 0, fmt.Errorf("realtime: catch up %s: %w", topic, err)
	}
	return evs, horizon, newest, nil
}

// revokedSince reports whether a revocation of user's subscriptions to
// topic (user 0: not signed in), or of everyone's, was stored after id.
func (s *store) revokedSince(ctx context.Context, topic string, user, id int64) (bool, error) {
	var yes bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM websonic.realtime_events
		WHERE topic = $1 AND id > $2 AND revoke_user IN ($3, -1))`, topic, id, user).Scan(&yes)
	if err != nil {
		return false, fmt.Errorf("realtime: revocations of %s: %w", topic, err)
	}
	return yes, nil
}

// sweep removes the events older than keepFor and all but the newest keep,
// and moves the horizon past them. It returns how many it removed.
func (s *store) sweep(ctx context.Context, keepFor time.Duration, keep int) (int64, error) {
	n, err := s.cut(ctx, func(tx pgx.Tx) (upto int64, err error) {
		err = tx.QueryRow(ctx, `SELECT greatest(
				(SELECT coalesce(max(id), 0) FROM websonic.realtime_events WHERE at < now() - make_interval(secs => $1)),
				(SELECT coalesce(max(id), 0) FROM websonic.realtime_events) - $2)`,
			keepFor.Seconds(), keep).Scan(&upto)
		return upto, err
	})
	if err != nil {
		return 0, fmt.Errorf("realtime: sweep events: %w", err)
	}
	return n, nil
}

// forget removes every event up to the newest whose data holds one of
// needles (case-insensitively), and moves the horizon past them. It
// returns how many it removed.
func (s *store) forget(ctx context.Context, needles []string) (int64, error) {
	n, err := s.cut(ctx, func(tx pgx.Tx) (upto int64, err error) {
		err = tx.QueryRow(ctx, `SELECT coalesce(max(e.id), 0) FROM websonic.realtime_events e
			WHERE EXISTS (SELECT 1 FROM unnest($1::text[]) n WHERE n <> '' AND strpos(lower(e.data::text), lower(n)) > 0)`,
			needles).Scan(&upto)
		return upto, err
	})
	if err != nil {
		return 0, fmt.Errorf("realtime: forget events: %w", err)
	}
	return n, nil
}

// cut removes the events up to the id upto returns (none when it is 0)
// and moves the horizon past them, as one step: clients behind it are
// told to reload, as after any sweep. It returns how many it removed.
func (s *store) cut(ctx context.Context, upto func(pgx.Tx) (int64, error)) (int64, error) {
	var n int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The publishers' lock: no event commits meanwhile, so the cut
		// is exact.
		if _, err := tx.Exec(ctx, `LOCK TABLE websonic.realtime_events IN EXCLUSIVE MODE`); err != nil {
			return err
		}
		through, err := upto(tx)
		if err != nil || through <= 0 {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM websonic.realtime_events WHERE id <= $1`, through)
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		_, err = tx.Exec(ctx, `UPDATE websonic.realtime_horizon SET swept_through = greatest(swept_through, $1)`, through)
		return err
	})
	return n, err
}
