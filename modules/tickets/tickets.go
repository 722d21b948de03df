package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/websonic/websonic/modules/internal/jsonapi"
	"github.com/websonic/websonic/sdk"
)

// The customers' API (API.md, "Customers"): the panels one may open a
// ticket in, one's own tickets, opening, reading (which marks a ticket
// seen), replying, solving, reopening and rating. The guests' routes
// (guest.go) share the functions below: a guest is a customer without an
// account, found by the token of their private link.

func init() {
	mux.HandleFunc("GET /tickets/api/panels", api(customerPanels))
	mux.HandleFunc("GET /tickets/api/tickets", api(customerTickets))
	mux.HandleFunc("POST /tickets/api/tickets", api(customerOpen))
	mux.HandleFunc("GET /tickets/api/tickets/{id}", api(customerView))
	mux.HandleFunc("POST /tickets/api/tickets/{id}/replies", api(customerReplyRoute))
	mux.HandleFunc("POST /tickets/api/tickets/{id}/solve", api(customerSolveRoute))
	mux.HandleFunc("POST /tickets/api/tickets/{id}/reopen", api(customerReopenRoute))
	mux.HandleFunc("POST /tickets/api/tickets/{id}/rating", api(customerRateRoute))
}

// Limits of the customers' texts (API.md, "Text limits").
const (
	maxSubjectLen = 200
	maxBodyLen    = 20000
	maxCommentLen = 2000
	// ticketsPage is a page of "my tickets".
	customerListPage = 50
)

// customerPanel is API.md's "panel" as customers and guests see it.
type customerPanel struct {
	ID          int64           `json:"id"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Fields      json.RawMessage `json:"fields"`
	Guests      bool            `json:"guests"`
}

// openablePanels lists the panels a ticket may be opened in, in order:
// the unarchived ones (for guests, those that take guests).
func openablePanels(ctx context.Context, guests bool) ([]customerPanel, error) {
	rows, err := sdk.DB().QueryContext(ctx, `SELECT id, name, description, fields::text, guests FROM panels
		WHERE archived_at IS NULL AND (guests OR NOT $1) ORDER BY position, id`, guests)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []customerPanel{}
	for rows.Next() {
		var p customerPanel
		var fields string
		if err := rows.Scan(&p.ID, &p.Name, &p.Description, &fields, &p.Guests); err != nil {
			return nil, err
		}
		p.Fields = json.RawMessage(fields)
		out = append(out, p)
	}
	return out, rows.Err()
}

func customerPanels(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	panels, err := openablePanels(r.Context(), false)
	if err != nil {
		return nil, err
	}
	return map[string]any{"panels": panels}, nil
}

// customerTickets lists the caller's tickets (opened or taking part in), newest
// first, a page at a time.
func customerTickets(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	q := r.URL.Query()
	var statusCond string
	switch q.Get("status") {
	case "", "all":
		statusCond = "true"
	case "open":
		statusCond = "t.status NOT IN ('solved', 'closed')"
	case "closed":
		statusCond = "t.status IN ('solved', 'closed')"
	default:
		return nil, badRequest("The status to list is open, closed or all.")
	}
	before := int64(1<<63 - 1)
	if s := q.Get("before"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			return nil, badRequest("The page to list starts before a ticket number.")
		}
		before = n
	}
	days := readSettings().ReopenDays
	rows, err := sdk.DB().QueryContext(r.Context(), ticketSelect+`WHERE t.id IN (
			SELECT x.id FROM tickets x WHERE x.opener_id = $1
			UNION SELECT x.ticket_id FROM participants x WHERE x.user_id = $1)
		AND t.id < $2 AND `+statusCond+` ORDER BY t.id DESC LIMIT $3`, u.ID, before, customerListPage+1)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []ticketView{}
	for rows.Next() {
		t, err := scanTicket(rows, false, days)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var next *int64
	if len(out) > customerListPage {
		out = out[:customerListPage]
		next = &out[customerListPage-1].ID
	}
	return map[string]any{"tickets": out, "next": next}, nil
}

// newTicket is the body of POST /tickets/api/tickets (guestTicketBody
// adds the guest's address and name).
type newTicket struct {
	PanelID     int64                      `json:"panel_id"`
	Subject     string                     `json:"subject"`
	Description string                     `json:"description"`
	Fields      map[string]json.RawMessage `json:"fields"`
	Urgency     *int                       `json:"urgency"`
	Impact      *int                       `json:"impact"`
}

// panelForm is what opening a ticket needs of its panel.
type panelForm struct {
	ID                int64
	Fields            []field
	MaxOpen           int
	FirstResponseMins sql.NullInt64
	ResolutionMins    sql.NullInt64
}

// checkedTicket is a new ticket's texts, cleaned.
type checkedTicket struct {
	panel       panelForm
	subject     string
	description string
	fields      string
	urgency     int
	impact      int
}

// check validates a new ticket against its panel; guest: opened by a
// guest (the panel must take guests).
func (n newTicket) check(ctx context.Context, forGuest bool) (checkedTicket, error) {
	var c checkedTicket
	var err error
	if c.subject, err = jsonapi.CheckText(n.Subject, maxSubjectLen, false); err != nil || c.subject == "" {
		return c, badRequest(fmt.Sprintf("A subject is one line of 1 to %d characters, without control characters.", maxSubjectLen))
	}
	if c.description, err = jsonapi.CheckText(n.Description, maxBodyLen, true); err != nil || c.description == "" {
		return c, badRequest(fmt.Sprintf("Describe the request in 1 to %d characters, without control characters.", maxBodyLen))
	}
	c.urgency, c.impact = 2, 2
	if n.Urgency != nil {
		c.urgency = *n.Urgency
	}
	if n.Impact != nil {
		c.impact = *n.Impact
	}
	if c.urgency < 1 || c.urgency > 3 || c.impact < 1 || c.impact > 3 {
		return c, badRequest("Urgency and impact are 1 (low), 2 (medium) or 3 (high).")
	}
	var fields string
	var archived, guests bool
	err = sdk.DB().QueryRowContext(ctx, `SELECT fields::text, max_open, first_response_minutes, resolution_minutes,
		archived_at IS NOT NULL, guests FROM panels WHERE id = $1`, n.PanelID).
		Scan(&fields, &c.panel.MaxOpen, &c.panel.FirstResponseMins, &c.panel.ResolutionMins, &archived, &guests)
	if errors.Is(err, sql.ErrNoRows) || err == nil && forGuest && !guests {
		return c, badRequest("Choose one of the kinds of request offered.")
	}
	if err != nil {
		return c, err
	}
	if archived {
		return c, badRequest("This kind of request is no longer offered; choose another one.")
	}
	c.panel.ID = n.PanelID
	if err := json.Unmarshal([]byte(fields), &c.panel.Fields); err != nil {
		return c, fmt.Errorf("panel %d's fields: %w", n.PanelID, err)
	}
	c.fields, err = checkValues(c.panel.Fields, n.Fields)
	return c, err
}

// insert writes the ticket, in tx, with its SLA due times from the
// panel's targets and its search from the subject and the fields, and
// returns it locked. opener is the user (nil for a guest); guest holds the
// guest's address, name, token hash and sealed link.
func (c checkedTicket) insert(ctx context.Context, tx *sql.Tx, opener any, g *guestOpener) (*locked, error) {
	var email, name, token, link any
	if g != nil {
		email, name, token, link = g.email, g.name, g.tokenHash, g.sealed
	}
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO tickets (panel_id, opener_id, guest_email, guest_name, guest_token, guest_link,
			subject, fields, urgency, impact, first_response_due, resolution_due, search)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10,
			now() + make_interval(mins => $11::integer), now() + make_interval(mins => $12::integer),
			to_tsvector('simple', $7) || jsonb_to_tsvector('simple', $8::jsonb, '["string", "numeric"]'))
		RETURNING id`, c.panel.ID, opener, email, name, token, link,
		c.subject, c.fields, c.urgency, c.impact, c.panel.FirstResponseMins, c.panel.ResolutionMins).Scan(&id)
	if err != nil {
		return nil, err
	}
	return lockTicket(ctx, tx, id)
}

// overLimit answers 409 when count open tickets reach the panel's limit.
func (c checkedTicket) overLimit(count int) error {
	if count < c.panel.MaxOpen {
		return nil
	}
	if c.panel.MaxOpen == 1 {
		return conflict("You already have an open request of this kind; add to it, or wait until it is solved.")
	}
	return conflict(fmt.Sprintf("You already have %d open requests of this kind, the most allowed; add to one of them, or wait until one is solved.", c.panel.MaxOpen))
}

// openTicket opens a ticket for the caller: the description is its first
// message.
func customerOpen(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	ctx := r.Context()
	var n newTicket
	if err := readJSON(r, &n); err != nil {
		return nil, err
	}
	c, err := n.check(ctx, false)
	if err != nil {
		return nil, err
	}
	var l *locked
	err = inTx(ctx, func(tx *sql.Tx) error {
		// One open at a time per person and panel, so that two at once
		// cannot both pass the limit.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended(format('tickets.open.user.%s.%s', $1::bigint, $2::bigint), 0))`,
			u.ID, c.panel.ID); err != nil {
			return err
		}
		var open int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM tickets WHERE opener_id = $1 AND panel_id = $2
			AND status NOT IN ('solved', 'closed')`, u.ID, c.panel.ID).Scan(&open); err != nil {
			return err
		}
		if err := c.overLimit(open); err != nil {
			return err
		}
		if l, err = c.insert(ctx, tx, u.ID, nil); err != nil {
			return err
		}
		_, err = l.addReply(ctx, tx, actor{User: u}, c.description)
		return err
	})
	if err != nil {
		return nil, err
	}
	publish(ctx, panelTopic(l.PanelID), event{Type: "ticket", Ticket: l.ID, Panel: l.PanelID})
	a, err := ticketAccess(ctx, u, l.ID)
	if err != nil {
		return nil, err
	}
	t, err := loadTicket(ctx, l.ID, a)
	if err != nil {
		return nil, err
	}
	return created(t), nil
}

// customerPage is a ticket with its public conversation.
type customerPage struct {
	Ticket   ticketView    `json:"ticket"`
	Messages []messageView `json:"messages"`
}

// showCustomer reads ticket id as a holds it; a customer's reading marks
// its messages seen.
func showCustomer(ctx context.Context, id int64, a access) (customerPage, error) {
	t, err := loadTicket(ctx, id, a)
	if err != nil {
		return customerPage{}, err
	}
	msgs, err := loadMessages(ctx, id)
	if err != nil {
		return customerPage{}, err
	}
	if a == customer && t.Unread { // written only when there is something new
		err := inTx(ctx, func(tx *sql.Tx) error {
			if _, err := lockTicket(ctx, tx, id); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `UPDATE tickets SET customer_seen_at = now() WHERE id = $1`, id)
			return err
		})
		if err != nil {
			return customerPage{}, err
		}
		t.Unread = false
	}
	return customerPage{Ticket: t, Messages: msgs}, nil
}

func customerView(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	id, a, err := customerOf(r, u)
	if err != nil {
		return nil, err
	}
	return showCustomer(r.Context(), id, a)
}

// customerOf reads the ticket of r's path and what u may do with it (at
// least as its customer).
func customerOf(r *http.Request, u *sdk.User) (int64, access, error) {
	id, err := ticketID(r)
	if err != nil {
		return 0, noAccess, err
	}
	a, err := need(r.Context(), u, id, customer)
	return id, a, err
}

// asActor is u acting with access a on the customers' routes.
func asActor(u *sdk.User, a access) actor { return actor{User: u, Agent: a == agent} }

// reads is the access an actor reads the ticket with after a change.
func (a actor) reads() access {
	if a.Agent {
		return agent
	}
	return customer
}

// customerReplyBody is the body of a customer's reply (attachments: drafts they
// uploaded; guests attach nothing and their route refuses the field).
type customerReplyBody struct {
	Body        string  `json:"body"`
	Attachments []int64 `json:"attachments"`
}

func customerReplyRoute(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	id, a, err := customerOf(r, u)
	if err != nil {
		return nil, err
	}
	var b customerReplyBody
	if err := readJSON(r, &b); err != nil {
		return nil, err
	}
	m, err := customerReply(r.Context(), id, asActor(u, a), b)
	if err != nil {
		return nil, err
	}
	return created(m), nil
}

// announcement is a realtime event to publish once the change it
// announces is committed.
type announcement struct {
	topic string
	e     event
}

// announcements are the events of one change.
type announcements []announcement

func (an *announcements) add(topic string, e event) { *an = append(*an, announcement{topic, e}) }

func (an announcements) publish(ctx context.Context) {
	for _, x := range an {
		publish(ctx, x.topic, x.e)
	}
}

// customerReply writes a's public reply in ticket id. A customer's reply brings a
// pending ticket back to open, and a solved one within the reopening
// window; a closed ticket takes none (reopen it first). The ticket's
// other customers are told (`answer`); an agent's reply through this
// route is mailed to the opener as the staff's are.
func customerReply(ctx context.Context, id int64, a actor, b customerReplyBody) (messageView, error) {
	body, err := jsonapi.CheckText(b.Body, maxBodyLen, true)
	if err != nil || body == "" && len(b.Attachments) == 0 {
		return messageView{}, badRequest(fmt.Sprintf("A reply is 1 to %d characters, without control characters.", maxBodyLen))
	}
	days := readSettings().ReopenDays
	var (
		msg    int64
		an     announcements
		mailed bool
	)
	err = inTx(ctx, func(tx *sql.Tx) error {
		l, err := lockTicket(ctx, tx, id)
		if err != nil {
			return err
		}
		if l.Status == statusClosed || l.MergedInto.Valid {
			return refuseClosed(l)
		}
		if l.Status == statusSolved && !a.Agent && !l.reopenable(days) {
			return conflict("This ticket was solved too long ago to reopen; open a new one.")
		}
		if msg, err = l.addReply(ctx, tx, a, body); err != nil {
			return err
		}
		if err := claimDrafts(ctx, tx, id, a.userID(), b.Attachments, msg, 0); err != nil {
			return err
		}
		if !a.Agent && (l.Status == statusPending || l.Status == statusSolved) {
			if _, err := l.moveTo(ctx, tx, a, statusOpen); err != nil {
				return err
			}
			an.add(ticketTopic(id), event{Type: "ticket", Ticket: id})
		}
		if a.Agent {
			if mailed, err = queueMail(ctx, tx, l, mailReplied, body, ""); err != nil {
				return err
			}
		}
		an.add(ticketTopic(id), event{Type: "message", Ticket: id, Message: msg})
		an.add(panelTopic(l.PanelID), event{Type: "ticket", Ticket: id, Panel: l.PanelID})
		others, err := otherCustomers(ctx, tx, id, a)
		for _, uid := range others {
			an.add(userTopic(uid), event{Type: "answer", Ticket: id, Message: msg})
		}
		return err
	})
	if err != nil {
		return messageView{}, err
	}
	an.publish(ctx)
	if mailed {
		sendSoon(ctx)
	}
	msgs, err := loadMessages(ctx, id)
	if err != nil {
		return messageView{}, err
	}
	for _, m := range msgs {
		if m.ID == msg {
			return m, nil
		}
	}
	return messageView{}, fmt.Errorf("reply %d of ticket %d is gone", msg, id)
}

// otherCustomers are the ticket's opener and participants but a.
func otherCustomers(ctx context.Context, tx *sql.Tx, id int64, a actor) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, `SELECT opener_id FROM tickets WHERE id = $1 AND opener_id IS NOT NULL
		UNION SELECT user_id FROM participants WHERE ticket_id = $1`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var uid int64
		if err := rows.Scan(&uid); err != nil {
			return nil, err
		}
		if a.User == nil || uid != a.User.ID {
			out = append(out, uid)
		}
	}
	return out, rows.Err()
}

// changeTicket runs f on ticket id, locked, in a transaction; then publishes
// `ticket` on the ticket's and its panel's topics and answers the ticket
// as a sees it.
func changeTicket(ctx context.Context, id int64, a actor, f func(tx *sql.Tx, l *locked) error) (ticketView, error) {
	var panel int64
	err := inTx(ctx, func(tx *sql.Tx) error {
		l, err := lockTicket(ctx, tx, id)
		if err != nil {
			return err
		}
		panel = l.PanelID
		return f(tx, l)
	})
	if err != nil {
		return ticketView{}, err
	}
	publish(ctx, ticketTopic(id), event{Type: "ticket", Ticket: id})
	publish(ctx, panelTopic(panel), event{Type: "ticket", Ticket: id, Panel: panel})
	return loadTicket(ctx, id, a.reads())
}

func customerSolveRoute(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	id, a, err := customerOf(r, u)
	if err != nil {
		return nil, err
	}
	return customerSolve(r.Context(), id, asActor(u, a))
}

// customerSolve marks ticket id solved at the customer's word.
func customerSolve(ctx context.Context, id int64, a actor) (ticketView, error) {
	return changeTicket(ctx, id, a, func(tx *sql.Tx, l *locked) error {
		switch l.Status {
		case statusClosed:
			return refuseClosed(l)
		case statusSolved:
			return nil
		}
		_, err := l.moveTo(ctx, tx, a, statusSolved)
		return err
	})
}

func customerReopenRoute(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	id, a, err := customerOf(r, u)
	if err != nil {
		return nil, err
	}
	return customerReopen(r.Context(), id, asActor(u, a))
}

// customerReopen brings a solved or closed ticket back to open: customers within
// reopen_days of its solving or closing, agents at any time; a merged
// ticket never.
func customerReopen(ctx context.Context, id int64, a actor) (ticketView, error) {
	days := readSettings().ReopenDays
	return changeTicket(ctx, id, a, func(tx *sql.Tx, l *locked) error {
		if l.MergedInto.Valid {
			return refuseClosed(l)
		}
		if !done(l.Status) {
			return conflict("This ticket is not solved or closed; there is nothing to reopen.")
		}
		if !a.Agent && !l.reopenable(days) {
			return conflict(fmt.Sprintf("A ticket can be reopened for %d days after it is solved or closed; open a new one.", days))
		}
		_, err := l.moveTo(ctx, tx, a, statusOpen)
		return err
	})
}

// customerRatingBody is the body of a rating.
type customerRatingBody struct {
	Score   int    `json:"score"`
	Comment string `json:"comment"`
}

func customerRateRoute(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	id, a, err := customerOf(r, u)
	if err != nil {
		return nil, err
	}
	var b customerRatingBody
	if err := readJSON(r, &b); err != nil {
		return nil, err
	}
	if a == agent {
		// Staff rate no one's work but as the ticket's opener.
		var opener sql.NullInt64
		if err := sdk.DB().QueryRowContext(r.Context(), `SELECT opener_id FROM tickets WHERE id = $1`, id).Scan(&opener); err != nil {
			return nil, err
		}
		if opener.Int64 != u.ID {
			return nil, forbidden("Only the customer rates a ticket.")
		}
		a = customer
	}
	return customerRate(r.Context(), id, asActor(u, a), b)
}

// customerRate records the customer's satisfaction with a solved or closed
// ticket, once.
func customerRate(ctx context.Context, id int64, a actor, b customerRatingBody) (ticketView, error) {
	if b.Score < 1 || b.Score > 5 {
		return ticketView{}, badRequest("A rating is a score from 1 to 5.")
	}
	comment, err := jsonapi.CheckText(b.Comment, maxCommentLen, true)
	if err != nil {
		return ticketView{}, badRequest(fmt.Sprintf("A rating's comment is at most %d characters, without control characters.", maxCommentLen))
	}
	return changeTicket(ctx, id, a, func(tx *sql.Tx, l *locked) error {
		if !done(l.Status) {
			return conflict("A ticket is rated once it is solved.")
		}
		res, err := tx.ExecContext(ctx, `UPDATE tickets SET rating = $2, rating_comment = $3, rated_at = now(), updated_at = now()
			WHERE id = $1 AND rating IS NULL`, id, b.Score, comment)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return conflict("This ticket is already rated.")
		}
		_, err = addEvent(ctx, tx, id, a, map[string]any{"type": "rated", "score": b.Score})
		return err
	})
}
