package sdk

import (
	"context"
	"unicode/utf8"

	"github.com/websonic/websonic/sdk/abi"
)

// Mail is an e-mail a module sends with SendMail. There is no From: the
// runtime sends from the site owner's address.
type Mail struct {
	// To are the recipients' bare addresses ("ana@example.com", no display
	// name), 1 to 10 of them. Each sees the others in the To field: send
	// one Mail per recipient when they must not.
	To []string
	// Subject is one line of at most 250 characters.
	Subject string
	// Text is the plain-text body, HTML the HTML body; give at least one,
	// each at most 256 KiB. With both, mail programs show the one they
	// prefer. The runtime does not sanitize HTML: escape what users wrote
	// (html/template, sdk.Render).
	Text, HTML string
	// ReplyTo, when set, is the bare address replies go to (the staff
	// member's, a ticket's address…).
	ReplyTo string
	// FromName, when set, is the display name shown for the site's sender
	// address ("Support desk"), at most 100 characters.
	FromName string
	// Headers are extra header fields, at most 10: names starting with
	// "X-" (but not "X-Websonic-"), or In-Reply-To, References (to thread
	// messages), List-Unsubscribe and List-Unsubscribe-Post; values are
	// one line of at most 998 bytes (ASCII but for X- fields).
	Headers map[string]string
}

// SendMail sends m through the mail relay the site owner configured (the
// mail.send host service, ABI.md section 19) and returns the Message-ID the
// runtime gave it, without angle brackets: keep it to thread later
// messages (Headers "In-Reply-To" and "References", in angle brackets).
//
// The module's manifest must set capabilities.mail and the owner must
// have approved it, else the error wraps ErrDenied. The runtime checks
// every field before anything is sent: a value with a line break or
// another control character where it would go into a header (the classic
// header injection), an address with a display name, brackets or a
// comment, too many recipients or too big a body fail with a *HostError
// of code abi.HostErrInvalid. A module sends at most 60 messages a minute
// (bursts of 20) and 4 at once by default; past that the code is
// abi.HostErrLimit. abi.HostErrFailed means the message did not go out:
// the site has no mail relay, or the relay could not be reached, timed
// out or refused the message (the message says which; the site's log has
// the relay's words). ctx's deadline bounds the send.
//
// A nil error means the relay accepted the message, not that it reached
// the recipient's mailbox. Outside the runtime (native tests) it fails
// with sdktest.ErrNotInRuntime.
func SendMail(ctx context.Context, m Mail) (id string, err error) {
	valid := utf8.ValidString(m.Subject) && utf8.ValidString(m.Text) && utf8.ValidString(m.HTML) &&
		utf8.ValidString(m.ReplyTo) && utf8.ValidString(m.FromName)
	for _, a := range m.To {
		valid = valid && utf8.ValidString(a)
	}
	for k, v := range m.Headers {
		valid = valid && utf8.ValidString(k) && utf8.ValidString(v)
	}
	if !valid {
		// JSON would replace the bad bytes silently; the runtime refuses them.
		return "", &HostError{Code: abi.HostErrInvalid, Message: "sdk: SendMail: a field is not valid UTF-8"}
	}
	req := abi.MailRequest{
		To: m.To, Subject: m.Subject, Text: m.Text, HTML: m.HTML, ReplyTo: m.ReplyTo, FromName: m.FromName, Headers: m.Headers,
	}
	var sent abi.MailSent
	if err := callHost(ctx, abi.ServiceMail, req, &sent); err != nil {
		return "", err
	}
	return sent.MessageID, nil
}
