package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/websonic/websonic/modules/internal/jsonapi"
	"github.com/websonic/websonic/sdk"
)

// The staff queue (API.md, "Queue parameters"): the tickets of the panels
// the caller works, filtered, searched, sorted and paged by keyset (a page
// starts after the previous page's last row, whatever was added since),
// and the counts of its views.

func init() {
	mux.HandleFunc("GET /tickets/staff/api/queue", queueRoute)
	mux.HandleFunc("GET /tickets/staff/api/counts", api(countsRoute))
}

// Limits of the queue.
const (
	queuePage    = 50  // tickets a page, by default
	maxQueuePage = 100 // tickets a page, at most
	maxQueryRune = 200 // characters of a search
	maxQueryWord = 10  // words of a search
	dueSoon      = "2 hours"
)

// The queue's sort orders: the key each sorts on, with the ticket's id
// after it (unique, so the keyset is total).
var queueSorts = map[string]string{
	"updated":  "t.updated_at",
	"created":  "t.created_at",
	"priority": "t.priority",
	// A ticket without a due time sorts after every ticket with one.
	"due": "coalesce(t.next_due, " + noDue + ")",
}

// noDue stands for "no due time" in the due sort (its index, 002_queue.sql,
// is on the same expression).
const noDue = "'9999-12-31 00:00:00+00'::timestamptz"

var noDueTime = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// queueQuery is a queue request, checked.
type queueQuery struct {
	Statuses  []string
	Panel     int64
	Assignee  string // "", "me", "none" or a username
	Priority  int
	Overdue   bool
	DueSoon   bool
	Search    string // a to_tsquery of the words (searchQuery), "" for none
	Sort      string
	Asc       bool
	Limit     int
	After     *cursor
	assigneID int64
}

// cursor is where a page starts: after the row of key (microseconds of a
// time, or a priority) and id, in the same sort and order.
type cursor struct {
	Sort string
	Asc  bool
	Key  int64
	ID   int64
}

// encode is the cursor's opaque form: base64url of "sort.order.key.id".
func (c cursor) encode() string {
	o := "d"
	if c.Asc {
		o = "a"
	}
	return c.encodeRaw(fmt.Sprintf("%s.%s.%d.%d", c.Sort, o, c.Key, c.ID))
}

func (cursor) encodeRaw(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// decodeCursor reads a cursor for the sort and order asked: anything else
// (tampered, of another sort) is refused.
func decodeCursor(s, sort string, asc bool) (*cursor, error) {
	bad := badRequest("This page's position in the queue is not valid any more; start from the first page.")
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) > 80 {
		return nil, bad
	}
	parts := strings.Split(string(b), ".")
	if len(parts) != 4 || parts[0] != sort || (parts[1] != "a" && parts[1] != "d") || (parts[1] == "a") != asc {
		return nil, bad
	}
	c := &cursor{Sort: sort, Asc: asc}
	if c.Key, err = strconv.ParseInt(parts[2], 10, 64); err != nil || strconv.FormatInt(c.Key, 10) != parts[2] {
		return nil, bad
	}
	if c.ID, err = strconv.ParseInt(parts[3], 10, 64); err != nil || c.ID <= 0 || strconv.FormatInt(c.ID, 10) != parts[3] {
		return nil, bad
	}
	if sort == "priority" && (c.Key < 1 || c.Key > 4) {
		return nil, bad
	}
	if sort != "priority" && (c.Key < -62135596800000000 || c.Key > noDueTime.UnixMicro()) {
		return nil, bad
	}
	return c, nil
}

// searchQuery turns what a person typed into a to_tsquery('simple', …)
// of its words, every one required, those of 3 letters or more matched
// as prefixes: words are runs of letters and digits, so nothing typed is
// ever read as tsquery syntax. "" when there is no word.
func searchQuery(q string) (string, error) {
	if utf8.RuneCountInString(q) > maxQueryRune || !utf8.ValidString(q) {
		return "", badRequest(fmt.Sprintf("A search is at most %d characters.", maxQueryRune))
	}
	words := strings.FieldsFunc(strings.ToLower(q), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	if len(words) > maxQueryWord {
		return "", badRequest(fmt.Sprintf("A search has at most %d words.", maxQueryWord))
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

// tsqueryLiteral quotes a searchQuery as an SQL string literal. Anything
// but letters, digits, spaces and the operators searchQuery writes is
// dropped (it writes nothing else), so no quote or backslash can end the
// literal.
func tsqueryLiteral(q string) string {
	q = strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || r == ' ' || r == '&' || r == ':' || r == '*' {
			return r
		}
		return -1
	}, q)
	return "'" + q + "'"
}

// parseQueue checks the queue's parameters.
func parseQueue(v url.Values) (queueQuery, error) {
	q := queueQuery{Sort: "updated", Limit: queuePage}
	switch s := v.Get("status"); s {
	case "", "active":
		q.Statuses = activeStatuses
	case "all":
	default:
		for _, x := range strings.Split(s, ",") {
			if !validStatus(x) {
				return q, badRequest("A status filter is active, all, or statuses among new, open, pending, on_hold, solved, closed, separated by commas.")
			}
			if !slices.Contains(q.Statuses, x) {
				q.Statuses = append(q.Statuses, x)
			}
		}
	}
	if s := v.Get("panel"); s != "" {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			return q, badRequest("A panel filter is a panel's number.")
		}
		q.Panel = id
	}
	q.Assignee = strings.TrimSpace(v.Get("assignee"))
	if s := v.Get("priority"); s != "" {
		p, err := strconv.Atoi(s)
		if err != nil || p < 1 || p > 4 {
			return q, badRequest("A priority filter is 1 (low) to 4 (urgent).")
		}
		q.Priority = p
	}
	q.Overdue = v.Get("overdue") == "1"
	q.DueSoon = v.Get("due_soon") == "1"
	search, err := searchQuery(v.Get("q"))
	if err != nil {
		return q, err
	}
	q.Search = search
	if s := v.Get("sort"); s != "" {
		if _, ok := queueSorts[s]; !ok {
			return q, badRequest("A sort is updated, created, priority or due.")
		}
		q.Sort = s
	}
	switch v.Get("order") {
	case "", "desc":
	case "asc":
		q.Asc = true
	default:
		return q, badRequest("An order is asc or desc.")
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxQueuePage {
			return q, badRequest(fmt.Sprintf("A page holds 1 to %d tickets.", maxQueuePage))
		}
		q.Limit = n
	}
	if s := v.Get("cursor"); s != "" {
		c, err := decodeCursor(s, q.Sort, q.Asc)
		if err != nil {
			return q, err
		}
		q.After = c
	}
	return q, nil
}

// where is the SQL condition of the query's filters over the panels
// (workablePanels' array) and its arguments.
func (q queueQuery) where(u *sdk.User, panels string) (string, []any) {
	args := []any{panels}
	cond := []string{"t.panel_id = ANY($1::bigint[])"}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if q.Statuses != nil {
		// Written out, not an argument: the statuses are checked words,
		// and the planner proves the active tickets' partial indexes
		// (002_queue.sql) from constants only.
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
	default:
		cond = append(cond, "t.assignee_id = "+arg(q.assigneID))
	}
	if q.Priority > 1 {
		cond = append(cond, "t.priority >= "+arg(int64(q.Priority)))
	}
	if q.Overdue {
		cond = append(cond, "t.next_due < now() AND t.paused_at IS NULL")
	}
	if q.DueSoon {
		cond = append(cond, "t.next_due >= now() AND t.next_due < now() + interval '"+dueSoon+"' AND t.paused_at IS NULL")
	}
	if q.Search != "" {
		// Written out too: as an argument, the statement is the same text
		// for every search, and PostgreSQL may settle on a generic plan
		// for it (a bitmap of every match, then a sort: 57–92 ms for a
		// common word on 100,000 tickets, where the plan for the words
		// takes 0.3 ms; BENCHMARKS.md, Tickets). searchQuery's output is
		// letters, digits, ":*" and " & ": tsqueryLiteral checks it anyway.
		cond = append(cond, "t.search @@ to_tsquery('simple', "+tsqueryLiteral(q.Search)+")")
	}
	if c := q.After; c != nil {
		key := queueSorts[q.Sort]
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
	return strings.Join(cond, " AND "), args
}

// sql is the page's statement: each row is the page's sort key, the
// ticket's id (the cursor's) and the ticket as API.md's JSON for an agent
// (queueTicketJSON).
func (q queueQuery) sql(u *sdk.User, panels string) (string, []any) {
	where, args := q.where(u, panels)
	dir := " DESC"
	if q.Asc {
		dir = " ASC"
	}
	order := " ORDER BY " + queueSorts[q.Sort] + dir + ", t.id" + dir
	// The page is picked first, then joined to its panels and people: the
	// lookups run for its rows only, not for every match of a search
	// before the sort.
	return "SELECT " + queueSorts[q.Sort] + ", t.id, " + queueTicketJSON +
		" FROM (SELECT * FROM tickets t WHERE " + where + order + " LIMIT " + strconv.Itoa(q.Limit+1) + ") t " +
		ticketJoins + order, args
}

// queueTicketJSON is, for a row of tickets t joined by ticketJoins, the
// ticket as scanTicket reads it for an agent, written as JSON by
// PostgreSQL (the guest's database/sql and encoding/json over the page's
// 1,600 cells cost it two thirds of its CPU: BENCHMARKS.md, Tickets).
// Times are RFC 3339 in UTC with microseconds (jsonTime); participants
// are not listed in the queue ([]); unread is the customer's marker
// (false for agents).
var queueTicketJSON = `json_build_object(
	'id', t.id, 'panel', json_build_object('id', t.panel_id, 'name', p.name),
	'subject', t.subject, 'fields', t.fields, 'status', t.status,
	'urgency', t.urgency, 'impact', t.impact, 'priority', t.priority,
	'opener', CASE WHEN o.username IS NOT NULL THEN json_build_object('id', t.opener_id, 'username', o.username, 'display_name', coalesce(o.display_name, '')) END,
	'guest_name', coalesce(t.guest_name, ''),
	'assignee', CASE WHEN a.username IS NOT NULL THEN json_build_object('id', t.assignee_id, 'username', a.username, 'display_name', coalesce(a.display_name, '')) END,
	'created_at', ` + jsonTimeCreated + `, 'updated_at', ` + jsonTimeUpdated + `,
	'solved_at', ` + jsonTimeSolved + `, 'closed_at', ` + jsonTimeClosed + `,
	'merged_into', t.merged_into,
	'can_reopen', t.status IN ('solved', 'closed') AND t.merged_into IS NULL,
	'unread', false,
	'rating', CASE WHEN t.rating IS NOT NULL THEN json_build_object('score', t.rating, 'comment', t.rating_comment,
		'at', coalesce(` + jsonTimeRated + `, '0001-01-01T00:00:00Z')) END,
	'guest_email', coalesce(t.guest_email, ''), 'participants', '[]'::json,
	'first_response_at', ` + jsonTimeFirstResp + `, 'first_response_due', ` + jsonTimeFirstDue + `,
	'resolution_due', ` + jsonTimeResDue + `, 'next_due', ` + jsonTimeNextDue + `,
	'paused', t.paused_at IS NOT NULL,
	'overdue', coalesce(t.next_due < now() AND t.paused_at IS NULL, false))::text`

// jsonTime writes a timestamptz column of t as RFC 3339 in UTC with
// microseconds ("2026-12-01T05:36:22.123456Z"); NULL stays NULL (null).
func jsonTime(col string) string {
	return "to_char(t." + col + ` AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`
}

var (
	jsonTimeCreated   = jsonTime("created_at")
	jsonTimeUpdated   = jsonTime("updated_at")
	jsonTimeSolved    = jsonTime("solved_at")
	jsonTimeClosed    = jsonTime("closed_at")
	jsonTimeRated     = jsonTime("rated_at")
	jsonTimeFirstResp = jsonTime("first_response_at")
	jsonTimeFirstDue  = jsonTime("first_response_due")
	jsonTimeResDue    = jsonTime("resolution_due")
	jsonTimeNextDue   = jsonTime("next_due")
)

// queueRoute answers a page of the queue: {"next": cursor | null,
// "tickets": [ticket]}, each ticket's JSON written by PostgreSQL and
// passed on as it comes (encoding/json over it would scan every byte
// again).
func queueRoute(w http.ResponseWriter, r *http.Request) {
	u := sdk.UserFrom(r)
	if u == nil { // the runtime refuses anonymous requests to member routes first
		jsonapi.Fail(w, r, &jsonapi.Error{Status: http.StatusUnauthorized, Code: "unauthorized", Msg: "Sign in first."})
		return
	}
	page, err := queueAnswer(r, u)
	if err != nil {
		jsonapi.Fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	w.Write(page)
}

// queueAnswer is the queue's page for r's parameters, as JSON.
func queueAnswer(r *http.Request, u *sdk.User) ([]byte, error) {
	c := r.Context()
	q, err := parseQueue(r.URL.Query())
	if err != nil {
		return nil, err
	}
	if q.Assignee != "" && q.Assignee != "me" && q.Assignee != "none" {
		who, _, err := userByName(c, q.Assignee)
		if err != nil {
			return nil, err
		}
		q.assigneID = who.ID
	}
	panels, err := workablePanels(c, u)
	if err != nil {
		return nil, err
	}
	rows, next, err := queueRows(c, q, u, panels)
	if err != nil {
		return nil, err
	}
	n := len(`{"next":null,"tickets":[]}` + "\n")
	for _, row := range rows {
		n += len(row) + 1
	}
	b := make([]byte, 0, n+len(next))
	if next == "" {
		b = append(b, `{"next":null,"tickets":[`...)
	} else {
		// base64url: nothing to escape.
		b = append(b, `{"next":"`...)
		b = append(b, next...)
		b = append(b, `","tickets":[`...)
	}
	for i, row := range rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, row...)
	}
	return append(b, "]}\n"...), nil
}

// queueRows reads the page's tickets as JSON (one row more than the
// limit: there is a next page when it comes, and next is its cursor,
// after the last row kept; "" for none).
func queueRows(ctx context.Context, q queueQuery, u *sdk.User, panels string) (page []string, next string, err error) {
	query, args := q.sql(u, panels)
	rows, err := sdk.DB().QueryContext(ctx, query, args...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	var (
		at     time.Time // the sort key of a time
		n      int64     // of a priority
		key    any       = &at
		id     int64
		ticket string
		last   cursor
	)
	if q.Sort == "priority" {
		key = &n
	}
	for rows.Next() {
		if err := rows.Scan(key, &id, &ticket); err != nil {
			return nil, "", err
		}
		if len(page) == q.Limit {
			return page, last.encode(), nil
		}
		page = append(page, ticket)
		last = cursor{Sort: q.Sort, Asc: q.Asc, Key: n, ID: id}
		if q.Sort != "priority" {
			last.Key = at.UnixMicro()
		}
	}
	return page, "", rows.Err()
}

// countsRoute answers the numbers of the queue's views over the panels
// the caller works, active tickets only.
func countsRoute(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	c := r.Context()
	panels, err := workablePanels(c, u)
	if err != nil {
		return nil, err
	}
	var n struct {
		New, Open, Pending, OnHold, Mine, Unassigned, Overdue, DueSoon int64
	}
	err = sdk.DB().QueryRowContext(c, `SELECT
		count(*) FILTER (WHERE status = 'new'),
		count(*) FILTER (WHERE status = 'open'),
		count(*) FILTER (WHERE status = 'pending'),
		count(*) FILTER (WHERE status = 'on_hold'),
		count(*) FILTER (WHERE assignee_id = $1),
		count(*) FILTER (WHERE assignee_id IS NULL),
		count(*) FILTER (WHERE next_due < now() AND paused_at IS NULL),
		count(*) FILTER (WHERE next_due >= now() AND next_due < now() + interval '`+dueSoon+`' AND paused_at IS NULL)
		FROM tickets WHERE panel_id = ANY($2::bigint[]) AND status IN ('new', 'open', 'pending', 'on_hold')`,
		u.ID, panels).Scan(&n.New, &n.Open, &n.Pending, &n.OnHold, &n.Mine, &n.Unassigned, &n.Overdue, &n.DueSoon)
	if err != nil {
		return nil, err
	}
	return map[string]int64{"new": n.New, "open": n.Open, "pending": n.Pending, "on_hold": n.OnHold,
		"mine": n.Mine, "unassigned": n.Unassigned, "overdue": n.Overdue, "due_soon": n.DueSoon}, nil
}
