// Package mail is the mail.send host service (sdk/ABI.md section 19): the
// e-mail a module sends, through sdk.SendMail, when its manifest sets
// capabilities.mail and the site owner approved it.
//
// Modules get no sockets and never see the relay's credentials: the runtime
// sends through the one relay the owner configures (`websonic serve
// --mail-relay`, Config.Relay), from the owner's sender address
// (Config.From); a module chooses the recipients, the subject, the bodies,
// a Reply-To, a display name for the sender and a few extra header fields,
// nothing else. The relay's URL names how it is reached:
//
//   - smtp://[user[:password]@]host[:port] (port 587): STARTTLS is
//     required; a relay that does not offer it is refused, so neither the
//     password nor the mail crosses the network in clear;
//   - smtps://… (port 465): TLS from the first byte;
//   - smtp+insecure://… (port 25): plain SMTP, for a relay on this machine
//     (localhost, a loopback address) or in a test. For another host it is
//     refused unless the owner also forces it (Config.AllowInsecureRemote,
//     --mail-relay-insecure-remote): the traffic would cross a network in
//     clear.
//
// TLS certificates are verified (system roots, or Config.RootCAs). An HTTP
// mail API relay is out of scope: a relay provider's SMTP submission port
// serves the same purpose.
//
// Every request is checked before anything is sent: one bare address per
// recipient (net/mail, no display name or comment), at most
// abi.MaxMailRecipients of them, a subject of at most abi.MaxMailSubject
// characters, bodies of at most abi.MaxMailBody bytes, valid UTF-8 in the
// whole payload, and no CR, LF or other control character in any value
// that goes into a header field (header injection); extra header fields
// only from a short list (X-…, In-Reply-To, References, List-Unsubscribe,
// List-Unsubscribe-Post). The host builds the message itself with
// github.com/wneessen/go-mail: From the owner's address, Date, a random
// Message-ID on the sender's domain, Auto-Submitted: auto-generated,
// X-Websonic-Module naming the module, and multipart/alternative when both
// a text and an HTML body are given.
//
// Sends are bounded: a per-module rate (Config.PerMinute, Config.Burst), a
// number of sends in flight per module (refused at once past it) and in
// all (waited for, within the caller's deadline), the caller's context
// deadline and the service's own timeout. Each send is logged (module,
// number of recipients, message id, outcome; never an address or a body)
// and counted in websonic_mail_sends_total by module and result.
//
// A Service is safe for concurrent use.
package mail
