package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/websonic/websonic/runtime/internal/realtime"
	"github.com/websonic/websonic/runtime/internal/site"
)

// The customer's side of the support desk (modules/tickets/tickets.go,
// guest.go, mailer.go) over real HTTP, sockets and PostgreSQL.

// tkcDesk is the site and the superuser connection the customer tests set
// panels and states up with (the staff's and admins' routes are other
// slices'), and read the outbox through.
type tkcDesk struct {
	s   *testSite
	sql *pgx.Conn
}

// newTkcDesk connects to s's database as the superuser.
func newTkcDesk(t *testing.T, s *testSite) tkcDesk {
	t.Helper()
	super, err := pgx.Connect(t.Context(), s.db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { super.Close(context.Background()) })
	return tkcDesk{s, super}
}

func (d tkcDesk) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	if _, err := d.sql.Exec(t.Context(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func (d tkcDesk) one(t *testing.T, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := d.sql.QueryRow(t.Context(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// settings sets the module's settings (the others take their defaults).
func (d tkcDesk) settings(t *testing.T, kv map[string]any) {
	t.Helper()
	values := map[string]json.RawMessage{}
	for k, v := range kv {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		values[k] = b
	}
	if err := d.s.srv.SetSettings(t.Context(), 0, "tester", "tickets", values); err != nil {
		t.Fatal(err)
	}
}

// tkcFail is an error answer.
type tkcFail struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// refused sends a request that must fail with status, its sentence holding
// want.
func tkcRefused(t *testing.T, c *chatter, method, path string, body any, status int, want string) {
	t.Helper()
	var f tkcFail
	c.must(t, method, path, body, status, &f)
	if want == "" || !strings.Contains(f.Error, want) {
		t.Fatalf("%s %s: %q, want a sentence holding %q", method, path, f.Error, want)
	}
}

// tkcGuestMessage is a message with the guest flag.
type tkcGuestMessage struct {
	tkMessage
	Guest bool `json:"guest"`
}

// tkcList is GET /tickets/api/tickets.
type tkcList struct {
	Tickets []struct {
		tkTicket
		GuestName string `json:"guest_name"`
	} `json:"tickets"`
	Next *int64 `json:"next"`
}

func (l tkcList) ids() []int64 {
	var out []int64
	for _, t := range l.Tickets {
		out = append(out, t.ID)
	}
	return out
}

func tkcMine(t *testing.T, c *chatter, status string) tkcList {
	t.Helper()
	var l tkcList
	c.must(t, "GET", "/tickets/api/tickets?status="+status, nil, 200, &l)
	return l
}

// tkEventOf matches a desk event (they carry "type", not "kind") about
// ticket id.
func tkEventOf(typ string, id int64) func(chatEvent) bool {
	return func(e chatEvent) bool {
		n, _ := e.Data["ticket"].(float64)
		return e.Data["type"] == typ && int64(n) == id
	}
}

// TestTicketsCustomer is the customer's journey: panels, opening with a
// form's fields, "my tickets", the view (which marks answers seen), replies
// that reopen, solving, rating once, reopening within reopen_days and not
// after; bad input refused with a sentence and nothing changed; another
// member's tickets invisible; the open-ticket limit under parallel
// openings; a guest's ticket through its private link, with its mail in
// the outbox.
func TestTicketsCustomer(t *testing.T) {
	s := ticketsSite(t)
	ctx := t.Context()
	d := newTkcDesk(t, s)
	super := d.sql

	const ordersFields = `[
		{"name": "order", "label": "Order number", "type": "text", "required": true},
		{"name": "count", "label": "Items", "type": "number", "required": false},
		{"name": "kind", "label": "Kind", "type": "select", "required": false, "options": ["Parcel", "Letter"]},
		{"name": "contact", "label": "Contact address", "type": "email", "required": false},
		{"name": "when", "label": "Order date", "type": "date", "required": false},
		{"name": "gift", "label": "Gift", "type": "checkbox", "required": false},
		{"name": "details", "label": "Details", "type": "textarea", "required": false}]`
	orders := d.one(t, `INSERT INTO mod_tickets.panels (name, description, fields, max_open, first_response_minutes,
		resolution_minutes, guests, position) VALUES ('Orders', 'Orders and deliveries.', $1::jsonb, 3, 60, 600, true, 4)
		RETURNING id`, ordersFields)
	limited := d.one(t, `INSERT INTO mod_tickets.panels (name, max_open, guests, position) VALUES ('Limited', 1, true, 5) RETURNING id`)
	old := d.one(t, `INSERT INTO mod_tickets.panels (name, position, archived_at) VALUES ('Old', 6, now()) RETURNING id`)
	question := d.one(t, `SELECT id FROM mod_tickets.panels WHERE name = 'Question'`)

	ann := s.person(t, "ann", site.RoleMember)
	bob := s.person(t, "bob", site.RoleMember)
	carl := s.person(t, "carl", site.RoleStaff)

	goodFields := map[string]any{"order": "A-12", "count": 3, "kind": "Parcel", "contact": "ann@shop.test",
		"when": "2026-11-30", "gift": true, "details": "line one\nline two"}
	var first tkTicket // ann's ticket in Orders, through the lifecycle

	t.Run("panels", func(t *testing.T) {
		var out struct {
			Panels []struct {
				ID     int64             `json:"id"`
				Name   string            `json:"name"`
				Fields []json.RawMessage `json:"fields"`
				Guests bool              `json:"guests"`
			} `json:"panels"`
		}
		ann.must(t, "GET", "/tickets/api/panels", nil, 200, &out)
		var names []string
		for _, p := range out.Panels {
			names = append(names, p.Name)
			if p.ID == orders && (len(p.Fields) != 7 || !p.Guests) {
				t.Errorf("Orders: %+v", p)
			}
		}
		if want := []string{"Question", "Problem", "Billing", "Orders", "Limited"}; !slices.Equal(names, want) {
			t.Fatalf("panels %v, want %v (in order, no archived one)", names, want)
		}
	})

	t.Run("lifecycle", func(t *testing.T) {
		queue := carl.socket(t)
		follow(t, queue, fmt.Sprintf("tickets.panel.%d", orders))

		ann.must(t, "POST", "/tickets/api/tickets", map[string]any{"panel_id": orders, "subject": "Parcel never came",
			"description": "Ordered on Monday.\nStill nothing.", "fields": goodFields, "urgency": 3, "impact": 2}, 201, &first)
		if first.ID <= 0 || first.Status != "new" || first.Subject != "Parcel never came" || first.Panel.ID != orders ||
			first.Priority != 3 || first.Opener == nil || first.Opener.ID != ann.id || first.Unread || first.CanReopen {
			t.Fatalf("opened %+v", first)
		}
		var fields map[string]any
		if err := json.Unmarshal(first.Fields, &fields); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"order": "A-12", "count": 3.0, "kind": "Parcel", "contact": "ann@shop.test",
			"when": "2026-11-30", "gift": true, "details": "line one\nline two"}
		if fmt.Sprint(fields) != fmt.Sprint(want) {
			t.Fatalf("fields %v, want %v", fields, want)
		}
		awaitEvent(t, queue, fmt.Sprintf("tickets.panel.%d", orders), tkEventOf("ticket", first.ID))
		if due := d.one(t, `SELECT extract(epoch FROM resolution_due - created_at)::bigint FROM mod_tickets.tickets WHERE id = $1`, first.ID); due != 600*60 {
			t.Errorf("resolution due %d s after opening, want the panel's 600 minutes", due)
		}
		if n := d.one(t, `SELECT count(*) FROM mod_tickets.tickets WHERE id = $1
			AND search @@ to_tsquery('simple', 'never & line & monday')`, first.ID); n != 1 {
			t.Errorf("the search does not hold the subject, the fields and the description")
		}

		var view struct {
			Ticket   tkTicket          `json:"ticket"`
			Messages []tkcGuestMessage `json:"messages"`
		}
		ann.must(t, "GET", fmt.Sprintf("/tickets/api/tickets/%d", first.ID), nil, 200, &view)
		if len(view.Messages) != 1 || view.Messages[0].Kind != "reply" || view.Messages[0].Body != "Ordered on Monday.\nStill nothing." ||
			view.Messages[0].Staff || view.Messages[0].Guest || view.Messages[0].Author == nil || view.Messages[0].Author.ID != ann.id {
			t.Fatalf("the first message: %+v", view.Messages)
		}
		if l := tkcMine(t, ann, "open"); !slices.Contains(l.ids(), first.ID) {
			t.Fatalf("open tickets %v lack %d", l.ids(), first.ID)
		}
		if l := tkcMine(t, ann, "closed"); slices.Contains(l.ids(), first.ID) {
			t.Fatalf("closed tickets %v hold %d", l.ids(), first.ID)
		}

		// An answer the customer has not seen: the view marks it seen.
		d.exec(t, `UPDATE mod_tickets.tickets SET last_public_at = now(), customer_seen_at = now() - interval '1 minute' WHERE id = $1`, first.ID)
		if l := tkcMine(t, ann, "all"); len(l.Tickets) == 0 || l.Tickets[0].ID != first.ID || !l.Tickets[0].Unread {
			t.Fatalf("not unread: %+v", l.Tickets)
		}
		ann.must(t, "GET", fmt.Sprintf("/tickets/api/tickets/%d", first.ID), nil, 200, nil)
		if l := tkcMine(t, ann, "all"); l.Tickets[0].Unread {
			t.Fatal("still unread after the view")
		}

		// A participant's reply: a message on the ticket's topic, an
		// answer for the opener.
		d.exec(t, `INSERT INTO mod_tickets.participants (ticket_id, user_id) VALUES ($1, $2)`, first.ID, bob.id)
		if l := tkcMine(t, bob, "all"); !slices.Equal(l.ids(), []int64{first.ID}) {
			t.Fatalf("bob's tickets %v", l.ids())
		}
		annWS := ann.socket(t)
		follow(t, annWS, fmt.Sprintf("tickets.user.%d", ann.id))
		follow(t, annWS, fmt.Sprintf("tickets.ticket.%d", first.ID))
		var m tkcGuestMessage
		bob.must(t, "POST", fmt.Sprintf("/tickets/api/tickets/%d/replies", first.ID), map[string]any{"body": "  Same for my order.  "}, 201, &m)
		if m.ID <= 0 || m.Body != "Same for my order." || m.Author == nil || m.Author.ID != bob.id || m.Staff || m.Kind != "reply" {
			t.Fatalf("bob's reply %+v", m)
		}
		ev := awaitEvent(t, annWS, fmt.Sprintf("tickets.ticket.%d", first.ID), tkEventOf("message", first.ID))
		if id, _ := ev.Data["message"].(float64); int64(id) != m.ID {
			t.Fatalf("message event %+v, want message %d", ev.Data, m.ID)
		}
		ev = awaitEvent(t, annWS, fmt.Sprintf("tickets.user.%d", ann.id), tkEventOf("answer", first.ID))
		if id, _ := ev.Data["message"].(float64); int64(id) != m.ID || len(ev.Data) != 3 {
			t.Fatalf("answer event %+v, want ids only, message %d", ev.Data, m.ID)
		}

		// Solve, rate once, reopen, solve again.
		var tk tkTicket
		ann.must(t, "POST", fmt.Sprintf("/tickets/api/tickets/%d/solve", first.ID), nil, 200, &tk)
		if tk.Status != "solved" || !tk.CanReopen {
			t.Fatalf("solved %+v", tk)
		}
		tkcRefused(t, ann, "POST", fmt.Sprintf("/tickets/api/tickets/%d/rating", first.ID), map[string]any{"score": 6}, 400, "1 to 5")
		ann.must(t, "POST", fmt.Sprintf("/tickets/api/tickets/%d/rating", first.ID), map[string]any{"score": 4, "comment": "<b>Quick</b> & kind"}, 200, &tk)
		if tk.Rating == nil || tk.Rating.Score != 4 || tk.Rating.Comment != "<b>Quick</b> & kind" {
			t.Fatalf("rated %+v", tk.Rating)
		}
		tkcRefused(t, ann, "POST", fmt.Sprintf("/tickets/api/tickets/%d/rating", first.ID), map[string]any{"score": 1}, 409, "already rated")
		tkcRefused(t, bob, "POST", fmt.Sprintf("/tickets/api/tickets/%d/rating", first.ID), map[string]any{"score": 1}, 409, "already rated")
		ann.must(t, "POST", fmt.Sprintf("/tickets/api/tickets/%d/reopen", first.ID), nil, 200, &tk)
		if tk.Status != "open" || tk.CanReopen || tk.Rating == nil {
			t.Fatalf("reopened %+v", tk)
		}
		tkcRefused(t, ann, "POST", fmt.Sprintf("/tickets/api/tickets/%d/reopen", first.ID), nil, 409, "nothing to reopen")
		ann.must(t, "POST", fmt.Sprintf("/tickets/api/tickets/%d/solve", first.ID), nil, 200, &tk)

		// Past the window, neither a reopening nor a reply; back inside,
		// a reply reopens.
		d.settings(t, map[string]any{"reopen_days": 0})
		tkcRefused(t, ann, "POST", fmt.Sprintf("/tickets/api/tickets/%d/reopen", first.ID), nil, 409, "for 0 days after")
		tkcRefused(t, ann, "POST", fmt.Sprintf("/tickets/api/tickets/%d/replies", first.ID), map[string]any{"body": "Hello?"}, 409, "too long ago")
		ann.must(t, "GET", fmt.Sprintf("/tickets/api/tickets/%d", first.ID), nil, 200, &view)
		if view.Ticket.Status != "solved" || view.Ticket.CanReopen {
			t.Fatalf("after the window %+v", view.Ticket)
		}
		// Agents reopen at any time; they rate nothing they did not open.
		carl.must(t, "POST", fmt.Sprintf("/tickets/api/tickets/%d/reopen", first.ID), nil, 200, &tk)
		if tk.Status != "open" {
			t.Fatalf("an agent's reopening left it %s", tk.Status)
		}
		tkcRefused(t, carl, "POST", fmt.Sprintf("/tickets/api/tickets/%d/rating", first.ID), map[string]any{"score": 1}, 403, "Only the customer")
		ann.must(t, "POST", fmt.Sprintf("/tickets/api/tickets/%d/solve", first.ID), nil, 200, &tk)
		d.settings(t, map[string]any{"reopen_days": 14})
		ann.must(t, "POST", fmt.Sprintf("/tickets/api/tickets/%d/replies", first.ID), map[string]any{"body": "It came back broken."}, 201, &m)
		ann.must(t, "GET", fmt.Sprintf("/tickets/api/tickets/%d", first.ID), nil, 200, &view)
		if view.Ticket.Status != "open" {
			t.Fatalf("a reply on a solved ticket left it %s", view.Ticket.Status)
		}
		var trail []string
		for _, m := range view.Messages {
			if m.Kind == "event" {
				var e map[string]any
				json.Unmarshal(m.Event, &e)
				switch e["type"] {
				case "status":
					trail = append(trail, fmt.Sprintf("status:%v>%v", e["from"], e["to"]))
				default:
					trail = append(trail, fmt.Sprintf("%v:%v", e["type"], e["score"]))
				}
			} else {
				trail = append(trail, m.Body)
			}
		}
		want2 := []string{"Ordered on Monday.\nStill nothing.", "Same for my order.", "status:new>solved", "rated:4",
			"status:solved>open", "status:open>solved", "status:solved>open", "status:open>solved", "It came back broken.",
			"status:solved>open"}
		if !slices.Equal(trail, want2) {
			t.Fatalf("the conversation:\n%q\nwant\n%q", trail, want2)
		}
	})

	t.Run("pending and closed", func(t *testing.T) {
		var tk tkTicket
		ann.must(t, "POST", "/tickets/api/tickets", map[string]any{"panel_id": question, "subject": "Opening hours?",
			"description": "When are you open?"}, 201, &tk)
		d.exec(t, `UPDATE mod_tickets.tickets SET status = 'pending', paused_at = now() WHERE id = $1`, tk.ID)
		ann.must(t, "POST", fmt.Sprintf("/tickets/api/tickets/%d/replies", tk.ID), map[string]any{"body": "Any news?"}, 201, nil)
		if n := d.one(t, `SELECT count(*) FROM mod_tickets.tickets WHERE id = $1 AND status = 'open' AND paused_at IS NULL`, tk.ID); n != 1 {
			t.Fatal("a reply on a pending ticket did not open it")
		}
		tkcRefused(t, ann, "POST", fmt.Sprintf("/tickets/api/tickets/%d/rating", tk.ID), map[string]any{"score": 3}, 409, "once it is solved")
		d.exec(t, `UPDATE mod_tickets.tickets SET status = 'closed', closed_at = now(), solved_at = now() WHERE id = $1`, tk.ID)
		tkcRefused(t, ann, "POST", fmt.Sprintf("/tickets/api/tickets/%d/replies", tk.ID), map[string]any{"body": "Hi"}, 409, "reopen it")
		tkcRefused(t, ann, "POST", fmt.Sprintf("/tickets/api/tickets/%d/solve", tk.ID), nil, 409, "closed")
		ann.must(t, "POST", fmt.Sprintf("/tickets/api/tickets/%d/reopen", tk.ID), nil, 200, &tk)
		if tk.Status != "open" {
			t.Fatalf("reopened a closed ticket: %s", tk.Status)
		}
		d.exec(t, `UPDATE mod_tickets.tickets SET status = 'closed', closed_at = now(), merged_into = $2 WHERE id = $1`, tk.ID, first.ID)
		tkcRefused(t, ann, "POST", fmt.Sprintf("/tickets/api/tickets/%d/reopen", tk.ID), nil, 409, fmt.Sprintf("merged into ticket #%d", first.ID))
	})

	t.Run("HTML is stored as written", func(t *testing.T) {
		subject := `<script>alert("x")</script> & <b>bold</b>`
		desc := "<img src=x onerror=alert(1)>\n</textarea>"
		var tk tkTicket
		ann.must(t, "POST", "/tickets/api/tickets", map[string]any{"panel_id": orders, "subject": subject, "description": desc,
			"fields": map[string]any{"order": "<i>B-7</i>", "details": "<a href='javascript:x'>y</a>"}}, 201, &tk)
		var view tkView
		ann.must(t, "GET", fmt.Sprintf("/tickets/api/tickets/%d", tk.ID), nil, 200, &view)
		var fields map[string]string
		json.Unmarshal(view.Ticket.Fields, &fields)
		if view.Ticket.Subject != subject || view.Messages[0].Body != desc || fields["order"] != "<i>B-7</i>" ||
			fields["details"] != "<a href='javascript:x'>y</a>" {
			t.Fatalf("stored %q %q %v", view.Ticket.Subject, view.Messages[0].Body, fields)
		}
		var m tkMessage
		ann.must(t, "POST", fmt.Sprintf("/tickets/api/tickets/%d/replies", tk.ID), map[string]any{"body": "<style>*{display:none}</style>"}, 201, &m)
		if m.Body != "<style>*{display:none}</style>" {
			t.Fatalf("reply %q", m.Body)
		}
	})

	t.Run("bad input changes nothing", func(t *testing.T) {
		ann.must(t, "POST", "/tickets/api/tickets", map[string]any{"panel_id": limited, "subject": "The one", "description": "x"}, 201, nil)
		before := tkcMine(t, ann, "all").ids()
		all := d.one(t, `SELECT count(*) FROM mod_tickets.tickets`)
		msgs := d.one(t, `SELECT count(*) FROM mod_tickets.messages`)
		ok := func(change func(map[string]any)) map[string]any {
			b := map[string]any{"panel_id": orders, "subject": "Fine", "description": "Fine too.", "fields": map[string]any{"order": "C-1"}}
			change(b)
			return b
		}
		field := func(k string, v any) func(map[string]any) {
			return func(b map[string]any) { b["fields"].(map[string]any)[k] = v }
		}
		set := func(k string, v any) func(map[string]any) { return func(b map[string]any) { b[k] = v } }
		oversized := `{"subject": "` + strings.Repeat("a", 64<<10-14) + `"}`
		if len(oversized) != 64<<10+1 {
			t.Fatalf("the oversized body has %d bytes", len(oversized))
		}
		for _, tc := range []struct {
			name   string
			body   any
			status int
			want   string
		}{
			{"empty subject", ok(set("subject", "")), 400, "subject"},
			{"blank subject", ok(set("subject", " \t ")), 400, "subject"},
			{"subject too long", ok(set("subject", strings.Repeat("é", 201))), 400, "subject"},
			{"subject on two lines", ok(set("subject", "one\ntwo")), 400, "subject"},
			{"control character in the subject", ok(set("subject", "bell\a")), 400, "control characters"},
			{"control character in the description", ok(set("description", "nul\x00")), 400, "control characters"},
			{"empty description", ok(set("description", "")), 400, "Describe"},
			{"unknown panel", ok(set("panel_id", 999999)), 400, "kinds of request"},
			{"archived panel", ok(set("panel_id", old)), 400, "no longer offered"},
			{"over max_open", ok(func(b map[string]any) { b["panel_id"] = limited; delete(b, "fields") }), 409, "already have an open request"},
			{"missing required field", ok(func(b map[string]any) { delete(b["fields"].(map[string]any), "order") }), 400, "Fill in Order number"},
			{"required field empty", ok(field("order", "  ")), 400, "Fill in Order number"},
			{"number of the wrong type", ok(field("count", "three")), 400, "Items: give a number"},
			{"text of the wrong type", ok(field("order", 12)), 400, "Order number: give a text"},
			{"checkbox of the wrong type", ok(field("gift", "yes")), 400, "Gift: give true or false"},
			{"unknown field", ok(field("colour", "red")), 400, `no field "colour"`},
			{"bad select option", ok(field("kind", "Crate")), 400, "Kind: choose one of the options"},
			{"bad e-mail", ok(field("contact", "Ann <ann@shop.test>")), 400, "Contact address: give one e-mail address"},
			{"two e-mails", ok(field("contact", "a@b.test, c@d.test")), 400, "Contact address: give one e-mail address"},
			{"bad date", ok(field("when", "2026-13-01")), 400, "Order date: give a date"},
			{"date of another form", ok(field("when", "30/11/2026")), 400, "Order date: give a date"},
			{"field too long", ok(field("order", strings.Repeat("x", 2001))), 400, "at most 2000 characters"},
			{"control character in a field", ok(field("order", "A\x1b[31m")), 400, "control characters"},
			{"urgency out of range", ok(set("urgency", 4)), 400, "Urgency and impact"},
			{"impact zero", ok(set("impact", 0)), 400, "Urgency and impact"},
			{"a field the API does not have", ok(set("status", "solved")), 400, "not the JSON expected"},
			{"a guest's fields", ok(set("email", "x@y.test")), 400, "not the JSON expected"},
			{"not JSON", "subject=hello", 400, "not the JSON expected"},
			{"two objects", `{"panel_id": 1}{"panel_id": 2}`, 400, "after its JSON object"},
			{"64 KiB and a byte", oversized, 413, "larger than 64 KiB"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tkcRefused(t, ann, "POST", "/tickets/api/tickets", tc.body, tc.status, tc.want)
			})
		}
		if after := tkcMine(t, ann, "all").ids(); !slices.Equal(before, after) {
			t.Fatalf("ann's tickets %v, were %v", after, before)
		}
		if n, m := d.one(t, `SELECT count(*) FROM mod_tickets.tickets`), d.one(t, `SELECT count(*) FROM mod_tickets.messages`); n != all || m != msgs {
			t.Fatalf("%d tickets and %d messages, were %d and %d", n, m, all, msgs)
		}

		// Replies and ratings too.
		path := fmt.Sprintf("/tickets/api/tickets/%d", first.ID)
		for _, tc := range []struct {
			name, path string
			body       any
			status     int
			want       string
		}{
			{"empty reply", "/replies", map[string]any{"body": "  "}, 400, "A reply is 1 to"},
			{"reply too long", "/replies", map[string]any{"body": strings.Repeat("a", 20001)}, 400, "A reply is 1 to"},
			{"control character in a reply", "/replies", map[string]any{"body": "a\x7f"}, 400, "control characters"},
			{"an attachment that is not a draft of hers", "/replies", map[string]any{"body": "see", "attachments": []int64{424242}}, 400, "Attachment 424242"},
			{"six attachments", "/replies", map[string]any{"body": "see", "attachments": []int64{1, 2, 3, 4, 5, 6}}, 400, "at most 5"},
			{"an unknown field in a reply", "/replies", map[string]any{"body": "x", "staff": true}, 400, "not the JSON expected"},
			{"a reply of 64 KiB and a byte", "/replies", `{"body": "` + strings.Repeat("a", 64<<10-11) + `"}`, 413, "larger than 64 KiB"},
			{"rating out of range", "/rating", map[string]any{"score": 0}, 400, "1 to 5"},
			{"rating comment too long", "/rating", map[string]any{"score": 3, "comment": strings.Repeat("a", 2001)}, 400, "at most 2000"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tkcRefused(t, ann, "POST", path+tc.path, tc.body, tc.status, tc.want)
			})
		}
		if m := d.one(t, `SELECT count(*) FROM mod_tickets.messages`); m != msgs {
			t.Fatalf("%d messages, were %d", m, msgs)
		}
	})

	t.Run("another member's tickets do not exist", func(t *testing.T) {
		dan := s.person(t, "dan", site.RoleMember)
		if l := tkcMine(t, dan, "all"); len(l.Tickets) != 0 {
			t.Fatalf("dan lists %v", l.ids())
		}
		base := fmt.Sprintf("/tickets/api/tickets/%d", first.ID)
		for _, r := range []struct {
			method, path string
			body         any
		}{
			{"GET", base, nil},
			{"POST", base + "/replies", map[string]any{"body": "mine now"}},
			{"POST", base + "/solve", nil},
			{"POST", base + "/reopen", nil},
			{"POST", base + "/rating", map[string]any{"score": 1}},
			{"GET", "/tickets/api/tickets/999999", nil},
			{"GET", "/tickets/api/tickets/0", nil},
			{"GET", "/tickets/api/tickets/01", nil},
			{"GET", "/tickets/api/tickets/x", nil},
		} {
			tkcRefused(t, dan, r.method, r.path, r.body, 404, "There is no such ticket, or it is not yours")
		}
		// Nor may dan follow it.
		ws := dan.socket(t)
		ws.send(fmt.Sprintf(`{"type":"subscribe","topic":"tickets.ticket.%d"}`, first.ID))
		if f, err := ws.read(time.Minute); err != nil || f.Type != realtime.TypeRefused {
			t.Fatalf("dan subscribed to ann's ticket: %+v %v", f, err)
		}
	})

	t.Run("the open-ticket limit holds under parallel openings", func(t *testing.T) {
		// Several people at once, each opening several tickets at once in
		// a panel that allows one: each gets exactly one. The module's
		// instances are warmed first, so that the openings do run side by
		// side.
		send := func(c *chatter, method, path string, body any) int {
			b, _ := json.Marshal(body)
			req, err := http.NewRequest(method, s.URL+path, bytes.NewReader(b))
			if err != nil {
				return 0
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := c.c.Do(req)
			if err != nil {
				return 0
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		const people, tries = 4, 4
		racers := make([]*chatter, people)
		for i := range racers {
			racers[i] = s.person(t, fmt.Sprintf("racer%d", i), site.RoleMember)
		}
		var wg sync.WaitGroup
		for i := range 3 * people {
			wg.Add(1)
			go func() { defer wg.Done(); send(racers[i%people], "GET", "/tickets/api/panels", nil) }()
		}
		wg.Wait()
		statuses := make([][]int, people)
		start := make(chan struct{})
		for p := range people {
			statuses[p] = make([]int, tries)
			for i := range tries {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					statuses[p][i] = send(racers[p], "POST", "/tickets/api/tickets",
						map[string]any{"panel_id": limited, "subject": fmt.Sprintf("Race %d", i), "description": "x"})
				}()
			}
		}
		close(start)
		wg.Wait()
		for p, st := range statuses {
			slices.Sort(st)
			if want := []int{201, 409, 409, 409}; !slices.Equal(st, want) {
				t.Errorf("%s's parallel openings answered %v, want %v", racers[p].name, st, want)
			}
			if got := d.one(t, `SELECT count(*) FROM mod_tickets.tickets WHERE opener_id = $1`, racers[p].id); got != 1 {
				t.Errorf("%s has %d tickets", racers[p].name, got)
			}
		}
	})

	t.Run("guest", func(t *testing.T) {
		visitor := newChatter(t, s.URL, "visitor", "203.0.113.50")
		open := func(email, subject string, panel int64) map[string]any {
			b := map[string]any{"panel_id": panel, "email": email, "name": "Gina <i>G</i>", "subject": subject,
				"description": "No account, <b>sorry</b>."}
			if panel == orders {
				b["fields"] = map[string]any{"order": "G-1"}
			}
			return b
		}
		d.settings(t, map[string]any{"allow_guests": false})
		tkcRefused(t, visitor, "GET", "/tickets/guest/api/panels", nil, 404, "without an account")
		tkcRefused(t, visitor, "POST", "/tickets/guest/api/tickets", open("gina@home.test", "Hi", orders), 404, "without an account")
		d.settings(t, map[string]any{"allow_guests": true})

		var panels struct {
			Panels []struct {
				ID int64 `json:"id"`
			} `json:"panels"`
		}
		visitor.must(t, "GET", "/tickets/guest/api/panels", nil, 200, &panels)
		if len(panels.Panels) != 2 || panels.Panels[0].ID != orders || panels.Panels[1].ID != limited {
			t.Fatalf("guest panels %+v, want Orders and Limited", panels)
		}
		for _, tc := range []struct {
			name string
			body map[string]any
			want string
		}{
			{"a panel without guests", open("gina@home.test", "Hi", question), "kinds of request"},
			{"an address with a name", open("Gina <gina@home.test>", "Hi", orders), "one e-mail address"},
			{"two addresses", open("gina@home.test, x@y.test", "Hi", orders), "one e-mail address"},
			{"no address", open("", "Hi", orders), "one e-mail address"},
			{"no name", func() map[string]any { b := open("gina@home.test", "Hi", orders); b["name"] = " "; return b }(), "Give your name"},
			{"no subject", open("gina@home.test", "", orders), "subject"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tkcRefused(t, visitor, "POST", "/tickets/guest/api/tickets", tc.body, 400, tc.want)
			})
		}
		if n := d.one(t, `SELECT count(*) FROM mod_tickets.tickets WHERE guest_email IS NOT NULL`); n != 0 {
			t.Fatalf("%d guest tickets after refusals", n)
		}

		var opened struct {
			Ticket struct {
				tkTicket
				GuestName string `json:"guest_name"`
			} `json:"ticket"`
			Link string `json:"link"`
		}
		visitor.must(t, "POST", "/tickets/guest/api/tickets", open("gina@home.test", "Lost parcel", orders), 201, &opened)
		token, ok := strings.CutPrefix(opened.Link, "/tickets/guest/t/")
		if !ok || len(token) != 43 || opened.Ticket.Opener != nil || opened.Ticket.GuestName != "Gina <i>G</i>" ||
			opened.Ticket.Status != "new" || opened.Ticket.Subject != "Lost parcel" {
			t.Fatalf("guest ticket %+v link %q", opened.Ticket, opened.Link)
		}
		gid := opened.Ticket.ID
		api := "/tickets/guest/api/t/" + token

		var view struct {
			Ticket   tkTicket          `json:"ticket"`
			Messages []tkcGuestMessage `json:"messages"`
		}
		visitor.must(t, "GET", api, nil, 200, &view)
		if view.Ticket.ID != gid || len(view.Messages) != 1 || !view.Messages[0].Guest || view.Messages[0].Author != nil ||
			view.Messages[0].Body != "No account, <b>sorry</b>." {
			t.Fatalf("guest view %+v", view)
		}
		var m tkcGuestMessage
		visitor.must(t, "POST", api+"/replies", map[string]any{"body": "More details."}, 201, &m)
		if !m.Guest || m.Author != nil || m.Body != "More details." || m.Staff {
			t.Fatalf("guest reply %+v", m)
		}
		tkcRefused(t, visitor, "POST", api+"/replies", map[string]any{"body": "x", "attachments": []int64{1}}, 400, "not the JSON expected")
		var tk tkTicket
		visitor.must(t, "POST", api+"/solve", nil, 200, &tk)
		// The solved ticket's transcript, through the private link only.
		if st, b := visitor.api(t, "GET", opened.Link+"/transcript.txt", nil); st != 200 ||
			!strings.Contains(string(b), "Lost parcel") || !strings.Contains(string(b), "More details.") {
			t.Fatalf("the guest's transcript: %d %s", st, b)
		}
		tkcRefused(t, visitor, "GET", "/tickets/guest/t/"+strings.Repeat("A", 43)+"/transcript.txt", nil, 404, "There is no such ticket")
		visitor.must(t, "POST", api+"/rating", map[string]any{"score": 5, "comment": "Thanks"}, 200, &tk)
		visitor.must(t, "POST", api+"/reopen", nil, 200, &tk)
		if tk.Status != "open" || tk.Rating == nil || tk.Rating.Score != 5 {
			t.Fatalf("guest ticket after solve, rate, reopen: %+v", tk)
		}

		// Wrong tokens: well formed, altered by one character, malformed.
		flip := []byte(token)
		flip[10] ^= 'A' ^ 'B'
		if flip[10] == token[10] {
			flip[10] = 'C'
		}
		for _, bad := range []string{strings.Repeat("A", 43), string(flip), token[:42], token + "A", "abc"} {
			tkcRefused(t, visitor, "GET", "/tickets/guest/api/t/"+bad, nil, 404, "There is no such ticket")
			tkcRefused(t, visitor, "POST", "/tickets/guest/api/t/"+bad+"/replies", map[string]any{"body": "x"}, 404, "There is no such ticket")
		}
		// The guest's ticket is no member's.
		tkcRefused(t, ann, "GET", fmt.Sprintf("/tickets/api/tickets/%d", gid), nil, 404, "There is no such ticket, or it is not yours")

		// The private link is in the outbox, tried at once (this site has
		// no relay: the error is kept), and retried by the job.
		var to, subject, body, lastErr string
		var attempts int
		if err := super.QueryRow(ctx, `SELECT to_addr, subject, body, attempts, coalesce(last_error, '') FROM mod_tickets.outbox
			WHERE ticket_id = $1`, gid).Scan(&to, &subject, &body, &attempts, &lastErr); err != nil {
			t.Fatal(err)
		}
		if to != "gina@home.test" || subject != fmt.Sprintf("[#%d] Lost parcel", gid) || !strings.Contains(body, opened.Link) ||
			attempts != 1 || !strings.Contains(lastErr, "the site has no mail relay") {
			t.Fatalf("outbox: %q %q %d %q\n%s", to, subject, attempts, lastErr, body)
		}
		d.exec(t, `UPDATE mod_tickets.outbox SET next_try = now() WHERE ticket_id = $1`, gid)
		if st, err := s.srv.jobsCall(ctx, "tickets", "mail", time.Now()); err != nil || st != 200 {
			t.Fatalf("the mail job: %d %v", st, err)
		}
		if n := d.one(t, `SELECT count(*) FROM mod_tickets.outbox WHERE ticket_id = $1 AND attempts = 2
			AND next_try > now() + interval '90 seconds' AND sent_at IS NULL`, gid); n != 1 {
			t.Fatal("the mail job did not try the mail again, with a longer wait")
		}

		// One open ticket per address on Limited, whatever its case.
		visitor.must(t, "POST", "/tickets/guest/api/tickets", open("gina@home.test", "Limited one", limited), 201, nil)
		tkcRefused(t, visitor, "POST", "/tickets/guest/api/tickets", open("GINA@home.test", "Limited two", limited), 409, "already have an open request")

		// At most 20 guest tickets an hour, site-wide.
		for i := d.one(t, `SELECT count(*) FROM mod_tickets.tickets WHERE guest_email IS NOT NULL`); i < 20; i++ {
			visitor.must(t, "POST", "/tickets/guest/api/tickets", open(fmt.Sprintf("g%d@home.test", i), "Flood", orders), 201, nil)
		}
		tkcRefused(t, visitor, "POST", "/tickets/guest/api/tickets", open("late@home.test", "One more", orders), 409, "in the last hour")
		if n := d.one(t, `SELECT count(*) FROM mod_tickets.tickets WHERE guest_email IS NOT NULL`); n != 20 {
			t.Fatalf("%d guest tickets, want 20", n)
		}
	})
}
