package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/websonic/websonic/sdk"
	"github.com/websonic/websonic/sdk/abi"
)

// Friends, requests and blocks (API.md, "Friends, blocks, conversations").
//
// A friendship is one row of friends (a < b). A request is pending until
// the recipient accepts or refuses it or the sender cancels it; a request
// the other way while one is pending accepts it at once. Blocking ends the
// friendship and the requests between the two, and keeps the blocked user
// from asking again: they are told exactly what anyone is told whose
// request the other refused lately (refusedWait), so that a block does not
// reveal itself. Every change publishes {"kind": "friends"} on both users'
// chat.user.ID (their lists changed: the page reloads them), a new request
// {"kind": "friend_request"} on the recipient's.

// refusedWait is how long a refused sender waits before asking the same
// person again (the recipient may ask them at any time).
const refusedWait = 7 * 24 * time.Hour

// maxPendingOut bounds the requests a user waits on at once.
const maxPendingOut = 100

func init() {
	mux.HandleFunc("GET /chat/api/friends", api(listFriends))
	mux.HandleFunc("POST /chat/api/friends/requests", api(requestFriend))
	mux.HandleFunc("POST /chat/api/friends/requests/{id}/accept", api(decideFriend("accept")))
	mux.HandleFunc("POST /chat/api/friends/requests/{id}/refuse", api(decideFriend("refuse")))
	mux.HandleFunc("POST /chat/api/friends/requests/{id}/cancel", api(decideFriend("cancel")))
	mux.HandleFunc("DELETE /chat/api/friends/{userID}", api(removeFriend))
	mux.HandleFunc("POST /chat/api/blocks", api(blockUser))
	mux.HandleFunc("DELETE /chat/api/blocks/{userID}", api(unblockUser))
	mux.HandleFunc("POST /chat/api/friends/force", api(forceFriends))
}

// friendNotAsked is what a user is told whose request may not be sent:
// the other refused one of theirs lately, or blocked them, or they blocked
// the other. The same sentence for all, so that a block does not show.
func friendNotAsked(name string) *apiError {
	return forbidden("You cannot send " + name + " a friend request now.")
}

// friendRequest is a pending request as the API lists it: user is the
// other person (the sender for incoming, the recipient for outgoing).
type friendRequest struct {
	ID        int64   `json:"id"`
	User      userRef `json:"user"`
	CreatedAt string  `json:"created_at"`
}

// friendWithPresence is a friend as GET /chat/api/friends lists them.
type friendWithPresence struct {
	userRef
	Presence string `json:"presence"`
}

// friendList is the answer of GET /chat/api/friends.
type friendList struct {
	Friends  []friendWithPresence `json:"friends"`
	Incoming []friendRequest      `json:"incoming"`
	Outgoing []friendRequest      `json:"outgoing"`
	Blocked  []userRef            `json:"blocked"`
}

func listFriends(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	ctx := r.Context()
	out := friendList{Friends: []friendWithPresence{}, Incoming: []friendRequest{}, Outgoing: []friendRequest{}, Blocked: []userRef{}}
	friends, err := queryUsers(ctx, userSelect+`
		JOIN friends f ON (f.a = $1 AND f.b = u.id) OR (f.b = $1 AND f.a = u.id)
		ORDER BY lower(coalesce(nullif(p.display_name, ''), u.display_name)), u.id`, u.ID)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(friends))
	for i, f := range friends {
		ids[i] = f.ID
	}
	pres, err := presenceOfMany(ctx, ids)
	if err != nil {
		return nil, err
	}
	for _, f := range friends {
		out.Friends = append(out.Friends, friendWithPresence{f, pres[f.ID]})
	}
	if out.Incoming, err = pendingRequests(ctx, "to_id", "from_id", u.ID); err != nil {
		return nil, err
	}
	if out.Outgoing, err = pendingRequests(ctx, "from_id", "to_id", u.ID); err != nil {
		return nil, err
	}
	blocked, err := queryUsers(ctx, userSelect+`JOIN blocks b ON b.blocked = u.id WHERE b.blocker = $1 ORDER BY b.created_at DESC`, u.ID)
	if err != nil {
		return nil, err
	}
	out.Blocked = append(out.Blocked, blocked...)
	return out, nil
}

// pendingRequests lists the pending requests whose column mine is userID,
// with the user in column other, oldest first.
func pendingRequests(ctx context.Context, mine, other string, userID int64) ([]friendRequest, error) {
	rows, err := sdk.DB().QueryContext(ctx, `
		SELECT r.id, r.created_at, u.id, u.username, coalesce(nullif(p.display_name, ''), u.display_name)
		FROM friend_requests r JOIN LATERAL (SELECT x.id, x.username, x.display_name FROM websonic_api.users x
			WHERE x.id = r.`+other+` LIMIT 1) u ON true
		LEFT JOIN profiles p ON p.user_id = u.id
		WHERE r.`+mine+` = $1 AND r.state = 'pending' ORDER BY r.created_at, r.id`, userID)
	if err != nil {
		return nil, fmt.Errorf("friend requests: %w", err)
	}
	defer rows.Close()
	out := []friendRequest{}
	for rows.Next() {
		var (
			fr friendRequest
			at time.Time
		)
		if err := rows.Scan(&fr.ID, &at, &fr.User.ID, &fr.User.Username, &fr.User.DisplayName); err != nil {
			return nil, fmt.Errorf("friend requests: %w", err)
		}
		fr.CreatedAt = rfc3339(at)
		out = append(out, fr)
	}
	return out, rows.Err()
}

// queryUsers reads userRefs (a query starting with userSelect).
func queryUsers(ctx context.Context, query string, args ...any) ([]userRef, error) {
	rows, err := sdk.DB().QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	defer rows.Close()
	var out []userRef
	for rows.Next() {
		var u userRef
		if err := rows.Scan(&u.ID, &u.Username, &u.DisplayName); err != nil {
			return nil, fmt.Errorf("users: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// requestFriend sends a friend request (POST /chat/api/friends/requests).
func requestFriend(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	ctx := r.Context()
	to, err := otherNamed(r, u, "You cannot send yourself a friend request.")
	if err != nil {
		return nil, err
	}
	var out struct {
		ID    int64   `json:"id"`
		User  userRef `json:"user"`
		State string  `json:"state"`
	}
	out.User = to
	var created time.Time
	err = inTx(ctx, func(tx *sql.Tx) error {
		var iBlocked, theyBlocked, friends bool
		if err := tx.QueryRowContext(ctx, `SELECT
			EXISTS (SELECT 1 FROM blocks WHERE blocker = $1 AND blocked = $2),
			EXISTS (SELECT 1 FROM blocks WHERE blocker = $2 AND blocked = $1),
			EXISTS (SELECT 1 FROM friends WHERE a = least($1::bigint, $2::bigint) AND b = greatest($1::bigint, $2::bigint))`, u.ID, to.ID).
			Scan(&iBlocked, &theyBlocked, &friends); err != nil {
			return err
		}
		switch {
		case iBlocked:
			return conflict("You blocked " + to.DisplayName + ": unblock them first.")
		case theyBlocked:
			return friendNotAsked(to.DisplayName)
		case friends:
			return conflict("You and " + to.DisplayName + " are already friends.")
		}
		// Their request to us: accepted at once.
		err := tx.QueryRowContext(ctx, `UPDATE friend_requests SET state = 'accepted', decided_at = now()
			WHERE from_id = $1 AND to_id = $2 AND state = 'pending' RETURNING id`, to.ID, u.ID).Scan(&out.ID)
		if err == nil {
			out.State = "accepted"
			return befriend(ctx, tx, u.ID, to.ID, 0)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var pendingMine, refusedLately bool
		var waiting int
		if err := tx.QueryRowContext(ctx, `SELECT
			EXISTS (SELECT 1 FROM friend_requests WHERE from_id = $1 AND to_id = $2 AND state = 'pending'),
			EXISTS (SELECT 1 FROM friend_requests WHERE from_id = $1 AND to_id = $2 AND state = 'refused' AND decided_at > now() - make_interval(secs => $3)),
			(SELECT count(*) FROM friend_requests WHERE from_id = $1 AND state = 'pending')`,
			u.ID, to.ID, refusedWait.Seconds()).Scan(&pendingMine, &refusedLately, &waiting); err != nil {
			return err
		}
		switch {
		case pendingMine:
			return conflict("You already asked " + to.DisplayName + "; they have not answered yet.")
		case refusedLately:
			return friendNotAsked(to.DisplayName)
		case waiting >= maxPendingOut:
			return conflict(fmt.Sprintf("You have %d friend requests waiting for an answer: cancel some first.", waiting))
		}
		out.State = "pending"
		return tx.QueryRowContext(ctx, `INSERT INTO friend_requests (from_id, to_id) VALUES ($1, $2) RETURNING id, created_at`, u.ID, to.ID).
			Scan(&out.ID, &created)
	})
	if err != nil {
		return nil, err
	}
	if out.State == "pending" {
		publish(ctx, userTopic(to.ID), map[string]any{"kind": "friend_request",
			"request": friendRequest{ID: out.ID, User: refOfUser(ctx, u), CreatedAt: rfc3339(created)}})
	}
	friendsChanged(ctx, u.ID, to.ID)
	return out, nil
}

// refOfUser is the request's user as others see them (the chat's display
// name when they set one).
func refOfUser(ctx context.Context, u *sdk.User) userRef {
	if ref, err := userByID(ctx, u.ID); err == nil {
		return ref
	}
	return refOf(u)
}

// decideFriend answers a pending request: the recipient accepts or
// refuses it, the sender cancels it. A request that is not the user's to
// decide is not found (its existence is none of their business).
func decideFriend(action string) func(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	return func(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
		id, err := pathID(r, "id")
		if err != nil {
			return nil, err
		}
		ctx := r.Context()
		var from, to int64
		err = inTx(ctx, func(tx *sql.Tx) error {
			var state string
			err := tx.QueryRowContext(ctx, `SELECT from_id, to_id, state FROM friend_requests WHERE id = $1 FOR UPDATE`, id).Scan(&from, &to, &state)
			mine := err == nil && ((action == "cancel" && from == u.ID) || (action != "cancel" && to == u.ID))
			if errors.Is(err, sql.ErrNoRows) || (err == nil && !mine) {
				return notFound("No such friend request.")
			}
			if err != nil {
				return err
			}
			if state != "pending" {
				return conflict("This request was already " + state + ".")
			}
			newState := map[string]string{"accept": "accepted", "refuse": "refused", "cancel": "cancelled"}[action]
			if _, err := tx.ExecContext(ctx, `UPDATE friend_requests SET state = $2, decided_at = now() WHERE id = $1`, id, newState); err != nil {
				return err
			}
			if action != "accept" {
				return nil
			}
			return befriend(ctx, tx, from, to, 0)
		})
		if err != nil {
			return nil, err
		}
		friendsChanged(ctx, from, to)
		return nil, nil
	}
}

// befriend makes a and b friends (forcedBy: the admin who forced it, 0
// for none), inside tx. A pending request between them is accepted.
func befriend(ctx context.Context, tx *sql.Tx, a, b, forcedBy int64) error {
	var by any
	if forcedBy != 0 {
		by = forcedBy
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO friends (a, b, forced_by) VALUES (least($1::bigint, $2::bigint), greatest($1::bigint, $2::bigint), $3)
		ON CONFLICT (a, b) DO NOTHING`, a, b, by); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE friend_requests SET state = 'accepted', decided_at = now()
		WHERE state = 'pending' AND least(from_id, to_id) = least($1::bigint, $2::bigint) AND greatest(from_id, to_id) = greatest($1::bigint, $2::bigint)`, a, b)
	return err
}

// friendsChanged tells both users' pages to reload their friends.
func friendsChanged(ctx context.Context, ids ...int64) {
	for _, id := range ids {
		publish(ctx, userTopic(id), map[string]string{"kind": "friends"})
	}
}

// removeFriend ends a friendship (DELETE /chat/api/friends/{userID}).
func removeFriend(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	other, err := pathID(r, "userID")
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	res, err := sdk.DB().ExecContext(ctx, `DELETE FROM friends WHERE a = least($1::bigint, $2::bigint) AND b = greatest($1::bigint, $2::bigint)`, u.ID, other)
	if err != nil {
		return nil, fmt.Errorf("remove friend: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, notFound("This user is not your friend.")
	}
	friendsChanged(ctx, u.ID, other)
	return nil, nil
}

// blockUser blocks a user (POST /chat/api/blocks): the friendship and the
// requests between them end. The blocked user's request to the blocker
// ends as refused, which is what they see of it.
func blockUser(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	ctx := r.Context()
	other, err := otherNamed(r, u, "You cannot block yourself.")
	if err != nil {
		return nil, err
	}
	theirsChanged := false
	err = inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO blocks (blocker, blocked) VALUES ($1, $2) ON CONFLICT DO NOTHING`, u.ID, other.ID); err != nil {
			return err
		}
		var n int64
		err := tx.QueryRowContext(ctx, `WITH
			f AS (DELETE FROM friends WHERE a = least($1::bigint, $2::bigint) AND b = greatest($1::bigint, $2::bigint) RETURNING 1),
			r AS (UPDATE friend_requests SET state = CASE WHEN from_id = $2 THEN 'refused' ELSE 'cancelled' END, decided_at = now()
				WHERE state = 'pending' AND ((from_id = $1 AND to_id = $2) OR (from_id = $2 AND to_id = $1)) RETURNING 1)
			SELECT (SELECT count(*) FROM f) + (SELECT count(*) FROM r)`, u.ID, other.ID).Scan(&n)
		theirsChanged = n > 0
		return err
	})
	if err != nil {
		return nil, err
	}
	friendsChanged(ctx, u.ID)
	if theirsChanged { // otherwise they have nothing to notice
		friendsChanged(ctx, other.ID)
	}
	return nil, nil
}

// unblockUser lifts a block (DELETE /chat/api/blocks/{userID}).
func unblockUser(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	other, err := pathID(r, "userID")
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	res, err := sdk.DB().ExecContext(ctx, `DELETE FROM blocks WHERE blocker = $1 AND blocked = $2`, u.ID, other)
	if err != nil {
		return nil, fmt.Errorf("unblock: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, notFound("You have not blocked this user.")
	}
	friendsChanged(ctx, u.ID)
	return nil, nil
}

// forceFriends makes two users friends without their consent (admins,
// POST /chat/api/friends/force), recorded in the chat's audit. A block
// between them stands: the admin is told so and nothing changes.
func forceFriends(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	if !isAdmin(u) {
		return nil, forbidden("Only the chat's admins can make people friends.")
	}
	var body struct {
		A string `json:"a"`
		B string `json:"b"`
	}
	if err := readJSON(r, &body); err != nil {
		return nil, err
	}
	ctx := r.Context()
	a, err := userByName(ctx, body.A)
	if err != nil {
		return nil, err
	}
	b, err := userByName(ctx, body.B)
	if err != nil {
		return nil, err
	}
	if err := makeFriends(ctx, a, b, u.ID); err != nil {
		return nil, err
	}
	return nil, nil
}

// makeFriends forces a friendship between a and b for the admin actorID,
// recorded in the chat's audit (by ids: names are resolved when shown).
func makeFriends(ctx context.Context, a, b userRef, actorID int64) error {
	if a.ID == b.ID {
		return badRequest("Name two different users.")
	}
	err := inTx(ctx, func(tx *sql.Tx) error {
		var blocker sql.NullInt64
		var friends bool
		if err := tx.QueryRowContext(ctx, `SELECT
			(SELECT blocker FROM blocks WHERE (blocker = $1 AND blocked = $2) OR (blocker = $2 AND blocked = $1) LIMIT 1),
			EXISTS (SELECT 1 FROM friends WHERE a = least($1::bigint, $2::bigint) AND b = greatest($1::bigint, $2::bigint))`, a.ID, b.ID).
			Scan(&blocker, &friends); err != nil {
			return err
		}
		if friends {
			return conflict(a.Username + " and " + b.Username + " are already friends.")
		}
		if blocker.Valid {
			by, other := a, b
			if blocker.Int64 == b.ID {
				by, other = b, a
			}
			return conflict(by.Username + " blocked " + other.Username + ": they cannot be made friends while the block stands.")
		}
		if err := befriend(ctx, tx, a.ID, b.ID, actorID); err != nil {
			return err
		}
		return recordAudit(ctx, tx, actorID, "friends.force", map[string]any{"a": a.ID, "b": b.ID})
	})
	if err != nil {
		return err
	}
	friendsChanged(ctx, a.ID, b.ID)
	return nil
}

// inTx runs f in a serializable transaction, committed when f returns
// nil, and again (up to four times) when PostgreSQL could not serialize
// it with another or a row another one committed meanwhile takes its
// unique key (two people asking each other at the same moment: the retry
// sees the other's request and accepts it): what f decides is then decided
// on what it read. A unique violation that persists answers a conflict.
func inTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := tryTx(ctx, f)
		var dbe *abi.DBError
		if !errors.As(err, &dbe) {
			return err
		}
		switch {
		case (dbe.Code == "40001" || dbe.Code == "40P01" || dbe.Code == "23505") && attempt < 4:
			continue
		case dbe.Code == "23505":
			return conflict("Someone did the same at the same moment; reload and try again.")
		}
		return err
	}
}

func tryTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := sdk.DB().BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelSerializable})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
