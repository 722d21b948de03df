package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/websonic/websonic/modules/internal/jsonapi"
	"github.com/websonic/websonic/sdk"
)

// The staff's routes on one ticket (API.md, "Staff"): the ticket with its
// notes, public replies, internal notes, claiming, assigning, status,
// priority, merging and participants; and the agents who may be assigned.
//
// Each change is a function taking the transaction, the ticket's locked
// row and the actor (staffReply, claimTicket, assignTicket, setStatus…):
// the routes and the admin commands (commands.go) run the same ones, so a
// ticket closed from the terminal goes through the same status machine,
// mail, events and audit as one closed from the queue. What they change
// is announced (realtime, ids only) once the transaction has committed,
// through the news they collect.

func init() {
	mux.HandleFunc("GET /tickets/staff/api/tickets/{id}", api(staffView))
	mux.HandleFunc("POST /tickets/staff/api/tickets/{id}/replies", api(staffReplyRoute))
	mux.HandleFunc("POST /tickets/staff/api/tickets/{id}/notes", api(staffNoteRoute))
	mux.HandleFunc("POST /tickets/staff/api/tickets/{id}/claim", api(claimRoute))
	mux.HandleFunc("POST /tickets/staff/api/tickets/{id}/assign", api(assignRoute))
	mux.HandleFunc("POST /tickets/staff/api/tickets/{id}/status", api(statusRoute))
	mux.HandleFunc("POST /tickets/staff/api/tickets/{id}/priority", api(priorityRoute))
	mux.HandleFunc("POST /tickets/staff/api/tickets/{id}/merge", api(mergeRoute))
	mux.HandleFunc("POST /tickets/staff/api/tickets/{id}/participants", api(addParticipantRoute))
	mux.HandleFunc("DELETE /tickets/staff/api/tickets/{id}/participants/{user_id}", api(removeParticipantRoute))
	mux.HandleFunc("GET /tickets/staff/api/agents", api(agentsRoute))
}

// Limits of the staff's actions.
const (
	maxBody         = 20000 // characters of a reply or a note
	maxParticipants = 50    // people added to one ticket
)

// news is what a change announces once its transaction has committed:
// events on topics (ids only, realtime.go).
type news []struct {
	topic string
	e     event
}

func (n *news) add(topic string, e event) {
	*n = append(*n, struct {
		topic string
		e     event
	}{topic, e})
}

// changed announces that ticket l changed (status, assignee, priority,
// participants…): to its page, its panel's queue and its customers.
func (n *news) changed(ctx context.Context, tx *sql.Tx, l *locked) error {
	n.add(ticketTopic(l.ID), event{Type: "ticket", Ticket: l.ID})
	n.add(panelTopic(l.PanelID), event{Type: "ticket", Ticket: l.ID, Panel: l.PanelID})
	ids, err := customerIDs(ctx, tx, l.ID)
	for _, id := range ids {
		n.add(userTopic(id), event{Type: "ticket", Ticket: l.ID})
	}
	return err
}

// publish sends the news (after the commit).
func (n news) publish(ctx context.Context) {
	for _, x := range n {
		publish(ctx, x.topic, x.e)
	}
}

// customerIDs are the users who are ticket id's customers: its opener
// (unless a guest) and its participants.
func customerIDs(ctx context.Context, tx *sql.Tx, id int64) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, `SELECT opener_id FROM tickets WHERE id = $1 AND opener_id IS NOT NULL
		UNION SELECT user_id FROM participants WHERE ticket_id = $1 ORDER BY 1`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var u int64
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// writeAudit records a staff action in the desk's audit table.
func writeAudit(ctx context.Context, tx *sql.Tx, a actor, action string, ticket int64, detail map[string]any) error {
	if detail == nil {
		detail = map[string]any{}
	}
	if a.User == nil {
		detail["via"] = "terminal"
	}
	b, err := json.Marshal(detail)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO audit (actor_id, action, ticket_id, detail) VALUES ($1, $2, $3, $4::jsonb)`,
		a.userID(), action, ticket, string(b))
	return err
}

// asAgent is the staff member u acting as an agent.
func asAgent(u *sdk.User) actor { return actor{User: u, Agent: true} }

// change runs f on ticket id, which u must work as an agent, in a
// transaction holding its row; it publishes what f announces once the
// transaction committed and answers the ticket as u sees it then.
func change(ctx context.Context, u *sdk.User, id int64, f func(tx *sql.Tx, l *locked, n *news) error) (any, error) {
	if _, err := need(ctx, u, id, agent); err != nil {
		return nil, err
	}
	var n news
	err := inTx(ctx, func(tx *sql.Tx) error {
		l, err := lockTicket(ctx, tx, id)
		if err != nil {
			return err
		}
		return f(tx, l, &n)
	})
	if err != nil {
		return nil, err
	}
	n.publish(ctx)
	sendSoon(ctx)
	return loadTicket(ctx, id, agent)
}

// staffView answers a ticket with its conversation and its notes.
func staffView(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	id, err := ticketID(r)
	if err != nil {
		return nil, err
	}
	if _, err := need(r.Context(), u, id, agent); err != nil {
		return nil, err
	}
	t, err := loadTicket(r.Context(), id, agent)
	if err != nil {
		return nil, err
	}
	msgs, err := loadMessages(r.Context(), id)
	if err != nil {
		return nil, err
	}
	notes, err := loadNotes(r.Context(), id)
	if err != nil {
		return nil, err
	}
	return map[string]any{"ticket": t, "messages": msgs, "notes": notes}, nil
}

// body checks a reply's or a note's text: 1–20,000 characters, or empty
// when attachments carry it and empty is allowed.
func checkBody(s string, emptyOK bool) (string, error) {
	b, err := jsonapi.CheckText(s, maxBody, true)
	if err != nil {
		return "", badRequest(fmt.Sprintf("A message is at most %d characters, without control characters.", maxBody))
	}
	if b == "" && !emptyOK {
		return "", badRequest("Write a message first.")
	}
	return b, nil
}

// staffReplyRoute: a public reply, with the ticket's new status in the same
// step if one is given.
func staffReplyRoute(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	id, err := ticketID(r)
	if err != nil {
		return nil, err
	}
	var req struct {
		Body        string  `json:"body"`
		Attachments []int64 `json:"attachments"`
		Status      string  `json:"status"`
	}
	if err := readJSON(r, &req); err != nil {
		return nil, err
	}
	ctx := r.Context()
	if _, err := need(ctx, u, id, agent); err != nil {
		return nil, err
	}
	var (
		n   news
		msg int64
	)
	err = inTx(ctx, func(tx *sql.Tx) error {
		l, err := lockTicket(ctx, tx, id)
		if err != nil {
			return err
		}
		msg, err = staffReply(ctx, tx, l, asAgent(u), req.Body, req.Attachments, req.Status, &n)
		return err
	})
	if err != nil {
		return nil, err
	}
	n.publish(ctx)
	sendSoon(ctx)
	msgs, err := loadMessages(ctx, id)
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		if m.ID == msg {
			return created(m), nil
		}
	}
	return nil, fmt.Errorf("reply %d of ticket %d not found after commit", msg, id)
}

// staffReply writes an agent's public reply in l's conversation: its
// attachments (drafts of the agent), the first response (new → open), the
// status if one is given (any but new), the mail to the opener, and the
// news: the message to the ticket's page, an answer to its customers, the
// change to the panel's queue.
func staffReply(ctx context.Context, tx *sql.Tx, l *locked, a actor, body string, attachments []int64, status string, n *news) (int64, error) {
	body, err := checkBody(body, len(attachments) > 0)
	if err != nil {
		return 0, err
	}
	if status != "" && (!validStatus(status) || status == statusNew) {
		return 0, badRequest("A reply may set the status to open, pending, on_hold, solved or closed.")
	}
	if l.MergedInto.Valid || (l.Status == statusClosed && (status == "" || status == statusClosed)) {
		return 0, refuseClosed(l)
	}
	msg, err := l.addReply(ctx, tx, a, body)
	if err != nil {
		return 0, err
	}
	if err := claimDrafts(ctx, tx, l.ID, a.userID(), attachments, msg, 0); err != nil {
		return 0, err
	}
	to := status
	if to == "" && (l.Status == statusNew || l.Status == statusClosed) {
		to = statusOpen
	}
	changed := false
	if to != "" {
		ev, err := l.moveTo(ctx, tx, a, to)
		if err != nil {
			return 0, err
		}
		changed = ev > 0
	}
	kind := mailReplied
	if changed && to == statusSolved {
		kind = mailRepliedSolved // one mail: the answer, and that it is solved
	}
	if _, err := queueMail(ctx, tx, l, kind, body, ""); err != nil {
		return 0, err
	}
	n.add(ticketTopic(l.ID), event{Type: "message", Ticket: l.ID, Message: msg})
	n.add(panelTopic(l.PanelID), event{Type: "ticket", Ticket: l.ID, Panel: l.PanelID})
	ids, err := customerIDs(ctx, tx, l.ID)
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		if a.User == nil || id != a.User.ID {
			n.add(userTopic(id), event{Type: "answer", Ticket: l.ID, Message: msg})
		}
	}
	if changed {
		n.add(ticketTopic(l.ID), event{Type: "ticket", Ticket: l.ID})
	}
	return msg, nil
}

// staffNoteRoute: an internal note.
func staffNoteRoute(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	id, err := ticketID(r)
	if err != nil {
		return nil, err
	}
	var req struct {
		Body        string  `json:"body"`
		Attachments []int64 `json:"attachments"`
	}
	if err := readJSON(r, &req); err != nil {
		return nil, err
	}
	ctx := r.Context()
	if _, err := need(ctx, u, id, agent); err != nil {
		return nil, err
	}
	var (
		n    news
		note int64
	)
	err = inTx(ctx, func(tx *sql.Tx) error {
		l, err := lockTicket(ctx, tx, id)
		if err != nil {
			return err
		}
		note, err = addNote(ctx, tx, l, asAgent(u), req.Body, req.Attachments, &n)
		return err
	})
	if err != nil {
		return nil, err
	}
	n.publish(ctx)
	notes, err := loadNotes(ctx, id)
	if err != nil {
		return nil, err
	}
	for _, x := range notes {
		if x.ID == note {
			return created(x), nil
		}
	}
	return nil, fmt.Errorf("note %d of ticket %d not found after commit", note, id)
}

// addNote writes an internal note on l and adds its text to the staff's
// search. It announces the note on the ticket's notes topic only, and
// changes nothing a customer reads (not even updated_at): no page, list,
// event or mail of theirs can tell a note was written.
func addNote(ctx context.Context, tx *sql.Tx, l *locked, a actor, body string, attachments []int64, n *news) (int64, error) {
	body, err := checkBody(body, false)
	if err != nil {
		return 0, err
	}
	var id int64
	err = tx.QueryRowContext(ctx, `WITH n AS (
			INSERT INTO notes (ticket_id, author_id, body) VALUES ($1, $2, $3) RETURNING id)
		UPDATE tickets SET search = search || to_tsvector('simple', $3)
		FROM n WHERE tickets.id = $1 RETURNING n.id`, l.ID, a.userID(), body).Scan(&id)
	if err != nil {
		return 0, err
	}
	if err := claimDrafts(ctx, tx, l.ID, a.userID(), attachments, 0, id); err != nil {
		return 0, err
	}
	n.add(notesTopic(l.ID), event{Type: "note", Ticket: l.ID, Note: id})
	return id, nil
}

// claimRoute: the caller takes the ticket.
func claimRoute(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	id, err := ticketID(r)
	if err != nil {
		return nil, err
	}
	return change(r.Context(), u, id, func(tx *sql.Tx, l *locked, n *news) error {
		return claimTicket(r.Context(), tx, l, asAgent(u), n)
	})
}

// claimTicket makes the actor l's assignee, unless someone else has it
// (409: assign it to take it over). Claiming one's own ticket changes
// nothing.
func claimTicket(ctx context.Context, tx *sql.Tx, l *locked, a actor, n *news) error {
	if a.User == nil {
		return badRequest("Only a staff member claims a ticket.")
	}
	if l.AssigneeID.Valid {
		if l.AssigneeID.Int64 == a.User.ID {
			return nil
		}
		return conflict("Someone else has this ticket; assign it to yourself to take it over.")
	}
	if _, err := tx.ExecContext(ctx, `UPDATE tickets SET assignee_id = $2, updated_at = now() WHERE id = $1`, l.ID, a.User.ID); err != nil {
		return err
	}
	l.AssigneeID = sql.NullInt64{Int64: a.User.ID, Valid: true}
	if _, err := addEvent(ctx, tx, l.ID, a, map[string]any{"type": "claimed", "user": a.User.Username}); err != nil {
		return err
	}
	if err := writeAudit(ctx, tx, a, "claim", l.ID, nil); err != nil {
		return err
	}
	return n.changed(ctx, tx, l)
}

// assignRoute: hand the ticket to a staff member who works its panel, or
// to no one.
func assignRoute(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	id, err := ticketID(r)
	if err != nil {
		return nil, err
	}
	var req struct {
		Username *string `json:"username"`
	}
	if err := readJSON(r, &req); err != nil {
		return nil, err
	}
	if req.Username == nil {
		return nil, badRequest("Give the username of the staff member, or an empty one to unassign.")
	}
	return change(r.Context(), u, id, func(tx *sql.Tx, l *locked, n *news) error {
		return assignTicket(r.Context(), tx, l, asAgent(u), *req.Username, n)
	})
}

// assignTicket makes username l's assignee ("": nobody). The assignee must
// work the ticket's panel (canWork). Assigning the present assignee again
// changes nothing.
func assignTicket(ctx context.Context, tx *sql.Tx, l *locked, a actor, username string, n *news) error {
	if username == "" {
		if !l.AssigneeID.Valid {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE tickets SET assignee_id = NULL, updated_at = now() WHERE id = $1`, l.ID); err != nil {
			return err
		}
		was := l.AssigneeID.Int64
		l.AssigneeID = sql.NullInt64{}
		if _, err := addEvent(ctx, tx, l.ID, a, map[string]any{"type": "unassigned"}); err != nil {
			return err
		}
		if err := writeAudit(ctx, tx, a, "unassign", l.ID, map[string]any{"from": was}); err != nil {
			return err
		}
		return n.changed(ctx, tx, l)
	}
	who, roles, err := userByName(ctx, username)
	if err != nil {
		return err
	}
	ok, err := canWork(ctx, who.ID, roles, l.PanelID)
	if err != nil {
		return err
	}
	if !ok {
		return badRequest(fmt.Sprintf("%s does not work this ticket's panel, so they cannot be assigned to it.", who.Username))
	}
	if l.AssigneeID.Valid && l.AssigneeID.Int64 == who.ID {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE tickets SET assignee_id = $2, updated_at = now() WHERE id = $1`, l.ID, who.ID); err != nil {
		return err
	}
	detail := map[string]any{"to": who.ID, "username": who.Username}
	if l.AssigneeID.Valid {
		detail["from"] = l.AssigneeID.Int64
	}
	l.AssigneeID = sql.NullInt64{Int64: who.ID, Valid: true}
	if _, err := addEvent(ctx, tx, l.ID, a, map[string]any{"type": "assigned", "user": who.Username}); err != nil {
		return err
	}
	if err := writeAudit(ctx, tx, a, "assign", l.ID, detail); err != nil {
		return err
	}
	return n.changed(ctx, tx, l)
}

// statusRoute: set the ticket's status.
func statusRoute(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	id, err := ticketID(r)
	if err != nil {
		return nil, err
	}
	var req struct {
		Status string `json:"status"`
	}
	if err := readJSON(r, &req); err != nil {
		return nil, err
	}
	return change(r.Context(), u, id, func(tx *sql.Tx, l *locked, n *news) error {
		return setStatus(r.Context(), tx, l, asAgent(u), req.Status, n)
	})
}

// setStatus moves l to status (any but new) through the status machine:
// solved and closed tell the opener by mail. A merged ticket stays as it
// is.
func setStatus(ctx context.Context, tx *sql.Tx, l *locked, a actor, status string, n *news) error {
	if !validStatus(status) || status == statusNew {
		return badRequest("A status is one of open, pending, on_hold, solved, closed.")
	}
	if l.MergedInto.Valid {
		return refuseClosed(l)
	}
	from := l.Status
	ev, err := l.moveTo(ctx, tx, a, status)
	if err != nil || ev == 0 {
		return err
	}
	switch status {
	case statusSolved:
		_, err = queueMail(ctx, tx, l, mailSolved, "", "")
	case statusClosed:
		_, err = queueMail(ctx, tx, l, mailClosed, "", "")
	}
	if err != nil {
		return err
	}
	if err := writeAudit(ctx, tx, a, "status", l.ID, map[string]any{"from": from, "to": status}); err != nil {
		return err
	}
	n.add(ticketTopic(l.ID), event{Type: "message", Ticket: l.ID, Message: ev})
	return n.changed(ctx, tx, l)
}

// priorityRoute: set the ticket's urgency and impact.
func priorityRoute(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	id, err := ticketID(r)
	if err != nil {
		return nil, err
	}
	var req struct {
		Urgency int `json:"urgency"`
		Impact  int `json:"impact"`
	}
	if err := readJSON(r, &req); err != nil {
		return nil, err
	}
	if req.Urgency < 1 || req.Urgency > 3 || req.Impact < 1 || req.Impact > 3 {
		return nil, badRequest("Urgency and impact are each 1 (low), 2 (medium) or 3 (high).")
	}
	return change(r.Context(), u, id, func(tx *sql.Tx, l *locked, n *news) error {
		c := r.Context()
		res, err := tx.ExecContext(c, `UPDATE tickets SET urgency = $2, impact = $3, updated_at = now()
			WHERE id = $1 AND (urgency, impact) IS DISTINCT FROM ($2::smallint, $3::smallint)`, l.ID, req.Urgency, req.Impact)
		if err != nil {
			return err
		}
		if k, err := res.RowsAffected(); err != nil || k == 0 {
			return err
		}
		a := asAgent(u)
		if _, err := addEvent(c, tx, l.ID, a, map[string]any{"type": "priority", "urgency": req.Urgency, "impact": req.Impact}); err != nil {
			return err
		}
		if err := writeAudit(c, tx, a, "priority", l.ID, map[string]any{"urgency": req.Urgency, "impact": req.Impact}); err != nil {
			return err
		}
		return n.changed(c, tx, l)
	})
}

// mergeRoute: merge this ticket into another the caller works too.
func mergeRoute(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	id, err := ticketID(r)
	if err != nil {
		return nil, err
	}
	var req struct {
		Into int64 `json:"into"`
	}
	if err := readJSON(r, &req); err != nil {
		return nil, err
	}
	c := r.Context()
	if _, err := need(c, u, id, agent); err != nil {
		return nil, err
	}
	if req.Into == id {
		return nil, badRequest("A ticket cannot be merged into itself.")
	}
	if _, err := need(c, u, req.Into, agent); err != nil {
		return nil, notFound("There is no ticket to merge into with that number, or you do not work it.")
	}
	// The source's customers become readers of the target's topic: no
	// catch-up of theirs may replay what was published before
	// (sdk.Unsubscribe).
	rows, err := sdk.DB().QueryContext(c, `SELECT opener_id FROM tickets WHERE id = $1 AND opener_id IS NOT NULL
		UNION SELECT user_id FROM participants WHERE ticket_id = $1`, id)
	if err != nil {
		return nil, err
	}
	var readers []int64
	for rows.Next() {
		var r int64
		if err := rows.Scan(&r); err != nil {
			rows.Close()
			return nil, err
		}
		readers = append(readers, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, r := range readers {
		if err := sdk.Unsubscribe(c, ticketTopic(req.Into), r); err != nil {
			return nil, err
		}
	}
	var n news
	err = inTx(c, func(tx *sql.Tx) error {
		// Both rows locked in the order of their ids: two merges of the
		// same pair, either way, wait for each other instead of
		// deadlocking.
		first, second := min(id, req.Into), max(id, req.Into)
		l1, err := lockTicket(c, tx, first)
		if err != nil {
			return err
		}
		l2, err := lockTicket(c, tx, second)
		if err != nil {
			return err
		}
		src, dst := l1, l2
		if src.ID != id {
			src, dst = l2, l1
		}
		return mergeTickets(c, tx, src, dst, asAgent(u), &n)
	})
	if err != nil {
		return nil, err
	}
	n.publish(c)
	sendSoon(c)
	return loadTicket(c, req.Into, agent)
}

// mergeTickets merges src into dst (both locked): src's messages, notes,
// attachments and participants move to dst, src's opener becomes a
// participant of dst (unless dst's opener), src is closed with
// merged_into, both get an event, and src's opener is told by mail.
func mergeTickets(ctx context.Context, tx *sql.Tx, src, dst *locked, a actor, n *news) error {
	switch {
	case src.MergedInto.Valid:
		return conflict(fmt.Sprintf("This ticket was already merged into ticket #%d.", src.MergedInto.Int64))
	case dst.MergedInto.Valid:
		return conflict(fmt.Sprintf("Ticket #%d was merged into ticket #%d; merge into that one.", dst.ID, dst.MergedInto.Int64))
	case dst.Status == statusClosed:
		return conflict(fmt.Sprintf("Ticket #%d is closed; reopen it before merging into it.", dst.ID))
	}
	s, d := src.ID, dst.ID
	var srcBytes int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(sum(octet_length(body)), 0) FROM messages WHERE ticket_id = $1`, s).Scan(&srcBytes); err != nil {
		return err
	}
	if err := dst.roomFor(ctx, tx, srcBytes); err != nil {
		return conflict("These two conversations together are too long for one ticket; answer in each of them instead.")
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`UPDATE messages SET ticket_id = $2 WHERE ticket_id = $1`, []any{s, d}},
		{`UPDATE notes SET ticket_id = $2 WHERE ticket_id = $1`, []any{s, d}},
		{`UPDATE attachments SET ticket_id = $2 WHERE ticket_id = $1`, []any{s, d}},
		// src's participants and its opener become dst's participants
		// (never dst's own opener).
		{`INSERT INTO participants (ticket_id, user_id, added_by, added_at)
			SELECT $2, x.user_id, x.added_by, x.added_at FROM participants x
			WHERE x.ticket_id = $1 AND x.user_id IS DISTINCT FROM (SELECT opener_id FROM tickets WHERE id = $2)
			ON CONFLICT DO NOTHING`, []any{s, d}},
		{`INSERT INTO participants (ticket_id, user_id, added_by)
			SELECT $2, s.opener_id, $3 FROM tickets s, tickets d
			WHERE s.id = $1 AND d.id = $2 AND s.opener_id IS NOT NULL AND s.opener_id IS DISTINCT FROM d.opener_id
			ON CONFLICT DO NOTHING`, []any{s, d, a.userID()}},
		{`DELETE FROM participants WHERE ticket_id = $1`, []any{s}},
		{`UPDATE tickets d SET search = d.search || s.search, updated_at = now(), last_public_at = now()
			FROM tickets s WHERE s.id = $1 AND d.id = $2`, []any{s, d}},
		{`UPDATE tickets SET merged_into = $2 WHERE id = $1`, []any{s, d}},
	} {
		if _, err := tx.ExecContext(ctx, q.sql, q.args...); err != nil {
			return fmt.Errorf("merge %d into %d: %w", s, d, err)
		}
	}
	if _, err := src.moveTo(ctx, tx, a, statusClosed); err != nil {
		return err
	}
	src.MergedInto = sql.NullInt64{Int64: dst.ID, Valid: true}
	if _, err := addEvent(ctx, tx, src.ID, a, map[string]any{"type": "merged_into", "ticket": dst.ID}); err != nil {
		return err
	}
	ev, err := addEvent(ctx, tx, dst.ID, a, map[string]any{"type": "merged_from", "ticket": src.ID})
	if err != nil {
		return err
	}
	link := "/tickets/" + strconv.FormatInt(dst.ID, 10)
	if src.GuestEmail != "" { // a guest follows their own ticket's private link
		link = ""
	}
	if _, err := queueMail(ctx, tx, src, mailMerged, "#"+strconv.FormatInt(dst.ID, 10), link); err != nil {
		return err
	}
	if err := writeAudit(ctx, tx, a, "merge", src.ID, map[string]any{"into": dst.ID}); err != nil {
		return err
	}
	n.add(ticketTopic(dst.ID), event{Type: "message", Ticket: dst.ID, Message: ev})
	if err := n.changed(ctx, tx, src); err != nil {
		return err
	}
	return n.changed(ctx, tx, dst)
}

// addParticipantRoute: add a user to the ticket's customers.
func addParticipantRoute(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	id, err := ticketID(r)
	if err != nil {
		return nil, err
	}
	var req struct {
		Username string `json:"username"`
	}
	if err := readJSON(r, &req); err != nil {
		return nil, err
	}
	c := r.Context()
	if _, err := need(c, u, id, agent); err != nil {
		return nil, err
	}
	who, _, err := userByName(c, req.Username)
	if err != nil {
		return nil, err
	}
	// A new reader of the ticket's topic: no catch-up of theirs may replay
	// what was published before they could read it (sdk.Unsubscribe).
	if err := sdk.Unsubscribe(c, ticketTopic(id), who.ID); err != nil {
		return nil, err
	}
	return change(c, u, id, func(tx *sql.Tx, l *locked, n *news) error {
		return addParticipant(c, tx, l, asAgent(u), who, n)
	})
}

// addParticipant makes who a customer of l (not its opener; 50 at most).
// Adding a participant again changes nothing.
func addParticipant(ctx context.Context, tx *sql.Tx, l *locked, a actor, who userRef, n *news) error {
	if l.OpenerID.Valid && l.OpenerID.Int64 == who.ID {
		return badRequest(fmt.Sprintf("%s opened this ticket; they follow it already.", who.Username))
	}
	var count int
	var already bool
	if err := tx.QueryRowContext(ctx, `SELECT count(*), coalesce(bool_or(user_id = $2), false) FROM participants WHERE ticket_id = $1`,
		l.ID, who.ID).Scan(&count, &already); err != nil {
		return err
	}
	if already {
		return nil
	}
	if count >= maxParticipants {
		return conflict(fmt.Sprintf("A ticket has at most %d participants.", maxParticipants))
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO participants (ticket_id, user_id, added_by) VALUES ($1, $2, $3)`,
		l.ID, who.ID, a.userID()); err != nil {
		return err
	}
	if _, err := addEvent(ctx, tx, l.ID, a, map[string]any{"type": "participant_added", "user": who.Username}); err != nil {
		return err
	}
	if err := writeAudit(ctx, tx, a, "participant_add", l.ID, map[string]any{"user": who.ID}); err != nil {
		return err
	}
	return n.changed(ctx, tx, l)
}

// removeParticipantRoute: take a participant off the ticket.
func removeParticipantRoute(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	id, err := ticketID(r)
	if err != nil {
		return nil, err
	}
	uid, err := jsonapi.PathID(r, "user_id", "That person is not a participant of this ticket.")
	if err != nil {
		return nil, err
	}
	c := r.Context()
	out, err := change(c, u, id, func(tx *sql.Tx, l *locked, n *news) error {
		var name sql.NullString
		err := tx.QueryRowContext(c, `DELETE FROM participants x WHERE x.ticket_id = $1 AND x.user_id = $2
			RETURNING (SELECT y.username FROM websonic_api.users y WHERE y.id = x.user_id LIMIT 1)`, l.ID, uid).Scan(&name)
		if err == sql.ErrNoRows {
			return notFound("That person is not a participant of this ticket.")
		}
		if err != nil {
			return err
		}
		a := asAgent(u)
		if _, err := addEvent(c, tx, l.ID, a, map[string]any{"type": "participant_removed", "user": name.String}); err != nil {
			return err
		}
		if err := writeAudit(c, tx, a, "participant_remove", l.ID, map[string]any{"user": uid}); err != nil {
			return err
		}
		n.add(userTopic(uid), event{Type: "ticket", Ticket: l.ID})
		return n.changed(c, tx, l)
	})
	if err != nil {
		return nil, err
	}
	// They read the ticket no more (unless they work it): end their
	// subscription; their page asks again and is refused.
	if err := sdk.Unsubscribe(c, ticketTopic(id), uid); err != nil {
		sdk.Logger().Warn("unsubscribe a removed participant", "ticket", id, "user", uid, "error", err)
	}
	return out, nil
}

// agentsRoute lists who may be assigned tickets of a panel the caller
// works: admins, and staff of the panel's group (every staff member when
// it has none).
func agentsRoute(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	c := r.Context()
	panel, err := strconv.ParseInt(r.URL.Query().Get("panel"), 10, 64)
	if err != nil || panel <= 0 {
		return nil, badRequest("Say which panel (panel=ID).")
	}
	ok, err := canWork(c, u.ID, u.Roles, panel)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, notFound("There is no such panel, or you do not work it.")
	}
	// The view of users is a security barrier: the panel's group members
	// are looked up by key (LATERAL); admins, and every staff member for a
	// panel without a group, by the role the view computes.
	rows, err := sdk.DB().QueryContext(c, `
		WITH p AS (SELECT group_name FROM panels WHERE id = $1)
		SELECT u.id, u.username, u.display_name FROM p, group_members g
		JOIN LATERAL (SELECT x.id, x.username, x.display_name, x.roles FROM websonic_api.users x WHERE x.id = g.user_id LIMIT 1) u ON true
		WHERE g.group_name = p.group_name AND 'staff' = ANY(u.roles)
		UNION
		SELECT x.id, x.username, x.display_name FROM p, websonic_api.users x
		WHERE 'admin' = ANY(x.roles) OR (p.group_name IS NULL AND 'staff' = ANY(x.roles))
		ORDER BY 2`, panel)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []userRef{}
	for rows.Next() {
		var a userRef
		if err := rows.Scan(&a.ID, &a.Username, &a.DisplayName); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return map[string]any{"agents": out}, nil
}
