package bench

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/runtime/internal/modhost"
	coresite "github.com/websonic/websonic/runtime/internal/site"
)

// ticketsNative is the baseline of the tickets benchmarks: the module's
// handlers for GET /tickets/staff/api/queue (queue.go) and POST
// /tickets/api/tickets (tickets.go) written as a native Go application
// would write them — chi handlers, pgx on a pool configured like the
// module's (same role, search_path, limits, connection cap) — running the
// same SQL statements in the same order (copied from modules/tickets:
// access.go, lifecycle.go, queue.go, tickets.go; keep them in step),
// answering the same JSON, and publishing through the same host path as
// the module's sdk.Publish (the realtime.publish service). Only what the
// benchmarks exercise is here: queue filters by username are not, nor
// panels with extra fields. The benchmarks check that both answer the
// same.
type ticketsNative struct {
	pool *pgxpool.Pool
	// publish is realtime.publish, called as the module (caller).
	publish modhost.Service
	caller  *modhost.Caller
	// config is the module's configuration (its reopen_days).
	config func() []byte
}

// newTicketsNative is the native baseline on s's database, its publishes
// through realtime.publish as the tickets module.
func (s *ticketsSite) newTicketsNative() *ticketsNative {
	return &ticketsNative{
		pool:    s.native,
		publish: s.pub.Service(),
		caller:  &modhost.Caller{Module: "tickets", Manifest: s.mod.Manifest()},
		config:  s.mod.Config,
	}
}

func (n *ticketsNative) routes() http.Handler {
	r := chi.NewRouter()
	r.Get("/tickets/staff/api/queue", n.api(http.StatusOK, n.queue))
	r.Post("/tickets/api/tickets", n.api(http.StatusCreated, n.open))
	return r
}

// api is the module's api adapter (web.go, jsonapi.Handler), with the
// status of success.
func (n *ticketsNative) api(status int, f func(r *http.Request, u *coresite.User) (any, error)) http.HandlerFunc {
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

func tkConflict(msg string) error { return &nativeError{http.StatusConflict, "conflict", msg} }

// The module's SQL (modules/tickets), word for word.
const (
	// lifecycle.go, ticketSelect: ticketColumns + "FROM tickets t " + ticketJoins.
	tkTicketSelect = tkTicketColumns + `FROM tickets t ` + tkTicketJoins
	// lifecycle.go, ticketColumns.
	tkTicketColumns = `SELECT t.id, t.panel_id, p.name, t.subject, t.fields::text, t.status,
	t.urgency, t.impact, t.priority,
	t.opener_id, o.username, o.display_name, coalesce(t.guest_name, ''), coalesce(t.guest_email, ''),
	t.assignee_id, a.username, a.display_name,
	t.created_at, t.updated_at, t.solved_at, t.closed_at, t.merged_into,
	t.last_public_at > t.customer_seen_at, t.rating, t.rating_comment, t.rated_at,
	t.first_response_at, t.first_response_due, t.resolution_due, t.next_due, t.paused_at IS NOT NULL,
	coalesce(t.next_due < now() AND t.paused_at IS NULL, false)
	`
	// lifecycle.go, ticketJoins.
	tkTicketJoins = `JOIN panels p ON p.id = t.panel_id
	LEFT JOIN LATERAL (SELECT x.username, x.display_name FROM websonic_api.users x WHERE x.id = t.opener_id LIMIT 1) o ON true
	LEFT JOIN LATERAL (SELECT x.username, x.display_name FROM websonic_api.users x WHERE x.id = t.assignee_id LIMIT 1) a ON true `
	// access.go, workablePanels.
	tkWorkablePanels = `
		SELECT p.id FROM panels p
		WHERE $2 OR p.group_name IS NULL
		   OR EXISTS (SELECT 1 FROM group_members g WHERE g.group_name = p.group_name AND g.user_id = $1)
		ORDER BY p.id`
	// access.go, ticketAccess.
	tkTicketAccess = `
		SELECT t.opener_id IS NOT DISTINCT FROM $2
		       OR EXISTS (SELECT 1 FROM participants x WHERE x.ticket_id = t.id AND x.user_id = $2),
		       p.group_name IS NULL
		       OR EXISTS (SELECT 1 FROM group_members g WHERE g.group_name = p.group_name AND g.user_id = $2)
		FROM tickets t JOIN panels p ON p.id = t.panel_id WHERE t.id = $1`
	// tickets.go, newTicket.check: the panel.
	tkOpenPanel = `SELECT fields::text, max_open, first_response_minutes, resolution_minutes,
		archived_at IS NOT NULL, guests FROM panels WHERE id = $1`
	// tickets.go, openTicket: one open at a time per person and panel.
	tkOpenLock = `SELECT pg_advisory_xact_lock(hashtextextended(format('tickets.open.user.%s.%s', $1::bigint, $2::bigint), 0))`
	// tickets.go, openTicket: the caller's open tickets on the panel.
	tkOpenCount = `SELECT count(*) FROM tickets WHERE opener_id = $1 AND panel_id = $2
			AND status NOT IN ('solved', 'closed')`
	// tickets.go, checked.insert.
	tkInsert = `INSERT INTO tickets (panel_id, opener_id, guest_email, guest_name, guest_token, guest_link,
			subject, fields, urgency, impact, first_response_due, resolution_due, search)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10,
			now() + make_interval(mins => $11::integer), now() + make_interval(mins => $12::integer),
			to_tsvector('simple', $7) || jsonb_to_tsvector('simple', $8::jsonb, '["string", "numeric"]'))
		RETURNING id`
	// lifecycle.go, lockTicket.
	tkLock = `SELECT panel_id, status, opener_id, coalesce(guest_email, ''), merged_into,
		assignee_id, first_response_at IS NOT NULL, coalesce(closed_at, solved_at)
		FROM tickets WHERE id = $1 FOR UPDATE`
	// lifecycle.go, roomFor (addReply's first statement): the
	// conversation's text so far.
	tkRoomFor = `SELECT coalesce(sum(octet_length(body)), 0) FROM messages WHERE ticket_id = $1`
	// lifecycle.go, addReply.
	tkAddReply = `WITH m AS (
			INSERT INTO messages (ticket_id, kind, author_id, guest, staff, body)
			VALUES ($1, 'reply', $2, $3, $4, $5) RETURNING id)
		UPDATE tickets SET updated_at = now(),
			search = search || to_tsvector('simple', left($5, 20000)),
			first_response_at = CASE WHEN $4 THEN coalesce(first_response_at, now()) ELSE first_response_at END,
			last_public_at = CASE WHEN $4 THEN now() ELSE last_public_at END,
			customer_seen_at = CASE WHEN $4 THEN customer_seen_at ELSE now() END
		FROM m WHERE tickets.id = $1 RETURNING m.id`
)

// The module's JSON shapes (lifecycle.go, users.go).
type (
	tkUserRef struct {
		ID          int64  `json:"id"`
		Username    string `json:"username"`
		DisplayName string `json:"display_name"`
	}
	tkPanelRef struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	}
	tkRating struct {
		Score   int       `json:"score"`
		Comment string    `json:"comment"`
		At      time.Time `json:"at"`
	}
	tkTicket struct {
		ID         int64           `json:"id"`
		Panel      tkPanelRef      `json:"panel"`
		Subject    string          `json:"subject"`
		Fields     json.RawMessage `json:"fields"`
		Status     string          `json:"status"`
		Urgency    int             `json:"urgency"`
		Impact     int             `json:"impact"`
		Priority   int             `json:"priority"`
		Opener     *tkUserRef      `json:"opener"`
		GuestName  string          `json:"guest_name"`
		Assignee   *tkUserRef      `json:"assignee"`
		CreatedAt  time.Time       `json:"created_at"`
		UpdatedAt  time.Time       `json:"updated_at"`
		SolvedAt   *time.Time      `json:"solved_at"`
		ClosedAt   *time.Time      `json:"closed_at"`
		MergedInto *int64          `json:"merged_into"`
		CanReopen  bool            `json:"can_reopen"`
		Unread     bool            `json:"unread"`
		Rating     *tkRating       `json:"rating"`
		*tkAgentView
	}
	tkAgentView struct {
		GuestEmail       string      `json:"guest_email"`
		Participants     []tkUserRef `json:"participants"`
		FirstResponseAt  *time.Time  `json:"first_response_at"`
		FirstResponseDue *time.Time  `json:"first_response_due"`
		ResolutionDue    *time.Time  `json:"resolution_due"`
		NextDue          *time.Time  `json:"next_due"`
		Paused           bool        `json:"paused"`
		Overdue          bool        `json:"overdue"`
	}
)

// scanTicket is the module's (lifecycle.go).
func tkScanTicket(row pgx.Row, asAgent bool, reopenDays int64) (tkTicket, error) {
	var (
		t                                   tkTicket
		ag                                  tkAgentView
		fields                              string
		openerID, assigneeID, merged        *int64
		openerName, openerDisp              *string
		assigneeName, assigneeDisp          *string
		guestEmail                          string
		solved, closed, ratedAt             *time.Time
		firstResp, firstDue, resDue, nextDu *time.Time
		rating                              *int
		ratingComment                       string
	)
	if err := row.Scan(&t.ID, &t.Panel.ID, &t.Panel.Name, &t.Subject, &fields, &t.Status,
		&t.Urgency, &t.Impact, &t.Priority,
		&openerID, &openerName, &openerDisp, &t.GuestName, &guestEmail,
		&assigneeID, &assigneeName, &assigneeDisp,
		&t.CreatedAt, &t.UpdatedAt, &solved, &closed, &merged,
		&t.Unread, &rating, &ratingComment, &ratedAt,
		&firstResp, &firstDue, &resDue, &nextDu, &ag.Paused, &ag.Overdue); err != nil {
		return tkTicket{}, err
	}
	t.Fields = json.RawMessage(fields)
	t.Opener = tkRefOf(openerID, openerName, openerDisp)
	t.Assignee = tkRefOf(assigneeID, assigneeName, assigneeDisp)
	t.CreatedAt, t.UpdatedAt = t.CreatedAt.UTC(), t.UpdatedAt.UTC()
	t.SolvedAt, t.ClosedAt = tkUTC(solved), tkUTC(closed)
	t.MergedInto = merged
	if rating != nil {
		t.Rating = &tkRating{Score: *rating, Comment: ratingComment, At: ratedAt.UTC()}
	}
	t.CanReopen = (t.Status == "solved" || t.Status == "closed") && t.MergedInto == nil
	if !asAgent {
		if t.CanReopen {
			at := t.ClosedAt
			if at == nil {
				at = t.SolvedAt
			}
			t.CanReopen = at != nil && time.Since(*at) < time.Duration(reopenDays)*24*time.Hour
		}
		return t, nil
	}
	t.Unread = false
	ag.GuestEmail = guestEmail
	ag.FirstResponseAt, ag.FirstResponseDue, ag.ResolutionDue, ag.NextDue = tkUTC(firstResp), tkUTC(firstDue), tkUTC(resDue), tkUTC(nextDu)
	ag.Participants = []tkUserRef{}
	t.tkAgentView = &ag
	return t, nil
}

func tkRefOf(id *int64, name, display *string) *tkUserRef {
	if id == nil || name == nil {
		return nil
	}
	return &tkUserRef{ID: *id, Username: *name, DisplayName: *display}
}

func tkUTC(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func tkIsStaff(u *coresite.User) bool { return u.Has(coresite.RoleStaff) }
func tkIsAdmin(u *coresite.User) bool { return u.Has(coresite.RoleAdmin) }

// workablePanels is the module's (access.go).
func (n *ticketsNative) workablePanels(ctx context.Context, u *coresite.User) (string, error) {
	if !tkIsStaff(u) {
		return "{}", nil
	}
	rows, err := n.pool.Query(ctx, tkWorkablePanels, u.ID, tkIsAdmin(u))
	if err != nil {
		return "", err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return "", err
	}
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatInt(id, 10)
	}
	return "{" + strings.Join(s, ",") + "}", nil
}

// The queue (queue.go).

var tkQueueSorts = map[string]string{
	"updated":  "t.updated_at",
	"created":  "t.created_at",
	"priority": "t.priority",
	"due":      "coalesce(t.next_due, " + tkNoDue + ")",
}

const tkNoDue = "'9999-12-31 00:00:00+00'::timestamptz"

var tkNoDueTime = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

var tkActiveStatuses = []string{"new", "open", "pending", "on_hold"}

// tkQueueQuery is queue.go's queueQuery.
type tkQueueQuery struct {
	Statuses []string
	Panel    int64
	Assignee string
	Priority int
	Overdue  bool
	DueSoon  bool
	Search   string
	Sort     string
	Asc      bool
	Limit    int
	After    *tkCursor
}

type tkCursor struct {
	Sort string
	Asc  bool
	Key  int64
	ID   int64
}

func (c tkCursor) encode() string {
	o := "d"
	if c.Asc {
		o = "a"
	}
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("%s.%s.%d.%d", c.Sort, o, c.Key, c.ID)))
}

var errTkCursor = nativeBad("This page's position in the queue is not valid any more; start from the first page.")

func tkDecodeCursor(s, sort string, asc bool) (*tkCursor, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) > 80 {
		return nil, errTkCursor
	}
	parts := strings.Split(string(b), ".")
	if len(parts) != 4 || parts[0] != sort || (parts[1] != "a" && parts[1] != "d") || (parts[1] == "a") != asc {
		return nil, errTkCursor
	}
	c := &tkCursor{Sort: sort, Asc: asc}
	if c.Key, err = strconv.ParseInt(parts[2], 10, 64); err != nil || strconv.FormatInt(c.Key, 10) != parts[2] {
		return nil, errTkCursor
	}
	if c.ID, err = strconv.ParseInt(parts[3], 10, 64); err != nil || c.ID <= 0 || strconv.FormatInt(c.ID, 10) != parts[3] {
		return nil, errTkCursor
	}
	if sort == "priority" && (c.Key < 1 || c.Key > 4) {
		return nil, errTkCursor
	}
	if sort != "priority" && (c.Key < -62135596800000000 || c.Key > tkNoDueTime.UnixMicro()) {
		return nil, errTkCursor
	}
	return c, nil
}

func tkKeyOf(t tkTicket, sort string) int64 {
	switch sort {
	case "created":
		return t.CreatedAt.UnixMicro()
	case "priority":
		return int64(t.Priority)
	case "due":
		if t.NextDue == nil {
			return tkNoDueTime.UnixMicro()
		}
		return t.NextDue.UnixMicro()
	}
	return t.UpdatedAt.UnixMicro()
}

// tkSearchQuery is queue.go's searchQuery.
func tkSearchQuery(q string) (string, error) {
	if utf8.RuneCountInString(q) > 200 || !utf8.ValidString(q) {
		return "", nativeBad("A search is at most 200 characters.")
	}
	words := strings.FieldsFunc(strings.ToLower(q), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	if len(words) > 10 {
		return "", nativeBad("A search has at most 10 words.")
	}
	var terms []string
	for _, w := range words {
		if slices.Contains(terms, w) || slices.Contains(terms, w+":*") {
			continue
		}
		if utf8.RuneCountInString(w) >= 3 {
			w += ":*"
		}
		terms = append(terms, w)
	}
	return strings.Join(terms, " & "), nil
}

// tkParseQueue is queue.go's parseQueue.
func tkParseQueue(v url.Values) (tkQueueQuery, error) {
	q := tkQueueQuery{Sort: "updated", Limit: 50}
	switch s := v.Get("status"); s {
	case "", "active":
		q.Statuses = tkActiveStatuses
	case "all":
	default:
		for _, x := range strings.Split(s, ",") {
			if !slices.Contains([]string{"new", "open", "pending", "on_hold", "solved", "closed"}, x) {
				return q, nativeBad("A status filter is active, all, or statuses among new, open, pending, on_hold, solved, closed, separated by commas.")
			}
			if !slices.Contains(q.Statuses, x) {
				q.Statuses = append(q.Statuses, x)
			}
		}
	}
	if s := v.Get("panel"); s != "" {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			return q, nativeBad("A panel filter is a panel's number.")
		}
		q.Panel = id
	}
	q.Assignee = strings.TrimSpace(v.Get("assignee"))
	if q.Assignee != "" && q.Assignee != "me" && q.Assignee != "none" {
		return q, errors.New("the native queue filters by no username")
	}
	if s := v.Get("priority"); s != "" {
		p, err := strconv.Atoi(s)
		if err != nil || p < 1 || p > 4 {
			return q, nativeBad("A priority filter is 1 (low) to 4 (urgent).")
		}
		q.Priority = p
	}
	q.Overdue = v.Get("overdue") == "1"
	q.DueSoon = v.Get("due_soon") == "1"
	search, err := tkSearchQuery(v.Get("q"))
	if err != nil {
		return q, err
	}
	q.Search = search
	if s := v.Get("sort"); s != "" {
		if _, ok := tkQueueSorts[s]; !ok {
			return q, nativeBad("A sort is updated, created, priority or due.")
		}
		q.Sort = s
	}
	switch v.Get("order") {
	case "", "desc":
	case "asc":
		q.Asc = true
	default:
		return q, nativeBad("An order is asc or desc.")
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			return q, nativeBad("A page holds 1 to 100 tickets.")
		}
		q.Limit = n
	}
	if s := v.Get("cursor"); s != "" {
		c, err := tkDecodeCursor(s, q.Sort, q.Asc)
		if err != nil {
			return q, err
		}
		q.After = c
	}
	return q, nil
}

// sql is queue.go's queueQuery.where and .sql: the page's statement, its
// WHERE, ORDER BY and LIMIT word for word; its columns are ticketSelect's
// (scanTicket and encoding/json, as a native handler would), where the
// module's build each ticket's JSON in PostgreSQL (queueTicketJSON).
func (q tkQueueQuery) sql(u *coresite.User, panels string) (string, []any) {
	args := []any{panels}
	cond := []string{"t.panel_id = ANY($1::bigint[])"}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if q.Statuses != nil {
		cond = append(cond, "t.status IN ('"+strings.Join(q.Statuses, "', '")+"')")
	}
	if q.Panel > 0 {
		cond = append(cond, "t.panel_id = "+arg(q.Panel))
	}
	switch q.Assignee {
	case "":
	case "me":
		cond = append(cond, "t.assignee_id = "+arg(u.ID))
	case "none":
		cond = append(cond, "t.assignee_id IS NULL")
	}
	if q.Priority > 1 {
		cond = append(cond, "t.priority >= "+arg(int64(q.Priority)))
	}
	if q.Overdue {
		cond = append(cond, "t.next_due < now() AND t.paused_at IS NULL")
	}
	if q.DueSoon {
		cond = append(cond, "t.next_due >= now() AND t.next_due < now() + interval '2 hours' AND t.paused_at IS NULL")
	}
	if q.Search != "" { // written out, as queue.go does (its searchQuery writes letters, digits, ":*" and " & " only)
		cond = append(cond, "t.search @@ to_tsquery('simple', '"+q.Search+"')")
	}
	if c := q.After; c != nil {
		key := tkQueueSorts[q.Sort]
		var k string
		if q.Sort == "priority" {
			k = arg(c.Key) + "::smallint"
		} else {
			k = arg(time.UnixMicro(c.Key).UTC().Format(time.RFC3339Nano)) + "::timestamptz"
		}
		op := "<"
		if q.Asc {
			op = ">"
		}
		cond = append(cond, "("+key+", t.id) "+op+" ("+k+", "+arg(c.ID)+"::bigint)")
	}
	dir := " DESC"
	if q.Asc {
		dir = " ASC"
	}
	order := " ORDER BY " + tkQueueSorts[q.Sort] + dir + ", t.id" + dir
	return tkTicketColumns + "FROM (SELECT * FROM tickets t WHERE " + strings.Join(cond, " AND ") + order + " LIMIT " + strconv.Itoa(q.Limit+1) + ") t " +
		tkTicketJoins + order, args
}

// queue is queue.go's queueRoute.
func (n *ticketsNative) queue(r *http.Request, u *coresite.User) (any, error) {
	ctx := r.Context()
	q, err := tkParseQueue(r.URL.Query())
	if err != nil {
		return nil, err
	}
	panels, err := n.workablePanels(ctx, u)
	if err != nil {
		return nil, err
	}
	query, args := q.sql(u, panels)
	rows, err := n.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	tickets := []tkTicket{}
	for rows.Next() {
		t, err := tkScanTicket(rows, true, 0)
		if err != nil {
			rows.Close()
			return nil, err
		}
		tickets = append(tickets, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var next any
	if len(tickets) > q.Limit {
		tickets = tickets[:q.Limit]
		last := tickets[len(tickets)-1]
		next = tkCursor{Sort: q.Sort, Asc: q.Asc, Key: tkKeyOf(last, q.Sort), ID: last.ID}.encode()
	}
	return map[string]any{"tickets": tickets, "next": next}, nil
}

// Opening a ticket (tickets.go).

// tkNewTicket is tickets.go's newTicket.
type tkNewTicket struct {
	PanelID     int64                      `json:"panel_id"`
	Subject     string                     `json:"subject"`
	Description string                     `json:"description"`
	Fields      map[string]json.RawMessage `json:"fields"`
	Urgency     *int                       `json:"urgency"`
	Impact      *int                       `json:"impact"`
}

// tkReadJSON is jsonapi.Read.
func tkReadJSON(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, 64<<10+1))
	if err != nil {
		return nativeBad("The request's body could not be read.")
	}
	if len(b) > 64<<10 {
		return &nativeError{http.StatusRequestEntityTooLarge, "too_large", "The request is larger than 64 KiB."}
	}
	if !utf8.Valid(b) {
		return nativeBad("The request is not valid UTF-8 text.")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return nativeBad(fmt.Sprintf("The request is not the JSON expected: %v", err))
	}
	if dec.More() {
		return nativeBad("The request has data after its JSON object.")
	}
	return nil
}

// reopenDays is readSettings().ReopenDays (lifecycle.go): read per
// request, as the module's sdk.Config does.
func (n *ticketsNative) reopenDays() int64 {
	s := struct {
		ReopenDays int64 `json:"reopen_days"`
	}{14}
	json.Unmarshal(n.config(), &s)
	return max(s.ReopenDays, 0)
}

// open is tickets.go's openTicket, for panels without extra fields.
func (n *ticketsNative) open(r *http.Request, u *coresite.User) (any, error) {
	ctx := r.Context()
	var in tkNewTicket
	if err := tkReadJSON(r, &in); err != nil {
		return nil, err
	}
	// newTicket.check.
	subject, err := nativeCheckText(in.Subject, 200, false)
	if err != nil || subject == "" {
		return nil, nativeBad("A subject is one line of 1 to 200 characters, without control characters.")
	}
	description, err := nativeCheckText(in.Description, 20000, true)
	if err != nil || description == "" {
		return nil, nativeBad("Describe the request in 1 to 20000 characters, without control characters.")
	}
	urgency, impact := 2, 2
	if in.Urgency != nil {
		urgency = *in.Urgency
	}
	if in.Impact != nil {
		impact = *in.Impact
	}
	if urgency < 1 || urgency > 3 || impact < 1 || impact > 3 {
		return nil, nativeBad("Urgency and impact are 1 (low), 2 (medium) or 3 (high).")
	}
	var (
		fields           string
		maxOpen          int
		frm, rsm         *int64
		archived, guests bool
	)
	err = n.pool.QueryRow(ctx, tkOpenPanel, in.PanelID).Scan(&fields, &maxOpen, &frm, &rsm, &archived, &guests)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nativeBad("Choose one of the kinds of request offered.")
	}
	if err != nil {
		return nil, err
	}
	if archived {
		return nil, nativeBad("This kind of request is no longer offered; choose another one.")
	}
	var defs []json.RawMessage
	if err := json.Unmarshal([]byte(fields), &defs); err != nil {
		return nil, fmt.Errorf("panel %d's fields: %w", in.PanelID, err)
	}
	if len(defs) > 0 || len(in.Fields) > 0 {
		return nil, errors.New("the native handler opens tickets on panels without extra fields only")
	}
	values := "{}" // checkValues of no field
	// The transaction: the lock, the limit, the ticket, its lock, its
	// first message.
	var id, panelID int64
	err = pgx.BeginFunc(ctx, n.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, tkOpenLock, u.ID, in.PanelID); err != nil {
			return err
		}
		var open int
		if err := tx.QueryRow(ctx, tkOpenCount, u.ID, in.PanelID).Scan(&open); err != nil {
			return err
		}
		if open >= maxOpen {
			if maxOpen == 1 {
				return tkConflict("You already have an open request of this kind; add to it, or wait until it is solved.")
			}
			return tkConflict(fmt.Sprintf("You already have %d open requests of this kind, the most allowed; add to one of them, or wait until one is solved.", maxOpen))
		}
		if err := tx.QueryRow(ctx, tkInsert, in.PanelID, u.ID, nil, nil, nil, nil,
			subject, values, urgency, impact, frm, rsm).Scan(&id); err != nil {
			return err
		}
		var (
			status, guestEmail       string
			opener, merged, assignee *int64
			firstResponse            bool
			doneAt                   *time.Time
		)
		if err := tx.QueryRow(ctx, tkLock, id).Scan(&panelID, &status, &opener, &guestEmail, &merged, &assignee, &firstResponse, &doneAt); err != nil {
			return err
		}
		// addReply: roomFor, then the message.
		var used int64
		if err := tx.QueryRow(ctx, tkRoomFor, id).Scan(&used); err != nil {
			return err
		}
		if used+int64(len(description)) > 1<<20 {
			return tkConflict("This conversation is too long to add to; please open a new request (staff: solve or close this one and answer in a new one).")
		}
		var mid int64
		return tx.QueryRow(ctx, tkAddReply, id, u.ID, false, false, description).Scan(&mid)
	})
	if err != nil {
		return nil, err
	}
	// publish(ctx, panelTopic(l.PanelID), event{Type: "ticket", Ticket: l.ID, Panel: l.PanelID}),
	// through realtime.publish as sdk.Publish sends it.
	data, err := json.Marshal(struct {
		Type   string `json:"type"`
		Ticket int64  `json:"ticket,omitempty"`
		Panel  int64  `json:"panel,omitempty"`
	}{"ticket", id, panelID})
	if err != nil {
		return nil, err
	}
	payload, err := json.Marshal(struct {
		Topic string          `json:"topic"`
		Data  json.RawMessage `json:"data"`
	}{"tickets.panel." + strconv.FormatInt(panelID, 10), data})
	if err != nil {
		return nil, err
	}
	if _, err := n.publish.Serve(ctx, n.caller, payload); err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	// ticketAccess, then loadTicket as a customer.
	var party, worker bool
	if err := n.pool.QueryRow(ctx, tkTicketAccess, id, u.ID).Scan(&party, &worker); err != nil {
		return nil, err
	}
	asAgent := tkIsAdmin(u) || tkIsStaff(u) && worker
	if !asAgent && !party {
		return nil, errors.New("the opener cannot read their ticket")
	}
	t, err := tkScanTicket(n.pool.QueryRow(ctx, tkTicketSelect+`WHERE t.id = $1`, id), asAgent, n.reopenDays())
	if err != nil {
		return nil, err
	}
	if asAgent {
		return nil, errors.New("the native handler opens tickets for customers only")
	}
	return t, nil
}
