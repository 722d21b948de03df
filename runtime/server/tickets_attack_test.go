package server

import (
	"fmt"
	"mime"
	"testing"

	"github.com/websonic/websonic/runtime/internal/mail/mailtest"
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
}
