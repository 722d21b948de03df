package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/websonic/websonic/sdk"
)

// settings are the owner's values for the manifest's config_schema.
type settings struct {
	AllowGuests        bool   `json:"allow_guests"`
	ReopenDays         int64  `json:"reopen_days"`
	AutocloseDays      int64  `json:"autoclose_days"`
	RetentionDays      int64  `json:"retention_days"`
	MaxAttachmentBytes int64  `json:"max_attachment_bytes"`
	SiteURL            string `json:"site_url"`
}

// readSettings returns the module's settings, the manifest's defaults
// where the owner gave none (and they, if the runtime's answer is bad).
func readSettings() settings {
	s := settings{ReopenDays: 14, AutocloseDays: 7, RetentionDays: 730, MaxAttachmentBytes: 1_000_000}
	if err := sdk.Config(&s); err != nil {
		sdk.Logger().Warn("settings", "error", err)
	}
	s.MaxAttachmentBytes = min(max(s.MaxAttachmentBytes, 1), 1_000_000)
	s.ReopenDays = max(s.ReopenDays, 0)
	return s
}

// The statuses, in the order a ticket usually goes through them.
const (
	statusNew     = "new"
	statusOpen    = "open"
	statusPending = "pending"
	statusOnHold  = "on_hold"
	statusSolved  = "solved"
	statusClosed  = "closed"
)

var statuses = []string{statusNew, statusOpen, statusPending, statusOnHold, statusSolved, statusClosed}

// activeStatuses are those of a ticket someone still has to act on.
var activeStatuses = []string{statusNew, statusOpen, statusPending, statusOnHold}

func validStatus(s string) bool { return slices.Contains(statuses, s) }

// done reports whether status ends the work: solved or closed.
func done(status string) bool { return status == statusSolved || status == statusClosed }

// panelRef names a ticket's panel.
type panelRef struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// ratingView is a customer's satisfaction rating.
type ratingView struct {
	Score   int       `json:"score"`
	Comment string    `json:"comment"`
	At      time.Time `json:"at"`
}

// ticketView is API.md's "ticket". agentView's fields are there for
// agents only (nil for customers: the pointer's fields are then omitted).
type ticketView struct {
	ID         int64           `json:"id"`
	Panel      panelRef        `json:"panel"`
	Subject    string          `json:"subject"`
	Fields     json.RawMessage `json:"fields"`
	Status     string          `json:"status"`
	Urgency    int             `json:"urgency"`
	Impact     int             `json:"impact"`
	Priority   int             `json:"priority"`
	Opener     *userRef        `json:"opener"`
	GuestName  string          `json:"guest_name"`
	Assignee   *userRef        `json:"assignee"`
	CreatedAt  time.Time       `json:"created_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
	SolvedAt   *time.Time      `json:"solved_at"`
	ClosedAt   *time.Time      `json:"closed_at"`
	MergedInto *int64          `json:"merged_into"`
	CanReopen  bool            `json:"can_reopen"`
	Unread     bool            `json:"unread"`
	Rating     *ratingView     `json:"rating"`
	*agentView
}

// agentView is what only agents see of a ticket.
type agentView struct {
	GuestEmail       string     `json:"guest_email"`
	Participants     []userRef  `json:"participants"`
	FirstResponseAt  *time.Time `json:"first_response_at"`
	FirstResponseDue *time.Time `json:"first_response_due"`
	ResolutionDue    *time.Time `json:"resolution_due"`
	NextDue          *time.Time `json:"next_due"`
	Paused           bool       `json:"paused"`
	Overdue          bool       `json:"overdue"`
}

// ticketSelect reads a ticketView's columns (scanTicket's order) from
// tickets t: append WHERE, ORDER BY…
const ticketSelect = ticketColumns + `FROM tickets t ` + ticketJoins

// ticketColumns and ticketJoins are ticketSelect around its FROM, for a
// query whose rows come from elsewhere (the queue picks its page in a
// subquery "t" first, so the joins run for the page's rows only).
const ticketColumns = `SELECT t.id, t.panel_id, p.name, t.subject, t.fields::text, t.status,
	t.urgency, t.impact, t.priority,
	t.opener_id, o.username, o.display_name, coalesce(t.guest_name, ''), coalesce(t.guest_email, ''),
	t.assignee_id, a.username, a.display_name,
	t.created_at, t.updated_at, t.solved_at, t.closed_at, t.merged_into,
	t.last_public_at > t.customer_seen_at, t.rating, t.rating_comment, t.rated_at,
	t.first_response_at, t.first_response_due, t.resolution_due, t.next_due, t.paused_at IS NOT NULL,
	coalesce(t.next_due < now() AND t.paused_at IS NULL, false)
	`

const ticketJoins = `JOIN panels p ON p.id = t.panel_id
	LEFT JOIN LATERAL (SELECT x.username, x.display_name FROM websonic_api.users x WHERE x.id = t.opener_id LIMIT 1) o ON true
	LEFT JOIN LATERAL (SELECT x.username, x.display_name FROM websonic_api.users x WHERE x.id = t.assignee_id LIMIT 1) a ON true `

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// scanTicket reads one ticketSelect row; agentView is filled for agents.
// reopenDays is the customers' reopening window.
func scanTicket(row scanner, asAgent bool, reopenDays int64) (ticketView, error) {
	var (
		t                                   ticketView
		ag                                  agentView
		fields                              string
		openerID, assigneeID, merged        sql.NullInt64
		openerName, openerDisp              sql.NullString
		assigneeName, assigneeDisp          sql.NullString
		guestEmail                          string
		solved, closed, ratedAt             sql.NullTime
		firstResp, firstDue, resDue, nextDu sql.NullTime
		rating                              sql.NullInt64
		ratingComment                       string
	)
	if err := row.Scan(&t.ID, &t.Panel.ID, &t.Panel.Name, &t.Subject, &fields, &t.Status,
		&t.Urgency, &t.Impact, &t.Priority,
		&openerID, &openerName, &openerDisp, &t.GuestName, &guestEmail,
		&assigneeID, &assigneeName, &assigneeDisp,
		&t.CreatedAt, &t.UpdatedAt, &solved, &closed, &merged,
		&t.Unread, &rating, &ratingComment, &ratedAt,
		&firstResp, &firstDue, &resDue, &nextDu, &ag.Paused, &ag.Overdue); err != nil {
		return ticketView{}, err
	}
	t.Fields = json.RawMessage(fields)
	t.Opener = refOf(openerID, openerName, openerDisp)
	t.Assignee = refOf(assigneeID, assigneeName, assigneeDisp)
	t.SolvedAt, t.ClosedAt = timeOf(solved), timeOf(closed)
	if merged.Valid {
		t.MergedInto = &merged.Int64
	}
	if rating.Valid {
		t.Rating = &ratingView{Score: int(rating.Int64), Comment: ratingComment, At: ratedAt.Time}
	}
	t.CanReopen = done(t.Status) && t.MergedInto == nil
	if !asAgent {
		t.CanReopen = t.CanReopen && within(t, reopenDays)
		return t, nil
	}
	t.Unread = false // the customer's marker, not the agent's
	ag.GuestEmail = guestEmail
	ag.FirstResponseAt, ag.FirstResponseDue, ag.ResolutionDue, ag.NextDue = timeOf(firstResp), timeOf(firstDue), timeOf(resDue), timeOf(nextDu)
	ag.Participants = []userRef{}
	t.agentView = &ag
	return t, nil
}

// within reports whether t was solved or closed less than days ago.
func within(t ticketView, days int64) bool {
	at := t.ClosedAt
	if at == nil {
		at = t.SolvedAt
	}
	return at != nil && time.Since(*at) < time.Duration(days)*24*time.Hour
}

func refOf(id sql.NullInt64, name, display sql.NullString) *userRef {
	if !id.Valid || !name.Valid { // none, a guest, or an erased user
		return nil
	}
	return &userRef{ID: id.Int64, Username: name.String, DisplayName: display.String}
}

func timeOf(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	return &t.Time
}

// loadTicket reads ticket id as a holds it (customer or agent: check
// access first, with need). Agents also get its participants.
func loadTicket(ctx context.Context, id int64, a access) (ticketView, error) {
	t, err := scanTicket(sdk.DB().QueryRowContext(ctx, ticketSelect+`WHERE t.id = $1`, id), a == agent, readSettings().ReopenDays)
	if errors.Is(err, sql.ErrNoRows) {
		return ticketView{}, errNoTicket
	}
	if err != nil || a != agent {
		return t, err
	}
	rows, err := sdk.DB().QueryContext(ctx, `SELECT u.id, u.username, u.display_name FROM participants x
		JOIN LATERAL (SELECT y.id, y.username, y.display_name FROM websonic_api.users y WHERE y.id = x.user_id LIMIT 1) u ON true
		WHERE x.ticket_id = $1 ORDER BY x.added_at, x.user_id`, id)
	if err != nil {
		return t, err
	}
	defer rows.Close()
	for rows.Next() {
		var u userRef
		if err := rows.Scan(&u.ID, &u.Username, &u.DisplayName); err != nil {
			return t, err
		}
		t.Participants = append(t.Participants, u)
	}
	return t, rows.Err()
}

// attachmentRef is an attachment as a message or note lists it.
type attachmentRef struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"`
	Size int64  `json:"size"`
}

// messageView is API.md's "message": the public conversation.
type messageView struct {
	ID          int64           `json:"id"`
	Kind        string          `json:"kind"`
	Author      *userRef        `json:"author"`
	Guest       bool            `json:"guest"`
	Staff       bool            `json:"staff"`
	Body        string          `json:"body"`
	Event       json.RawMessage `json:"event"`
	CreatedAt   time.Time       `json:"created_at"`
	Attachments []attachmentRef `json:"attachments"`
}

// noteView is API.md's "note", for agents.
type noteView struct {
	ID          int64           `json:"id"`
	Author      *userRef        `json:"author"`
	Body        string          `json:"body"`
	CreatedAt   time.Time       `json:"created_at"`
	Attachments []attachmentRef `json:"attachments"`
}

// loadMessages reads ticket id's public conversation, oldest first, with
// the attachments of each message. It never reads notes.
func loadMessages(ctx context.Context, id int64) ([]messageView, error) {
	rows, err := sdk.DB().QueryContext(ctx, `SELECT m.id, m.kind, m.author_id, u.username, u.display_name,
		m.guest, m.staff, m.body, coalesce(m.event::text, ''), m.created_at
		FROM messages m
		LEFT JOIN LATERAL (SELECT x.username, x.display_name FROM websonic_api.users x WHERE x.id = m.author_id LIMIT 1) u ON true
		WHERE m.ticket_id = $1 ORDER BY m.id`, id)
	if err != nil {
		return nil, err
	}
	out := []messageView{}
	at := map[int64]int{}
	for rows.Next() {
		var (
			m          messageView
			aid        sql.NullInt64
			name, disp sql.NullString
			ev         string
		)
		if err := rows.Scan(&m.ID, &m.Kind, &aid, &name, &disp, &m.Guest, &m.Staff, &m.Body, &ev, &m.CreatedAt); err != nil {
			rows.Close()
			return nil, err
		}
		m.Author = refOf(aid, name, disp)
		if ev != "" {
			m.Event = json.RawMessage(ev)
		}
		m.Attachments = []attachmentRef{}
		at[m.ID] = len(out)
		out = append(out, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	err = eachAttachment(ctx, `SELECT message_id, id, name, type, size FROM attachments
		WHERE ticket_id = $1 AND message_id IS NOT NULL ORDER BY id`, id, func(owner int64, a attachmentRef) {
		if i, ok := at[owner]; ok {
			out[i].Attachments = append(out[i].Attachments, a)
		}
	})
	return out, err
}

// loadNotes reads ticket id's internal notes, oldest first, with their
// attachments: for agents only (check access first).
func loadNotes(ctx context.Context, id int64) ([]noteView, error) {
	rows, err := sdk.DB().QueryContext(ctx, `SELECT n.id, n.author_id, u.username, u.display_name, n.body, n.created_at
		FROM notes n
		LEFT JOIN LATERAL (SELECT x.username, x.display_name FROM websonic_api.users x WHERE x.id = n.author_id LIMIT 1) u ON true
		WHERE n.ticket_id = $1 ORDER BY n.id`, id)
	if err != nil {
		return nil, err
	}
	out := []noteView{}
	at := map[int64]int{}
	for rows.Next() {
		var (
			n          noteView
			aid        sql.NullInt64
			name, disp sql.NullString
		)
		if err := rows.Scan(&n.ID, &aid, &name, &disp, &n.Body, &n.CreatedAt); err != nil {
			rows.Close()
			return nil, err
		}
		n.Author = refOf(aid, name, disp)
		n.Attachments = []attachmentRef{}
		at[n.ID] = len(out)
		out = append(out, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	err = eachAttachment(ctx, `SELECT note_id, id, name, type, size FROM attachments
		WHERE ticket_id = $1 AND note_id IS NOT NULL ORDER BY id`, id, func(owner int64, a attachmentRef) {
		if i, ok := at[owner]; ok {
			out[i].Attachments = append(out[i].Attachments, a)
		}
	})
	return out, err
}

// eachAttachment runs query (owner id, then an attachmentRef's columns)
// for ticket id and gives each row to f.
func eachAttachment(ctx context.Context, query string, id int64, f func(owner int64, a attachmentRef)) error {
	rows, err := sdk.DB().QueryContext(ctx, query, id)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			owner int64
			a     attachmentRef
		)
		if err := rows.Scan(&owner, &a.ID, &a.Name, &a.Type, &a.Size); err != nil {
			return err
		}
		f(owner, a)
	}
	return rows.Err()
}

// actor is who makes a change: a user (as a customer or an agent), the
// guest opener, or the desk itself (a job, an admin command's runtime
// user is a user).
type actor struct {
	User  *sdk.User
	Agent bool // acting as the ticket's agent
	Guest bool
}

// userID is the actor's user id for an author column (NULL: a guest or
// the desk).
func (a actor) userID() any {
	if a.User == nil {
		return nil
	}
	return a.User.ID
}

// locked is a ticket's state, read FOR UPDATE in a transaction: the
// changes of one ticket happen one after the other.
type locked struct {
	ID            int64
	PanelID       int64
	Status        string
	OpenerID      sql.NullInt64
	GuestEmail    string
	MergedInto    sql.NullInt64
	AssigneeID    sql.NullInt64
	FirstResponse bool
	DoneAt        sql.NullTime // closed_at, else solved_at
}

// lockTicket reads ticket id FOR UPDATE in tx (errNoTicket when it is
// gone).
func lockTicket(ctx context.Context, tx *sql.Tx, id int64) (*locked, error) {
	l := &locked{ID: id}
	err := tx.QueryRowContext(ctx, `SELECT panel_id, status, opener_id, coalesce(guest_email, ''), merged_into,
		assignee_id, first_response_at IS NOT NULL, coalesce(closed_at, solved_at)
		FROM tickets WHERE id = $1 FOR UPDATE`, id).
		Scan(&l.PanelID, &l.Status, &l.OpenerID, &l.GuestEmail, &l.MergedInto, &l.AssigneeID, &l.FirstResponse, &l.DoneAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoTicket
	}
	return l, err
}

// moveTo sets the ticket's status to `to` and writes the status event in
// the public conversation. The SLA clocks stop while the ticket is
// pending: leaving pending moves both due times by the pause's length.
// Solving stamps solved_at; closing closed_at; going back to work clears
// both. It returns the event's message id (0 when the status was already
// `to`).
func (l *locked) moveTo(ctx context.Context, tx *sql.Tx, a actor, to string) (int64, error) {
	if !validStatus(to) {
		return 0, badRequest("A status is one of new, open, pending, on_hold, solved, closed.")
	}
	if l.Status == to {
		return 0, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE tickets SET status = $2,
		first_response_due = first_response_due + coalesce(CASE WHEN $2 <> 'pending' THEN now() - paused_at END, interval '0'),
		resolution_due = resolution_due + coalesce(CASE WHEN $2 <> 'pending' THEN now() - paused_at END, interval '0'),
		paused_at = CASE WHEN $2 = 'pending' THEN coalesce(paused_at, now()) END,
		solved_at = CASE WHEN $2 = 'solved' THEN now() WHEN $2 = 'closed' THEN solved_at END,
		closed_at = CASE WHEN $2 = 'closed' THEN now() END,
		updated_at = now(), last_public_at = CASE WHEN $3 THEN now() ELSE last_public_at END,
		customer_seen_at = CASE WHEN $3 THEN customer_seen_at ELSE now() END
		WHERE id = $1`, l.ID, to, a.Agent); err != nil {
		return 0, err
	}
	id, err := addEvent(ctx, tx, l.ID, a, map[string]any{"type": "status", "from": l.Status, "to": to})
	l.Status = to
	return id, err
}

// addEvent writes a line of the desk in the ticket's public conversation.
func addEvent(ctx context.Context, tx *sql.Tx, ticket int64, a actor, ev map[string]any) (int64, error) {
	b, err := json.Marshal(ev)
	if err != nil {
		return 0, err
	}
	var id int64
	err = tx.QueryRowContext(ctx, `INSERT INTO messages (ticket_id, kind, author_id, guest, staff, event)
		VALUES ($1, 'event', $2, $3, $4, $5::jsonb) RETURNING id`, ticket, a.userID(), a.Guest, a.Agent, string(b)).Scan(&id)
	return id, err
}

// addReply writes a public reply by a in the ticket's conversation, adds
// its text to the ticket's search, stamps the first response when an
// agent answers, and moves the unread marker for the customer.
func (l *locked) addReply(ctx context.Context, tx *sql.Tx, a actor, body string) (int64, error) {
	if err := l.roomFor(ctx, tx, int64(len(body))); err != nil {
		return 0, err
	}
	var id int64
	err := tx.QueryRowContext(ctx, `WITH m AS (
			INSERT INTO messages (ticket_id, kind, author_id, guest, staff, body)
			VALUES ($1, 'reply', $2, $3, $4, $5) RETURNING id)
		UPDATE tickets SET updated_at = now(),
			search = search || to_tsvector('simple', left($5, 20000)),
			first_response_at = CASE WHEN $4 THEN coalesce(first_response_at, now()) ELSE first_response_at END,
			last_public_at = CASE WHEN $4 THEN now() ELSE last_public_at END,
			customer_seen_at = CASE WHEN $4 THEN customer_seen_at ELSE now() END
		FROM m WHERE tickets.id = $1 RETURNING m.id`, l.ID, a.userID(), a.Guest, a.Agent, body).Scan(&id)
	if err == nil && a.Agent {
		l.FirstResponse = true
	}
	return id, err
}

// maxConversationBytes bounds the text of a ticket's public conversation:
// it is read whole (the views, the transcripts, one database result of at
// most 4 MiB, one answer of at most 8 MiB even with every character
// escaped), so a longer one would be readable by no one.
const maxConversationBytes = 1 << 20

// errConversationFull refuses a reply the conversation has no room for.
var errConversationFull = conflict("This conversation is too long to add to; please open a new request (staff: solve or close this one and answer in a new one).")

// roomFor answers errConversationFull unless l's conversation takes n more
// bytes of text.
func (l *locked) roomFor(ctx context.Context, tx *sql.Tx, n int64) error {
	var used int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(sum(octet_length(body)), 0) FROM messages WHERE ticket_id = $1`, l.ID).Scan(&used); err != nil {
		return err
	}
	if used+n > maxConversationBytes {
		return errConversationFull
	}
	return nil
}

// reopenable reports whether a customer may still reopen (or write in) a
// solved or closed ticket: within days of its solving or closing.
func (l *locked) reopenable(days int64) bool {
	return !l.MergedInto.Valid && l.DoneAt.Valid && time.Since(l.DoneAt.Time) < time.Duration(days)*24*time.Hour
}

// inTx runs f in a transaction, committed when f returns nil.
func inTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := sdk.DB().BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// statusLabel is how a status reads in a sentence.
func statusLabel(s string) string { return strings.ReplaceAll(s, "_", " ") }

// refuseClosed is the answer to writing in a closed ticket.
func refuseClosed(l *locked) error {
	if l.MergedInto.Valid {
		return conflict(fmt.Sprintf("This ticket was merged into ticket #%d; write there.", l.MergedInto.Int64))
	}
	return conflict("This ticket is closed; reopen it to write again.")
}
