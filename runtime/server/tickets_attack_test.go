package server

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"slices"
	"strings"
	"testing"

	"github.com/websonic/websonic/runtime/internal/mail/mailtest"
	"github.com/websonic/websonic/runtime/internal/realtime"
	"github.com/websonic/websonic/runtime/internal/site"
)

// The desk as an attacker meets it (modules/tickets): each subtest is a
// finding of the attacker's review, failing before its fix. One site, with
// a real SMTP relay, serves them all.

func TestTicketsAttack(t *testing.T) {
	relay := mailtest.Start(t, mailtest.Options{})
	s := ticketsSite(t, func(c *Config) {
		c.Mail.Relay = "smtp+insecure://" + relay.Addr
		c.Mail.From = "Acme <support@acme.test>"
	})
	d := newTkcDesk(t, s)
	panel := d.one(t, `SELECT id FROM mod_tickets.panels WHERE name = 'Problem'`)
	bob := s.person(t, "bob", site.RoleStaff)

	// A subject may hold characters that a mail's Subject line may not (a
	// right-to-left mark typed with Hebrew or Arabic, a replacement
	// character pasted from a broken text): the relay must still get the
	// mails of that ticket, with the rest of the subject, instead of the
	// runtime refusing every try until the desk gives up.
	t.Run("SubjectTheMailRefuses", func(t *testing.T) {
		dana := s.person(t, "dana", site.RoleMember)
		var tk tkTicket
		subject := "Facture \u200f\u05d0\u05d1 \u202eevil\u202c \ufffd broken"
		dana.must(t, "POST", "/tickets/api/tickets", map[string]any{
			"panel_id": panel, "subject": subject, "description": "Help.",
		}, 201, &tk)
		if tk.Subject != subject {
			t.Fatalf("subject stored as %q, want %q", tk.Subject, subject)
		}
		before := len(relay.Messages())
		bob.must(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/replies", tk.ID),
			map[string]any{"body": "We look into it."}, 201, nil)
		// The reply's request sends its mail before it answers.
		if n := d.one(t, `SELECT count(*) FROM mod_tickets.outbox WHERE ticket_id = $1 AND sent_at IS NOT NULL AND last_error IS NULL`, tk.ID); n != 1 {
			var lastErr string
			d.sql.QueryRow(t.Context(), `SELECT coalesce(max(last_error), '') FROM mod_tickets.outbox WHERE ticket_id = $1`, tk.ID).Scan(&lastErr)
			t.Fatalf("%d mails of ticket %d sent, want 1; the relay's answer: %q", n, tk.ID, lastErr)
		}
		m := relay.Wait(t, before+1)[before]
		got, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
		if want := fmt.Sprintf("[#%d] Facture \u05d0\u05d1 evil broken", tk.ID); err != nil || got != want {
			t.Fatalf("subject %q (%v), want %q", got, err, want)
		}
	})

	// The guest form mails the private link to any address typed in. A
	// guest may solve their own ticket through the link they are given at
	// once, so the open-ticket limit alone does not bound the mails one
	// address receives: a script would open, solve and open again, and
	// bury a stranger's mailbox under the site's mails (up to the
	// site-wide hourly cap, which it would exhaust for every real guest
	// too). An address gets at most a few guest tickets a day.
	t.Run("GuestFormMailsAStrangerWithoutEnd", func(t *testing.T) {
		d.exec(t, `UPDATE mod_tickets.panels SET guests = true WHERE id = $1`, panel)
		d.settings(t, map[string]any{"allow_guests": true})
		attacker := newChatter(t, s.URL, "script", "10.66.6.6")
		const victim = "victim@elsewhere.test"
		opened := 0
		for i := range 8 {
			var out struct {
				Link  string `json:"link"`
				Error string `json:"error"`
			}
			st, b := attacker.api(t, "POST", "/tickets/guest/api/tickets", map[string]any{
				"panel_id": panel, "email": victim, "name": "Spam",
				"subject": fmt.Sprintf("Buy pills %d", i), "description": "Cheap pills.",
			})
			if st != 201 {
				if st != 409 || !strings.Contains(string(b), "this e-mail address") {
					t.Fatalf("opening %d: %d %s", i, st, b)
				}
				break
			}
			opened++
			if err := json.Unmarshal(b, &out); err != nil {
				t.Fatal(err)
			}
			token := out.Link[strings.LastIndexByte(out.Link, '/')+1:]
			attacker.must(t, "POST", "/tickets/guest/api/t/"+token+"/solve", nil, 200, nil)
		}
		if opened > 3 {
			t.Fatalf("%d guest tickets opened for %s in a row, each mailing it; want at most 3", opened, victim)
		}
		if n := d.one(t, `SELECT count(*) FROM mod_tickets.outbox WHERE lower(to_addr) = $1`, victim); n != int64(opened) {
			t.Fatalf("%d mails to %s, want %d", n, victim, opened)
		}
		// Another address is not held back by that one.
		var out struct {
			Link string `json:"link"`
		}
		attacker.must(t, "POST", "/tickets/guest/api/tickets", map[string]any{
			"panel_id": panel, "email": "Real.Guest@home.test", "name": "Real",
			"subject": "Lost parcel", "description": "Where is it?",
		}, 201, &out)
	})

	// A staff member taken out of a panel's group works it no more: the
	// queue and the notes they were following must stop reaching them
	// (sdk.Unsubscribe), as a removed participant's ticket does.
	ada := s.person(t, "ada", site.RoleAdmin)
	erin := s.person(t, "erin", site.RoleMember)
	billing := d.one(t, `SELECT id FROM mod_tickets.panels WHERE name = 'Billing'`)
	t.Run("GroupRemovalKeepsSubscriptions", func(t *testing.T) {
		gwen := s.person(t, "gwen", site.RoleStaff)
		ada.must(t, "POST", "/tickets/admin/api/groups", map[string]any{"name": "accounts", "label": "Accounts"}, 201, nil)
		ada.must(t, "POST", "/tickets/admin/api/groups/accounts/members", map[string]any{"username": "gwen"}, 201, nil)
		d.exec(t, `UPDATE mod_tickets.panels SET group_name = 'accounts' WHERE id = $1`, billing)
		var tk tkTicket
		erin.must(t, "POST", "/tickets/api/tickets", map[string]any{
			"panel_id": billing, "subject": "Refund", "description": "Please.",
		}, 201, &tk)
		ws := gwen.socket(t)
		follow(t, ws, tkPanelTopic(billing))
		follow(t, ws, tkNotesTopic(tk.ID))
		follow(t, ws, tkTicketTopic(tk.ID))
		ada.must(t, "DELETE", fmt.Sprintf("/tickets/admin/api/groups/accounts/members/%d", gwen.id), nil, 204, nil)
		// What happens next on the panel reaches her no more.
		ada.must(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/notes", tk.ID), map[string]any{"body": "VIP"}, 201, nil)
		erin.must(t, "POST", "/tickets/api/tickets", map[string]any{
			"panel_id": billing, "subject": "Invoice", "description": "Wrong address.",
		}, 201, nil)
		tkaRevoked(t, ws, "gwen", tkPanelTopic(billing), tkNotesTopic(tk.ID), tkTicketTopic(tk.ID))
		// And she may not follow them again.
		ws2 := gwen.socket(t)
		for _, tp := range []string{tkPanelTopic(billing), tkNotesTopic(tk.ID)} {
			ws2.send(`{"type":"subscribe","topic":"` + tp + `"}`)
			if f := ws2.next(); f.Type != realtime.TypeRefused {
				t.Errorf("gwen, out of the group, subscribing to %s: %+v", tp, f)
			}
		}

		// A panel every staff member worked given to a group: the others
		// lose it, and what they followed there.
		hank := s.person(t, "hank", site.RoleStaff)
		question := d.one(t, `SELECT id FROM mod_tickets.panels WHERE name = 'Question'`)
		var q tkTicket
		erin.must(t, "POST", "/tickets/api/tickets", map[string]any{
			"panel_id": question, "subject": "Opening hours?", "description": "When?",
		}, 201, &q)
		hws := hank.socket(t)
		follow(t, hws, tkPanelTopic(question))
		follow(t, hws, tkNotesTopic(q.ID))
		ada.must(t, "PUT", fmt.Sprintf("/tickets/admin/api/panels/%d", question), map[string]any{
			"name": "Question", "description": "Ask us.", "group": "accounts",
		}, 200, nil)
		ada.must(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/notes", q.ID), map[string]any{"body": "Known."}, 201, nil)
		tkaRevoked(t, hws, "hank", tkPanelTopic(question), tkNotesTopic(q.ID))
	})

	// A panel's group keeps its tickets and notes from the other staff.
	// Deleting the group must not hand them to every staff member (the
	// panel's group went NULL: "every staff member works it").
	t.Run("GroupDeletionOpensItsPanelToAllStaff", func(t *testing.T) {
		ivan := s.person(t, "ivan", site.RoleStaff)
		ada.must(t, "POST", "/tickets/admin/api/groups", map[string]any{"name": "legal", "label": "Legal"}, 201, nil)
		var p struct {
			ID int64 `json:"id"`
		}
		ada.must(t, "POST", "/tickets/admin/api/panels", map[string]any{
			"name": "Legal", "description": "Lawyers only.", "group": "legal",
		}, 201, &p)
		var tk tkTicket
		erin.must(t, "POST", "/tickets/api/tickets", map[string]any{
			"panel_id": p.ID, "subject": "Contract", "description": "About my contract.",
		}, 201, &tk)
		ada.must(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/notes", tk.ID),
			map[string]any{"body": "LEGAL-SECRET: settle quietly"}, 201, nil)
		view := fmt.Sprintf("/tickets/staff/api/tickets/%d", tk.ID)
		if st, b := ivan.api(t, "GET", view, nil); st != 404 {
			t.Fatalf("ivan, not of the group, reads the ticket: %d %.300s", st, b)
		}
		tkcRefused(t, ada, "DELETE", "/tickets/admin/api/groups/legal", nil, 409, "handles the panels Legal")
		if st, b := ivan.api(t, "GET", view, nil); st != 404 || strings.Contains(string(b), "LEGAL-SECRET") {
			t.Fatalf("after deleting the group, ivan reads the ticket: %d %.300s", st, b)
		}
		// Once the panel is given another group, the group goes.
		ada.must(t, "POST", "/tickets/admin/api/groups", map[string]any{"name": "lawyers", "label": "Lawyers"}, 201, nil)
		ada.must(t, "PUT", fmt.Sprintf("/tickets/admin/api/panels/%d", p.ID), map[string]any{
			"name": "Legal", "description": "Lawyers only.", "group": "lawyers",
		}, 200, nil)
		ada.must(t, "DELETE", "/tickets/admin/api/groups/legal", nil, 204, nil)
		if st, _ := ivan.api(t, "GET", view, nil); st != 404 {
			t.Fatalf("ivan reads the ticket of the lawyers' panel: %d", st)
		}
	})

	// Erasure deletes the tickets a user opened. One merged into another
	// ticket left its subject's and fields' words in that ticket's search
	// (the tsvector keeps words): staff could still find the other ticket
	// by the erased customer's phone number.
	t.Run("ErasureLeavesWordsInAMergedTicketsSearch", func(t *testing.T) {
		fay := s.person(t, "fay", site.RoleMember)
		gus := s.person(t, "gus", site.RoleMember)
		var a, b, c tkTicket
		fay.must(t, "POST", "/tickets/api/tickets", map[string]any{
			"panel_id": panel, "subject": "Quokkaphone 0612345678 dead", "description": "My phone died.",
		}, 201, &a)
		gus.must(t, "POST", "/tickets/api/tickets", map[string]any{
			"panel_id": panel, "subject": "Wombatcase cracked", "description": "Cracked case.",
		}, 201, &b)
		gus.must(t, "POST", "/tickets/api/tickets", map[string]any{
			"panel_id": panel, "subject": "Numbatcable frayed", "description": "Frayed cable.",
		}, 201, &c)
		bob.must(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/notes", b.ID), map[string]any{"body": "Platypusnote kept"}, 201, nil)
		// a into b, b into c: c holds all three conversations.
		bob.must(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/merge", a.ID), map[string]any{"into": b.ID}, 200, nil)
		bob.must(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/merge", b.ID), map[string]any{"into": c.ID}, 200, nil)
		search := func(q string) []int64 {
			var page struct {
				Tickets []tkTicket `json:"tickets"`
			}
			bob.must(t, "GET", "/tickets/staff/api/queue?status=all&q="+q, nil, 200, &page)
			var ids []int64
			for _, tk := range page.Tickets {
				ids = append(ids, tk.ID)
			}
			slices.Sort(ids)
			return ids
		}
		if got := search("0612345678"); !slices.Equal(got, []int64{a.ID, b.ID, c.ID}) {
			t.Fatalf("before the erasure, the phone number finds %v, want %v", got, []int64{a.ID, b.ID, c.ID})
		}
		if err := s.srv.EraseUser(t.Context(), fay.id); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{"0612345678", "quokkaphone"} {
			if got := search(q); len(got) != 0 {
				t.Errorf("after fay's erasure, %q finds the tickets %v", q, got)
			}
		}
		// What others wrote stays findable: the other tickets' subjects,
		// the note, the conversation kept (fay's message is kept without
		// its author, as her messages on others' tickets are).
		for q, want := range map[string][]int64{
			"wombatcase": {b.ID, c.ID}, "numbatcable": {c.ID}, "platypusnote": {c.ID}, "cracked case": {c.ID}, "phone died": {c.ID},
		} {
			if got := search(strings.ReplaceAll(q, " ", "+")); !slices.Equal(got, want) {
				t.Errorf("after fay's erasure, %q finds %v, want %v", q, got, want)
			}
		}
	})

	// The desk's audit names people by id too ({"user": 12} for a
	// participant, {"to": 12, "from": 9} for an assignment, a group's
	// member removed): an erased person's id must not stay there, tying
	// the audit to them.
	t.Run("ErasureLeavesIDsInTheAudit", func(t *testing.T) {
		kim := s.person(t, "kim", site.RoleStaff)
		lou := s.person(t, "lou", site.RoleMember)
		var tk tkTicket
		erin.must(t, "POST", "/tickets/api/tickets", map[string]any{
			"panel_id": panel, "subject": "Audit me", "description": "Please.",
		}, 201, &tk)
		path := fmt.Sprintf("/tickets/staff/api/tickets/%d", tk.ID)
		bob.must(t, "POST", path+"/assign", map[string]any{"username": "kim"}, 200, nil)
		bob.must(t, "POST", path+"/assign", map[string]any{"username": "bob"}, 200, nil)
		bob.must(t, "POST", path+"/assign", map[string]any{"username": "kim"}, 200, nil)
		bob.must(t, "POST", path+"/assign", map[string]any{"username": ""}, 200, nil)
		bob.must(t, "POST", path+"/participants", map[string]any{"username": "lou"}, 200, nil)
		bob.must(t, "DELETE", fmt.Sprintf("%s/participants/%d", path, lou.id), nil, 200, nil)
		ada.must(t, "POST", "/tickets/admin/api/groups", map[string]any{"name": "night", "label": "Night shift"}, 201, nil)
		ada.must(t, "POST", "/tickets/admin/api/groups/night/members", map[string]any{"username": "kim"}, 201, nil)
		ada.must(t, "DELETE", fmt.Sprintf("/tickets/admin/api/groups/night/members/%d", kim.id), nil, 204, nil)
		const naming = `SELECT count(*) FROM mod_tickets.audit a, jsonb_each(a.detail) e
			WHERE jsonb_typeof(a.detail) = 'object' AND e.key IN ('user', 'to', 'from')
			  AND jsonb_typeof(e.value) = 'number' AND (e.value #>> '{}')::bigint = $1`
		for _, c := range []*chatter{kim, lou} {
			if n := d.one(t, naming, c.id); n == 0 {
				t.Fatalf("the audit does not name %s by id before the erasure", c.name)
			}
		}
		bobBefore := d.one(t, naming, bob.id)
		for _, c := range []*chatter{kim, lou} {
			if err := s.srv.EraseUser(t.Context(), c.id); err != nil {
				t.Fatal(err)
			}
			if n := d.one(t, naming, c.id); n != 0 {
				t.Errorf("after %s's erasure, %d audit entries name them by id", c.name, n)
			}
		}
		if n := d.one(t, naming, bob.id); n != bobBefore || n == 0 {
			t.Errorf("bob, not erased, is named in %d audit entries, was %d", n, bobBefore)
		}
	})

	// Canned replies of a panel are its staff's: a staff member of another
	// group reads none of them, nor edits or deletes them by their id.
	t.Run("CannedRepliesOfAnotherGroupsPanel", func(t *testing.T) {
		vera := s.person(t, "vera", site.RoleStaff)
		otto := s.person(t, "otto", site.RoleStaff)
		ada.must(t, "POST", "/tickets/admin/api/groups", map[string]any{"name": "vip", "label": "VIP"}, 201, nil)
		ada.must(t, "POST", "/tickets/admin/api/groups/vip/members", map[string]any{"username": "vera"}, 201, nil)
		var p struct {
			ID int64 `json:"id"`
		}
		ada.must(t, "POST", "/tickets/admin/api/panels", map[string]any{"name": "VIP", "description": "Our best customers.", "group": "vip"}, 201, &p)
		type canned struct {
			ID    int64  `json:"id"`
			Title string `json:"title"`
			Body  string `json:"body"`
		}
		var mine, shared canned
		vera.must(t, "POST", "/tickets/staff/api/canned", map[string]any{
			"title": "VIP discount", "body": "VIP-SECRET: offer 40% off", "panel_id": p.ID,
		}, 201, &mine)
		vera.must(t, "POST", "/tickets/staff/api/canned", map[string]any{"title": "Hello", "body": "Hello, how can we help?"}, 201, &shared)
		var list struct {
			Canned []canned `json:"canned"`
		}
		for _, q := range []string{"", fmt.Sprintf("?panel=%d", p.ID)} {
			st, b := otto.api(t, "GET", "/tickets/staff/api/canned"+q, nil)
			if st != 200 || strings.Contains(string(b), "VIP-SECRET") || !strings.Contains(string(b), "how can we help") {
				t.Fatalf("otto lists the canned replies%s: %d %s", q, st, b)
			}
		}
		tkcRefused(t, otto, "PUT", fmt.Sprintf("/tickets/staff/api/canned/%d", mine.ID),
			map[string]any{"title": "Hijacked", "body": "Send your password to evil@example.test"}, 404, "There is no such canned reply.")
		tkcRefused(t, otto, "DELETE", fmt.Sprintf("/tickets/staff/api/canned/%d", mine.ID), nil, 404, "There is no such canned reply.")
		tkcRefused(t, otto, "POST", "/tickets/staff/api/canned",
			map[string]any{"title": "Planted", "body": "Pay to this account.", "panel_id": p.ID}, 400, "There is no such panel.")
		vera.must(t, "GET", fmt.Sprintf("/tickets/staff/api/canned?panel=%d", p.ID), nil, 200, &list)
		if len(list.Canned) != 2 || list.Canned[1].Body != "VIP-SECRET: offer 40% off" {
			t.Fatalf("vera's canned replies: %+v", list.Canned)
		}
		// The shared one is every staff member's.
		otto.must(t, "PUT", fmt.Sprintf("/tickets/staff/api/canned/%d", shared.ID), map[string]any{"title": "Hi", "body": "Hi!"}, 200, nil)
	})

	// A customer's files: 20 drafts a ticket, 5 a reply, but replies are
	// not counted, so one account filled the database without end, a
	// megabyte a file. A day holds 50 of a customer's files; staff
	// answering are not held.
	t.Run("CustomerUploadsWithoutEnd", func(t *testing.T) {
		nick := s.person(t, "nick", site.RoleMember)
		var tk tkTicket
		nick.must(t, "POST", "/tickets/api/tickets", map[string]any{
			"panel_id": panel, "subject": "Many files", "description": "Here they come.",
		}, 201, &tk)
		up := func(c *chatter, prefix string, i int) (int, []byte) {
			return tkUpload(t, c, fmt.Sprintf("%s/tickets/%d/attachments?name=f%d.txt", prefix, tk.ID, i), "text/plain", []byte("some bytes"))
		}
		sent, refused := 0, false
		for i := 0; i < 60 && !refused; i += 5 {
			var ids []int64
			for k := range 5 {
				st, b := up(nick, "/tickets/api", i+k)
				if st == 409 && strings.Contains(string(b), "files today") {
					refused = true
					break
				}
				var a tkAttachment
				if st != 201 || json.Unmarshal(b, &a) != nil {
					t.Fatalf("upload %d: %d %s", i+k, st, b)
				}
				ids = append(ids, a.ID)
			}
			if len(ids) > 0 {
				nick.must(t, "POST", fmt.Sprintf("/tickets/api/tickets/%d/replies", tk.ID), map[string]any{"body": "more", "attachments": ids}, 201, nil)
				sent += len(ids)
			}
		}
		if !refused || sent != 50 {
			t.Fatalf("nick sent %d files (refused: %v), want 50 and then a refusal", sent, refused)
		}
		if n := d.one(t, `SELECT count(*) FROM mod_tickets.attachments WHERE ticket_id = $1`, tk.ID); n != 50 {
			t.Fatalf("%d files stored, want 50", n)
		}
		if st, b := up(bob, "/tickets/staff/api", 99); st != 201 {
			t.Fatalf("staff uploading to the ticket: %d %s", st, b)
		}
	})

	// A conversation is read whole (the views, the transcripts), and a
	// database result is at most 4 MiB: a customer writing long replies
	// made their ticket unreadable, to staff too (500), and the export of
	// everyone in it fail. A conversation holds at most 1 MiB of text, and
	// the export reads in smaller batches.
	t.Run("ConversationTooLongToRead", func(t *testing.T) {
		pia := s.person(t, "pia", site.RoleMember)
		long := strings.Repeat("€", 20000) // 60,000 bytes: the most a reply's JSON carries
		posted, tickets := 0, 0
		for posted < 75 {
			var tk tkTicket
			pia.must(t, "POST", "/tickets/api/tickets", map[string]any{
				"panel_id": panel, "subject": fmt.Sprintf("Long %d", tickets), "description": "Long.",
			}, 201, &tk)
			tickets++
			for posted < 75 {
				st, b := pia.api(t, "POST", fmt.Sprintf("/tickets/api/tickets/%d/replies", tk.ID), map[string]any{"body": long})
				if st == 409 && strings.Contains(string(b), "too long") {
					break
				}
				if st != 201 {
					t.Fatalf("reply %d: %d %.300s", posted, st, b)
				}
				posted++
			}
			for _, path := range []string{fmt.Sprintf("/tickets/api/tickets/%d", tk.ID), fmt.Sprintf("/tickets/staff/api/tickets/%d", tk.ID)} {
				c := pia
				if strings.Contains(path, "staff") {
					c = bob
				}
				if st, b := c.api(t, "GET", path, nil); st != 200 {
					t.Fatalf("%s after %d long replies: %d %.300s", path, posted, st, b)
				}
			}
			if posted < 75 {
				pia.must(t, "POST", fmt.Sprintf("/tickets/api/tickets/%d/solve", tk.ID), nil, 200, nil)
			}
		}
		if tickets < 4 {
			t.Fatalf("75 long replies went into %d tickets: a conversation holds more than 1 MiB", tickets)
		}
		var archive bytes.Buffer
		if err := s.srv.ExportUser(t.Context(), pia.id, &archive); err != nil {
			t.Fatalf("pia's export, %d long messages in it: %v", posted, err)
		}
		zr, err := zip.NewReader(bytes.NewReader(archive.Bytes()), int64(archive.Len()))
		if err != nil {
			t.Fatal(err)
		}
		f, err := zr.Open("modules/tickets.json")
		if err != nil {
			t.Fatal(err)
		}
		doc, err := io.ReadAll(f)
		f.Close()
		if n := strings.Count(string(doc), long); err != nil || n != posted {
			t.Fatalf("pia's export holds %d of her %d long messages (%v)", n, posted, err)
		}
	})
}

// tkaRevoked reads ws until both topics are revoked; an event of either
// before its revocation fails t.
func tkaRevoked(t *testing.T, ws *wsClient, who string, topics ...string) {
	t.Helper()
	left := map[string]bool{}
	for _, tp := range topics {
		left[tp] = true
	}
	for len(left) > 0 {
		f := ws.next()
		switch {
		case f.Type == realtime.TypeRefused && f.Reason == realtime.ReasonRevoked && left[f.Topic]:
			delete(left, f.Topic)
		case f.Type == realtime.TypeEvent && !left[f.Topic]:
		default:
			t.Fatalf("%s's socket, while %v should be revoked: %+v", who, left, f)
		}
	}
}
