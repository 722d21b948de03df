package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/websonic/websonic/sdk"
	"github.com/websonic/websonic/sdk/abi"
)

// Rooms (API.md, "Rooms"): the seeded rooms of a fresh install, who reads
// and posts where, the room list with unread counts, the admins' room
// management and the members of rooms and groups.

func init() {
	mux.HandleFunc("GET /chat/api/rooms", api(getRooms))
	mux.HandleFunc("POST /chat/api/rooms", api(createRoom))
	mux.HandleFunc("PATCH /chat/api/rooms/{id}", api(patchRoom))
	mux.HandleFunc("POST /chat/api/rooms/{id}/leave", api(leaveRoom))
	mux.HandleFunc("POST /chat/api/rooms/{id}/members", api(addMember))
	mux.HandleFunc("DELETE /chat/api/rooms/{id}/members/{userID}", api(removeMember))
	mux.HandleFunc("POST /chat/api/rooms/{id}/read", api(markRead))
}

// Room kinds and join policies (migrations/001_chat.sql).
const (
	kindRoom  = "room"
	kindGroup = "group"
	kindDM    = "dm"

	policyEveryone = "everyone"
	policyOpen     = "open"
	policyRequest  = "request"
	policyInvite   = "invite"
)

// Text limits (API.md, "Conventions").
const (
	maxRoomName   = 80
	maxRoomTopic  = 300
	maxReason     = 500
	maxRetention  = 36500
	maxMessageCap = 10000 // the most max_message_chars may say
)

// chatConfig is the module's configuration (module.json, config_schema).
type chatConfig struct {
	GeneralName     string `json:"general_name"`
	BlablaName      string `json:"blabla_name"`
	Departments     string `json:"departments"`
	MaxMessageChars int    `json:"max_message_chars"`
}

// readConfig reads the configuration, falling back to the defaults for
// what is missing or out of bounds: it is read per request (the owner
// changes it live).
func readConfig() chatConfig {
	var c chatConfig
	if err := sdk.Config(&c); err != nil {
		sdk.Logger().Warn("read the configuration", "error", err)
	}
	if c.MaxMessageChars <= 0 {
		c.MaxMessageChars = 4000
	}
	c.MaxMessageChars = min(c.MaxMessageChars, maxMessageCap)
	return c
}

// seedRoom is a room a fresh install has.
type seedRoom struct{ seed, name, policy string }

// seedRooms lists the rooms of a fresh install from the configuration:
// General (everyone), Blabla (open) and the department rooms (request),
// at most 20 of them; empty or invalid names take the defaults.
func seedRooms(c chatConfig) []seedRoom {
	name := func(s, def string) string {
		if n, err := checkText(s, maxRoomName, false); err == nil && n != "" {
			return n
		}
		return def
	}
	out := []seedRoom{
		{"general", name(c.GeneralName, "General"), policyEveryone},
		{"blabla", name(c.BlablaName, "Blabla"), policyOpen},
	}
	depts := c.Departments
	if strings.TrimSpace(depts) == "" {
		depts = "Sales, Support, Engineering"
	}
	n := 0
	for _, d := range strings.Split(depts, ",") {
		if d, err := checkText(d, maxRoomName, false); err == nil && d != "" && n < 20 {
			n++
			out = append(out, seedRoom{"dept" + strconv.Itoa(n), d, policyRequest})
		}
	}
	return out
}

// seeded is true once this instance saw the seed rooms in place (a cache:
// instances come and go, and seeding again does nothing).
var seeded bool

// ensureSeeded makes the rooms of a fresh install, once: each seed is
// unique, so instances racing to seed make each room once (ON CONFLICT
// also skips a name an admin already gave another room).
func ensureSeeded(ctx context.Context) error {
	if seeded {
		return nil
	}
	var (
		values []string
		args   []any
	)
	for _, s := range seedRooms(readConfig()) {
		values = append(values, fmt.Sprintf("('room', $%d, $%d, $%d)", len(args)+1, len(args)+2, len(args)+3))
		args = append(args, s.name, s.policy, s.seed)
	}
	_, err := sdk.DB().ExecContext(ctx, `INSERT INTO rooms (kind, name, policy, seed) VALUES `+
		strings.Join(values, ", ")+` ON CONFLICT DO NOTHING`, args...)
	if err != nil {
		return fmt.Errorf("seed the rooms: %w", err)
	}
	seeded = true
	return nil
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// isUniqueViolation reports whether err is PostgreSQL's unique_violation.
func isUniqueViolation(err error) bool {
	var de *abi.DBError
	return errors.As(err, &de) && de.Code == "23505"
}

// recordAudit appends an admin action to the module's audit table. detail
// names users by id, never by name (an erased user stays "one account").
func recordAudit(ctx context.Context, q querier, actor int64, action string, detail map[string]any) error {
	b, err := json.Marshal(detail)
	if err != nil {
		return err
	}
	_, err = q.ExecContext(ctx, `INSERT INTO audit (actor_id, action, detail) VALUES ($1, $2, $3::jsonb)`, actor, action, string(b))
	if err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

// roomRow is a room with the user's membership.
type roomRow struct {
	ID            int64
	Kind          string
	Name          string
	Topic         string
	Policy        string
	Archived      bool
	RetentionDays sql.NullInt64
	LastMessageID int64
	DMKey         sql.NullString
	Member        bool
	LastRead      int64
}

const roomRowCols = `r.id, r.kind, r.name, r.topic, r.policy, r.archived_at IS NOT NULL, r.retention_days,
	r.last_message_id, r.dm_key, m.user_id IS NOT NULL, coalesce(m.last_read_id, 0)`

func (r *roomRow) scan(s interface{ Scan(...any) error }) error {
	return s.Scan(&r.ID, &r.Kind, &r.Name, &r.Topic, &r.Policy, &r.Archived, &r.RetentionDays,
		&r.LastMessageID, &r.DMKey, &r.Member, &r.LastRead)
}

// loadRoom reads room id with u's membership, or answers 404.
func loadRoom(ctx context.Context, q querier, u *sdk.User, id int64) (*roomRow, error) {
	if err := ensureSeeded(ctx); err != nil {
		return nil, err
	}
	var r roomRow
	err := r.scan(q.QueryRowContext(ctx, `SELECT `+roomRowCols+`
		FROM rooms r LEFT JOIN members m ON m.room_id = r.id AND m.user_id = $2 WHERE r.id = $1`, id, u.ID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoRoom
	}
	if err != nil {
		return nil, fmt.Errorf("load room %d: %w", id, err)
	}
	return &r, nil
}

var errNoRoom = notFound("No such room.")

// readable reports whether u may read the room: its members; anyone for
// an 'everyone' room that is not archived; the chat's admins every room
// (kind 'room') — but never a group or a dm they are not in.
func (r *roomRow) readable(u *sdk.User) bool {
	switch {
	case r.Member:
		return true
	case r.Kind != kindRoom:
		return false
	case isAdmin(u):
		return true
	}
	return r.Policy == policyEveryone && !r.Archived
}

// listed reports whether the room appears in u's room list: one u may
// read, or may ask to join.
func (r *roomRow) listed(u *sdk.User) bool {
	return r.readable(u) || r.Kind == kindRoom && !r.Archived && (r.Policy == policyOpen || r.Policy == policyRequest)
}

// refuseRead is the answer to u for a room they may not read: 403 when the
// room is listed to them, 404 otherwise (nothing revealed).
func (r *roomRow) refuseRead(u *sdk.User) error {
	if r.listed(u) {
		return forbidden("Join the room to read it.")
	}
	return errNoRoom
}

// readableRoom loads room id for u, who must be able to read it.
func readableRoom(ctx context.Context, u *sdk.User, id int64) (*roomRow, error) {
	r, err := loadRoom(ctx, sdk.DB(), u, id)
	if err != nil {
		return nil, err
	}
	if !r.readable(u) {
		return nil, r.refuseRead(u)
	}
	return r, nil
}

// dmOther is the other person of a dm (dm_key "A:B"), 0 if none.
func (r *roomRow) dmOther(me int64) int64 {
	a, b, ok := strings.Cut(r.DMKey.String, ":")
	if !ok {
		return 0
	}
	ida, _ := strconv.ParseInt(a, 10, 64)
	idb, _ := strconv.ParseInt(b, 10, 64)
	if ida == me {
		return idb
	}
	return ida
}

// checkPost answers nil when u may post in the room: a member (any user
// in an 'everyone' room); in a dm only while the two are friends and
// neither blocks the other; never in an archived room.
func (r *roomRow) checkPost(ctx context.Context, u *sdk.User) error {
	if !r.readable(u) {
		return r.refuseRead(u)
	}
	if r.Archived {
		return conflict("This room is archived: it is read-only.")
	}
	switch r.Kind {
	case kindRoom:
		if !r.Member && r.Policy != policyEveryone {
			return forbidden("Join the room to post in it.")
		}
	case kindDM:
		ok, err := mayWrite(ctx, u.ID, r.dmOther(u.ID))
		if err != nil {
			return err
		}
		if !ok {
			return forbidden("You can write to someone only while you are friends.")
		}
	}
	return nil
}

// mayWrite reports whether a and b are friends and neither blocks the
// other.
func mayWrite(ctx context.Context, a, b int64) (bool, error) {
	var ok bool
	err := sdk.DB().QueryRowContext(ctx, `SELECT
		EXISTS (SELECT 1 FROM friends WHERE a = least($1::bigint, $2::bigint) AND b = greatest($1::bigint, $2::bigint))
		AND NOT EXISTS (SELECT 1 FROM blocks WHERE (blocker = $1 AND blocked = $2) OR (blocker = $2 AND blocked = $1))`,
		a, b).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("friendship of %d and %d: %w", a, b, err)
	}
	return ok, nil
}

// canRead answers nil when u may read room id (realtime.go asks it before
// a subscription to chat.room.ID).
func canRead(ctx context.Context, u *sdk.User, id int64) error {
	_, err := readableRoom(ctx, u, id)
	return err
}

// roomMessage receives a page's frame on a room's topic: {"type":
// "typing"} from a reader who may post, announced to the room's readers.
// Anything else is refused.
func roomMessage(ctx context.Context, u *sdk.User, id int64, data json.RawMessage) error {
	var frame struct {
		Type string `json:"type"`
	}
	if err := decodeStrict(data, &frame); err != nil || frame.Type != "typing" {
		return errors.New(`want {"type": "typing"}`)
	}
	r, err := loadRoom(ctx, sdk.DB(), u, id)
	if err != nil {
		return err
	}
	if err := r.checkPost(ctx, u); err != nil {
		return err
	}
	me, err := userByID(ctx, u.ID)
	if err != nil {
		me = refOf(u)
	}
	publish(ctx, roomTopic(id), map[string]any{"kind": "typing", "user": me})
	return nil
}

// decodeStrict decodes one JSON object into v, refusing unknown members
// and trailing data.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}

// roomInfo is a room as every reader sees it (the "room" event carries
// it).
type roomInfo struct {
	ID            int64     `json:"id"`
	Kind          string    `json:"kind"`
	Name          string    `json:"name"`
	Topic         string    `json:"topic"`
	Policy        string    `json:"policy"`
	Archived      bool      `json:"archived"`
	RetentionDays *int64    `json:"retention_days"`
	LastMessageID int64     `json:"last_message_id"`
	Members       []userRef `json:"members,omitempty"` // group and dm only
}

// roomView is a room as one user sees it (API.md, "Rooms"): for a dm, the
// name is the other person's display name.
type roomView struct {
	roomInfo
	Member   bool    `json:"member"`
	Request  *string `json:"request"` // "pending", "refused" or null
	Unread   int     `json:"unread"`  // at most 100
	Mentions int     `json:"mentions"`
}

func (r *roomRow) info() roomInfo {
	in := roomInfo{ID: r.ID, Kind: r.Kind, Name: r.Name, Topic: r.Topic, Policy: r.Policy, Archived: r.Archived,
		LastMessageID: r.LastMessageID}
	if r.RetentionDays.Valid {
		d := r.RetentionDays.Int64
		in.RetentionDays = &d
	}
	return in
}

// maxUnread caps the unread count of a room (the page shows "99+").
const maxUnread = 100

// roomListQuery reads the rooms of user $1 with their unread counts and
// unread mentions in one query: the user's rooms and conversations, the
// rooms they may ask to join, and (admin: $2) every room; archived rooms
// last. The counts use members.last_read_id, messages_room and the
// mentions key; unread stops counting at 100.
const roomListQuery = `SELECT ` + roomRowCols + `,
	(SELECT jr.state FROM join_requests jr WHERE jr.room_id = r.id AND jr.user_id = $1
	 ORDER BY jr.id DESC LIMIT 1) AS request,
	CASE WHEN m.user_id IS NULL OR r.last_message_id <= m.last_read_id THEN 0 ELSE
	  (SELECT count(*) FROM (SELECT 1 FROM messages x WHERE x.room_id = r.id AND x.id > m.last_read_id
	     AND x.deleted_at IS NULL AND x.author_id IS DISTINCT FROM $1 LIMIT 100) c) END AS unread,
	CASE WHEN m.user_id IS NULL OR r.last_message_id <= m.last_read_id THEN 0 ELSE
	  (SELECT count(*) FROM mentions mn JOIN messages x ON x.id = mn.message_id
	   WHERE mn.user_id = $1 AND mn.room_id = r.id AND mn.message_id > m.last_read_id AND x.deleted_at IS NULL) END AS mentions
FROM rooms r LEFT JOIN members m ON m.room_id = r.id AND m.user_id = $1
WHERE m.user_id IS NOT NULL
   OR (r.kind = 'room' AND ($2 OR (r.archived_at IS NULL AND r.policy <> 'invite')))
ORDER BY r.archived_at IS NOT NULL, m.user_id IS NULL, r.kind <> 'room',
	CASE WHEN r.kind = 'room' THEN lower(r.name) END, r.last_message_id DESC, r.id
LIMIT 1000`

// listRooms is u's room list (API.md, GET /chat/api/rooms): their rooms
// and conversations, then the rooms they may ask to join; admins get every
// room, archived ones last. A user's first list makes their row (read
// marker) in the 'everyone' rooms.
func listRooms(ctx context.Context, u *sdk.User) ([]roomView, error) {
	if err := ensureSeeded(ctx); err != nil {
		return nil, err
	}
	db := sdk.DB()
	_, err := db.ExecContext(ctx, `INSERT INTO members (room_id, user_id, last_read_id)
		SELECT r.id, $1, r.last_message_id FROM rooms r
		WHERE r.kind = 'room' AND r.policy = 'everyone' AND r.archived_at IS NULL
		  AND NOT EXISTS (SELECT 1 FROM members m WHERE m.room_id = r.id AND m.user_id = $1)
		ON CONFLICT DO NOTHING`, u.ID)
	if err != nil {
		return nil, fmt.Errorf("join the everyone rooms: %w", err)
	}
	rows, err := db.QueryContext(ctx, roomListQuery, u.ID, isAdmin(u))
	if err != nil {
		return nil, fmt.Errorf("list rooms: %w", err)
	}
	defer rows.Close()
	out := []roomView{}
	conversations := map[int64]int{} // room id → index in out
	for rows.Next() {
		var (
			r       roomRow
			request sql.NullString
			v       roomView
		)
		var s scanFunc = func(dest ...any) error {
			return rows.Scan(append(dest, &request, &v.Unread, &v.Mentions)...)
		}
		if err := r.scan(s); err != nil {
			return nil, err
		}
		v.roomInfo, v.Member = r.info(), r.Member
		if !r.Member && request.Valid && (request.String == "pending" || request.String == "refused") {
			v.Request = &request.String
		}
		if r.Kind != kindRoom {
			conversations[r.ID] = len(out)
			v.Members = []userRef{}
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	if len(conversations) > 0 {
		if err := fillMembers(ctx, u, out, conversations); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// scanFunc adapts a function to roomRow.scan.
type scanFunc func(dest ...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

// fillMembers sets the members of u's groups and dms in out (one query),
// and names each dm after the other person.
func fillMembers(ctx context.Context, u *sdk.User, out []roomView, at map[int64]int) error {
	rows, err := sdk.DB().QueryContext(ctx, `SELECT o.room_id, o.user_id, u.username,
			coalesce(nullif(p.display_name, ''), u.display_name)
		FROM members me JOIN rooms r ON r.id = me.room_id AND r.kind <> 'room'
		JOIN members o ON o.room_id = me.room_id
		LEFT JOIN LATERAL (SELECT x.username, x.display_name FROM websonic_api.users x WHERE x.id = o.user_id LIMIT 1) u ON true
		LEFT JOIN profiles p ON p.user_id = o.user_id
		WHERE me.user_id = $1 ORDER BY o.room_id, o.joined_at, o.user_id`, u.ID)
	if err != nil {
		return fmt.Errorf("members of conversations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			room, id    int64
			name, dname sql.NullString
			ref         userRef
		)
		if err := rows.Scan(&room, &id, &name, &dname); err != nil {
			return err
		}
		i, ok := at[room]
		if !ok {
			continue
		}
		ref = userRef{ID: id, Username: name.String, DisplayName: dname.String}
		if !name.Valid {
			ref = deletedUser
		}
		out[i].Members = append(out[i].Members, ref)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, i := range at {
		if out[i].Kind != kindDM {
			continue
		}
		out[i].Name = deletedUser.DisplayName
		for _, m := range out[i].Members {
			if m.ID != u.ID {
				out[i].Name = m.DisplayName
			}
		}
	}
	return nil
}

// roomFor is room id as u sees it in their list (404 when it is not
// listed to them): the answer of the room routes, and of the
// conversations' (conversations.go).
func roomFor(ctx context.Context, u *sdk.User, id int64) (roomView, error) {
	rooms, err := listRooms(ctx, u)
	if err != nil {
		return roomView{}, err
	}
	for _, r := range rooms {
		if r.ID == id {
			return r, nil
		}
	}
	return roomView{}, errNoRoom
}

func getRooms(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	rooms, err := listRooms(r.Context(), u)
	if err != nil {
		return nil, err
	}
	return map[string]any{"rooms": rooms}, nil
}

// adminOnly answers 403 unless u administers the chat.
func adminOnly(u *sdk.User) error {
	if !isAdmin(u) {
		return forbidden("Only the chat's admins can do that.")
	}
	return nil
}

func validPolicy(p string) bool {
	switch p {
	case policyEveryone, policyOpen, policyRequest, policyInvite:
		return true
	}
	return false
}

// roomInfoOf reads room id (any kind) as every reader sees it.
func roomInfoOf(ctx context.Context, u *sdk.User, id int64) (roomInfo, error) {
	r, err := loadRoom(ctx, sdk.DB(), u, id)
	if err != nil {
		return roomInfo{}, err
	}
	return r.info(), nil
}

func createRoom(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	if err := adminOnly(u); err != nil {
		return nil, err
	}
	var body struct {
		Name   string `json:"name"`
		Topic  string `json:"topic"`
		Policy string `json:"policy"`
	}
	if err := readJSON(r, &body); err != nil {
		return nil, err
	}
	name, err := checkText(body.Name, maxRoomName, false)
	if err != nil || name == "" {
		return nil, badRequest("A room's name is 1 to 80 characters on one line.")
	}
	topic, err := checkText(body.Topic, maxRoomTopic, false)
	if err != nil {
		return nil, badRequest("A room's topic is at most 300 characters on one line.")
	}
	if !validPolicy(body.Policy) {
		return nil, badRequest(`The policy is "everyone", "open", "request" or "invite".`)
	}
	ctx := r.Context()
	if err := ensureSeeded(ctx); err != nil {
		return nil, err
	}
	tx, err := sdk.DB().BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var id int64
	err = tx.QueryRowContext(ctx, `INSERT INTO rooms (kind, name, topic, policy, created_by) VALUES ('room', $1, $2, $3, $4)
		RETURNING id`, name, topic, body.Policy, u.ID).Scan(&id)
	if isUniqueViolation(err) {
		return nil, conflict("A room of that name exists already.")
	}
	if err != nil {
		return nil, fmt.Errorf("create room: %w", err)
	}
	if err := recordAudit(ctx, tx, u.ID, "room.create", map[string]any{"room": id, "name": name, "policy": body.Policy}); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return roomFor(ctx, u, id)
}

func patchRoom(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	if err := adminOnly(u); err != nil {
		return nil, err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	var body struct {
		Name          *string         `json:"name"`
		Topic         *string         `json:"topic"`
		Policy        *string         `json:"policy"`
		Archived      *bool           `json:"archived"`
		RetentionDays json.RawMessage `json:"retention_days"` // absent: unchanged; null: forever
	}
	if err := readJSON(r, &body); err != nil {
		return nil, err
	}
	change := map[string]any{"room": id}
	if body.Name != nil {
		n, err := checkText(*body.Name, maxRoomName, false)
		if err != nil || n == "" {
			return nil, badRequest("A room's name is 1 to 80 characters on one line.")
		}
		body.Name, change["name"] = &n, n
	}
	if body.Topic != nil {
		t, err := checkText(*body.Topic, maxRoomTopic, false)
		if err != nil {
			return nil, badRequest("A room's topic is at most 300 characters on one line.")
		}
		body.Topic, change["topic"] = &t, t
	}
	if body.Policy != nil {
		if !validPolicy(*body.Policy) {
			return nil, badRequest(`The policy is "everyone", "open", "request" or "invite".`)
		}
		change["policy"] = *body.Policy
	}
	if body.Archived != nil {
		change["archived"] = *body.Archived
	}
	setRetention, retention := body.RetentionDays != nil, sql.NullInt64{}
	if setRetention {
		if string(body.RetentionDays) != "null" {
			var d int64
			if err := json.Unmarshal(body.RetentionDays, &d); err != nil || d < 1 || d > maxRetention {
				return nil, badRequest("Keep messages 1 to 36500 days, or null to keep them for good.")
			}
			retention = sql.NullInt64{Int64: d, Valid: true}
			change["retention_days"] = d
		} else {
			change["retention_days"] = nil
		}
	}
	ctx := r.Context()
	room, err := loadRoom(ctx, sdk.DB(), u, id)
	if err != nil {
		return nil, err
	}
	if room.Kind != kindRoom { // groups and dms are their members' own
		return nil, errNoRoom
	}
	tx, err := sdk.DB().BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var archived sql.NullBool
	if body.Archived != nil {
		archived = sql.NullBool{Bool: *body.Archived, Valid: true}
	}
	var wasPublic, isPublic bool
	if err := tx.QueryRowContext(ctx, `SELECT policy = 'everyone' AND archived_at IS NULL FROM rooms WHERE id = $1 FOR UPDATE`,
		id).Scan(&wasPublic); err != nil {
		return nil, fmt.Errorf("room %d: %w", id, err)
	}
	err = tx.QueryRowContext(ctx, `UPDATE rooms SET
			name = coalesce($2, name), topic = coalesce($3, topic), policy = coalesce($4, policy),
			archived_at = CASE WHEN $5::boolean IS NULL THEN archived_at WHEN $5::boolean THEN coalesce(archived_at, now()) END,
			retention_days = CASE WHEN $6::boolean THEN $7::integer ELSE retention_days END
		WHERE id = $1 AND kind = 'room' RETURNING policy = 'everyone' AND archived_at IS NULL`,
		id, body.Name, body.Topic, body.Policy, archived, setRetention, retention).Scan(&isPublic)
	if isUniqueViolation(err) {
		return nil, conflict("A room of that name exists already.")
	}
	if err != nil {
		return nil, fmt.Errorf("update room %d: %w", id, err)
	}
	// Opened to everyone (or an 'everyone' room unarchived): everyone may
	// read it from now on, but not the runtime's stored events from
	// before (texts since deleted or edited, which only its members
	// read). One revocation for everyone fences them, before the change
	// commits, as fenceJoin does for one new member; the members' pages
	// subscribe again.
	if isPublic && !wasPublic {
		if err := sdk.UnsubscribeAll(ctx, roomTopic(id)); err != nil {
			return nil, fmt.Errorf("fence room %d's new readers: %w", id, err)
		}
	}
	if err := recordAudit(ctx, tx, u.ID, "room.update", change); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	// Closed to its members (made invite-only, open or on request, or
	// archived): whoever followed it as everyone could, without a member's
	// row, must hear nothing said from now on. Revoked once the change has
	// committed (a subscription allowed before is ended; one asked after is
	// refused); the members' pages subscribe again.
	if wasPublic && !isPublic {
		if err := sdk.UnsubscribeAll(ctx, roomTopic(id)); err != nil {
			sdk.Logger().Error("end the subscriptions of a room closed to its members", "room", id, "error", err)
		}
	}
	info, err := roomInfoOf(ctx, u, id)
	if err != nil {
		return nil, err
	}
	publish(ctx, roomTopic(id), map[string]any{"kind": "room", "room": info})
	return roomFor(ctx, u, id)
}

func leaveRoom(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	room, err := loadRoom(ctx, sdk.DB(), u, id)
	if err != nil {
		return nil, err
	}
	switch {
	case !room.Member:
		if !room.listed(u) {
			return nil, errNoRoom
		}
		return nil, conflict("You are not in this room.")
	case room.Kind == kindRoom && room.Policy == policyEveryone:
		return nil, conflict("Everyone is in this room: it cannot be left.")
	case room.Kind == kindDM:
		return nil, conflict("A conversation between two cannot be left.")
	}
	if err := removeFromRoom(ctx, room, u.ID); err != nil {
		return nil, err
	}
	if room.Kind == kindGroup { // a group nobody is left in goes, with its messages
		if _, err := sdk.DB().ExecContext(ctx, `DELETE FROM rooms r WHERE r.id = $1 AND r.kind = 'group'
			AND NOT EXISTS (SELECT 1 FROM members m WHERE m.room_id = r.id)`, id); err != nil {
			return nil, fmt.Errorf("delete the empty group %d: %w", id, err)
		}
	}
	return nil, nil
}

// removeFromRoom ends userID's membership and tells the room and the user.
func removeFromRoom(ctx context.Context, room *roomRow, userID int64) error {
	res, err := sdk.DB().ExecContext(ctx, `DELETE FROM members WHERE room_id = $1 AND user_id = $2`, room.ID, userID)
	if err != nil {
		return fmt.Errorf("leave room %d: %w", room.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	ref, err := userByID(ctx, userID)
	if err != nil {
		ref = userRef{ID: userID}
	}
	publish(ctx, roomTopic(room.ID), map[string]any{"kind": "member", "user": ref, "joined": false})
	publish(ctx, userTopic(userID), map[string]any{"kind": "room_removed", "room_id": room.ID})
	// Their open pages stop hearing the room at once, on every replica
	// (unless they are a chat admin, who reads every named room).
	var staff bool
	if err := sdk.DB().QueryRowContext(ctx, `SELECT 'staff' = ANY(roles) FROM websonic_api.users WHERE id = $1`, userID).Scan(&staff); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("roles of user %d: %w", userID, err)
	}
	if !staff || room.Kind != kindRoom {
		if err := sdk.Unsubscribe(ctx, roomTopic(room.ID), userID); err != nil {
			sdk.Logger().Warn("end a removed member's subscription", "room", room.ID, "user", userID, "error", err)
		}
	}
	return nil
}

// addToRoom makes userID a member of room (their read marker at its newest
// message) and approves their pending join request, if any. It answers
// whether they were added (false: a member already) and the request it
// approved (0: none), which the caller announces once committed.
func addToRoom(ctx context.Context, q querier, room *roomRow, userID int64) (added bool, approved int64, err error) {
	res, err := q.ExecContext(ctx, `INSERT INTO members (room_id, user_id, last_read_id)
		SELECT id, $2, last_message_id FROM rooms WHERE id = $1 ON CONFLICT DO NOTHING`, room.ID, userID)
	if err != nil {
		return false, 0, fmt.Errorf("join room %d: %w", room.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, 0, nil
	}
	err = q.QueryRowContext(ctx, `UPDATE join_requests SET state = 'approved', decided_at = now()
		WHERE room_id = $1 AND user_id = $2 AND state = 'pending' RETURNING id`, room.ID, userID).Scan(&approved)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, 0, fmt.Errorf("close join requests: %w", err)
	}
	return true, approved, nil
}

// fenceJoin marks in room's event stream, before userID joins it, the
// moment they start reading it: a revocation of their subscriptions to its
// topic (they have none: they cannot read it yet), so that a socket of
// theirs catching up from an older last_id is told to reload instead of
// replaying the runtime's stored events from before they joined (texts
// since deleted or edited; realtime: a catch-up across a revocation from
// before the allowance gives nothing from before it). Nothing is marked for
// one who reads the room already: a chat admin, a member, anyone in an
// 'everyone' room. Call it before the membership commits.
func fenceJoin(ctx context.Context, q querier, roomID, userID int64) error {
	var reads bool
	err := q.QueryRowContext(ctx, `SELECT
		coalesce((SELECT 'staff' = ANY(roles) FROM websonic_api.users WHERE id = $2), false)
		OR EXISTS (SELECT 1 FROM rooms WHERE id = $1 AND kind = 'room' AND policy = 'everyone' AND archived_at IS NULL)
		OR EXISTS (SELECT 1 FROM members WHERE room_id = $1 AND user_id = $2)`, roomID, userID).Scan(&reads)
	if err != nil {
		return fmt.Errorf("who reads room %d: %w", roomID, err)
	}
	if reads {
		return nil
	}
	if err := sdk.Unsubscribe(ctx, roomTopic(roomID), userID); err != nil {
		return fmt.Errorf("fence user %d's join of room %d: %w", userID, roomID, err)
	}
	return nil
}

// announceApproved tells the admins and the requester that request id
// was approved by the user's joining (0: nothing to tell).
func announceApproved(ctx context.Context, id int64) {
	if id == 0 {
		return
	}
	if jr, err := requestByID(ctx, sdk.DB(), id); err == nil {
		announceRequest(ctx, jr)
	}
}

// announceJoin tells room's readers and the user that userID joined.
func announceJoin(ctx context.Context, roomID, userID int64) {
	ref, err := userByID(ctx, userID)
	if err != nil {
		ref = userRef{ID: userID}
	}
	publish(ctx, roomTopic(roomID), map[string]any{"kind": "member", "user": ref, "joined": true})
	publish(ctx, userTopic(userID), map[string]any{"kind": "room_added", "room_id": roomID})
}

// areFriends reports whether a and b are friends.
func areFriends(ctx context.Context, a, b int64) (bool, error) {
	var ok bool
	err := sdk.DB().QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM friends
		WHERE a = least($1::bigint, $2::bigint) AND b = greatest($1::bigint, $2::bigint))`, a, b).Scan(&ok)
	return ok, err
}

func addMember(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	var body struct {
		Username string `json:"username"`
	}
	if err := readJSON(r, &body); err != nil {
		return nil, err
	}
	ctx := r.Context()
	room, err := loadRoom(ctx, sdk.DB(), u, id)
	if err != nil {
		return nil, err
	}
	if !room.readable(u) {
		return nil, room.refuseRead(u)
	}
	switch room.Kind {
	case kindRoom:
		if err := adminOnly(u); err != nil {
			return nil, err
		}
	case kindDM:
		return nil, conflict("A conversation between two stays between two: make a group.")
	}
	if room.Archived {
		return nil, conflict("This room is archived: it is read-only.")
	}
	who, err := userByName(ctx, body.Username)
	if err != nil {
		return nil, err
	}
	if room.Kind == kindGroup {
		ok, err := areFriends(ctx, u.ID, who.ID)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, forbidden("You can add only your friends to a group.")
		}
		var n int
		if err := sdk.DB().QueryRowContext(ctx, `SELECT count(*) FROM members WHERE room_id = $1`, id).Scan(&n); err != nil {
			return nil, fmt.Errorf("members of group %d: %w", id, err)
		}
		if n > maxGroupOthers { // as createGroup: its maker and at most maxGroupOthers others
			return nil, conflict(fmt.Sprintf("A group has at most %d people.", maxGroupOthers+1))
		}
	}
	if err := fenceJoin(ctx, sdk.DB(), id, who.ID); err != nil {
		return nil, err
	}
	tx, err := sdk.DB().BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	added, approved, err := addToRoom(ctx, tx, room, who.ID)
	if err != nil {
		return nil, err
	}
	if !added {
		return nil, conflict(who.DisplayName + " is in this room already.")
	}
	if room.Kind == kindRoom {
		if err := recordAudit(ctx, tx, u.ID, "room.member_add", map[string]any{"room": id, "user": who.ID}); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	announceApproved(ctx, approved)
	announceJoin(ctx, id, who.ID)
	return nil, nil
}

func removeMember(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	who, err := pathID(r, "userID")
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	room, err := loadRoom(ctx, sdk.DB(), u, id)
	if err != nil {
		return nil, err
	}
	if !room.readable(u) {
		return nil, room.refuseRead(u)
	}
	if room.Kind != kindRoom {
		return nil, forbidden("Members leave a conversation themselves.")
	}
	if err := adminOnly(u); err != nil {
		return nil, err
	}
	if room.Policy == policyEveryone {
		return nil, conflict("Everyone is in this room: no one can be removed from it.")
	}
	var member bool
	if err := sdk.DB().QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM members WHERE room_id = $1 AND user_id = $2)`,
		id, who).Scan(&member); err != nil {
		return nil, err
	}
	if !member {
		return nil, notFound("That user is not in this room.")
	}
	if err := recordAudit(ctx, sdk.DB(), u.ID, "room.member_remove", map[string]any{"room": id, "user": who}); err != nil {
		return nil, err
	}
	return nil, removeFromRoom(ctx, room, who)
}

func markRead(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	var body struct {
		LastID int64 `json:"last_id"`
	}
	if err := readJSON(r, &body); err != nil {
		return nil, err
	}
	if body.LastID < 0 {
		return nil, badRequest("last_id is a message id.")
	}
	ctx := r.Context()
	room, err := readableRoom(ctx, u, id)
	if err != nil {
		return nil, err
	}
	if !room.Member && !(room.Kind == kindRoom && room.Policy == policyEveryone) {
		return nil, nil // an admin reading a room they are not in keeps no marker
	}
	// The marker moves forward only, and never past the room's newest
	// message (a marker beyond it would hide the next ones).
	_, err = sdk.DB().ExecContext(ctx, `INSERT INTO members (room_id, user_id, last_read_id)
		SELECT id, $2, least($3::bigint, last_message_id) FROM rooms WHERE id = $1
		ON CONFLICT (room_id, user_id) DO UPDATE SET last_read_id = greatest(members.last_read_id, excluded.last_read_id)`,
		id, u.ID, body.LastID)
	if err != nil {
		return nil, fmt.Errorf("mark room %d read: %w", id, err)
	}
	return nil, nil
}

// timePtr is t in UTC, or nil when it is not valid.
func timePtr(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	u := t.Time.UTC()
	return &u
}
