package main

import (
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/websonic/websonic/sdk"
)

// Private conversations (API.md, "Friends, blocks, conversations"): a dm
// between two friends (one per pair: rooms.dm_key is "A:B", the smaller
// id first, so that asking again finds the same room) and groups a member
// makes with friends of theirs. Both are rooms of kind dm or group with
// policy invite: nobody joins them by asking. A new member hears of it on
// chat.user.ID ({"kind": "room_added", "room_id"}). Both answer the room as
// the room routes do (roomFor, rooms.go).

// Group limits.
const (
	maxGroupName   = 80 // characters
	minGroupOthers = 2
	maxGroupOthers = 50
)

func init() {
	mux.HandleFunc("POST /chat/api/dms", api(openDM))
	mux.HandleFunc("POST /chat/api/groups", api(createGroup))
}

// dmKey is the dm_key of the conversation between a and b.
func dmKey(a, b int64) string {
	if a > b {
		a, b = b, a
	}
	return strconv.FormatInt(a, 10) + ":" + strconv.FormatInt(b, 10)
}

func openDM(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	ctx := r.Context()
	other, err := otherNamed(r, u, "A private conversation is with someone else.")
	if err != nil {
		return nil, err
	}
	ok, err := mayWrite(ctx, u.ID, other.ID)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, forbidden("You can write privately only to your friends: send " + other.DisplayName + " a friend request first.")
	}
	var roomID int64
	var added []int64
	err = inTx(ctx, func(tx *sql.Tx) error {
		added = added[:0]
		err := tx.QueryRowContext(ctx, `INSERT INTO rooms (kind, policy, dm_key, created_by) VALUES ('dm', 'invite', $1, $2)
			ON CONFLICT (dm_key) DO NOTHING RETURNING id`, dmKey(u.ID, other.ID), u.ID).Scan(&roomID)
		if errors.Is(err, sql.ErrNoRows) {
			err = tx.QueryRowContext(ctx, `SELECT id FROM rooms WHERE dm_key = $1`, dmKey(u.ID, other.ID)).Scan(&roomID)
		}
		if err != nil {
			return err
		}
		// Both are members (again, if one of them had left it).
		rows, err := tx.QueryContext(ctx, `INSERT INTO members (room_id, user_id) VALUES ($1, $2), ($1, $3)
			ON CONFLICT (room_id, user_id) DO NOTHING RETURNING user_id`, roomID, u.ID, other.ID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			added = append(added, id)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	for _, id := range added {
		publish(ctx, userTopic(id), map[string]any{"kind": "room_added", "room_id": roomID})
	}
	return roomFor(ctx, u, roomID)
}

// groupRequest is the body of POST /chat/api/groups.
type groupRequest struct {
	Name      string   `json:"name"`
	Usernames []string `json:"usernames"`
}

// check trims the name and the usernames, drops the creator's own and
// repeats, and checks the limits.
func (g *groupRequest) check(self string) error {
	g.Name = strings.TrimSpace(g.Name)
	if g.Name == "" {
		return badRequest("Give the group a name.")
	}
	if err := checkProfileText("A group's name", g.Name, maxGroupName, false); err != nil {
		return err
	}
	seen := map[string]bool{strings.ToLower(self): true}
	var names []string
	for _, n := range g.Usernames {
		n = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(n), "@"))
		if n == "" || seen[strings.ToLower(n)] {
			continue
		}
		if len(names) == maxGroupOthers { // more than allowed: no need to read them all
			return badRequest(fmt.Sprintf("A group has at most %d people besides you.", maxGroupOthers))
		}
		seen[strings.ToLower(n)] = true
		names = append(names, n)
	}
	if len(names) < minGroupOthers {
		return badRequest(fmt.Sprintf("A group has at least %d people besides you (for one, open a private conversation).", minGroupOthers))
	}
	g.Usernames = names
	return nil
}

func createGroup(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	var g groupRequest
	if err := readJSON(r, &g); err != nil {
		return nil, err
	}
	if err := g.check(u.Username); err != nil {
		return nil, err
	}
	ctx := r.Context()
	others := make([]userRef, 0, len(g.Usernames))
	for _, n := range g.Usernames {
		o, err := userByName(ctx, n)
		if err != nil {
			return nil, err
		}
		if o.ID == u.ID {
			continue
		}
		ok, err := mayWrite(ctx, u.ID, o.ID)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, forbidden(o.DisplayName + " is not your friend: a group is made with friends only.")
		}
		others = append(others, o)
	}
	if len(others) < minGroupOthers {
		return nil, badRequest(fmt.Sprintf("A group has at least %d people besides you.", minGroupOthers))
	}
	var roomID int64
	err := inTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `INSERT INTO rooms (kind, name, policy, created_by) VALUES ('group', $1, 'invite', $2) RETURNING id`,
			g.Name, u.ID).Scan(&roomID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO members (room_id, user_id, role) VALUES ($1, $2, 'owner')`, roomID, u.ID); err != nil {
			return err
		}
		ids := make([]int64, len(others))
		for i, o := range others {
			ids[i] = o.ID
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO members (room_id, user_id) SELECT $1, unnest($2::bigint[])`, roomID, int64Array(ids))
		return err
	})
	if err != nil {
		return nil, err
	}
	publish(ctx, userTopic(u.ID), map[string]any{"kind": "room_added", "room_id": roomID})
	for _, o := range others {
		publish(ctx, userTopic(o.ID), map[string]any{"kind": "room_added", "room_id": roomID})
	}
	return roomFor(ctx, u, roomID)
}
