package server

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/websonic/websonic/runtime/internal/mail/mailtest"
	"github.com/websonic/websonic/runtime/internal/site"
)

// TestTicketsMail: the opener is told by e-mail, through the site's relay
// (a real SMTP server started here), of a staff member's public reply and
// of the solving, with the reply's text and the ticket's address, never a
// note; a guest receives their private link.
func TestTicketsMail(t *testing.T) {
	relay := mailtest.Start(t, mailtest.Options{})
	s := ticketsSite(t, func(c *Config) {
		c.Mail.Relay = "smtp+insecure://" + relay.Addr
		c.Mail.From = "Acme <support@acme.test>"
	})
	d := newTkcDesk(t, s)
	panel := d.one(t, `SELECT id FROM mod_tickets.panels WHERE name = 'Problem'`)
	carol := s.person(t, "carol", site.RoleMember)
	bob := s.person(t, "bob", site.RoleStaff)

	var tk tkTicket
	carol.must(t, "POST", "/tickets/api/tickets", map[string]any{
		"panel_id": panel, "subject": "Printer <b>on fire</b>", "description": "It smokes.",
	}, 201, &tk)
	bob.must(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/notes", tk.ID),
		map[string]any{"body": "NOTE-SECRET: she broke it herself"}, 201, nil)
	bob.must(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/replies", tk.ID),
		map[string]any{"body": "Unplug it, then call us."}, 201, nil)
	bob.must(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/status", tk.ID),
		map[string]any{"status": "solved"}, 200, nil)

	msgs := relay.Wait(t, 2)
	for i, want := range []string{"Unplug it, then call us.", "is solved"} {
		m := msgs[i]
		body, err := io.ReadAll(m.Body)
		if err != nil {
			t.Fatal(err)
		}
		text := string(body)
		if len(m.To) != 1 || m.To[0] != "carol@example.test" ||
			m.Header.Get("Subject") != fmt.Sprintf("[#%d] Printer <b>on fire</b>", tk.ID) ||
			!strings.Contains(m.Header.Get("From"), "support@acme.test") ||
			!strings.Contains(text, want) || !strings.Contains(text, fmt.Sprintf("/tickets/%d", tk.ID)) {
			t.Fatalf("mail %d: to %q, subject %q, from %q:\n%s", i, m.To, m.Header.Get("Subject"), m.Header.Get("From"), text)
		}
		if strings.Contains(string(m.Raw), "NOTE-SECRET") {
			t.Fatalf("mail %d carries the note:\n%s", i, m.Raw)
		}
	}
	if n := d.one(t, `SELECT count(*) FROM mod_tickets.outbox WHERE ticket_id = $1 AND sent_at IS NOT NULL AND message_id <> ''`, tk.ID); n != 2 {
		t.Fatalf("%d mails marked sent in the outbox, want 2", n)
	}

	// A guest gets their private link.
	d.exec(t, `UPDATE mod_tickets.panels SET guests = true WHERE id = $1`, panel)
	d.settings(t, map[string]any{"allow_guests": true})
	visitor := newChatter(t, s.URL, "visitor", "10.9.9.9")
	var opened struct {
		Link string `json:"link"`
	}
	visitor.must(t, "POST", "/tickets/guest/api/tickets", map[string]any{
		"panel_id": panel, "email": "gail@home.test", "name": "Gail", "subject": "Lost parcel", "description": "Where is it?",
	}, 201, &opened)
	m := relay.Wait(t, 3)[2]
	body, err := io.ReadAll(m.Body)
	if err != nil {
		t.Fatal(err)
	}
	if m.To[0] != "gail@home.test" || opened.Link == "" || !strings.Contains(string(body), opened.Link) {
		t.Fatalf("guest mail to %q, link %q:\n%s", m.To, opened.Link, body)
	}
}
