package site

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// The password policy's length bounds, for the forms that explain it.
const (
	MinPasswordLen = minPasswordLen
	MaxPasswordLen = maxPasswordLen
)

// UserSort is the order of ListUsers.
type UserSort string

// The orders of ListUsers.
const (
	SortByName     UserSort = "name"    // username, A to Z
	SortByCreated  UserSort = "created" // newest accounts first
	SortByLastSeen UserSort = "seen"    // most recently seen first; never seen last
)

// UserState filters ListUsers by the state of the account.
type UserState string

// The states of an account.
const (
	StateActive    UserState = "active"    // neither banned nor suspended now
	StateBanned    UserState = "banned"    // banned
	StateSuspended UserState = "suspended" // suspended now (and not banned)
)

// UserQuery selects a page of ListUsers.
type UserQuery struct {
	// Search is matched, case-insensitively, anywhere in the username, the
	// display name or the e-mail address ("" for everyone; at most 100
	// characters).
	Search string
	Role   Role      // only holders of this role (admin, staff, auditor; "" for all)
	State  UserState // only accounts in this state ("" for all)
	Sort   UserSort  // "" is SortByName
	// Offset skips that many users of the order (at most MaxUserOffset);
	// Limit bounds the page (1 to 200; 0: 50).
	Offset, Limit int
}

// MaxUserOffset bounds UserQuery.Offset: searching narrows a list that
// long better than paging through it.
const MaxUserOffset = 100_000

// UserListing is one account of ListUsers.
type UserListing struct {
	UserStatus
	// LastSeen is when the user last used the site from an address it
	// recorded (a sign-in, or a session's use; zero: never).
	LastSeen time.Time
}

// State is the account's state now.
func (u *UserListing) State() UserState {
	switch {
	case u.Banned:
		return StateBanned
	case !u.SuspendedUntil.IsZero():
		return StateSuspended
	}
	return StateActive
}

// ErrInvalidUserQuery: a ListUsers search, filter, order or page that
// cannot be.
var ErrInvalidUserQuery = errors.New("site: invalid user query")

// likePattern escapes s for a LIKE pattern matching it anywhere.
func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

// ListUsers returns a page of the site's accounts (erased ones are not
// accounts any more) in q's order, and how many match q in all. An invalid
// query is ErrInvalidUserQuery.
func (s *Store) ListUsers(ctx context.Context, q UserQuery) (users []UserListing, total int, err error) {
	if q.Limit == 0 {
		q.Limit = 50
	}
	if q.Sort == "" {
		q.Sort = SortByName
	}
	q.Search = strings.TrimSpace(q.Search)
	order := map[UserSort]string{
		SortByName:     `u.username`,
		SortByCreated:  `u.created_at DESC, u.id DESC`,
		SortByLastSeen: `last_seen DESC NULLS LAST, u.username`,
	}[q.Sort]
	switch {
	case order == "", q.Limit < 1, q.Limit > 200, q.Offset < 0, q.Offset > MaxUserOffset,
		len([]rune(q.Search)) > 100, checkReason(q.Search) != nil,
		q.Role != "" && !q.Role.grantable(),
		q.State != "" && q.State != StateActive && q.State != StateBanned && q.State != StateSuspended:
		return nil, 0, ErrInvalidUserQuery
	}
	search := ""
	if q.Search != "" {
		search = likePattern(q.Search)
	}
	rows, err := s.pool.Query(ctx, `SELECT u.id, u.username, u.display_name, COALESCE(u.email, ''), u.created_at,
			ARRAY(SELECT role FROM websonic.user_roles WHERE user_id = u.id ORDER BY role),
			u.banned_at IS NOT NULL, u.ban_reason, u.banned_by,
			CASE WHEN u.suspended_until > now() THEN u.suspended_until END, u.suspend_reason,
			(SELECT max(last_seen) FROM websonic.user_ips WHERE user_id = u.id) AS last_seen,
			count(*) OVER ()
		FROM websonic.users u
		WHERE u.erased_at IS NULL
		  AND ($1 = '' OR u.username ILIKE $1 OR u.display_name ILIKE $1 OR COALESCE(u.email, '') ILIKE $1)
		  AND ($2 = '' OR EXISTS (SELECT 1 FROM websonic.user_roles r WHERE r.user_id = u.id AND r.role = $2))
		  AND (CASE $3
		       WHEN 'active' THEN u.banned_at IS NULL AND (u.suspended_until IS NULL OR u.suspended_until <= now())
		       WHEN 'banned' THEN u.banned_at IS NOT NULL
		       WHEN 'suspended' THEN u.banned_at IS NULL AND u.suspended_until > now()
		       ELSE true END)
		ORDER BY `+order+` LIMIT $4 OFFSET $5`, search, string(q.Role), string(q.State), q.Limit, q.Offset)
	if err != nil {
		return nil, 0, fmt.Errorf("site: list users: %w", err)
	}
	users, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (UserListing, error) {
		var u UserListing
		var roles []string
		var until, seen *time.Time
		err := row.Scan(&u.ID, &u.Username, &u.DisplayName, &u.Email, &u.Created, &roles, &u.Banned, &u.BanReason,
			&u.BannedBy, &until, &u.SuspendReason, &seen, &total)
		u.Granted = toRoles(roles)
		if until != nil {
			u.SuspendedUntil = *until
		}
		if seen != nil {
			u.LastSeen = *seen
		}
		return u, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("site: list users: %w", err)
	}
	if len(users) == 0 && q.Offset > 0 {
		// Past the end: count what matches all the same.
		_, total, err = s.ListUsers(ctx, UserQuery{Search: q.Search, Role: q.Role, State: q.State, Sort: q.Sort, Limit: 1})
	}
	return users, total, err
}
