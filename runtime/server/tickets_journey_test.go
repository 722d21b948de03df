package server

import (
	"fmt"
	"strings"
	"testing"

	"github.com/websonic/websonic/runtime/internal/site"
)

// TestTicketsJourney is the lifecycle in one run, over real HTTP
// and WebSocket against the compiled module: open → claim → internal note
// (invisible to the opener in pages, socket events and transcripts) →
// public reply → pending (SLA paused) → customer reply → solved → rated →
// closed → transcript → reopen within N days, refused after; then a merge.
// The slices' tests go deeper into each step.
func TestTicketsJourney(t *testing.T) {
	s := ticketsSite(t)
	d := newTkcDesk(t, s)
	carol := s.person(t, "carol", site.RoleMember)
	bob := s.person(t, "bob", site.RoleStaff)
	const secret = "NOTE-MARK-7Q: the customer is on our watch list"

	var panels struct {
		Panels []struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
		} `json:"panels"`
	}
	carol.must(t, "GET", "/tickets/api/panels", nil, 200, &panels)
	var panel int64
	for _, p := range panels.Panels {
		if p.Name == "Problem" {
			panel = p.ID
		}
	}
	if panel == 0 {
		t.Fatalf("no Problem panel in %+v", panels)
	}

	// Open.
	var tk tkTicket
	carol.must(t, "POST", "/tickets/api/tickets", map[string]any{
		"panel_id": panel, "subject": "The printer is on fire", "description": "Smoke everywhere.", "urgency": 3, "impact": 2,
	}, 201, &tk)
	if tk.Status != "new" || tk.Priority != 3 {
		t.Fatalf("opened: %+v", tk)
	}
	ticket := fmt.Sprintf("/tickets/api/tickets/%d", tk.ID)
	staff := fmt.Sprintf("/tickets/staff/api/tickets/%d", tk.ID)
	ws := carol.socket(t)
	follow(t, ws, tkTicketTopic(tk.ID))
	follow(t, ws, tkUserTopic(carol.id))

	// Claim: everyone sees who has it.
	var claimed tkTicket
	bob.must(t, "POST", staff+"/claim", nil, 200, &claimed)
	if claimed.Assignee == nil || claimed.Assignee.Username != "bob" {
		t.Fatalf("claimed: %+v", claimed.Assignee)
	}
	awaitEvent(t, ws, tkTicketTopic(tk.ID), tkEventType("ticket"))

	// An internal note, then a public reply: the opener's socket hears of
	// the reply only, and the first event after the note is the reply's.
	bob.must(t, "POST", staff+"/notes", map[string]any{"body": secret}, 201, nil)
	var reply tkMessage
	bob.must(t, "POST", staff+"/replies", map[string]any{"body": "Unplug it and step away."}, 201, &reply)
	ev := awaitEvent(t, ws, tkTicketTopic(tk.ID), nil)
	if ev.Kind != "" || fmt.Sprint(ev.Data["type"]) != "message" || int64(ev.Data["message"].(float64)) != reply.ID {
		t.Fatalf("the opener's first event after the note: %+v", ev.Data)
	}
	answer := awaitEvent(t, ws, tkUserTopic(carol.id), tkEventType("answer"))
	if strings.Contains(fmt.Sprint(answer.Data), "NOTE") {
		t.Fatalf("the answer event: %+v", answer.Data)
	}
	var view tkView
	carol.must(t, "GET", ticket, nil, 200, &view)
	if view.Ticket.Status != "open" || len(view.Notes) != 0 || !tkSays(view.Messages, "Unplug it and step away.") {
		t.Fatalf("the opener's view after the reply: %+v", view)
	}
	if _, page := tkGet(t, carol, fmt.Sprintf("/tickets/%d", tk.ID)); strings.Contains(string(page), "NOTE-MARK") ||
		!strings.Contains(string(page), "Unplug it and step away.") {
		t.Fatalf("the opener's page shows the note or misses the reply:\n%.2000s", page)
	}

	// Pending: the SLA clock stops; the customer's reply opens it again.
	var pending tkTicket
	bob.must(t, "POST", staff+"/status", map[string]any{"status": "pending"}, 200, &pending)
	var agentView tkView
	bob.must(t, "GET", staff, nil, 200, &agentView)
	if agentView.Ticket.Status != "pending" || !agentView.Ticket.Paused || len(agentView.Notes) != 1 {
		t.Fatalf("pending, as the agent sees it: %+v", agentView.Ticket)
	}
	carol.must(t, "POST", ticket+"/replies", map[string]any{"body": "Done, it stopped."}, 201, nil)
	bob.must(t, "GET", staff, nil, 200, &agentView)
	if agentView.Ticket.Status != "open" || agentView.Ticket.Paused {
		t.Fatalf("after the customer's reply: %+v", agentView.Ticket)
	}

	// Solved, rated, closed.
	bob.must(t, "POST", staff+"/status", map[string]any{"status": "solved"}, 200, nil)
	var rated tkTicket
	carol.must(t, "POST", ticket+"/rating", map[string]any{"score": 5, "comment": "Quick and kind."}, 200, &rated)
	if rated.Rating == nil || rated.Rating.Score != 5 {
		t.Fatalf("rated: %+v", rated.Rating)
	}
	bob.must(t, "POST", staff+"/status", map[string]any{"status": "closed"}, 200, nil)

	// The transcript: the public conversation, never the note.
	for _, ext := range []string{"html", "txt"} {
		resp, b := tkGet(t, carol, fmt.Sprintf("/tickets/%d/transcript.%s", tk.ID, ext))
		if resp.StatusCode != 200 || !strings.Contains(string(b), "Unplug it and step away.") ||
			!strings.Contains(string(b), "Done, it stopped.") || strings.Contains(string(b), "NOTE-MARK") {
			t.Fatalf("transcript.%s: %d\n%s", ext, resp.StatusCode, b)
		}
	}

	// Reopen within the window; after it, refused.
	var reopened tkTicket
	carol.must(t, "POST", ticket+"/reopen", nil, 200, &reopened)
	if reopened.Status != "open" {
		t.Fatalf("reopened: %+v", reopened)
	}
	bob.must(t, "POST", staff+"/status", map[string]any{"status": "closed"}, 200, nil)
	d.settings(t, map[string]any{"reopen_days": 0})
	tkcRefused(t, carol, "POST", ticket+"/reopen", nil, 409, "can be reopened for 0 days")
	carol.must(t, "GET", ticket, nil, 200, &view)
	if view.Ticket.Status != "closed" || view.Ticket.CanReopen {
		t.Fatalf("after the refused reopening: %+v", view.Ticket)
	}

	// A duplicate merged: its conversation kept in the other, the
	// customer told.
	var dup, keep tkTicket
	carol.must(t, "POST", "/tickets/api/tickets", map[string]any{"panel_id": panel, "subject": "Printer again", "description": "Still smoking."}, 201, &dup)
	carol.must(t, "POST", "/tickets/api/tickets", map[string]any{"panel_id": panel, "subject": "Printer smoke", "description": "Same thing."}, 201, &keep)
	bob.must(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/merge", dup.ID), map[string]any{"into": keep.ID}, 200, nil)
	carol.must(t, "GET", fmt.Sprintf("/tickets/api/tickets/%d", dup.ID), nil, 200, &view)
	if view.Ticket.Status != "closed" || view.Ticket.MergedInto == nil || *view.Ticket.MergedInto != keep.ID {
		t.Fatalf("the merged ticket: %+v", view.Ticket)
	}
	carol.must(t, "GET", fmt.Sprintf("/tickets/api/tickets/%d", keep.ID), nil, 200, &view)
	if !tkSays(view.Messages, "Still smoking.") || !tkSays(view.Messages, "Same thing.") {
		t.Fatalf("the kept ticket lacks a conversation: %+v", view.Messages)
	}
	if n := d.one(t, `SELECT count(*) FROM mod_tickets.outbox WHERE ticket_id = $1 AND body LIKE '%merged%'`, dup.ID); n != 1 {
		t.Fatalf("%d merge mails to the customer, want 1", n)
	}
}

// tkSays reports whether a reply of ms says text.
func tkSays(ms []tkMessage, text string) bool {
	for _, m := range ms {
		if m.Kind == "reply" && m.Body == text {
			return true
		}
	}
	return false
}
