package main

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/websonic/websonic/sdk"
)

// E-mail to the opener goes through the outbox (001_tickets.sql): queueMail
// writes it in the transaction of the change it announces, so a change
// without its mail, or a mail about a change that was rolled back, cannot
// happen; mailer.go sends it once the transaction has committed, and the
// "mail" job retries what the relay refused. No note ever reaches a mail:
// the callers pass a public reply's text or a sentence of their own.

// mailKind is why the opener gets a mail.
type mailKind int

const (
	mailOpened  mailKind = iota // a guest's ticket was opened: their private link
	mailReplied                 // staff replied publicly
	mailSolved                  // staff solved it
	mailClosed                  // staff (or the desk) closed it
	mailMerged                  // merged into another ticket
)

// mailRepliedSolved: staff replied publicly and solved the ticket in the
// same step (one mail says both).
const mailRepliedSolved = mailMerged + 1

// queueMail writes the mail telling l's opener of a change to the outbox
// in tx: their account's address (websonic_api.user_emails), or the
// guest's. Openers without an address get none. text is the public reply
// (mailReplied) or nothing. link is the guest's private link path
// (mailOpened) or "" to use the ticket's page (or the guest link sealed
// in the ticket). It reports whether a mail was queued.
func queueMail(ctx context.Context, tx *sql.Tx, l *locked, kind mailKind, text, link string) (bool, error) {
	var to, subject string
	var sealed []byte
	err := tx.QueryRowContext(ctx, `SELECT coalesce(t.guest_email, e.email, ''), t.subject, t.guest_link
		FROM tickets t
		LEFT JOIN LATERAL (SELECT x.email FROM websonic_api.user_emails x WHERE x.user_id = t.opener_id LIMIT 1) e ON true
		WHERE t.id = $1`, l.ID).Scan(&to, &subject, &sealed)
	if err != nil {
		return false, err
	}
	if to == "" {
		return false, nil
	}
	if link == "" {
		link = "/tickets/" + strconv.FormatInt(l.ID, 10)
		if len(sealed) > 0 {
			token, err := sdk.Open(ctx, guestLinkPurpose, sealed)
			if err != nil {
				return false, fmt.Errorf("open the guest link: %w", err)
			}
			link = guestPath(string(token))
		}
	}
	subj, body := mailText(l.ID, subject, kind, text, mailLink(readSettings().SiteURL, link))
	_, err = tx.ExecContext(ctx, `INSERT INTO outbox (ticket_id, to_addr, subject, body) VALUES ($1, $2, $3, $4)`,
		l.ID, to, subj, body)
	return err == nil, err
}

// mailLink is path on the site at siteURL (the owner's site_url: "" for
// a relative link), however many slashes the owner ended it with.
func mailLink(siteURL, path string) string {
	return strings.TrimRight(strings.TrimSpace(siteURL), "/") + path
}

// guestLinkPurpose is the sdk.Seal purpose of the guests' tokens.
const guestLinkPurpose = "guest-link"

// guestPath is the path of a guest's private ticket page.
func guestPath(token string) string { return "/tickets/guest/t/" + token }

// mailText is a mail's subject and plain-text body.
func mailText(id int64, subject string, kind mailKind, text, link string) (string, string) {
	subject = headerText(subject)
	ref := fmt.Sprintf("[#%d] %s", id, subject)
	// The subject in the body: as written ("%q" would show a quote in it
	// as \" to people who never saw a backslash).
	subject = `"` + subject + `"`
	var b strings.Builder
	switch kind {
	case mailOpened:
		fmt.Fprintf(&b, "We received your request #%d, %s. We will answer soon.\n\nFollow it, and answer us, at this private address (keep it to yourself):\n%s\n", id, subject, link)
	case mailReplied:
		fmt.Fprintf(&b, "There is an answer to your request #%d, %s:\n\n%s\n\nAnswer at %s\n", id, subject, text, link)
	case mailRepliedSolved:
		fmt.Fprintf(&b, "There is an answer to your request #%d, %s, and we consider it solved:\n\n%s\n\nIf it is not, answer or reopen it at %s\n\nYou can also tell us how we did there.\n", id, subject, text, link)
	case mailSolved:
		fmt.Fprintf(&b, "Your request #%d, %s, is solved. If it is not, answer or reopen it at %s\n\nYou can also tell us how we did there.\n", id, subject, link)
	case mailClosed:
		fmt.Fprintf(&b, "Your request #%d, %s, is closed. Its transcript is at %s\n", id, subject, link)
	case mailMerged:
		fmt.Fprintf(&b, "Your request #%d, %s, was merged with another one about the same problem, %s. Its conversation is kept there.\n", id, subject, text)
	}
	b.WriteString("\n-- \nThis message was sent automatically by the support desk.\n")
	return truncateRunes(ref, 250), truncateRunes(b.String(), 65536)
}

// headerText is s as a mail's Subject line takes it: a ticket's subject
// may hold characters the runtime refuses in a header (bidirectional
// marks and overrides, the replacement character: jsonapi.CheckText lets
// them through), which would fail every try of the mail. They go, and the
// spaces they leave run together.
func headerText(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029' || r == utf8.RuneError {
			return -1
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// truncateRunes cuts s to at most n bytes on a character boundary.
func truncateRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
