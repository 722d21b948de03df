package bench

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/runtime/internal/modhost"
	coresite "github.com/websonic/websonic/runtime/internal/site"
)

// chatNative is the baseline of the history, search and posting
// benchmarks: the chat module's handlers for GET
// /chat/api/rooms/{id}/messages, GET /chat/api/search and POST
// /chat/api/rooms/{id}/messages written as a native Go application would
// write them — chi handlers, pgx on a pool configured like the module's
// (same role, search_path, limits, connection cap) — running the same SQL
// statements in the same order (copied from modules/chat: rooms.go,
// messages.go, search.go; keep them in step), answering the same JSON, and
// publishing through the same host path as the module's sdk.Publish (the
// realtime.publish service). Only what the benchmarks exercise is here:
// rooms of kind 'room' (no sealed texts), no mentions resolved unless the
// text has some. newChatBaseline checks that both answer the same.
type chatNative struct {
	pool *pgxpool.Pool
	// publish is realtime.publish, called as the module (caller).
	publish modhost.Service
	caller  *modhost.Caller
	// config is the module's configuration (its max_message_chars).
	config func() []byte
	seeded atomic.Bool
}

func (n *chatNative) routes() http.Handler {
	r := chi.NewRouter()
	r.Get("/chat/api/rooms/{id}/messages", n.api(http.StatusOK, n.history))
	r.Post("/chat/api/rooms/{id}/messages", n.api(http.StatusCreated, n.post))
	r.Get("/chat/api/search", n.api(http.StatusOK, n.search))
	return r
}

// nativeError is the module's apiError.
type nativeError struct {
	status int
	code   string
	msg    string
}

func (e *nativeError) Error() string { return e.msg }

func nativeBad(msg string) error { return &nativeError{http.StatusBadRequest, "invalid", msg} }

var errNativeNoRoom = &nativeError{http.StatusNotFound, "not_found", "No such room."}

// writeJSON is the module's writeJSON.
func nativeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// api is the module's api adapter (web.go), with the status of success.
func (n *chatNative) api(status int, f func(r *http.Request, u *coresite.User) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u := coresite.UserFrom(r.Context())
		if u == nil {
			nativeJSON(w, http.StatusUnauthorized, map[string]string{"error": "Sign in first.", "code": "unauthorized"})
			return
		}
		v, err := f(r, u)
		var ne *nativeError
		switch {
		case errors.As(err, &ne):
			nativeJSON(w, ne.status, map[string]string{"error": ne.msg, "code": ne.code})
		case err != nil:
			nativeJSON(w, http.StatusInternalServerError, map[string]string{"error": "Something went wrong on the server; try again.", "code": "internal"})
		default:
			nativeJSON(w, status, v)
		}
	}
}

func nativeIsAdmin(u *coresite.User) bool { return u.Has(coresite.RoleStaff) }

// nativeRoom is the module's roomRow, with what the benchmarks use.
type nativeRoom struct {
	ID            int64
	Kind, Name    string
	Topic, Policy string
	Archived      bool
	RetentionDays *int64
	LastMessageID int64
	DMKey         *string
	Member        bool
	LastRead      int64
}

// The module's SQL (modules/chat), word for word.
const (
	// rooms.go, loadRoom.
	nativeRoomQuery = `SELECT r.id, r.kind, r.name, r.topic, r.policy, r.archived_at IS NOT NULL, r.retention_days,
	r.last_message_id, r.dm_key, m.user_id IS NOT NULL, coalesce(m.last_read_id, 0)
		FROM rooms r LEFT JOIN members m ON m.room_id = r.id AND m.user_id = $2 WHERE r.id = $1`
	// messages.go, messageSelect: the author found by a LATERAL lookup
	// that reaches users_pkey (websonic_api.users is a security_barrier
	// view: a plain join's condition is never pushed into it, and the
	// join read every user of the site for each message; users.go,
	// "Joining users").
	nativeMessageSelect = `SELECT m.id, m.room_id, m.author_id, u.username,
	coalesce(nullif(p.display_name, ''), u.display_name), m.body, m.sealed, m.created_at, m.edited_at,
	m.deleted_at IS NOT NULL,
	(SELECT coalesce(string_agg(mn.user_id::text, ',' ORDER BY mn.user_id), '') FROM mentions mn WHERE mn.message_id = m.id),
	(SELECT coalesce(json_agg(json_build_object('emoji', x.emoji, 'count', x.n, 'mine', x.mine) ORDER BY x.first, x.emoji), '[]')
	 FROM (SELECT emoji, count(*) AS n, bool_or(user_id = $1) AS mine, min(created_at) AS first
	       FROM reactions WHERE message_id = m.id GROUP BY emoji) x)
FROM messages m LEFT JOIN LATERAL (SELECT x.username, x.display_name FROM websonic_api.users x WHERE x.id = m.author_id LIMIT 1) u ON true
	LEFT JOIN profiles p ON p.user_id = m.author_id `
	// messages.go, history.
	nativeHistoryClause = `WHERE m.room_id = $2 AND m.id < $3 ORDER BY m.id DESC LIMIT $4`
	// search.go, searchRooms: the rooms the user may read found first,
	// into an array (an InitPlan), not joined, so that PostgreSQL keeps
	// custom plans (made knowing the words) for the prepared statement.
	nativeSearchRooms = `SELECT m.id FROM messages m
		WHERE m.tsv @@ websearch_to_tsquery('simple', $1) AND m.deleted_at IS NULL AND m.id < $2
		  AND m.room_id = ANY (ARRAY(SELECT r.id FROM rooms r WHERE r.kind = 'room'
		      AND ($3 OR (r.policy = 'everyone' AND r.archived_at IS NULL)
		           OR EXISTS (SELECT 1 FROM members mb WHERE mb.room_id = r.id AND mb.user_id = $4))))
		ORDER BY m.id DESC LIMIT $5`
	// search.go, searchPrivate's two queries reach the module's index
	// messages_sealed (migrations/003_search.sql).
	// search.go, searchPrivate: the window's floor.
	nativeSearchFloor = `SELECT coalesce(min(id), 0) FROM (SELECT m.id FROM messages m
			JOIN members mb ON mb.room_id = m.room_id AND mb.user_id = $1
			JOIN rooms r ON r.id = m.room_id AND r.kind <> 'room'
		WHERE m.sealed IS NOT NULL ORDER BY m.id DESC LIMIT $2) w`
	// search.go, searchPrivate: a batch.
	nativeSearchBatch = `SELECT m.id, m.sealed FROM messages m
				JOIN members mb ON mb.room_id = m.room_id AND mb.user_id = $1
				JOIN rooms r ON r.id = m.room_id AND r.kind <> 'room'
			WHERE m.sealed IS NOT NULL AND m.id < $2 AND m.id >= $3
			ORDER BY m.id DESC LIMIT $4`
	// search.go, search.
	nativeSearchClause = `WHERE m.id = ANY (string_to_array($2, ',')::bigint[]) ORDER BY m.id DESC`
	// search.go, nameRooms.
	nativeNameRooms = `SELECT r.id, CASE WHEN r.kind = 'dm' THEN
			coalesce((SELECT coalesce(nullif(p.display_name, ''), ou.display_name) FROM members o
			  JOIN LATERAL (SELECT x.display_name FROM websonic_api.users x WHERE x.id = o.user_id LIMIT 1) ou ON true
			  LEFT JOIN profiles p ON p.user_id = o.user_id
			  WHERE o.room_id = r.id AND o.user_id <> $2 LIMIT 1), $3) ELSE r.name END
		FROM rooms r WHERE r.id = ANY (string_to_array($1, ',')::bigint[])`
	// messages.go, postStatement.
	nativePost = `WITH m AS (INSERT INTO messages (room_id, author_id, body, sealed) VALUES ($1, $2, $3, $4)
		RETURNING id, author_id, created_at),
	mn AS (INSERT INTO mentions (message_id, user_id, room_id)
		SELECT m.id, unnest(string_to_array($5, ',')::bigint[]), $1 FROM m ON CONFLICT DO NOTHING),
	r AS (UPDATE rooms SET last_message_id = greatest(last_message_id, m.id) FROM m WHERE rooms.id = $1),
	k AS (INSERT INTO members (room_id, user_id, last_read_id) SELECT $1, $2, m.id FROM m
		ON CONFLICT (room_id, user_id) DO UPDATE SET last_read_id = greatest(members.last_read_id, excluded.last_read_id))
SELECT m.id, m.created_at, u.username, coalesce(nullif(p.display_name, ''), u.display_name)
FROM m LEFT JOIN LATERAL (SELECT x.username, x.display_name FROM websonic_api.users x WHERE x.id = m.author_id LIMIT 1) u ON true
	LEFT JOIN profiles p ON p.user_id = m.author_id`
)

// ensureSeeded stands for the module's (rooms.go): the first call of an
// instance inserts the seed rooms (ON CONFLICT DO NOTHING), later ones
// nothing. The rooms are there: the native side pays it once too.
func (n *chatNative) ensureSeeded(ctx context.Context) error {
	if n.seeded.Load() {
		return nil
	}
	_, err := n.pool.Exec(ctx, `INSERT INTO rooms (kind, name, policy, seed) VALUES ('room', 'General', 'everyone', 'general') ON CONFLICT DO NOTHING`)
	if err == nil {
		n.seeded.Store(true)
	}
	return err
}

func (n *chatNative) loadRoom(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, u *coresite.User, id int64) (*nativeRoom, error) {
	if err := n.ensureSeeded(ctx); err != nil {
		return nil, err
	}
	var r nativeRoom
	err := q.QueryRow(ctx, nativeRoomQuery, id, u.ID).Scan(&r.ID, &r.Kind, &r.Name, &r.Topic, &r.Policy, &r.Archived,
		&r.RetentionDays, &r.LastMessageID, &r.DMKey, &r.Member, &r.LastRead)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errNativeNoRoom
	}
	if err != nil {
		return nil, fmt.Errorf("load room %d: %w", id, err)
	}
	return &r, nil
}

// readable is the module's roomRow.readable.
func (r *nativeRoom) readable(u *coresite.User) bool {
	switch {
	case r.Member:
		return true
	case r.Kind != "room":
		return false
	case nativeIsAdmin(u):
		return true
	}
	return r.Policy == "everyone" && !r.Archived
}

func (n *chatNative) readableRoom(ctx context.Context, u *coresite.User, id int64) (*nativeRoom, error) {
	r, err := n.loadRoom(ctx, n.pool, u, id)
	if err != nil {
		return nil, err
	}
	if !r.readable(u) {
		return nil, errNativeNoRoom // the benchmarks read rooms they may read
	}
	return r, nil
}

func nativePathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, &nativeError{http.StatusNotFound, "not_found", "No such id."}
	}
	return id, nil
}

// nativeCursor is the module's parseCursor.
func nativeCursor(s string) (int64, error) {
	if s == "" {
		return math.MaxInt64, nil
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != s {
		return 0, nativeBad("before is a message id.")
	}
	return id, nil
}

// The module's JSON shapes (messages.go, users.go, joins.go).
type (
	nativeUserRef struct {
		ID          int64  `json:"id"`
		Username    string `json:"username"`
		DisplayName string `json:"display_name"`
	}
	nativeReaction struct {
		Emoji string `json:"emoji"`
		Count int    `json:"count"`
		Mine  bool   `json:"mine"`
	}
	nativeRoomRef struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	}
	nativeMessage struct {
		ID        int64            `json:"id"`
		RoomID    int64            `json:"room_id"`
		Author    nativeUserRef    `json:"author"`
		Text      string           `json:"text"`
		CreatedAt time.Time        `json:"created_at"`
		EditedAt  *time.Time       `json:"edited_at"`
		Deleted   bool             `json:"deleted"`
		Mentions  []int64          `json:"mentions"`
		Reactions []nativeReaction `json:"reactions"`
		Room      *nativeRoomRef   `json:"room,omitempty"`
	}
)

// loadMessages is the module's (messages.go), for unsealed texts.
func (n *chatNative) loadMessages(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, viewer int64, max int, clause string, args ...any) (out []nativeMessage, more bool, err error) {
	rows, err := q.Query(ctx, nativeMessageSelect+clause, append([]any{viewer}, args...)...)
	if err != nil {
		return nil, false, fmt.Errorf("read messages: %w", err)
	}
	defer rows.Close()
	out = []nativeMessage{}
	for rows.Next() {
		if len(out) == max {
			more = true
			break
		}
		var (
			m           nativeMessage
			author      *int64
			name, dname *string
			body        *string
			seal        []byte
			edited      *time.Time
			mentions    string
			reactions   []byte
		)
		if err := rows.Scan(&m.ID, &m.RoomID, &author, &name, &dname, &body, &seal, &m.CreatedAt, &edited,
			&m.Deleted, &mentions, &reactions); err != nil {
			return nil, false, err
		}
		m.Author = nativeUserRef{DisplayName: "deleted user"}
		if author != nil && name != nil {
			m.Author = nativeUserRef{ID: *author, Username: *name, DisplayName: *dname}
		}
		if body != nil {
			m.Text = *body
		}
		m.CreatedAt = m.CreatedAt.UTC()
		if edited != nil {
			e := edited.UTC()
			m.EditedAt = &e
		}
		m.Mentions = []int64{}
		for _, s := range strings.Split(mentions, ",") {
			if id, err := strconv.ParseInt(s, 10, 64); err == nil {
				m.Mentions = append(m.Mentions, id)
			}
		}
		if err := json.Unmarshal(reactions, &m.Reactions); err != nil {
			return nil, false, fmt.Errorf("reactions of message %d: %w", m.ID, err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	return out, more, nil
}

func (n *chatNative) history(r *http.Request, u *coresite.User) (any, error) {
	id, err := nativePathID(r)
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	if _, err := n.readableRoom(ctx, u, id); err != nil {
		return nil, err
	}
	before, err := nativeCursor(r.URL.Query().Get("before"))
	if err != nil {
		return nil, err
	}
	ms, more, err := n.loadMessages(ctx, n.pool, u.ID, 50, nativeHistoryClause, id, before, 51)
	if err != nil {
		return nil, err
	}
	var next *int64
	if more {
		next = &ms[len(ms)-1].ID
	}
	return map[string]any{"messages": ms, "next": next}, nil
}

// nativeCheckText is the module's checkText (messages.go).
func nativeCheckText(s string, maxRunes int, multiline bool) (string, error) {
	if !utf8.ValidString(s) {
		return "", errors.New("the text is not valid UTF-8")
	}
	if multiline {
		s = strings.ReplaceAll(s, "\r\n", "\n")
	}
	s = strings.TrimSpace(s)
	k := 0
	for _, r := range s {
		k++
		if k > maxRunes {
			return "", fmt.Errorf("the text is longer than %d characters", maxRunes)
		}
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t')) {
			return "", fmt.Errorf("the text holds the control character %U", r)
		}
		if r == '\u2028' || r == '\u2029' || r == '\ufeff' {
			return "", fmt.Errorf("the text holds the invisible character %U", r)
		}
	}
	return s, nil
}

func (n *chatNative) search(r *http.Request, u *coresite.User) (any, error) {
	q, err := nativeCheckText(r.URL.Query().Get("q"), 200, false)
	if err != nil || q == "" {
		return nil, nativeBad("Search for 1 to 200 characters.")
	}
	before, err := nativeCursor(r.URL.Query().Get("before"))
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	if err := n.ensureSeeded(ctx); err != nil {
		return nil, err
	}
	public, err := n.ids(ctx, nativeSearchRooms, q, before, nativeIsAdmin(u), u.ID, 51)
	if err != nil {
		return nil, fmt.Errorf("search rooms: %w", err)
	}
	// searchPrivate: the floor of the user's newest 1000 private
	// messages, then batches of 100 sealed texts below the cursor (the
	// rooms benchmarked hold none: one batch, empty).
	var private []int64
	if len(nativeTerms(q)) > 0 {
		var floor int64
		if err := n.pool.QueryRow(ctx, nativeSearchFloor, u.ID, 1000).Scan(&floor); err != nil {
			return nil, fmt.Errorf("search conversations: %w", err)
		}
		rows, err := n.pool.Query(ctx, nativeSearchBatch, u.ID, before, floor, 100)
		if err != nil {
			return nil, fmt.Errorf("search conversations: %w", err)
		}
		for rows.Next() {
			var id int64
			var sealed []byte
			if err := rows.Scan(&id, &sealed); err != nil {
				rows.Close()
				return nil, err
			}
			return nil, errors.New("the native search opens no sealed texts")
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	ids := append(public, private...)
	slices.SortFunc(ids, func(a, b int64) int { return cmp.Compare(b, a) })
	more := len(ids) > 50
	if more {
		ids = ids[:50]
	}
	ms, _, err := n.loadMessages(ctx, n.pool, u.ID, 50, nativeSearchClause, nativeIDList(ids))
	if err != nil {
		return nil, err
	}
	if len(ms) > 0 {
		need := map[int64]bool{}
		for _, m := range ms {
			need[m.RoomID] = true
		}
		var rids []int64
		for id := range need {
			rids = append(rids, id)
		}
		rows, err := n.pool.Query(ctx, nativeNameRooms, nativeIDList(rids), u.ID, "deleted user")
		if err != nil {
			return nil, fmt.Errorf("name rooms: %w", err)
		}
		names := map[int64]string{}
		for rows.Next() {
			var id int64
			var name string
			if err := rows.Scan(&id, &name); err != nil {
				rows.Close()
				return nil, err
			}
			names[id] = name
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		for i := range ms {
			ms[i].Room = &nativeRoomRef{ID: ms[i].RoomID, Name: names[ms[i].RoomID]}
		}
	}
	var next *int64
	if more && len(ms) > 0 {
		next = &ms[len(ms)-1].ID
	}
	return map[string]any{"messages": ms, "next": next}, nil
}

// nativeTerms is the module's parseTerms(q).must.
func nativeTerms(q string) []string {
	var must []string
	for _, w := range strings.Fields(strings.ReplaceAll(q, `"`, " ")) {
		w = strings.ToLower(w)
		if w != "or" && w != "-" && !strings.HasPrefix(w, "-") {
			must = append(must, w)
		}
	}
	return must
}

func (n *chatNative) ids(ctx context.Context, q string, args ...any) ([]int64, error) {
	rows, err := n.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

func nativeIDList(ids []int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(s, ",")
}

func (n *chatNative) post(r *http.Request, u *coresite.User) (any, error) {
	id, err := nativePathID(r)
	if err != nil {
		return nil, err
	}
	// readMessageBody: at most 64 KiB of UTF-8, then strict JSON.
	b, err := io.ReadAll(io.LimitReader(r.Body, 64<<10+1))
	if err != nil || len(b) > 64<<10 || !utf8.Valid(b) {
		return nil, nativeBad("The message is not valid.")
	}
	var in struct {
		Text string `json:"text"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || dec.More() {
		return nil, nativeBad("The request is not the JSON expected.")
	}
	ctx := r.Context()
	room, err := n.loadRoom(ctx, n.pool, u, id)
	if err != nil {
		return nil, err
	}
	// checkPost, for a room of kind 'room' (no query).
	if !room.readable(u) || room.Archived || !room.Member && room.Policy != "everyone" {
		return nil, &nativeError{http.StatusForbidden, "forbidden", "Join the room to post in it."}
	}
	// messageText: the configured limit, read per request as the module
	// does.
	var cfg struct {
		MaxMessageChars int `json:"max_message_chars"`
	}
	json.Unmarshal(n.config(), &cfg)
	if cfg.MaxMessageChars <= 0 {
		cfg.MaxMessageChars = 4000
	}
	text, err := nativeCheckText(in.Text, min(cfg.MaxMessageChars, 10000), true)
	if err != nil || text == "" {
		return nil, nativeBad("A message is too long or empty.")
	}
	if strings.Contains(text, "@") {
		return nil, errors.New("the native handler resolves no mentions")
	}
	// postStatement: one statement writes and answers what the message
	// needs; the rest is known (no mentions here, no reactions, no edit).
	m := nativeMessage{RoomID: id, Author: nativeUserRef{DisplayName: "deleted user"}, Text: text, Mentions: []int64{}, Reactions: []nativeReaction{}}
	var name, dname *string
	if err := n.pool.QueryRow(ctx, nativePost, id, u.ID, text, nil, "").Scan(&m.ID, &m.CreatedAt, &name, &dname); err != nil {
		return nil, fmt.Errorf("post in room %d: %w", id, err)
	}
	m.CreatedAt = m.CreatedAt.UTC()
	if name != nil && dname != nil {
		m.Author = nativeUserRef{ID: u.ID, Username: *name, DisplayName: *dname}
	}
	// publishMessage: the message without anyone's "mine", through
	// realtime.publish as sdk.Publish sends it.
	ev := m
	ev.Reactions = append(make([]nativeReaction, 0, len(m.Reactions)), m.Reactions...)
	for i := range ev.Reactions {
		ev.Reactions[i].Mine = false
	}
	data, err := json.Marshal(map[string]any{"kind": "message", "message": ev})
	if err != nil {
		return nil, err
	}
	payload, err := json.Marshal(struct {
		Topic string          `json:"topic"`
		Data  json.RawMessage `json:"data"`
	}{"chat.room." + strconv.FormatInt(id, 10), data})
	if err != nil {
		return nil, err
	}
	if _, err := n.publish.Serve(ctx, n.caller, payload); err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	return m, nil
}
