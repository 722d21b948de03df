package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/websonic/websonic/sdk"
)

// Search (API.md, GET /chat/api/search): PostgreSQL text search over the
// rooms the user may read, and, since sealed texts cannot be indexed, a
// scan of the user's newest private messages, opened and matched in the
// module; both merged newest first, 50 a page, by cursor.

func init() {
	mux.HandleFunc("GET /chat/api/search", api(search))
}

const (
	// maxQuery bounds a search's text.
	maxQuery = 200
	// privateWindow is how many of the user's newest private messages a
	// search opens at most.
	privateWindow = 1000
	// privateBatch is how many sealed texts one database read brings
	// (the host caps a result at 4 MiB).
	privateBatch = 100
)

// searchTerms is a query as the private scan matches it: every word must
// appear in the text (case-insensitively), no "-word" may; quotes and
// websearch's "or" are ignored (the private scan only narrows).
type searchTerms struct{ must, mustNot []string }

func parseTerms(q string) searchTerms {
	var t searchTerms
	for _, w := range strings.Fields(strings.ReplaceAll(q, `"`, " ")) {
		w = strings.ToLower(w)
		switch {
		case w == "or" || w == "-":
		case strings.HasPrefix(w, "-"):
			t.mustNot = append(t.mustNot, w[1:])
		default:
			t.must = append(t.must, w)
		}
	}
	return t
}

// match reports whether text matches the terms.
func (t searchTerms) match(text string) bool {
	if len(t.must) == 0 {
		return false
	}
	text = strings.ToLower(text)
	for _, w := range t.must {
		if !strings.Contains(text, w) {
			return false
		}
	}
	for _, w := range t.mustNot {
		if strings.Contains(text, w) {
			return false
		}
	}
	return true
}

func search(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	q, err := checkText(r.URL.Query().Get("q"), maxQuery, false)
	if err != nil || q == "" {
		return nil, badRequest("Search for 1 to 200 characters.")
	}
	before, err := parseCursor(r.URL.Query().Get("before"))
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	if err := ensureSeeded(ctx); err != nil {
		return nil, err
	}
	public, err := searchRooms(ctx, u, q, before)
	if err != nil {
		return nil, err
	}
	private, opened, err := searchPrivate(ctx, u, parseTerms(q), before)
	if err != nil {
		return nil, err
	}
	ids := append(public, private...)
	sort.Slice(ids, func(i, j int) bool { return ids[i] > ids[j] })
	more := len(ids) > pageSize
	if more {
		ids = ids[:pageSize]
	}
	ms, _, err := loadMessages(ctx, u.ID, pageSize, opened,
		`WHERE m.id = ANY (string_to_array($2, ',')::bigint[]) ORDER BY m.id DESC`, idList(ids))
	if err != nil {
		return nil, err
	}
	if err := nameRooms(ctx, u, ms); err != nil {
		return nil, err
	}
	var next *int64
	if more && len(ms) > 0 {
		next = &ms[len(ms)-1].ID
	}
	return map[string]any{"messages": ms, "next": next}, nil
}

// searchRooms is the ids of the newest 51 room messages below before that
// match q, among the rooms u may read (canRead's rule, in SQL). The rooms
// are found first, into an array, not joined: the statement is prepared
// once per connection, and with a join PostgreSQL's generic plan (chosen
// after five runs, without knowing the words) scans the whole room
// backwards for a rare word; with the array its custom plans stay
// cheaper, and it picks the text index or the primary key per query
// (BENCHMARKS.md, Chat: 0.6-1 s → 1.5 ms for a rare word in a room of a
// million messages).
func searchRooms(ctx context.Context, u *sdk.User, q string, before int64) ([]int64, error) {
	rows, err := sdk.DB().QueryContext(ctx, `SELECT m.id FROM messages m
		WHERE m.tsv @@ websearch_to_tsquery('simple', $1) AND m.deleted_at IS NULL AND m.id < $2
		  AND m.room_id = ANY (ARRAY(SELECT r.id FROM rooms r WHERE r.kind = 'room'
		      AND ($3 OR (r.policy = 'everyone' AND r.archived_at IS NULL)
		           OR EXISTS (SELECT 1 FROM members mb WHERE mb.room_id = r.id AND mb.user_id = $4))))
		ORDER BY m.id DESC LIMIT $5`, q, before, isAdmin(u), u.ID, pageSize+1)
	if err != nil {
		return nil, fmt.Errorf("search rooms: %w", err)
	}
	return scanIDs(rows)
}

// scanNames reads rows of (id, name) into out, and closes rows.
func scanNames(rows *sql.Rows, out map[int64]string) error {
	defer rows.Close()
	for rows.Next() {
		var (
			id   int64
			name string
		)
		if err := rows.Scan(&id, &name); err != nil {
			return err
		}
		out[id] = name
	}
	return rows.Err()
}

// scanIDs reads rows of one id each, and closes rows.
func scanIDs(rows *sql.Rows) ([]int64, error) {
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// searchPrivate opens u's newest private messages (groups and dms, at
// most privateWindow of them) below before, newest first, until 51 match;
// it answers their ids and opened texts.
func searchPrivate(ctx context.Context, u *sdk.User, terms searchTerms, before int64) ([]int64, map[int64]string, error) {
	opened := map[int64]string{}
	if len(terms.must) == 0 {
		return nil, opened, nil
	}
	// The window's oldest message: the privateWindow-th newest.
	var floor int64
	err := sdk.DB().QueryRowContext(ctx, `SELECT coalesce(min(id), 0) FROM (SELECT m.id FROM messages m
			JOIN members mb ON mb.room_id = m.room_id AND mb.user_id = $1
			JOIN rooms r ON r.id = m.room_id AND r.kind <> 'room'
		WHERE m.sealed IS NOT NULL ORDER BY m.id DESC LIMIT $2) w`, u.ID, privateWindow).Scan(&floor)
	if err != nil {
		return nil, nil, fmt.Errorf("search conversations: %w", err)
	}
	var ids []int64
	for cursor := before; len(ids) <= pageSize; {
		rows, err := sdk.DB().QueryContext(ctx, `SELECT m.id, m.sealed FROM messages m
				JOIN members mb ON mb.room_id = m.room_id AND mb.user_id = $1
				JOIN rooms r ON r.id = m.room_id AND r.kind <> 'room'
			WHERE m.sealed IS NOT NULL AND m.id < $2 AND m.id >= $3
			ORDER BY m.id DESC LIMIT $4`, u.ID, cursor, floor, privateBatch)
		if err != nil {
			return nil, nil, fmt.Errorf("search conversations: %w", err)
		}
		type sealedRow struct {
			id     int64
			sealed []byte
		}
		var batch []sealedRow
		for rows.Next() {
			var s sealedRow
			if err := rows.Scan(&s.id, &s.sealed); err != nil {
				rows.Close()
				return nil, nil, err
			}
			batch = append(batch, s)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, nil, err
		}
		for _, s := range batch {
			text, err := sdk.Open(ctx, sealPurpose, s.sealed)
			if err != nil {
				return nil, nil, fmt.Errorf("open message %d: %w", s.id, err)
			}
			if terms.match(string(text)) && len(ids) <= pageSize {
				ids = append(ids, s.id)
				opened[s.id] = string(text)
			}
		}
		if len(batch) < privateBatch {
			break
		}
		cursor = batch[len(batch)-1].id
	}
	return ids, opened, nil
}

// nameRooms sets each result's room (a dm's name is the other person's).
func nameRooms(ctx context.Context, u *sdk.User, ms []messageView) error {
	if len(ms) == 0 {
		return nil
	}
	need := map[int64]bool{}
	for _, m := range ms {
		need[m.RoomID] = true
	}
	names := map[int64]string{}
	ids := make([]int64, 0, len(need))
	for id := range need {
		ids = append(ids, id)
	}
	rows, err := sdk.DB().QueryContext(ctx, `SELECT r.id, CASE WHEN r.kind = 'dm' THEN
			coalesce((SELECT coalesce(nullif(p.display_name, ''), ou.display_name) FROM members o
			  JOIN LATERAL (SELECT x.display_name FROM websonic_api.users x WHERE x.id = o.user_id LIMIT 1) ou ON true
			  LEFT JOIN profiles p ON p.user_id = o.user_id
			  WHERE o.room_id = r.id AND o.user_id <> $2 LIMIT 1), $3) ELSE r.name END
		FROM rooms r WHERE r.id = ANY (string_to_array($1, ',')::bigint[])`, idList(ids), u.ID, deletedUser.DisplayName)
	if err != nil {
		return fmt.Errorf("name rooms: %w", err)
	}
	if err := scanNames(rows, names); err != nil {
		return fmt.Errorf("name rooms: %w", err)
	}
	for i := range ms {
		ms[i].Room = &roomRef{ID: ms[i].RoomID, Name: names[ms[i].RoomID]}
	}
	return nil
}
