package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/websonic/websonic/sdk"
)

// Messages (API.md, "Messages"): history by cursor, posting with
// @mentions, editing, deleting, reactions. Room texts are stored as they
// are (searchable); group and dm texts are sealed with the site's key and
// never enter an event.

func init() {
	mux.HandleFunc("GET /chat/api/rooms/{id}/messages", api(history))
	mux.HandleFunc("POST /chat/api/rooms/{id}/messages", apiCreated(postMessage))
	mux.HandleFunc("GET /chat/api/messages/{id}", api(getMessage))
	mux.HandleFunc("PATCH /chat/api/messages/{id}", api(editMessage))
	mux.HandleFunc("DELETE /chat/api/messages/{id}", api(deleteMessage))
	mux.HandleFunc("POST /chat/api/messages/{id}/reactions", api(react))
}

const (
	// sealPurpose binds sealed message texts (sdk.Seal).
	sealPurpose = "message"
	// pageSize is a page of history or of search results.
	pageSize = 50
	// maxMentions bounds the users one message notifies.
	maxMentions = 20
	// maxEmoji is the longest reaction, in characters.
	maxEmoji = 16
	// maxReactionsPerUser and maxEmojiPerMessage bound a message's
	// reactions (and so the size of its events).
	maxReactionsPerUser = 20
	maxEmojiPerMessage  = 50
	// maxEventJSON is the largest message event sent whole; a larger one
	// carries the ids only (the runtime's default limit is 64 KiB).
	maxEventJSON = 60 << 10
)

// checkText trims s and checks it: valid UTF-8, at most maxRunes
// characters, no control characters (but newlines and tabs when
// multiline; a CRLF counts as a newline). It answers the cleaned text,
// possibly empty: callers decide whether empty is fine.
func checkText(s string, maxRunes int, multiline bool) (string, error) {
	if !utf8.ValidString(s) {
		return "", errors.New("the text is not valid UTF-8")
	}
	if multiline {
		s = strings.ReplaceAll(s, "\r\n", "\n")
	}
	s = strings.TrimSpace(s)
	n := 0
	for _, r := range s {
		n++
		if n > maxRunes {
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

// messageText checks a message's text against the configured limit.
func messageText(s string) (string, error) {
	max := readConfig().MaxMessageChars
	t, err := checkText(s, max, true)
	if err != nil || t == "" {
		return "", badRequest(fmt.Sprintf("A message is 1 to %d characters, without control characters other than new lines and tabs.", max))
	}
	return t, nil
}

// usernameByte reports whether c may be part of a username (the site's
// rule: a-z, 0-9, '.', '_', '-'; mentions match case-insensitively).
func usernameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}

// parseMentions finds the @username words of text, lowercased, each once,
// in order, at most maxMentions: an '@' at the start or after a character
// that cannot end a username (so "ada@example.com" mentions no one),
// followed by a username (3 to 32 characters starting with a letter or
// digit; a final '.' ends the sentence, not the name).
func parseMentions(text string) []string {
	var out []string
	seen := map[string]bool{}
	for i := 0; i < len(text) && len(out) < maxMentions; i++ {
		if text[i] != '@' || i > 0 && (usernameByte(text[i-1]) || text[i-1] == '@') {
			continue
		}
		j := i + 1
		for j < len(text) && usernameByte(text[j]) {
			j++
		}
		name := strings.ToLower(strings.TrimRight(text[i+1:j], "."))
		i = j - 1
		if len(name) < 3 || len(name) > 32 || !(name[0] >= 'a' && name[0] <= 'z' || name[0] >= '0' && name[0] <= '9') {
			continue
		}
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	return out
}

// parseCursor reads a page's ?before=ID: empty is the newest page.
func parseCursor(s string) (int64, error) {
	if s == "" {
		return math.MaxInt64, nil
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != s {
		return 0, badRequest("before is a message id.")
	}
	return id, nil
}

// reaction is an emoji's count on a message.
type reaction struct {
	Emoji string `json:"emoji"`
	Count int    `json:"count"`
	Mine  bool   `json:"mine"`
}

// messageView is a message as API.md shows it.
type messageView struct {
	ID        int64      `json:"id"`
	RoomID    int64      `json:"room_id"`
	Author    userRef    `json:"author"`
	Text      string     `json:"text"`
	CreatedAt time.Time  `json:"created_at"`
	EditedAt  *time.Time `json:"edited_at"`
	Deleted   bool       `json:"deleted"`
	Mentions  []int64    `json:"mentions"`
	Reactions []reaction `json:"reactions"`
	Room      *roomRef   `json:"room,omitempty"` // search results only
}

// messageSelect reads messages with their author, mentions and reactions
// ("mine" for the user $1); append the WHERE clause (parameters from $2).
// The author is found by a LATERAL lookup (see users.go, "Joining users").
const messageSelect = `SELECT m.id, m.room_id, m.author_id, u.username,
	coalesce(nullif(p.display_name, ''), u.display_name), m.body, m.sealed, m.created_at, m.edited_at,
	m.deleted_at IS NOT NULL,
	(SELECT coalesce(string_agg(mn.user_id::text, ',' ORDER BY mn.user_id), '') FROM mentions mn WHERE mn.message_id = m.id),
	(SELECT coalesce(json_agg(json_build_object('emoji', x.emoji, 'count', x.n, 'mine', x.mine) ORDER BY x.first, x.emoji), '[]')
	 FROM (SELECT emoji, count(*) AS n, bool_or(user_id = $1) AS mine, min(created_at) AS first
	       FROM reactions WHERE message_id = m.id GROUP BY emoji) x)
FROM messages m LEFT JOIN LATERAL (SELECT x.username, x.display_name FROM websonic_api.users x WHERE x.id = m.author_id LIMIT 1) u ON true
	LEFT JOIN profiles p ON p.user_id = m.author_id `

// loadMessages reads the messages the clause selects, as viewer sees them,
// keeping the first max (more reports whether there were others); sealed
// texts are opened, unless opened already has them.
func loadMessages(ctx context.Context, viewer int64, max int, opened map[int64]string, clause string, args ...any) (out []messageView, more bool, err error) {
	rows, err := sdk.DB().QueryContext(ctx, messageSelect+clause, append([]any{viewer}, args...)...)
	if err != nil {
		return nil, false, fmt.Errorf("read messages: %w", err)
	}
	defer rows.Close()
	out = []messageView{}
	var sealed [][]byte
	for rows.Next() {
		if len(out) == max {
			more = true
			break
		}
		var (
			m                 messageView
			author            sql.NullInt64
			name, dname, body sql.NullString
			seal              []byte
			edited            sql.NullTime
			mentions          string
			reactions         []byte
		)
		if err := rows.Scan(&m.ID, &m.RoomID, &author, &name, &dname, &body, &seal, &m.CreatedAt, &edited,
			&m.Deleted, &mentions, &reactions); err != nil {
			return nil, false, err
		}
		m.Author = deletedUser
		if author.Valid && name.Valid {
			m.Author = userRef{ID: author.Int64, Username: name.String, DisplayName: dname.String}
		}
		m.Text, m.CreatedAt, m.EditedAt = body.String, m.CreatedAt.UTC(), timePtr(edited)
		m.Mentions = []int64{}
		for _, s := range strings.Split(mentions, ",") {
			if id, err := strconv.ParseInt(s, 10, 64); err == nil {
				m.Mentions = append(m.Mentions, id)
			}
		}
		if err := json.Unmarshal(reactions, &m.Reactions); err != nil {
			return nil, false, fmt.Errorf("reactions of message %d: %w", m.ID, err)
		}
		out, sealed = append(out, m), append(sealed, seal)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	rows.Close()
	for i := range out {
		if sealed[i] == nil {
			continue
		}
		if t, ok := opened[out[i].ID]; ok {
			out[i].Text = t
			continue
		}
		t, err := sdk.Open(ctx, sealPurpose, sealed[i])
		if err != nil {
			return nil, false, fmt.Errorf("open message %d: %w", out[i].ID, err)
		}
		out[i].Text = string(t)
	}
	return out, more, nil
}

// loadMessage reads message id as viewer sees it, or answers 404.
func loadMessage(ctx context.Context, viewer, id int64) (messageView, error) {
	ms, _, err := loadMessages(ctx, viewer, 1, nil, `WHERE m.id = $2`, id)
	if err != nil {
		return messageView{}, err
	}
	if len(ms) == 0 {
		return messageView{}, errNoMessage
	}
	return ms[0], nil
}

var errNoMessage = notFound("No such message.")

// messageRoom finds the room of message id and checks that u may read it
// (404 otherwise: a message of a room one may not read does not exist).
func messageRoom(ctx context.Context, u *sdk.User, id int64) (*roomRow, int64, bool, error) {
	var (
		roomID  int64
		author  sql.NullInt64
		deleted bool
	)
	err := sdk.DB().QueryRowContext(ctx, `SELECT room_id, author_id, deleted_at IS NOT NULL FROM messages WHERE id = $1`, id).
		Scan(&roomID, &author, &deleted)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, false, errNoMessage
	}
	if err != nil {
		return nil, 0, false, fmt.Errorf("message %d: %w", id, err)
	}
	room, err := loadRoom(ctx, sdk.DB(), u, roomID)
	if err != nil {
		return nil, 0, false, err
	}
	if !room.readable(u) {
		return nil, 0, false, errNoMessage
	}
	return room, author.Int64, deleted, nil
}

// publishMessage announces a message event (kind "message", "edit" or
// "reaction") on its room's topic: the message itself in a room (without
// anyone's "mine"), its ids only in a group or a dm (sealed texts never
// enter the runtime's event table) or when it is too large for an event.
func publishMessage(ctx context.Context, kind string, room *roomRow, m messageView) {
	short := map[string]any{"kind": kind, "id": m.ID, "room_id": m.RoomID}
	if room.Kind != kindRoom {
		publish(ctx, roomTopic(room.ID), short)
		return
	}
	m.Reactions = append(make([]reaction, 0, len(m.Reactions)), m.Reactions...)
	for i := range m.Reactions {
		m.Reactions[i].Mine = false
	}
	ev := map[string]any{"kind": kind, "message": m}
	if b, err := json.Marshal(ev); err != nil || len(b) > maxEventJSON {
		publish(ctx, roomTopic(room.ID), short)
		return
	}
	publish(ctx, roomTopic(room.ID), ev)
}

// apiCreated is api for a route that answers 201 with what it made.
func apiCreated(f func(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u := sdk.UserFrom(r)
		if u == nil {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "Sign in first.", "code": "unauthorized"})
			return
		}
		v, err := f(w, r, u)
		if err != nil {
			fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusCreated, v)
	}
}

func history(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	if _, err := readableRoom(ctx, u, id); err != nil {
		return nil, err
	}
	before, err := parseCursor(r.URL.Query().Get("before"))
	if err != nil {
		return nil, err
	}
	// Keyset on (room_id, id), the index messages_room: however deep the
	// page, it reads 51 index entries.
	ms, more, err := loadMessages(ctx, u.ID, pageSize, nil, `WHERE m.room_id = $2 AND m.id < $3 ORDER BY m.id DESC LIMIT $4`,
		id, before, pageSize+1)
	if err != nil {
		return nil, err
	}
	var next *int64
	if more {
		next = &ms[len(ms)-1].ID
	}
	return map[string]any{"messages": ms, "next": next}, nil
}

// mentionable resolves names to the users who may read room (not the
// author, nor anyone who blocked the author: a block stops the blocked
// person's mentions from notifying), as a list for string_to_array.
func mentionable(ctx context.Context, room *roomRow, author int64, names []string) ([]int64, error) {
	if len(names) == 0 {
		return nil, nil
	}
	rows, err := sdk.DB().QueryContext(ctx, `SELECT u.id FROM websonic_api.users u
		WHERE lower(u.username) = ANY (string_to_array($1, ',')) AND u.id <> $2
		  AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker = u.id AND b.blocked = $2)
		  AND (EXISTS (SELECT 1 FROM members m WHERE m.room_id = $3 AND m.user_id = u.id)
		       OR ($4 AND 'staff' = ANY (u.roles)) OR $5)
		ORDER BY u.id`,
		strings.Join(names, ","), author, room.ID, room.Kind == kindRoom,
		room.Kind == kindRoom && room.Policy == policyEveryone && !room.Archived)
	if err != nil {
		return nil, fmt.Errorf("resolve mentions: %w", err)
	}
	return scanIDs(rows)
}

// idList joins ids for string_to_array($n, ',')::bigint[].
func idList(ids []int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(s, ",")
}

// draft is a message's text ready to store: checked, its mentions
// resolved, sealed in a group or a dm.
type draft struct {
	text         string
	mentioned    []int64
	body, sealed any
}

// newDraft checks that u may write in room and prepares raw as the text
// of a new or edited message.
func newDraft(ctx context.Context, room *roomRow, u *sdk.User, raw string) (draft, error) {
	if err := room.checkPost(ctx, u); err != nil {
		return draft{}, err
	}
	text, err := messageText(raw)
	if err != nil {
		return draft{}, err
	}
	mentioned, err := mentionable(ctx, room, u.ID, parseMentions(text))
	if err != nil {
		return draft{}, err
	}
	body, sealed, err := storedText(ctx, room, text)
	if err != nil {
		return draft{}, err
	}
	return draft{text: text, mentioned: mentioned, body: body, sealed: sealed}, nil
}

// storedText is what a message keeps of text in room: the text in a room,
// sealed in a group or a dm.
func storedText(ctx context.Context, room *roomRow, text string) (body, sealed any, err error) {
	if room.Kind == kindRoom {
		return text, nil, nil
	}
	s, err := sdk.Seal(ctx, sealPurpose, []byte(text))
	if err != nil {
		return nil, nil, fmt.Errorf("seal a message: %w", err)
	}
	return nil, s, nil
}

func postMessage(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	var in struct {
		Text string `json:"text"`
	}
	if err := readJSON(r, &in); err != nil {
		return nil, err
	}
	ctx := r.Context()
	room, err := loadRoom(ctx, sdk.DB(), u, id)
	if err != nil {
		return nil, err
	}
	d, err := newDraft(ctx, room, u, in.Text)
	if err != nil {
		return nil, err
	}
	text, mentioned, body, sealed := d.text, d.mentioned, d.body, d.sealed
	// One statement, atomic on its own: the message, its mentions, the
	// room's newest id, the author's read marker (they have read their
	// own message; in an 'everyone' room they get their row), and the
	// author's names. The rest of the message is known: its text, no edit,
	// the mentions found (in messageSelect's order), no reactions. Folding
	// the transaction's five round trips and the read-back into one halves
	// a post's cost and holds the room's row lock for one statement only
	// (BENCHMARKS.md, Chat: posting).
	m := messageView{RoomID: id, Author: deletedUser, Text: text, Mentions: append([]int64{}, mentioned...), Reactions: []reaction{}}
	var name, dname sql.NullString
	if err := sdk.DB().QueryRowContext(ctx, postStatement, id, u.ID, body, sealed, idList(mentioned)).Scan(
		&m.ID, &m.CreatedAt, &name, &dname); err != nil {
		return nil, fmt.Errorf("post in room %d: %w", id, err)
	}
	m.CreatedAt = m.CreatedAt.UTC()
	if name.Valid {
		m.Author = userRef{ID: u.ID, Username: name.String, DisplayName: dname.String}
	}
	mid := m.ID
	publishMessage(ctx, "message", room, m)
	for _, who := range mentioned {
		publish(ctx, userTopic(who), map[string]any{"kind": "mention", "room_id": id, "message_id": mid})
	}
	return m, nil
}

// loadMessages1 reads message id as viewer sees it, its text known.
func loadMessages1(ctx context.Context, viewer, id int64, text string) (messageView, error) {
	ms, _, err := loadMessages(ctx, viewer, 1, map[int64]string{id: text}, `WHERE m.id = $2`, id)
	if err != nil {
		return messageView{}, err
	}
	if len(ms) == 0 {
		return messageView{}, errNoMessage
	}
	return ms[0], nil
}

// postStatement writes a new message ($1 room, $2 author, $3 body, $4
// sealed, $5 the mentioned users' ids as a list) and answers its id, time
// and author's names. (messageSelect cannot read the new row here: a
// statement's scans do not see the rows its own CTEs insert.)
const postStatement = `WITH m AS (INSERT INTO messages (room_id, author_id, body, sealed) VALUES ($1, $2, $3, $4)
		RETURNING id, author_id, created_at),
	mn AS (INSERT INTO mentions (message_id, user_id, room_id)
		SELECT m.id, unnest(string_to_array($5, ',')::bigint[]), $1 FROM m ON CONFLICT DO NOTHING),
	r AS (UPDATE rooms SET last_message_id = greatest(last_message_id, m.id) FROM m WHERE rooms.id = $1),
	k AS (INSERT INTO members (room_id, user_id, last_read_id) SELECT $1, $2, m.id FROM m
		ON CONFLICT (room_id, user_id) DO UPDATE SET last_read_id = greatest(members.last_read_id, excluded.last_read_id))
SELECT m.id, m.created_at, u.username, coalesce(nullif(p.display_name, ''), u.display_name)
FROM m LEFT JOIN LATERAL (SELECT x.username, x.display_name FROM websonic_api.users x WHERE x.id = m.author_id LIMIT 1) u ON true
	LEFT JOIN profiles p ON p.user_id = m.author_id`

func getMessage(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	if _, _, _, err := messageRoom(r.Context(), u, id); err != nil {
		return nil, err
	}
	return loadMessage(r.Context(), u.ID, id)
}

func editMessage(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	var in struct {
		Text string `json:"text"`
	}
	if err := readJSON(r, &in); err != nil {
		return nil, err
	}
	ctx := r.Context()
	room, author, deleted, err := messageRoom(ctx, u, id)
	if err != nil {
		return nil, err
	}
	if author != u.ID {
		return nil, forbidden("You can edit only your own messages.")
	}
	if deleted {
		return nil, conflict("This message was deleted.")
	}
	d, err := newDraft(ctx, room, u, in.Text)
	if err != nil {
		return nil, err
	}
	text, mentioned, body, sealed := d.text, d.mentioned, d.body, d.sealed
	tx, err := sdk.DB().BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE messages SET body = $2, sealed = $3, edited_at = now()
		WHERE id = $1 AND deleted_at IS NULL`, id, body, sealed)
	if err != nil {
		return nil, fmt.Errorf("edit message %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, conflict("This message was deleted.")
	}
	// The mentions the new text makes; those it adds are told.
	var added []int64
	rows, err := tx.QueryContext(ctx, `WITH gone AS (DELETE FROM mentions WHERE message_id = $1 RETURNING user_id)
		SELECT id FROM unnest(string_to_array($2, ',')::bigint[]) AS id WHERE id NOT IN (SELECT user_id FROM gone)`,
		id, idList(mentioned))
	if err != nil {
		return nil, fmt.Errorf("mentions of message %d: %w", id, err)
	}
	for rows.Next() {
		var who int64
		if err := rows.Scan(&who); err != nil {
			rows.Close()
			return nil, err
		}
		added = append(added, who)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(mentioned) > 0 {
		if _, err := tx.ExecContext(ctx, `INSERT INTO mentions (message_id, user_id, room_id)
			SELECT $1, unnest(string_to_array($2, ',')::bigint[]), $3 ON CONFLICT DO NOTHING`, id, idList(mentioned), room.ID); err != nil {
			return nil, fmt.Errorf("record mentions: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	m, err := loadMessages1(ctx, u.ID, id, text)
	if err != nil {
		return nil, err
	}
	publishMessage(ctx, "edit", room, m)
	for _, who := range added {
		publish(ctx, userTopic(who), map[string]any{"kind": "mention", "room_id": room.ID, "message_id": id})
	}
	return m, nil
}

func deleteMessage(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	room, author, deleted, err := messageRoom(ctx, u, id)
	if err != nil {
		return nil, err
	}
	own := author == u.ID
	if !own && !isAdmin(u) {
		return nil, forbidden("You can delete only your own messages.")
	}
	if deleted {
		return nil, nil // deleted already: nothing more to do
	}
	if room.Archived && !isAdmin(u) {
		return nil, conflict("This room is archived: it is read-only.")
	}
	tx, err := sdk.DB().BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE messages SET body = NULL, sealed = NULL, deleted_at = now(), deleted_by = $2
		WHERE id = $1 AND deleted_at IS NULL`, id, u.ID)
	if err != nil {
		return nil, fmt.Errorf("delete message %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, nil
	}
	for _, q := range []string{`DELETE FROM mentions WHERE message_id = $1`, `DELETE FROM reactions WHERE message_id = $1`} {
		if _, err := tx.ExecContext(ctx, q, id); err != nil {
			return nil, fmt.Errorf("delete message %d: %w", id, err)
		}
	}
	if !own {
		if err := recordAudit(ctx, tx, u.ID, "message.delete", map[string]any{"message": id, "room": room.ID, "author": author}); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	publish(ctx, roomTopic(room.ID), map[string]any{"kind": "delete", "id": id, "room_id": room.ID})
	return nil, nil
}

// checkEmoji trims and checks a reaction: 1 to 16 characters, no spaces
// or control characters.
func checkEmoji(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxEmoji {
		return "", errors.New("an emoji is 1 to 16 characters")
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return "", errors.New("an emoji has no spaces or control characters")
		}
	}
	return s, nil
}

func react(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	var in struct {
		Emoji string `json:"emoji"`
	}
	if err := readJSON(r, &in); err != nil {
		return nil, err
	}
	emoji, err := checkEmoji(in.Emoji)
	if err != nil {
		return nil, badRequest("A reaction is one emoji (at most 16 characters, no spaces).")
	}
	ctx := r.Context()
	room, _, deleted, err := messageRoom(ctx, u, id)
	if err != nil {
		return nil, err
	}
	if deleted {
		return nil, conflict("This message was deleted.")
	}
	if room.Archived {
		return nil, conflict("This room is archived: it is read-only.")
	}
	if room.Kind == kindDM { // a reaction is a word in the dm: friends only, no block (checkPost)
		if err := room.checkPost(ctx, u); err != nil {
			return nil, err
		}
	}
	tx, err := sdk.DB().BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	// One reader's toggles of one message go one at a time.
	if _, err := tx.ExecContext(ctx, `SELECT 1 FROM messages WHERE id = $1 FOR UPDATE`, id); err != nil {
		return nil, err
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM reactions WHERE message_id = $1 AND user_id = $2 AND emoji = $3`, id, u.ID, emoji)
	if err != nil {
		return nil, fmt.Errorf("react to message %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var mine, kinds int
		var known bool
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE user_id = $2), count(DISTINCT emoji),
				coalesce(bool_or(emoji = $3), false)
			FROM reactions WHERE message_id = $1`, id, u.ID, emoji).Scan(&mine, &kinds, &known); err != nil {
			return nil, err
		}
		if mine >= maxReactionsPerUser || !known && kinds >= maxEmojiPerMessage {
			return nil, conflict("This message has all the reactions it can take.")
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO reactions (message_id, user_id, emoji) VALUES ($1, $2, $3)
			ON CONFLICT DO NOTHING`, id, u.ID, emoji); err != nil {
			return nil, fmt.Errorf("react to message %d: %w", id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	m, err := loadMessage(ctx, u.ID, id)
	if err != nil {
		return nil, err
	}
	publishMessage(ctx, "reaction", room, m)
	return m, nil
}
