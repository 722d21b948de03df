package server

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/runtime/internal/realtime"
	"github.com/websonic/websonic/runtime/internal/site"
	"github.com/websonic/websonic/sdk/abi"
)

// The staff's side of the support desk (modules/tickets: staff.go,
// queue.go, canned.go, commands.go) against a real runtime and real
// PostgreSQL: who may do what on every route of API.md, internal notes
// that never reach a customer, SLA clocks, the queue, merging, claim
// races and the admin commands. One site; each subtest builds its own
// tickets.

// tkStaffDesk is the site and its people: a panel handled by the group
// "billing" (gina), another group's staff (otto), staff of no group
// (nora), an admin, the opener (olga), another member (mark) and a
// participant (pete).
type tkStaffDesk struct {
	s                                         *testSite
	admin, olga, mark, pete, gina, otto, nora *chatter
	grouped, open                             int64 // panels: of billing (SLA 60/240 minutes), and "Problem" (no group)
	con                                       *Console
}

func newTkStaffDesk(t *testing.T) *tkStaffDesk {
	s := ticketsSite(t)
	d := &tkStaffDesk{s: s,
		admin: s.person(t, "tkadmin", site.RoleAdmin),
		olga:  s.person(t, "olga", site.RoleMember),
		mark:  s.person(t, "mark", site.RoleMember),
		pete:  s.person(t, "pete", site.RoleMember),
		gina:  s.person(t, "gina", site.RoleStaff),
		otto:  s.person(t, "otto", site.RoleStaff),
		nora:  s.person(t, "nora", site.RoleStaff),
	}
	// Groups and panels are the admin slice's routes: set up in the
	// module's schema directly.
	d.sql(t, `INSERT INTO groups (name, label) VALUES ('billing', 'Billing'), ('other', 'Other')`)
	d.sql(t, `INSERT INTO group_members (group_name, user_id) VALUES ('billing', $1), ('other', $2)`, d.gina.id, d.otto.id)
	d.grouped = d.id(t, `INSERT INTO panels (name, group_name, first_response_minutes, resolution_minutes, position)
		VALUES ('Invoices', 'billing', 60, 240, 9) RETURNING id`)
	d.open = d.id(t, `SELECT id FROM panels WHERE name = 'Problem'`)
	d.sql(t, `UPDATE panels SET guests = true WHERE id = $1`, d.open)
	d.sql(t, `UPDATE panels SET max_open = 100`) // the tests open many tickets each
	// The terminal's commands and the owner's settings go through the
	// request queue.
	s.serve(t)
	d.con = s.console(t)
	yes := "true"
	if _, err := d.con.ModuleConfig(t.Context(), "tickets", map[string]*string{"allow_guests": &yes}, "tester", RequestOptions{Wait: time.Minute}); err != nil {
		t.Fatal(err)
	}
	return d
}

// sql runs a statement in the module's schema.
func (d *tkStaffDesk) sql(t *testing.T, q string, args ...any) {
	t.Helper()
	if _, err := d.s.srv.Module("tickets").DB().Pool().Exec(t.Context(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// id runs a query of one bigint in the module's schema.
func (d *tkStaffDesk) id(t *testing.T, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := d.s.srv.Module("tickets").DB().Pool().QueryRow(t.Context(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// openTicket opens a ticket as c on panel, through the customers' route
// when it is there (the customer slice), else with the rows it writes
// (MISSING ON THIS BRANCH: POST /tickets/api/tickets; git merge main
// brings it).
func (d *tkStaffDesk) openTicket(t *testing.T, c *chatter, panel int64, subject, description string) int64 {
	t.Helper()
	st, b := c.api(t, "POST", "/tickets/api/tickets", map[string]any{"panel_id": panel, "subject": subject, "description": description})
	if st == http.StatusCreated {
		var tk tkTicket
		if err := json.Unmarshal(b, &tk); err != nil || tk.ID <= 0 {
			t.Fatalf("opened %s: %v", b, err)
		}
		return tk.ID
	}
	if !tkRouteMissing(st, b) {
		t.Fatalf("open a ticket as %s: %d %s", c.name, st, b)
	}
	id := d.id(t, `INSERT INTO tickets (panel_id, opener_id, subject, first_response_due, resolution_due, search)
		SELECT id, $2, $3, now() + first_response_minutes * interval '1 minute', now() + resolution_minutes * interval '1 minute',
		       to_tsvector('simple', $3 || ' ' || $4)
		FROM panels WHERE id = $1 RETURNING id`, panel, c.id, subject, description)
	d.sql(t, `INSERT INTO messages (ticket_id, author_id, body) VALUES ($1, $2, $3)`, id, c.id, description)
	return id
}

// tkRouteMissing reports whether an answer is the module's mux finding no
// route (plain text), not an answer of the API (JSON).
func tkRouteMissing(status int, body []byte) bool {
	return (status == http.StatusNotFound || status == http.StatusMethodNotAllowed) && !bytes.HasPrefix(bytes.TrimSpace(body), []byte("{"))
}

// view is the ticket as an agent sees it.
func (d *tkStaffDesk) view(t *testing.T, c *chatter, id int64) tkView {
	t.Helper()
	var v tkView
	c.must(t, "GET", fmt.Sprintf("/tickets/staff/api/tickets/%d", id), nil, 200, &v)
	return v
}

// tkEventType is a tickets event's type.
func tkEventType(typ string) func(chatEvent) bool {
	return func(e chatEvent) bool { return e.Data["type"] == typ }
}

func tkTicketTopic(id int64) string { return fmt.Sprintf("tickets.ticket.%d", id) }
func tkUserTopic(id int64) string   { return fmt.Sprintf("tickets.user.%d", id) }
func tkPanelTopic(id int64) string  { return fmt.Sprintf("tickets.panel.%d", id) }
func tkNotesTopic(id int64) string  { return fmt.Sprintf("tickets.notes.%d", id) }

func TestTicketsStaff(t *testing.T) {
	d := newTkStaffDesk(t)
	t.Run("permissions", d.testPermissions)
	t.Run("notes never leak", d.testNotesNeverLeak)
	t.Run("sla", d.testSLA)
	t.Run("queue", d.testQueue)
	t.Run("merge", d.testMerge)
	t.Run("claim race", d.testClaimRace)
	t.Run("replies, assignment, participants, canned", d.testWork)
	t.Run("commands", d.testCommands)
}

// tkExpect is what a route answers a person: ok (the route served them:
// any answer but a refusal), hidden (404, the ticket does not exist for
// them) or refused (the runtime's 403 before the module).
type tkExpect int

const (
	tkOK tkExpect = iota
	tkHidden
	tkRefused
)

func (e tkExpect) String() string { return [...]string{"served", "hidden (404)", "refused (403)"}[e] }

// testPermissions: every route of API.md, for the opener, another member,
// a participant, staff of the panel's group, staff of another group,
// staff of no group, and an admin, on a ticket of a grouped panel.
func (d *tkStaffDesk) testPermissions(t *testing.T) {
	tk := d.openTicket(t, d.olga, d.grouped, "Permission ticket", "Who may see this?")
	d.admin.must(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/participants", tk), map[string]string{"username": "pete"}, 200, nil)
	// A public message's attachment and a note's (the upload route is the
	// customer slice's: rows written directly).
	msg := d.id(t, `SELECT max(id) FROM messages WHERE ticket_id = $1 AND kind = 'reply'`, tk)
	var note tkNote
	d.gina.must(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/notes", tk), map[string]any{"body": "internal only"}, 201, &note)
	pubAtt := d.id(t, `INSERT INTO attachments (ticket_id, message_id, uploader_id, name, type, size, sha256, data)
		VALUES ($1, $2, $3, 'a.txt', 'text/plain', 5, sha256('hello'), 'hello') RETURNING id`, tk, msg, d.olga.id)
	noteAtt := d.id(t, `INSERT INTO attachments (ticket_id, note_id, uploader_id, name, type, size, sha256, data)
		VALUES ($1, $2, $3, 'n.txt', 'text/plain', 6, sha256('secret'), 'secret') RETURNING id`, tk, note.ID, d.gina.id)
	// A closed ticket for transcripts, and a canned reply to edit.
	closed := d.openTicket(t, d.olga, d.grouped, "Closed ticket", "Done")
	d.admin.must(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/status", closed), map[string]string{"status": "closed"}, 200, nil)
	var canned struct{ ID int64 }
	d.admin.must(t, "POST", "/tickets/staff/api/canned", map[string]any{"title": "Perm", "body": "Hello"}, 201, &canned)

	type who = map[*chatter]tkExpect
	people := []*chatter{d.olga, d.mark, d.pete, d.gina, d.otto, d.nora, d.admin}
	custOnly := func(agents tkExpect) who { // a customer route of the ticket
		return who{d.olga: tkOK, d.mark: tkHidden, d.pete: tkOK, d.gina: agents, d.otto: tkHidden, d.nora: tkHidden, d.admin: agents}
	}
	everyone := who{d.olga: tkOK, d.mark: tkOK, d.pete: tkOK, d.gina: tkOK, d.otto: tkOK, d.nora: tkOK, d.admin: tkOK}
	agentsOnly := who{d.olga: tkRefused, d.mark: tkRefused, d.pete: tkRefused, d.gina: tkOK, d.otto: tkHidden, d.nora: tkHidden, d.admin: tkOK}
	allStaff := who{d.olga: tkRefused, d.mark: tkRefused, d.pete: tkRefused, d.gina: tkOK, d.otto: tkOK, d.nora: tkOK, d.admin: tkOK}
	adminOnly := who{d.olga: tkRefused, d.mark: tkRefused, d.pete: tkRefused, d.gina: tkRefused, d.otto: tkRefused, d.nora: tkRefused, d.admin: tkOK}
	// Customers' routes: agents read through them too (they may do
	// everything a customer may).
	ticketPath := func(f string, a ...any) string { return fmt.Sprintf(f, append([]any{tk}, a...)...) }
	routes := []struct {
		slice, method, path string
		body                any
		who                 who
	}{
		{"customer", "GET", "/tickets/api/panels", nil, everyone},
		{"customer", "GET", "/tickets/api/tickets?status=all", nil, everyone},
		{"customer", "GET", ticketPath("/tickets/api/tickets/%d"), nil, custOnly(tkOK)},
		{"customer", "POST", ticketPath("/tickets/api/tickets/%d/replies"), map[string]any{"body": "a reply"}, custOnly(tkOK)},
		{"customer", "POST", ticketPath("/tickets/api/tickets/%d/solve"), nil, custOnly(tkOK)},
		{"customer", "POST", ticketPath("/tickets/api/tickets/%d/reopen"), nil, custOnly(tkOK)},
		{"customer", "POST", ticketPath("/tickets/api/tickets/%d/rating"), map[string]any{"score": 4, "comment": ""}, custOnly(tkOK)},
		{"customer", "POST", ticketPath("/tickets/api/tickets/%d/attachments?name=x.txt"), "plain text", custOnly(tkOK)},
		{"customer", "GET", fmt.Sprintf("/tickets/attachments/%d", pubAtt), nil, custOnly(tkOK)},
		{"customer", "GET", fmt.Sprintf("/tickets/attachments/%d", noteAtt), nil,
			who{d.olga: tkHidden, d.mark: tkHidden, d.pete: tkHidden, d.gina: tkOK, d.otto: tkHidden, d.nora: tkHidden, d.admin: tkOK}},
		{"customer", "GET", fmt.Sprintf("/tickets/%d/transcript.html", closed), nil,
			who{d.olga: tkOK, d.mark: tkHidden, d.pete: tkHidden, d.gina: tkOK, d.otto: tkHidden, d.nora: tkHidden, d.admin: tkOK}},
		{"customer", "GET", fmt.Sprintf("/tickets/%d/transcript.txt", closed), nil,
			who{d.olga: tkOK, d.mark: tkHidden, d.pete: tkHidden, d.gina: tkOK, d.otto: tkHidden, d.nora: tkHidden, d.admin: tkOK}},
		{"customer", "GET", "/tickets/guest/api/t/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", nil,
			who{d.olga: tkHidden, d.mark: tkHidden, d.pete: tkHidden, d.gina: tkHidden, d.otto: tkHidden, d.nora: tkHidden, d.admin: tkHidden}},

		{"staff", "GET", "/tickets/staff/api/queue", nil, allStaff},
		{"staff", "GET", "/tickets/staff/api/counts", nil, allStaff},
		{"staff", "GET", ticketPath("/tickets/staff/api/tickets/%d"), nil, agentsOnly},
		{"staff", "POST", ticketPath("/tickets/staff/api/tickets/%d/replies"), map[string]any{"body": "staff reply"}, agentsOnly},
		{"staff", "POST", ticketPath("/tickets/staff/api/tickets/%d/notes"), map[string]any{"body": "a note"}, agentsOnly},
		{"customer", "POST", ticketPath("/tickets/staff/api/tickets/%d/attachments?name=x.txt"), "plain text", agentsOnly}, // attachments.go's upload
		{"staff", "POST", ticketPath("/tickets/staff/api/tickets/%d/claim"), nil, agentsOnly},
		{"staff", "POST", ticketPath("/tickets/staff/api/tickets/%d/assign"), map[string]string{"username": "gina"}, agentsOnly},
		{"staff", "POST", ticketPath("/tickets/staff/api/tickets/%d/status"), map[string]string{"status": "open"}, agentsOnly},
		{"staff", "POST", ticketPath("/tickets/staff/api/tickets/%d/priority"), map[string]int{"urgency": 2, "impact": 3}, agentsOnly},
		{"staff", "POST", ticketPath("/tickets/staff/api/tickets/%d/merge"), map[string]int64{"into": tk}, agentsOnly},
		{"staff", "POST", ticketPath("/tickets/staff/api/tickets/%d/participants"), map[string]string{"username": "pete"}, agentsOnly},
		{"staff", "DELETE", ticketPath("/tickets/staff/api/tickets/%d/participants/%d", d.mark.id), nil, agentsOnly},
		{"staff", "GET", "/tickets/staff/api/canned", nil, allStaff},
		{"staff", "POST", "/tickets/staff/api/canned", map[string]any{"title": "T", "body": "B"}, allStaff},
		{"staff", "PUT", fmt.Sprintf("/tickets/staff/api/canned/%d", canned.ID), map[string]any{"title": "T", "body": "B"}, allStaff},
		{"staff", "GET", fmt.Sprintf("/tickets/staff/api/agents?panel=%d", d.grouped), nil, agentsOnly},
		{"staff", "GET", fmt.Sprintf("/tickets/staff/api/agents?panel=%d", d.open), nil, allStaff},

		{"admin", "GET", "/tickets/admin/api/panels", nil, adminOnly},
		{"admin", "GET", "/tickets/admin/api/groups", nil, adminOnly},
		{"admin", "GET", "/tickets/admin/api/reports?days=30", nil, adminOnly},
	}
	for _, r := range routes {
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			// A route another slice owns that is not on this branch yet:
			// kept here, skipped until `git merge main` brings it.
			if st, b := d.admin.api(t, r.method, r.path, r.body); tkRouteMissing(st, b) && r.slice != "staff" {
				t.Skipf("MISSING ON THIS BRANCH: the %s slice's route (the admin gets %d)", r.slice, st)
			}
			for _, p := range people {
				st, b := p.api(t, r.method, r.path, r.body)
				got := tkOK
				switch {
				case st == http.StatusForbidden && !bytes.HasPrefix(b, []byte("{")):
					got = tkRefused // the runtime's page, before the module
				case st == http.StatusNotFound && !bytes.Contains(b, []byte("not a participant")):
					// (removing someone who is not a participant is an
					// answer of the route, not a hidden ticket)
					got = tkHidden
				case st >= 500 || st == http.StatusUnauthorized:
					t.Errorf("%s: %d %.300s", p.name, st, b)
					continue
				}
				if got != r.who[p] {
					t.Errorf("%s: %d %.300s: %s, want %s", p.name, st, b, got, r.who[p])
				}
				if r.path == fmt.Sprintf("/tickets/attachments/%d", noteAtt) && bytes.Contains(b, []byte("secret")) && r.who[p] != tkOK {
					t.Errorf("%s read a note's attachment", p.name)
				}
			}
		})
	}
}

// testNotesNeverLeak: a note's text reaches agents only: not the opener's
// view, list, sockets (ticket and user topics; the panel topic refuses
// them), a guest's view, nor after a merge the transcripts and exports.
func (d *tkStaffDesk) testNotesNeverLeak(t *testing.T) {
	const secret = "NOTE-SECRET-7f3a the customer is lying"
	tk := d.openTicket(t, d.olga, d.open, "Printer smokes", "My printer smokes")
	ows := d.olga.socket(t)
	follow(t, ows, tkTicketTopic(tk))
	follow(t, ows, tkUserTopic(d.olga.id))
	ows.send(`{"type":"subscribe","topic":"` + tkPanelTopic(d.open) + `"}`)
	if f := ows.next(); f.Type != realtime.TypeRefused {
		t.Fatalf("the opener subscribing to the panel's topic: %+v", f)
	}
	ows.send(`{"type":"subscribe","topic":"` + tkNotesTopic(tk) + `"}`)
	if f := ows.next(); f.Type != realtime.TypeRefused {
		t.Fatalf("the opener subscribing to the notes' topic: %+v", f)
	}
	gws := d.nora.socket(t)
	follow(t, gws, tkNotesTopic(tk))
	follow(t, gws, tkPanelTopic(d.open))

	stamp := func() int64 {
		return d.id(t, `SELECT (extract(epoch FROM updated_at) * 1e6 + extract(epoch FROM last_public_at))::bigint FROM tickets WHERE id = $1`, tk)
	}
	before := stamp()
	var note tkNote
	d.nora.must(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/notes", tk), map[string]any{"body": secret}, 201, &note)
	if stamp() != before {
		t.Fatal("a note changed the ticket's times the customer sees")
	}
	if note.Body != secret || note.Author == nil || note.Author.Username != "nora" {
		t.Fatalf("note %+v", note)
	}
	ev := awaitEvent(t, gws, tkNotesTopic(tk), tkEventType("note"))
	if int64(ev.Data["note"].(float64)) != note.ID || len(ev.Data) != 3 {
		t.Fatalf("note event %v", ev.Data)
	}
	// A public reply after the note: everything the opener's socket gets
	// up to it came after the note too.
	var reply tkMessage
	d.nora.must(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/replies", tk), map[string]any{"body": "We are looking at it."}, 201, &reply)
	for {
		f := ows.next()
		if f.Type != realtime.TypeEvent {
			t.Fatalf("opener's socket: %+v", f)
		}
		if bytes.Contains(f.Data, []byte("NOTE-SECRET")) || bytes.Contains(f.Data, []byte(`"note"`)) {
			t.Fatalf("the opener's socket got %s on %s", f.Data, f.Topic)
		}
		e := decodeChatEvent(t, f)
		if f.Topic == tkTicketTopic(tk) && e.Data["type"] == "message" && int64(e.Data["message"].(float64)) == reply.ID {
			break
		}
	}
	// The panel's topic tells staff of the reply, never of the note.
	pe := awaitEvent(t, gws, tkPanelTopic(d.open), nil)
	if pe.Data["type"] != "ticket" || bytes.Contains([]byte(fmt.Sprint(pe.Data)), []byte("note")) {
		t.Fatalf("panel event %v", pe.Data)
	}

	// noSecret reads path as who: it answers 200 with the public text
	// shown (the check reads a real page, not an error), and no note.
	noSecret := func(t *testing.T, who *chatter, path, shown string) {
		t.Helper()
		st, b := who.api(t, "GET", path, nil)
		if tkRouteMissing(st, b) {
			t.Logf("MISSING ON THIS BRANCH: %s (another slice's route)", path)
			return
		}
		if bytes.Contains(b, []byte("NOTE-SECRET")) {
			t.Fatalf("%s as %s (%d) shows the note: %.400s", path, who.name, st, b)
		}
		if st != 200 || !bytes.Contains(b, []byte(shown)) {
			t.Fatalf("%s as %s: %d without %q: %.400s", path, who.name, st, shown, b)
		}
	}
	noSecret(t, d.olga, fmt.Sprintf("/tickets/api/tickets/%d", tk), "We are looking at it.")
	noSecret(t, d.olga, "/tickets/api/tickets?status=all", "Printer smokes")
	noSecret(t, d.olga, fmt.Sprintf("/tickets/%d", tk), "Printer smokes")
	// An agent's view has it.
	if v := d.view(t, d.nora, tk); len(v.Notes) != 1 || v.Notes[0].Body != secret {
		t.Fatalf("agent's view notes %+v", v.Notes)
	}
	// A guest's ticket (opened with the rows the guest route writes: its
	// link's token hashed) with a note: the guest's private view has no
	// trace of it.
	secretBytes := make([]byte, 32)
	rand.Read(secretBytes)
	token := base64.RawURLEncoding.EncodeToString(secretBytes)
	sum := sha256.Sum256(secretBytes)
	gt := d.id(t, `INSERT INTO tickets (panel_id, guest_email, guest_name, guest_token, subject)
		VALUES ($1, 'guest@example.test', 'Gus', $2, 'Guest printer') RETURNING id`, d.open, sum[:])
	d.sql(t, `INSERT INTO messages (ticket_id, guest, body) VALUES ($1, true, 'guest words')`, gt)
	d.nora.must(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/notes", gt), map[string]any{"body": secret}, 201, nil)
	d.nora.must(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/replies", gt), map[string]any{"body": "Hello guest"}, 201, nil)
	guest := newChatter(t, d.s.URL, "guest", "203.0.113.77")
	if st, b := guest.api(t, "GET", "/tickets/guest/api/t/"+token, nil); tkRouteMissing(st, b) {
		t.Log("MISSING ON THIS BRANCH: the guests' ticket view (guest slice)")
	} else if st != 200 || !bytes.Contains(b, []byte("Hello guest")) || bytes.Contains(b, []byte("NOTE-SECRET")) {
		t.Fatalf("the guest's view: %d %.400s", st, b)
	}
	noSecret(t, guest, "/tickets/guest/t/"+token, "Guest printer")
	// A merge: the note moves with its ticket and stays internal.
	dst := d.openTicket(t, d.olga, d.open, "Printer smokes again", "Same printer")
	d.nora.must(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/merge", tk), map[string]int64{"into": dst}, 200, nil)
	if v := d.view(t, d.nora, dst); !slices.ContainsFunc(v.Notes, func(n tkNote) bool { return n.Body == secret }) {
		t.Fatalf("the note did not move with the merge: %+v", v.Notes)
	}
	d.nora.must(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/status", dst), map[string]string{"status": "closed"}, 200, nil)
	// The merged source keeps its subject and its events; the target has
	// the whole conversation.
	for id, shown := range map[int64]string{tk: "Printer smokes", dst: "We are looking at it."} {
		noSecret(t, d.olga, fmt.Sprintf("/tickets/api/tickets/%d", id), shown)
		for _, who := range []*chatter{d.olga, d.nora} {
			noSecret(t, who, fmt.Sprintf("/tickets/%d/transcript.html", id), shown)
			noSecret(t, who, fmt.Sprintf("/tickets/%d/transcript.txt", id), shown)
		}
	}
	// The opener's export (privacy.go, another slice) and the mail sent.
	if s := d.s.srv.Module("tickets"); s != nil {
		var n int
		if err := s.DB().Pool().QueryRow(t.Context(), `SELECT count(*) FROM outbox WHERE body LIKE '%NOTE-SECRET%' OR subject LIKE '%NOTE-SECRET%'`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d mails carry the note (%v)", n, err)
		}
		if err := s.DB().Pool().QueryRow(t.Context(), `SELECT count(*) FROM messages WHERE body LIKE '%NOTE-SECRET%' OR event::text LIKE '%NOTE-SECRET%'`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d public messages carry the note (%v)", n, err)
		}
	}
	resp, err := d.s.srv.Module("tickets").Call(t.Context(), abi.UserExportPath, nil, userBody(d.olga.id), "export-test")
	switch {
	case errors.Is(err, modhost.ErrNotServed):
		t.Log("MISSING ON THIS BRANCH: the tickets' user export (privacy, another slice)")
	case err != nil:
		t.Fatalf("export: %v", err)
	case bytes.Contains(resp.Body, []byte("NOTE-SECRET")):
		t.Fatalf("the opener's export carries the note")
	case resp.Status != 200 || !bytes.Contains(resp.Body, []byte("Printer smokes")):
		t.Fatalf("the opener's export: %d %.400s", resp.Status, resp.Body)
	}
}

// testSLA: a pending ticket's clock stops (paused, not overdue) and its
// due time moves by the pause's length when it leaves pending; the
// overdue and due-soon views.
func (d *tkStaffDesk) testSLA(t *testing.T) {
	tk := d.openTicket(t, d.olga, d.grouped, "SLA ticket", "Clock")
	v := d.view(t, d.gina, tk).Ticket
	if v.NextDue == nil || v.Paused {
		t.Fatalf("a new ticket of a panel with targets: %+v", v)
	}
	due0 := tkTime(t, *v.NextDue)
	if left := time.Until(due0); left < 50*time.Minute || left > 61*time.Minute {
		t.Fatalf("first response due in %v, want about 60 minutes", left)
	}
	d.gina.must(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/status", tk), map[string]string{"status": "pending"}, 200, &v)
	if !v.Paused || v.Status != "pending" {
		t.Fatalf("pending: %+v", v)
	}
	// A pause of 3 hours, as if it began 3 hours ago.
	d.sql(t, `UPDATE tickets SET paused_at = paused_at - interval '3 hours' WHERE id = $1`, tk)
	d.gina.must(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/status", tk), map[string]string{"status": "open"}, 200, &v)
	if v.Paused || v.NextDue == nil {
		t.Fatalf("left pending: %+v", v)
	}
	if shift := tkTime(t, *v.NextDue).Sub(due0); shift < 3*time.Hour-time.Minute || shift > 3*time.Hour+10*time.Minute {
		t.Fatalf("the due time moved by %v, want the pause's 3 hours", shift)
	}

	// Overdue and due soon: three tickets, due an hour ago, in an hour, in
	// a day; a fourth overdue but pending (paused: in neither).
	mk := func(subject string, due string, pending bool) int64 {
		id := d.openTicket(t, d.olga, d.grouped, subject, "due")
		if pending {
			d.gina.must(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/status", id), map[string]string{"status": "pending"}, 200, nil)
		}
		d.sql(t, `UPDATE tickets SET first_response_due = now() + $2::interval, resolution_due = now() + $2::interval WHERE id = $1`, id, due)
		return id
	}
	late := mk("late one", "-1 hour", false)
	soon := mk("soon one", "1 hour", false)
	later := mk("later one", "1 day", false)
	paused := mk("paused late one", "-1 hour", true)
	ids := func(q string) []int64 {
		var page struct{ Tickets []tkTicket }
		d.gina.must(t, "GET", "/tickets/staff/api/queue?"+q, nil, 200, &page)
		var out []int64
		for _, x := range page.Tickets {
			out = append(out, x.ID)
		}
		return out
	}
	over, dueSoon := ids("overdue=1&limit=100"), ids("due_soon=1&limit=100")
	if !slices.Contains(over, late) || slices.ContainsFunc(over, func(id int64) bool { return id == soon || id == later || id == paused }) {
		t.Errorf("overdue: %v (late %d soon %d later %d paused %d)", over, late, soon, later, paused)
	}
	if !slices.Contains(dueSoon, soon) || slices.ContainsFunc(dueSoon, func(id int64) bool { return id == late || id == later || id == paused }) {
		t.Errorf("due soon: %v (late %d soon %d later %d paused %d)", dueSoon, late, soon, later, paused)
	}
	var counts map[string]int
	d.gina.must(t, "GET", "/tickets/staff/api/counts", nil, 200, &counts)
	if counts["overdue"] < 1 || counts["due_soon"] < 1 || counts["pending"] < 1 {
		t.Errorf("counts %v", counts)
	}
	if pv := d.view(t, d.gina, paused).Ticket; !pv.Paused || pv.Overdue {
		t.Errorf("a pending ticket past its due time: %+v", pv)
	}
}

func tkTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// testQueue: filters, sorts both ways, paging with cursors (every ticket
// once, in order), search, and the panels one works.
func (d *tkStaffDesk) testQueue(t *testing.T) {
	words := []string{"kettle", "toaster", "blender", "fridge"}
	var mine []int64
	for i := range 12 {
		id := d.openTicket(t, d.mark, d.open, fmt.Sprintf("Queue %s %d", words[i%4], i), "appliance trouble "+words[(i+1)%4])
		mine = append(mine, id)
		d.nora.must(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/priority", id), map[string]int{"urgency": 1 + i%3, "impact": 1 + (i/3)%3}, 200, nil)
	}
	d.nora.must(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/claim", mine[0]), nil, 200, nil)
	d.nora.must(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/status", mine[1]), map[string]string{"status": "on_hold"}, 200, nil)
	d.nora.must(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/status", mine[2]), map[string]string{"status": "closed"}, 200, nil)
	d.nora.must(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/notes", mine[3]), map[string]any{"body": "zeppelin internal word"}, 201, nil)

	type page struct {
		Tickets []tkTicket
		Next    *string
	}
	all := func(t *testing.T, who *chatter, q string) []tkTicket {
		t.Helper()
		var out []tkTicket
		cur := ""
		for n := 0; ; n++ {
			var p page
			who.must(t, "GET", "/tickets/staff/api/queue?"+q+cur, nil, 200, &p)
			out = append(out, p.Tickets...)
			if p.Next == nil {
				return out
			}
			if n > 100 {
				t.Fatal("the queue does not end")
			}
			cur = "&cursor=" + url.QueryEscape(*p.Next)
		}
	}
	onlyMine := func(ts []tkTicket) []tkTicket {
		return slices.DeleteFunc(slices.Clone(ts), func(x tkTicket) bool { return !slices.Contains(mine, x.ID) })
	}

	t.Run("sorts and pages", func(t *testing.T) {
		for _, sort := range []string{"updated", "created", "priority", "due"} {
			for _, order := range []string{"desc", "asc"} {
				q := fmt.Sprintf("status=all&panel=%d&sort=%s&order=%s", d.open, sort, order)
				whole := all(t, d.nora, q+"&limit=100")
				paged := all(t, d.nora, q+"&limit=5")
				if len(whole) != len(paged) || len(whole) < 12 {
					t.Fatalf("%s: %d in one page, %d in pages of 5", q, len(whole), len(paged))
				}
				for i := range whole {
					if whole[i].ID != paged[i].ID {
						t.Fatalf("%s: page order differs at %d: %d vs %d", q, i, whole[i].ID, paged[i].ID)
					}
				}
				if sort == "priority" {
					for i := 1; i < len(whole); i++ {
						a, b := whole[i-1], whole[i]
						if (order == "desc" && (a.Priority < b.Priority || a.Priority == b.Priority && a.ID < b.ID)) ||
							(order == "asc" && (a.Priority > b.Priority || a.Priority == b.Priority && a.ID > b.ID)) {
							t.Fatalf("%s: %d (priority %d) before %d (priority %d)", q, a.ID, a.Priority, b.ID, b.Priority)
						}
					}
				}
				if sort == "created" {
					ids := make([]int64, len(whole))
					for i, x := range whole {
						ids[i] = x.ID
					}
					if !slices.IsSortedFunc(ids, func(a, b int64) int {
						if order == "asc" {
							return int(a - b)
						}
						return int(b - a)
					}) {
						t.Fatalf("%s: %v", q, ids)
					}
				}
			}
		}
	})
	t.Run("filters", func(t *testing.T) {
		byID := func(ts []tkTicket) []int64 {
			var out []int64
			for _, x := range onlyMine(ts) {
				out = append(out, x.ID)
			}
			slices.Sort(out)
			return out
		}
		if got := byID(all(t, d.nora, "assignee=me")); !slices.Equal(got, []int64{mine[0]}) {
			t.Errorf("assignee=me: %v", got)
		}
		if got := byID(all(t, d.gina, "assignee=nora")); !slices.Equal(got, []int64{mine[0]}) {
			t.Errorf("assignee=nora: %v", got)
		}
		if got := byID(all(t, d.nora, "status=on_hold")); !slices.Equal(got, []int64{mine[1]}) {
			t.Errorf("status=on_hold: %v", got)
		}
		if got := byID(all(t, d.nora, "")); slices.Contains(got, mine[2]) || len(got) != 11 {
			t.Errorf("active (default): %v", got)
		}
		if got := byID(all(t, d.nora, "status=closed")); !slices.Equal(got, []int64{mine[2]}) {
			t.Errorf("status=closed: %v", got)
		}
		for _, x := range all(t, d.nora, "priority=3&status=all") {
			if x.Priority < 3 {
				t.Errorf("priority=3 lists %d of priority %d", x.ID, x.Priority)
			}
		}
		if got := byID(all(t, d.nora, "assignee=none")); slices.Contains(got, mine[0]) || len(got) != 10 {
			t.Errorf("assignee=none: %v", got)
		}
	})
	t.Run("search", func(t *testing.T) {
		ids := func(q string) []int64 {
			var out []int64
			for _, x := range onlyMine(all(t, d.nora, "status=all&q="+url.QueryEscape(q))) {
				out = append(out, x.ID)
			}
			slices.Sort(out)
			return out
		}
		want := func(f func(i int) bool) []int64 {
			var out []int64
			for i, id := range mine {
				if f(i) {
					out = append(out, id)
				}
			}
			return out
		}
		if got := ids("kettle"); !slices.Equal(got, want(func(i int) bool { return i%4 == 0 || (i+1)%4 == 0 })) {
			t.Errorf("kettle (subject or message): %v", got)
		}
		if got := ids("ket"); !slices.Equal(got, ids("kettle")) {
			t.Errorf("a prefix of 3 letters: %v", got)
		}
		if got := ids("toast 5"); !slices.Equal(got, []int64{mine[5]}) {
			t.Errorf("two words, both required: %v", got)
		}
		if got := ids("zeppelin"); !slices.Equal(got, []int64{mine[3]}) {
			t.Errorf("a note's word: %v", got)
		}
		for _, hostile := range []string{`kettle' | '`, `!kettle`, `kettle:* & (`, `<-> ''`, `\`} {
			var p page
			d.nora.must(t, "GET", "/tickets/staff/api/queue?status=all&q="+url.QueryEscape(hostile), nil, 200, &p)
		}
	})
	t.Run("cursors", func(t *testing.T) {
		var p page
		d.nora.must(t, "GET", "/tickets/staff/api/queue?status=all&limit=1", nil, 200, &p)
		if p.Next == nil {
			t.Fatal("no next page")
		}
		for _, bad := range []string{"x", *p.Next + "A", "dXBkYXRlZC5kLjE", strings.ToUpper(*p.Next)} {
			st, b := d.nora.api(t, "GET", "/tickets/staff/api/queue?status=all&limit=1&cursor="+url.QueryEscape(bad), nil)
			if st != 400 || !bytes.Contains(b, []byte("not valid")) {
				t.Errorf("cursor %q: %d %s", bad, st, b)
			}
		}
		// A cursor of one sort is refused in another.
		st, _ := d.nora.api(t, "GET", "/tickets/staff/api/queue?status=all&limit=1&sort=created&cursor="+url.QueryEscape(*p.Next), nil)
		if st != 400 {
			t.Errorf("a cursor of another sort: %d", st)
		}
	})
	t.Run("only panels one works", func(t *testing.T) {
		g := d.openTicket(t, d.mark, d.grouped, "Grouped queue ticket", "invoice")
		for who, sees := range map[*chatter]bool{d.gina: true, d.admin: true, d.otto: false, d.nora: false} {
			ts := all(t, who, "status=all&limit=100")
			if slices.ContainsFunc(ts, func(x tkTicket) bool { return x.ID == g }) != sees {
				t.Errorf("%s sees the grouped panel's ticket: %v, want %v", who.name, !sees, sees)
			}
			if slices.ContainsFunc(ts, func(x tkTicket) bool { return x.Panel.ID != d.open && x.Panel.ID != d.grouped }) && !sees {
				t.Errorf("%s lists tickets of other panels", who.name)
			}
		}
	})
}

// testMerge: a ticket merged into another: messages, notes, attachments
// and participants move, the source's opener joins the target, the
// source is closed with merged_into, both get their event, the opener is
// mailed; merging into oneself, a closed or merged ticket, or one not
// worked is refused.
func (d *tkStaffDesk) testMerge(t *testing.T) {
	src := d.openTicket(t, d.mark, d.open, "Merge source", "source's first words")
	dst := d.openTicket(t, d.olga, d.open, "Merge target", "target's first words")
	d.nora.must(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/participants", src), map[string]string{"username": "pete"}, 200, nil)
	d.nora.must(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/notes", src), map[string]any{"body": "source note"}, 201, nil)
	msg := d.id(t, `SELECT min(id) FROM messages WHERE ticket_id = $1`, src)
	att := d.id(t, `INSERT INTO attachments (ticket_id, message_id, uploader_id, name, type, size, sha256, data)
		VALUES ($1, $2, $3, 'm.txt', 'text/plain', 2, sha256('hi'), 'hi') RETURNING id`, src, msg, d.mark.id)
	grouped := d.openTicket(t, d.olga, d.grouped, "Grouped", "not nora's")

	markWS := d.mark.socket(t)
	follow(t, markWS, tkTicketTopic(src))
	olgaWS := d.olga.socket(t)
	follow(t, olgaWS, tkTicketTopic(dst))

	for _, tc := range []struct {
		who    *chatter
		from   int64
		into   int64
		status int
		says   string
	}{
		{d.nora, src, src, 400, "itself"},
		{d.nora, src, grouped, 404, "no ticket to merge into"},
		{d.nora, grouped, src, 404, "no such ticket"},
		{d.nora, src, 999999, 404, "no ticket to merge into"},
	} {
		st, b := tc.who.api(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/merge", tc.from), map[string]int64{"into": tc.into})
		if st != tc.status || !bytes.Contains(b, []byte(tc.says)) {
			t.Errorf("merge %d into %d as %s: %d %s, want %d %q", tc.from, tc.into, tc.who.name, st, b, tc.status, tc.says)
		}
	}

	var target tkTicket
	d.nora.must(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/merge", src), map[string]int64{"into": dst}, 200, &target)
	if target.ID != dst || !tkHas(target.Participants, "mark") || !tkHas(target.Participants, "pete") || tkHas(target.Participants, "olga") {
		t.Fatalf("target %+v", target)
	}
	sv, tv := d.view(t, d.nora, src), d.view(t, d.nora, dst)
	if sv.Ticket.Status != "closed" || sv.Ticket.MergedInto == nil || *sv.Ticket.MergedInto != dst || len(sv.Ticket.Participants) != 0 {
		t.Fatalf("source after merge: %+v", sv.Ticket)
	}
	if !tkHasEvent(sv.Messages, "merged_into", dst) || !tkHasEvent(tv.Messages, "merged_from", src) {
		t.Fatalf("events: source %+v target %+v", sv.Messages, tv.Messages)
	}
	if len(sv.Notes) != 0 || !slices.ContainsFunc(tv.Notes, func(n tkNote) bool { return n.Body == "source note" }) {
		t.Fatalf("notes: source %+v target %+v", sv.Notes, tv.Notes)
	}
	if !slices.ContainsFunc(tv.Messages, func(m tkMessage) bool {
		return m.Body == "source's first words" && len(m.Attachments) == 1 && m.Attachments[0].ID == att
	}) {
		t.Fatalf("the source's message and attachment are not in the target: %+v", tv.Messages)
	}
	if n := d.id(t, `SELECT count(*) FROM attachments WHERE ticket_id = $1`, src); n != 0 {
		t.Fatalf("%d attachments left on the source", n)
	}
	if n := d.id(t, `SELECT count(*) FROM outbox WHERE ticket_id = $1 AND to_addr = 'mark@example.test' AND body LIKE $2`, src, fmt.Sprintf("%%#%d%%", dst)); n != 1 {
		t.Fatalf("%d merge mails to the source's opener", n)
	}
	if n := d.id(t, `SELECT count(*) FROM audit WHERE action = 'merge' AND ticket_id = $1 AND actor_id = $2 AND (detail->>'into')::bigint = $3`, src, d.nora.id, dst); n != 1 {
		t.Fatalf("%d audit rows of the merge", n)
	}
	awaitEvent(t, markWS, tkTicketTopic(src), tkEventType("ticket"))
	awaitEvent(t, olgaWS, tkTicketTopic(dst), tkEventType("ticket"))
	// The source's opener now reads the target as its participant.
	st, _ := d.mark.api(t, "GET", fmt.Sprintf("/tickets/api/tickets/%d", dst), nil)
	if st != 200 && st != 404 {
		t.Fatalf("the source's opener reading the target: %d", st)
	}
	if mws := d.mark.socket(t); true {
		follow(t, mws, tkTicketTopic(dst))
	}

	// Into a merged or closed ticket, or merging a merged one: refused.
	other := d.openTicket(t, d.olga, d.open, "Another", "x")
	for _, tc := range []struct {
		from, into int64
		says       string
	}{
		{other, src, "merge into that one"},
		{src, other, "already merged"},
	} {
		st, b := d.nora.api(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/merge", tc.from), map[string]int64{"into": tc.into})
		if st != 409 || !bytes.Contains(b, []byte(tc.says)) {
			t.Errorf("merge %d into %d: %d %s", tc.from, tc.into, st, b)
		}
	}
	d.nora.must(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/status", other), map[string]string{"status": "closed"}, 200, nil)
	third := d.openTicket(t, d.olga, d.open, "Third", "y")
	if st, b := d.nora.api(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/merge", third), map[string]int64{"into": other}); st != 409 || !bytes.Contains(b, []byte("closed")) {
		t.Errorf("merge into a closed ticket: %d %s", st, b)
	}
}

func tkHas(us []tkUser, name string) bool {
	return slices.ContainsFunc(us, func(u tkUser) bool { return u.Username == name })
}

func tkHasEvent(ms []tkMessage, typ string, ticket int64) bool {
	return slices.ContainsFunc(ms, func(m tkMessage) bool {
		var e struct {
			Type   string `json:"type"`
			Ticket int64  `json:"ticket"`
		}
		return m.Kind == "event" && json.Unmarshal(m.Event, &e) == nil && e.Type == typ && e.Ticket == ticket
	})
}

// testClaimRace: two agents claim one ticket at once: exactly one wins,
// the other is told someone has it; one claimed event.
func (d *tkStaffDesk) testClaimRace(t *testing.T) {
	for round := range 5 {
		tk := d.openTicket(t, d.olga, d.grouped, fmt.Sprintf("Race %d", round), "who gets it")
		var wg sync.WaitGroup
		status := map[string]int{}
		var mu sync.Mutex
		for _, who := range []*chatter{d.gina, d.admin} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st, _ := chatJSON(t, who.c, "POST", fmt.Sprintf("%s/tickets/staff/api/tickets/%d/claim", who.base, tk), nil)
				mu.Lock()
				status[who.name] = st
				mu.Unlock()
			}()
		}
		wg.Wait()
		v := d.view(t, d.gina, tk)
		if v.Ticket.Assignee == nil {
			t.Fatalf("round %d: nobody has it (%v)", round, status)
		}
		winner := v.Ticket.Assignee.Username
		for name, st := range status {
			if want := map[bool]int{true: 200, false: 409}[name == winner]; st != want {
				t.Fatalf("round %d: %s got %d, want %d (winner %s)", round, name, st, want, winner)
			}
		}
		n := 0
		for _, m := range v.Messages {
			if m.Kind == "event" && bytes.Contains(m.Event, []byte(`"claimed"`)) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("round %d: %d claimed events", round, n)
		}
	}
}

// testWork: replies (first response, status in the same step, mail,
// answer event), assignment to who works the panel only, participants,
// priority, canned replies and the audit of each.
func (d *tkStaffDesk) testWork(t *testing.T) {
	tk := d.openTicket(t, d.olga, d.grouped, "Work ticket", "Help me")
	ows := d.olga.socket(t)
	follow(t, ows, tkUserTopic(d.olga.id))

	t.Run("reply", func(t *testing.T) {
		for _, bad := range []map[string]any{{"body": ""}, {"body": "x", "status": "new"}, {"body": "x", "status": "done"}, {"body": strings.Repeat("x", 20001)}, {"body": "a\x00b"}} {
			if st, b := d.gina.api(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/replies", tk), bad); st != 400 {
				t.Errorf("reply %v: %d %s", bad, st, b)
			}
		}
		var m tkMessage
		d.gina.must(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/replies", tk), map[string]any{"body": "<b>Hello</b> Olga", "status": "pending"}, 201, &m)
		if m.Body != "<b>Hello</b> Olga" || !m.Staff || m.Author == nil || m.Author.Username != "gina" {
			t.Fatalf("reply %+v", m)
		}
		v := d.view(t, d.gina, tk)
		if v.Ticket.Status != "pending" || !v.Ticket.Paused {
			t.Fatalf("after a reply with status pending: %+v", v.Ticket)
		}
		var fr *time.Time
		if err := d.s.srv.Module("tickets").DB().Pool().QueryRow(t.Context(), `SELECT first_response_at FROM tickets WHERE id = $1`, tk).Scan(&fr); err != nil || fr == nil {
			t.Fatalf("first_response_at %v %v", fr, err)
		}
		if n := d.id(t, `SELECT count(*) FROM outbox WHERE ticket_id = $1 AND to_addr = 'olga@example.test' AND body LIKE '%<b>Hello</b> Olga%'`, tk); n != 1 {
			t.Fatalf("%d reply mails", n)
		}
		e := awaitEvent(t, ows, tkUserTopic(d.olga.id), tkEventType("answer"))
		if int64(e.Data["message"].(float64)) != m.ID || int64(e.Data["ticket"].(float64)) != tk {
			t.Fatalf("answer event %v", e.Data)
		}
	})
	t.Run("assign", func(t *testing.T) {
		for name, want := range map[string]int{"otto": 400, "nora": 400, "olga": 400, "nobody_here": 404, "gina": 200, "tkadmin": 200} {
			st, b := d.gina.api(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/assign", tk), map[string]string{"username": name})
			if st != want {
				t.Errorf("assign to %s: %d %s, want %d", name, st, b, want)
			}
		}
		var agents struct{ Agents []tkUser }
		d.gina.must(t, "GET", fmt.Sprintf("/tickets/staff/api/agents?panel=%d", d.grouped), nil, 200, &agents)
		var names []string
		for _, a := range agents.Agents {
			names = append(names, a.Username)
		}
		if !slices.Contains(names, "gina") || !slices.Contains(names, "tkadmin") || slices.Contains(names, "otto") || slices.Contains(names, "nora") || slices.Contains(names, "olga") {
			t.Errorf("agents of the grouped panel: %v", names)
		}
		d.gina.must(t, "GET", fmt.Sprintf("/tickets/staff/api/agents?panel=%d", d.open), nil, 200, &agents)
		names = nil
		for _, a := range agents.Agents {
			names = append(names, a.Username)
		}
		if !slices.Contains(names, "otto") || !slices.Contains(names, "nora") || slices.Contains(names, "olga") {
			t.Errorf("agents of a panel without a group: %v", names)
		}
		var v tkTicket
		d.gina.must(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/assign", tk), map[string]string{"username": ""}, 200, &v)
		if v.Assignee != nil {
			t.Errorf("unassigned: %+v", v.Assignee)
		}
		if n := d.id(t, `SELECT count(*) FROM audit WHERE ticket_id = $1 AND action IN ('assign', 'unassign')`, tk); n != 3 {
			t.Errorf("%d audit rows of assignments", n)
		}
	})
	t.Run("participants", func(t *testing.T) {
		path := fmt.Sprintf("/tickets/staff/api/tickets/%d/participants", tk)
		if st, b := d.gina.api(t, "POST", path, map[string]string{"username": "olga"}); st != 400 || !bytes.Contains(b, []byte("opened")) {
			t.Errorf("add the opener: %d %s", st, b)
		}
		var v tkTicket
		d.gina.must(t, "POST", path, map[string]string{"username": "mark"}, 200, &v)
		if !tkHas(v.Participants, "mark") {
			t.Fatalf("participants %+v", v.Participants)
		}
		// mark now reads the ticket's topic; removed, no more.
		mws := d.mark.socket(t)
		follow(t, mws, tkTicketTopic(tk))
		d.gina.must(t, "DELETE", fmt.Sprintf("%s/%d", path, d.mark.id), nil, 200, &v)
		if tkHas(v.Participants, "mark") {
			t.Fatalf("still a participant: %+v", v.Participants)
		}
		if st, _ := d.gina.api(t, "DELETE", fmt.Sprintf("%s/%d", path, d.mark.id), nil); st != 404 {
			t.Errorf("remove again: %d", st)
		}
		// Their open subscription ends (revoked), whatever came before.
		for {
			f := mws.next()
			if f.Type == realtime.TypeRefused && f.Topic == tkTicketTopic(tk) && f.Reason == realtime.ReasonRevoked {
				break
			}
			if f.Type != realtime.TypeEvent {
				t.Fatalf("a removed participant's socket: %+v", f)
			}
		}
		m2 := d.mark.socket(t)
		m2.send(`{"type":"subscribe","topic":"` + tkTicketTopic(tk) + `"}`)
		if f := m2.next(); f.Type != realtime.TypeRefused {
			t.Errorf("a removed participant subscribing: %+v", f)
		}
		// At most 50.
		for i := range 50 {
			name := fmt.Sprintf("crowd%02d", i)
			if _, err := d.s.srv.site.Store().CreateUser(t.Context(), site.NewUser{Username: name, Password: chatPassword, Role: site.RoleMember}); err != nil {
				t.Fatal(err)
			}
			d.gina.must(t, "POST", path, map[string]string{"username": name}, 200, nil)
		}
		if st, b := d.gina.api(t, "POST", path, map[string]string{"username": "pete"}); st != 409 {
			t.Errorf("a 51st participant: %d %s", st, b)
		}
	})
	t.Run("priority", func(t *testing.T) {
		for _, bad := range []map[string]int{{"urgency": 0, "impact": 1}, {"urgency": 4, "impact": 1}, {"urgency": 1}} {
			if st, _ := d.gina.api(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/priority", tk), bad); st != 400 {
				t.Errorf("priority %v: %d", bad, st)
			}
		}
		var v tkTicket
		d.gina.must(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/priority", tk), map[string]int{"urgency": 3, "impact": 3}, 200, &v)
		if v.Priority != 4 {
			t.Errorf("priority %d, want 4 (urgent)", v.Priority)
		}
	})
	t.Run("status", func(t *testing.T) {
		var v tkTicket
		d.gina.must(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/status", tk), map[string]string{"status": "solved"}, 200, &v)
		if v.Status != "solved" {
			t.Fatalf("status %s", v.Status)
		}
		if n := d.id(t, `SELECT count(*) FROM outbox WHERE ticket_id = $1 AND body LIKE '%is solved%'`, tk); n != 1 {
			t.Errorf("%d solved mails", n)
		}
		if st, _ := d.gina.api(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/status", tk), map[string]string{"status": "new"}); st != 400 {
			t.Errorf("back to new: %d", st)
		}
	})
	t.Run("canned", func(t *testing.T) {
		var all, one struct{ ID int64 }
		d.otto.must(t, "POST", "/tickets/staff/api/canned", map[string]any{"title": "Everywhere", "body": "Hi there"}, 201, &all)
		d.gina.must(t, "POST", "/tickets/staff/api/canned", map[string]any{"title": "Invoices only", "body": "About your invoice", "panel_id": d.grouped}, 201, &one)
		// A panel's canned replies are its staff's (otto's group does not work it).
		if st, _ := d.otto.api(t, "POST", "/tickets/staff/api/canned", map[string]any{"title": "x", "body": "y", "panel_id": d.grouped}); st != 400 {
			t.Errorf("canned of another group's panel: %d", st)
		}
		for _, bad := range []map[string]any{{"title": "", "body": "x"}, {"title": "x", "body": ""}, {"title": "a\nb", "body": "x"}, {"title": "x", "body": "y", "panel_id": 999999}} {
			if st, _ := d.otto.api(t, "POST", "/tickets/staff/api/canned", bad); st != 400 {
				t.Errorf("canned %v: %d", bad, st)
			}
		}
		list := func(q string) []int64 {
			var out struct {
				Canned []struct{ ID int64 }
			}
			d.gina.must(t, "GET", "/tickets/staff/api/canned"+q, nil, 200, &out)
			var ids []int64
			for _, c := range out.Canned {
				ids = append(ids, c.ID)
			}
			return ids
		}
		if ids := list(fmt.Sprintf("?panel=%d", d.open)); !slices.Contains(ids, all.ID) || slices.Contains(ids, one.ID) {
			t.Errorf("canned of the open panel: %v", ids)
		}
		if ids := list(fmt.Sprintf("?panel=%d", d.grouped)); !slices.Contains(ids, all.ID) || !slices.Contains(ids, one.ID) {
			t.Errorf("canned of the grouped panel: %v", ids)
		}
		var c struct {
			Title   string
			PanelID *int64 `json:"panel_id"`
		}
		if st, _ := d.nora.api(t, "PUT", fmt.Sprintf("/tickets/staff/api/canned/%d", one.ID), map[string]any{"title": "Renamed", "body": "b"}); st != 404 {
			t.Errorf("nora, of no group, edits the grouped panel's canned reply: %d", st)
		}
		d.gina.must(t, "PUT", fmt.Sprintf("/tickets/staff/api/canned/%d", one.ID), map[string]any{"title": "Renamed", "body": "b"}, 200, &c)
		if c.Title != "Renamed" || c.PanelID != nil {
			t.Errorf("updated %+v", c)
		}
		// Renamed without a panel, it is every staff member's.
		d.nora.must(t, "DELETE", fmt.Sprintf("/tickets/staff/api/canned/%d", one.ID), nil, 204, nil)
		if st, _ := d.nora.api(t, "DELETE", fmt.Sprintf("/tickets/staff/api/canned/%d", one.ID), nil); st != 404 {
			t.Errorf("delete again: %d", st)
		}
	})
}

// testCommands: close, assign and reopen from the admin area (the admin
// is the actor) and from the terminal (the desk is), through the same
// functions as the routes: status events, mail, the desk's audit.
func (d *tkStaffDesk) testCommands(t *testing.T) {
	tk := d.openTicket(t, d.olga, d.grouped, "Command ticket", "from the terminal")
	admin := d.s.siteUser(t, "tkadmin")
	run := func(command string, args map[string]any) (string, error) {
		raw := map[string]json.RawMessage{}
		for k, v := range args {
			b, _ := json.Marshal(v)
			raw[k] = b
		}
		res, err := d.s.srv.RunCommand(t.Context(), admin, "tickets", command, raw)
		if err != nil {
			return "", err
		}
		b, _ := json.Marshal(res)
		return string(b), nil
	}
	if _, err := run("assign", map[string]any{"ticket": tk, "user": "otto"}); err == nil || !strings.Contains(err.Error(), "does not work") {
		t.Fatalf("assign to staff of another group: %v", err)
	}
	if out, err := run("assign", map[string]any{"ticket": tk, "user": "gina"}); err != nil || !strings.Contains(out, "assigned to gina") {
		t.Fatalf("assign: %s %v", out, err)
	}
	if _, err := run("reopen", map[string]any{"ticket": tk}); err == nil || !strings.Contains(err.Error(), "not solved or closed") {
		t.Fatalf("reopen an open ticket: %v", err)
	}
	if _, err := run("close", map[string]any{"ticket": 999999}); err == nil || !strings.Contains(err.Error(), "no ticket #999999") {
		t.Fatalf("close a missing ticket: %v", err)
	}
	if out, err := run("close", map[string]any{"ticket": tk, "reason": "duplicate of a phone call"}); err != nil || !strings.Contains(out, "closed") {
		t.Fatalf("close: %s %v", out, err)
	}
	v := d.view(t, d.gina, tk)
	if v.Ticket.Status != "closed" || v.Ticket.Assignee == nil || v.Ticket.Assignee.Username != "gina" {
		t.Fatalf("after the commands: %+v", v.Ticket)
	}
	if !slices.ContainsFunc(v.Notes, func(n tkNote) bool { return strings.Contains(n.Body, "duplicate of a phone call") }) {
		t.Fatalf("the reason is not kept: %+v", v.Notes)
	}
	for _, m := range v.Messages {
		if strings.Contains(m.Body, "phone call") || strings.Contains(string(m.Event), "phone call") {
			t.Fatalf("the reason is public: %+v", m)
		}
	}
	if n := d.id(t, `SELECT count(*) FROM outbox WHERE ticket_id = $1 AND body LIKE '%is closed%'`, tk); n != 1 {
		t.Fatalf("%d closed mails", n)
	}
	if n := d.id(t, `SELECT count(*) FROM audit WHERE ticket_id = $1 AND actor_id = $2 AND action IN ('assign', 'status')`, tk, admin.ID); n != 2 {
		t.Fatalf("%d audit rows by the admin", n)
	}

	// From the terminal: no user, the desk acts.
	res, err := d.con.Exec(t.Context(), "tickets", "reopen", map[string]string{"ticket": fmt.Sprint(tk)}, "terminal (tester)", RequestOptions{Wait: time.Minute})
	if err != nil || !strings.Contains(fmt.Sprint(res), "open again") {
		t.Fatalf("reopen from the terminal: %+v %v", res, err)
	}
	if v := d.view(t, d.gina, tk); v.Ticket.Status != "open" {
		t.Fatalf("reopened: %s", v.Ticket.Status)
	}
	if n := d.id(t, `SELECT count(*) FROM audit WHERE ticket_id = $1 AND actor_id IS NULL AND action = 'status' AND detail->>'via' = 'terminal'`, tk); n != 1 {
		t.Fatalf("%d audit rows from the terminal", n)
	}
}
