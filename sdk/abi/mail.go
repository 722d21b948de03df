package abi

// ServiceMail is the host service that sends an e-mail for a module
// through the mail relay the site owner configured, when the module's
// manifest sets capabilities.mail (ABI.md section 19). Its payload is a
// MailRequest, its answer a MailSent.
const ServiceMail = "mail.send"

// MailRequest is the payload of ServiceMail. There is no From: the host
// sends from the owner's configured address.
type MailRequest struct {
	// To are the recipients' addresses, bare ("ana@example.com", no
	// display name), 1 to MaxMailRecipients of them.
	To []string `json:"to"`
	// Subject is the subject line: 1 to MaxMailSubject characters, no
	// control characters.
	Subject string `json:"subject"`
	// Text is the plain-text body, HTML the HTML body; at least one is
	// given, each at most MaxMailBody bytes. With both, the message is
	// multipart/alternative.
	Text string `json:"text,omitempty"`
	HTML string `json:"html,omitempty"`
	// ReplyTo, when set, is one bare address for Reply-To.
	ReplyTo string `json:"reply_to,omitempty"`
	// FromName, when set, replaces the display name of the owner's sender
	// address (at most MaxMailName characters).
	FromName string `json:"from_name,omitempty"`
	// Headers are extra header fields: names starting with "X-", or one of
	// In-Reply-To, References, List-Unsubscribe, List-Unsubscribe-Post; at
	// most MaxMailHeaders, each value at most MaxMailHeaderValue bytes.
	Headers map[string]string `json:"headers,omitempty"`
}

// MailSent is the answer of ServiceMail: the Message-ID the host gave the
// message, without angle brackets ("k3j…@example.com").
type MailSent struct {
	MessageID string `json:"message_id"`
}

// Limits of MailRequest.
const (
	MaxMailRecipients  = 10
	MaxMailSubject     = 250 // characters
	MaxMailBody        = 256 << 10
	MaxMailName        = 100 // characters
	MaxMailHeaders     = 10
	MaxMailHeaderValue = 998 // bytes, the RFC 5322 line limit
	MaxMailAddress     = 254 // bytes
)
