package site

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
)

// The owner's and admins' view of a user's sessions: list them, end one,
// end all. A session has no id of its own (websonic.sessions keys it by
// its token's hash), so it is named by SessionInfo.ID, derived from that
// hash: stable, short, and worthless to anyone who sees it (it opens
// nothing and reveals nothing of the token).

// Session areas: where a session signs its user in.
const (
	AreaSite  = "site"  // the site (websonic.sessions)
	AreaAdmin = "admin" // the admin area (websonic.admin_sessions)
)

// SessionInfo is one live session of a user.
type SessionInfo struct {
	ID      string // 24 hex digits, stable for the session's life
	Area    string // AreaSite or AreaAdmin
	Started time.Time
	Expires time.Time
}

// sessionIDSQL computes SessionInfo.ID from a session row's token_hash.
const sessionIDSQL = `encode(substr(sha256('websonic session id v1:'::bytea || token_hash), 1, 12), 'hex')`

// sessionIDRE is what a SessionInfo.ID looks like.
var sessionIDRE = regexp.MustCompile(`^[0-9a-f]{24}$`)

// ErrNoSession: the user has no live session of that id.
var ErrNoSession = errors.New("site: no such session (it may have ended already)")

// UserSessions lists the live sessions of user id, on the site and in the
// admin area, newest first.
func (s *Store) UserSessions(ctx context.Context, id int64) ([]SessionInfo, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+sessionIDSQL+`, 'site', created_at, expires_at FROM websonic.sessions
			WHERE user_id = $1 AND expires_at > now()
		UNION ALL
		SELECT `+sessionIDSQL+`, 'admin', created_at, expires_at FROM websonic.admin_sessions
			WHERE user_id = $1 AND expires_at > now()
		ORDER BY 3 DESC, 1`, id)
	if err != nil {
		return nil, fmt.Errorf("site: sessions of user %d: %w", id, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[SessionInfo])
	if err != nil {
		return nil, fmt.Errorf("site: sessions of user %d: %w", id, err)
	}
	return out, nil
}

// AddressSeen is an address (an IPv4 address, or an IPv6 /64) a user
// came from, as the site keeps them: the newest 20.
type AddressSeen struct {
	Prefix      netip.Prefix
	First, Last time.Time
}

// UserAddresses lists the addresses user id came from, most recent first.
func (s *Store) UserAddresses(ctx context.Context, id int64) ([]AddressSeen, error) {
	rows, err := s.pool.Query(ctx, `SELECT ip, first_seen, last_seen FROM websonic.user_ips
		WHERE user_id = $1 ORDER BY last_seen DESC, ip`, id)
	if err != nil {
		return nil, fmt.Errorf("site: addresses of user %d: %w", id, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[AddressSeen])
	if err != nil {
		return nil, fmt.Errorf("site: addresses of user %d: %w", id, err)
	}
	return out, nil
}

// RecentUserEvent is a user event with its time.
type RecentUserEvent struct {
	ID   int64
	Kind string // EventBanned…
	At   time.Time
}

// RecentUserEvents lists the user events of user id still kept (a day),
// newest first, at most limit (1 to 200).
func (s *Store) RecentUserEvents(ctx context.Context, id int64, limit int) ([]RecentUserEvent, error) {
	limit = min(max(limit, 1), 200)
	rows, err := s.pool.Query(ctx, `SELECT id, kind, at FROM websonic.user_events WHERE user_id = $1 ORDER BY id DESC LIMIT $2`, id, limit)
	if err != nil {
		return nil, fmt.Errorf("site: events of user %d: %w", id, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[RecentUserEvent])
	if err != nil {
		return nil, fmt.Errorf("site: events of user %d: %w", id, err)
	}
	return out, nil
}

// EndSession ends the session sessionID (a SessionInfo.ID) of user id,
// on the site or in the admin area: the user's next request with it is
// signed out, and its realtime sockets close (event EventSessionEnded).
// Errors: ErrUnknownUser, ErrNoSession, ErrProtected (a module: sessions
// are the owner's and admins' to end), or a wrapped database error.
// Audited as "user.session_end".
func (s *Store) EndSession(ctx context.Context, a Actor, id int64, sessionID string) error {
	if a.Module != "" {
		return ErrProtected
	}
	if !sessionIDRE.MatchString(sessionID) {
		return ErrNoSession
	}
	err := s.endSessionsOf(ctx, a, id, func(tx pgx.Tx, t *target) error {
		var area string
		err := tx.QueryRow(ctx, `WITH site AS (
				DELETE FROM websonic.sessions WHERE user_id = $1 AND `+sessionIDSQL+` = $2 RETURNING 'site' AS area),
			admin AS (
				DELETE FROM websonic.admin_sessions WHERE user_id = $1 AND `+sessionIDSQL+` = $2 RETURNING 'admin' AS area)
			SELECT area FROM site UNION ALL SELECT area FROM admin LIMIT 1`, t.id, sessionID).Scan(&area)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNoSession
		}
		if err != nil {
			return err
		}
		if err := RecordUserEvent(ctx, tx, t.id, EventSessionEnded); err != nil {
			return err
		}
		return t.audit(ctx, tx, "user.session_end", map[string]any{"session": sessionID, "area": area})
	})
	return wrapAct(err, "end session of user %d", id)
}

// EndSessions ends every session of user id, on the site and in the admin
// area, and returns how many there were (none: nothing is recorded).
// Errors as EndSession's. Audited as "user.sessions_end".
func (s *Store) EndSessions(ctx context.Context, a Actor, id int64) (int, error) {
	if a.Module != "" {
		return 0, ErrProtected
	}
	var n int
	err := s.endSessionsOf(ctx, a, id, func(tx pgx.Tx, t *target) error {
		site, err := tx.Exec(ctx, `DELETE FROM websonic.sessions WHERE user_id = $1 AND expires_at > now()`, t.id)
		if err != nil {
			return err
		}
		admin, err := tx.Exec(ctx, `DELETE FROM websonic.admin_sessions WHERE user_id = $1 AND expires_at > now()`, t.id)
		if err != nil {
			return err
		}
		if n = int(site.RowsAffected() + admin.RowsAffected()); n == 0 {
			return nil
		}
		if err := RecordUserEvent(ctx, tx, t.id, EventSessionEnded); err != nil {
			return err
		}
		return t.audit(ctx, tx, "user.sessions_end", map[string]any{"sessions": n})
	})
	return n, wrapAct(err, "end sessions of user %d", id)
}

// endSessionsOf runs f in a transaction on user id, locked (not erased).
// Unlike act it takes no lock on the admins: ending sessions changes no
// one's standing.
func (s *Store) endSessionsOf(ctx context.Context, a Actor, id int64, f func(tx pgx.Tx, t *target) error) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		t := &target{actor: a}
		err := tx.QueryRow(ctx, `SELECT id, username FROM websonic.users WHERE id = $1 AND erased_at IS NULL FOR UPDATE`, id).
			Scan(&t.id, &t.username)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrUnknownUser
		}
		if err != nil {
			return err
		}
		return f(tx, t)
	})
}
