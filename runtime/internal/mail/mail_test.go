package mail

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/websonic/websonic/runtime/internal/mail/mailtest"
	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/manifest"
)

func caller(module string, mail bool) *modhost.Caller {
	return &modhost.Caller{Module: module, RequestID: "req-1", Manifest: &manifest.Manifest{Name: module, Capabilities: manifest.Capabilities{Mail: mail}}}
}

func newService(t *testing.T, cfg Config) *Service {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// send calls s for c with req (a JSON document or a value to marshal).
func send(t *testing.T, ctx context.Context, s *Service, c *modhost.Caller, req any) (string, *abi.HostError) {
	t.Helper()
	payload, ok := req.([]byte)
	if !ok {
		var err error
		if payload, err = json.Marshal(req); err != nil {
			t.Fatal(err)
		}
	}
	out, err := s.Serve(ctx, c, payload)
	if err != nil {
		var he *abi.HostError
		if !errors.As(err, &he) {
			t.Fatalf("error %v is no HostError", err)
		}
		return "", he
	}
	var sent abi.MailSent
	if err := json.Unmarshal(out, &sent); err != nil {
		t.Fatal(err)
	}
	return sent.MessageID, nil
}

func wantCode(t *testing.T, he *abi.HostError, code, msg string) {
	t.Helper()
	if he == nil || he.Code != code || !strings.Contains(he.Message, msg) {
		t.Fatalf("error %v, want %s containing %q", he, code, msg)
	}
}

// parts returns the bodies of m by media type (one part, or the parts of
// a multipart/alternative).
func parts(t *testing.T, m *mailtest.Message) map[string]string {
	t.Helper()
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	if mt != "multipart/alternative" {
		b, _ := io.ReadAll(decodeQP(m.Header.Get("Content-Transfer-Encoding"), m.Body))
		out[mt] = string(b)
		return out
	}
	r := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := r.NextPart() // decodes quoted-printable itself
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		b, _ := io.ReadAll(p)
		out[pt] = string(b)
	}
}

const fullRequest = `{"to":["ana@example.com","bo@example.org"],"subject":"Ticket #12 — réponse","text":"Hello Ana,\nyour ticket has an answer.\n",
"html":"<p>Hello <b>Ana</b>,</p><p>your ticket has an answer.</p>","reply_to":"support@example.com","from_name":"Support desk",
"headers":{"x-ticket-id":"12","In-Reply-To":"<t12@example.com>","References":"<t12@example.com>"}}`

// TestSend: over each way to reach a relay (plain on loopback, STARTTLS
// with a login, implicit TLS), a message arrives with the owner's From
// (the module's display name), the recipients, subject, Reply-To, the
// host's Date, Message-ID (the one answered), Auto-Submitted and module
// fields, the module's extra fields and both bodies as
// multipart/alternative; a text-only message is plain text.
func TestSend(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   mailtest.Options
		scheme string
		tls    bool
	}{
		{"plain", mailtest.Options{}, "smtp+insecure://", false},
		{"starttls", mailtest.Options{StartTLS: true, User: "site", Password: "s3cret p@ss"}, "smtp://site@", true},
		{"smtps", mailtest.Options{ImplicitTLS: true, User: "site", Password: "s3cret p@ss"}, "smtps://site@", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := mailtest.Start(t, tc.opts)
			var logs bytes.Buffer
			reg := prometheus.NewRegistry()
			s := newService(t, Config{
				Relay: tc.scheme + srv.Addr, From: "Web Sonic <noreply@site.example>", Password: tc.opts.Password,
				RootCAs: srv.RootCAs, Metrics: reg, Logger: hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Info}),
			})
			id, he := send(t, context.Background(), s, caller("tickets", true), []byte(fullRequest))
			if he != nil {
				t.Fatal(he)
			}
			if !strings.HasSuffix(id, "@site.example") || len(id) < 20 || strings.ContainsAny(id, "<> ") {
				t.Fatalf("message id %q", id)
			}
			m := srv.Wait(t, 1)[0]
			if m.TLS != tc.tls || m.Authed != (tc.opts.User != "") {
				t.Errorf("TLS %v, authed %v", m.TLS, m.Authed)
			}
			if m.From != "noreply@site.example" || strings.Join(m.To, ",") != "ana@example.com,bo@example.org" {
				t.Errorf("envelope from %q to %q", m.From, m.To)
			}
			dec := new(mime.WordDecoder)
			subject, _ := dec.DecodeHeader(m.Header.Get("Subject"))
			for field, want := range map[string]string{
				"From": `"Support desk" <noreply@site.example>`, "To": "<ana@example.com>, <bo@example.org>",
				"Reply-To": "<support@example.com>", "Message-Id": "<" + id + ">", "Auto-Submitted": "auto-generated",
				"X-Websonic-Module": "tickets", "X-Ticket-Id": "12", "In-Reply-To": "<t12@example.com>", "References": "<t12@example.com>",
			} {
				if got := m.Header.Get(field); got != want {
					t.Errorf("%s: %q, want %q", field, got, want)
				}
			}
			if subject != "Ticket #12 — réponse" {
				t.Errorf("Subject %q", subject)
			}
			if d, err := m.Header.Date(); err != nil || time.Since(d) > time.Hour {
				t.Errorf("Date %v, %v", d, err)
			}
			if ua := m.Header.Get("User-Agent") + m.Header.Get("X-Mailer"); ua != "" {
				t.Errorf("the mailer names itself: %q", ua)
			}
			p := parts(t, m)
			if p["text/plain"] != "Hello Ana,\r\nyour ticket has an answer.\r\n" && p["text/plain"] != "Hello Ana,\nyour ticket has an answer.\n" {
				t.Errorf("text %q", p["text/plain"])
			}
			if p["text/html"] != "<p>Hello <b>Ana</b>,</p><p>your ticket has an answer.</p>" {
				t.Errorf("html %q", p["text/html"])
			}
			if bytes.Contains(m.Raw, []byte(tc.opts.Password)) && tc.opts.Password != "" {
				t.Error("the relay's password is in the message")
			}
			if n := testutil.ToFloat64(s.sends.WithLabelValues("tickets", "ok")); n != 1 {
				t.Errorf("websonic_mail_sends_total ok = %v", n)
			}
			log := logs.String()
			if !strings.Contains(log, "mail sent") || !strings.Contains(log, "recipients=2") || !strings.Contains(log, id) ||
				strings.Contains(log, "ana@example.com") || strings.Contains(log, "your ticket") {
				t.Errorf("log: %s", log)
			}

			_, he = send(t, context.Background(), s, caller("tickets", true), abi.MailRequest{To: []string{"ana@example.com"}, Subject: "Hi", Text: "Just text"})
			if he != nil {
				t.Fatal(he)
			}
			m = srv.Wait(t, 2)[1]
			if p := parts(t, m); len(p) != 1 || strings.TrimSpace(p["text/plain"]) != "Just text" {
				t.Errorf("text-only message: %q", p)
			}
			if got := m.Header.Get("From"); got != `"Web Sonic" <noreply@site.example>` {
				t.Errorf("From %q", got)
			}
		})
	}
}

// TestRefused: every request that breaks a rule is refused as invalid
// before anything reaches the relay: header injection through any field
// that becomes a header (CR, LF, other controls), addresses with names,
// brackets or several addresses, too many recipients, too long a subject,
// too big a body, bad UTF-8, unknown or reserved header fields, unknown
// JSON fields.
func TestRefused(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	s := newService(t, Config{Relay: "smtp+insecure://" + srv.Addr, From: "noreply@site.example"})
	ok := func(f func(r *abi.MailRequest)) abi.MailRequest {
		r := abi.MailRequest{To: []string{"ana@example.com"}, Subject: "Hello", Text: "Body"}
		f(&r)
		return r
	}
	many := make([]string, abi.MaxMailRecipients+1)
	for i := range many {
		many[i] = strings.Repeat("a", i+1) + "@example.com"
	}
	for _, tc := range []struct {
		name string
		req  any
		msg  string
	}{
		{"CRLF in subject", ok(func(r *abi.MailRequest) { r.Subject = "Hi\r\nBcc: victim@example.com" }), "subject"},
		{"LF in subject", ok(func(r *abi.MailRequest) { r.Subject = "Hi\nBcc: victim@example.com" }), "subject"},
		{"CR in subject", ok(func(r *abi.MailRequest) { r.Subject = "Hi\rBcc: victim@example.com" }), "subject"},
		{"NUL in subject", ok(func(r *abi.MailRequest) { r.Subject = "Hi\x00" }), "subject"},
		{"line separator in subject", ok(func(r *abi.MailRequest) { r.Subject = "Hi\u2028there" }), "subject"},
		{"CRLF in to", ok(func(r *abi.MailRequest) { r.To = []string{"ana@example.com\r\nBcc: victim@example.com"} }), "to[0]"},
		{"LF in to", ok(func(r *abi.MailRequest) { r.To = []string{"ana@example.com\nBcc: victim@example.com"} }), "to[0]"},
		{"CRLF in reply_to", ok(func(r *abi.MailRequest) { r.ReplyTo = "x@example.com\r\nBcc: victim@example.com" }), "reply_to"},
		{"CRLF in from_name", ok(func(r *abi.MailRequest) { r.FromName = "Desk\r\nBcc: victim@example.com" }), "from_name"},
		{"CRLF in header value", ok(func(r *abi.MailRequest) { r.Headers = map[string]string{"X-A": "1\r\nBcc: victim@example.com"} }), "headers[X-A]"},
		{"LF in header value", ok(func(r *abi.MailRequest) { r.Headers = map[string]string{"X-A": "1\nBcc: victim@example.com"} }), "headers[X-A]"},
		{"CRLF in header name", ok(func(r *abi.MailRequest) { r.Headers = map[string]string{"X-A: 1\r\nBcc": "victim@example.com"} }), "field name"},
		{"colon in header name", ok(func(r *abi.MailRequest) { r.Headers = map[string]string{"X-A:": "1"} }), "field name"},
		{"Bcc header", ok(func(r *abi.MailRequest) { r.Headers = map[string]string{"Bcc": "victim@example.com"} }), "may set X-"},
		{"From header", ok(func(r *abi.MailRequest) { r.Headers = map[string]string{"from": "ceo@example.com"} }), "may set X-"},
		{"Content-Type header", ok(func(r *abi.MailRequest) { r.Headers = map[string]string{"Content-Type": "text/html"} }), "may set X-"},
		{"X-Websonic header", ok(func(r *abi.MailRequest) { r.Headers = map[string]string{"X-Websonic-Module": "other"} }), "X-Websonic"},
		{"header twice", ok(func(r *abi.MailRequest) { r.Headers = map[string]string{"x-a": "1", "X-A": "2"} }), "twice"},
		{"non-ASCII References", ok(func(r *abi.MailRequest) { r.Headers = map[string]string{"References": "<é@x>"} }), "ASCII"},
		{"too many headers", ok(func(r *abi.MailRequest) {
			r.Headers = map[string]string{}
			for i := range abi.MaxMailHeaders + 1 {
				r.Headers["X-H"+strings.Repeat("a", i+1)] = "v"
			}
		}), "fields, at most"},
		{"header value too long", ok(func(r *abi.MailRequest) { r.Headers = map[string]string{"X-A": strings.Repeat("v", 999)} }), "at most 998"},
		{"display name in to", ok(func(r *abi.MailRequest) { r.To = []string{"Ana <ana@example.com>"} }), "to[0]"},
		{"brackets in to", ok(func(r *abi.MailRequest) { r.To = []string{"<ana@example.com>"} }), "bare address"},
		{"two addresses in one", ok(func(r *abi.MailRequest) { r.To = []string{"ana@example.com,bo@example.com"} }), "to[0]"},
		{"comment in to", ok(func(r *abi.MailRequest) { r.To = []string{"ana@example.com(boss)"} }), "to[0]"},
		{"group in to", ok(func(r *abi.MailRequest) { r.To = []string{"team:ana@example.com;"} }), "to[0]"},
		{"quoted local part", ok(func(r *abi.MailRequest) { r.To = []string{`"a b"@example.com`} }), "to[0]"},
		{"no domain", ok(func(r *abi.MailRequest) { r.To = []string{"ana"} }), "to[0]"},
		{"non-ASCII address", ok(func(r *abi.MailRequest) { r.To = []string{"anä@example.com"} }), "ASCII"},
		{"address too long", ok(func(r *abi.MailRequest) { r.To = []string{strings.Repeat("a", 250) + "@example.com"} }), "at most 254"},
		{"no recipient", ok(func(r *abi.MailRequest) { r.To = nil }), "at least one recipient"},
		{"recipient twice", ok(func(r *abi.MailRequest) { r.To = []string{"ana@example.com", "ANA@example.com"} }), "twice"},
		{"too many recipients", ok(func(r *abi.MailRequest) { r.To = many }), "at most 10"},
		{"empty subject", ok(func(r *abi.MailRequest) { r.Subject = " " }), "subject"},
		{"subject too long", ok(func(r *abi.MailRequest) { r.Subject = strings.Repeat("é", 251) }), "at most 250"},
		{"no body", ok(func(r *abi.MailRequest) { r.Text = "" }), "at least one body"},
		{"text too big", ok(func(r *abi.MailRequest) { r.Text = strings.Repeat("x", abi.MaxMailBody+1) }), "text:"},
		{"html too big", ok(func(r *abi.MailRequest) { r.HTML = strings.Repeat("x", abi.MaxMailBody+1) }), "html:"},
		{"NUL in body", ok(func(r *abi.MailRequest) { r.Text = "a\x00b" }), "NUL"},
		{"from_name too long", ok(func(r *abi.MailRequest) { r.FromName = strings.Repeat("n", 101) }), "from_name"},
		{"bad UTF-8 in body", []byte("{\"to\":[\"ana@example.com\"],\"subject\":\"Hi\",\"text\":\"\xff\xfe\"}"), "UTF-8"},
		{"bad UTF-8 in subject", []byte("{\"to\":[\"ana@example.com\"],\"subject\":\"Hi \xc3\",\"text\":\"x\"}"), "UTF-8"},
		{"lone surrogate in subject", []byte(`{"to":["ana@example.com"],"subject":"Hi \ud800","text":"x"}`), "subject"},
		{"unknown field", []byte(`{"to":["ana@example.com"],"subject":"Hi","text":"x","bcc":["victim@example.com"]}`), "unknown field"},
		{"from field", []byte(`{"to":["ana@example.com"],"subject":"Hi","text":"x","from":"ceo@example.com"}`), "unknown field"},
		{"not an object", []byte(`["ana@example.com"]`), "JSON object"},
		{"trailing data", []byte(`{"to":["ana@example.com"],"subject":"Hi","text":"x"} {}`), "after the JSON"},
		{"payload too big", []byte(`{"text":"` + strings.Repeat("x", maxPayload) + `"}`), "exceeds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, he := send(t, context.Background(), s, caller("tickets", true), tc.req)
			wantCode(t, he, abi.HostErrInvalid, tc.msg)
		})
	}
	if n := len(srv.Messages()); n != 0 {
		t.Fatalf("%d messages reached the relay", n)
	}
}

// TestDenied: a module whose manifest does not ask for mail is denied,
// relay or not; without a relay, a module that may send is told so.
func TestDenied(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	withRelay := newService(t, Config{Relay: "smtp+insecure://" + srv.Addr, From: "noreply@site.example"})
	noRelay := newService(t, Config{})
	req := abi.MailRequest{To: []string{"ana@example.com"}, Subject: "Hi", Text: "x"}
	_, he := send(t, context.Background(), withRelay, caller("other", false), req)
	wantCode(t, he, abi.HostErrDenied, "does not ask for mail")
	_, he = send(t, context.Background(), noRelay, caller("other", false), req)
	wantCode(t, he, abi.HostErrDenied, "does not ask for mail")
	_, he = send(t, context.Background(), noRelay, caller("tickets", true), req)
	wantCode(t, he, abi.HostErrFailed, "the site has no mail relay")
	if noRelay.Configured() || noRelay.Describe() != "" || !withRelay.Configured() {
		t.Fatal("Configured")
	}
	if n := len(srv.Messages()); n != 0 {
		t.Fatalf("%d messages reached the relay", n)
	}
}

// TestRateLimit: a module sends its burst, then is refused with
// HostErrLimit until its rate allows more; another module has its own
// allowance.
func TestRateLimit(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	s := newService(t, Config{Relay: "smtp+insecure://" + srv.Addr, From: "noreply@site.example", PerMinute: 0.001, Burst: 3})
	req := abi.MailRequest{To: []string{"ana@example.com"}, Subject: "Hi", Text: "x"}
	for i := range 3 {
		if _, he := send(t, context.Background(), s, caller("tickets", true), req); he != nil {
			t.Fatalf("send %d: %v", i, he)
		}
	}
	_, he := send(t, context.Background(), s, caller("tickets", true), req)
	wantCode(t, he, abi.HostErrLimit, "e-mails a minute")
	if _, he := send(t, context.Background(), s, caller("chat", true), req); he != nil {
		t.Fatalf("another module: %v", he)
	}
	if n := len(srv.Wait(t, 4)); n != 4 {
		t.Fatalf("%d messages", n)
	}
}

// TestRelayFailures: a relay that is down, one that never answers (the
// caller's deadline ends the send), and one that does not offer STARTTLS
// on smtp:// each fail with a clear HostErrFailed, send nothing, and leave
// the service working: the slots are freed and the next send goes out.
func TestRelayFailures(t *testing.T) {
	good := mailtest.Start(t, mailtest.Options{})
	req := abi.MailRequest{To: []string{"ana@example.com"}, Subject: "Hi", Text: "x"}
	recovers := func(t *testing.T, s *Service) {
		t.Helper()
		s.relay = &relay{host: good.Host, port: atoi(t, good.Port), security: plain}
		if _, he := send(t, context.Background(), s, caller("tickets", true), req); he != nil {
			t.Fatalf("after the failure: %v", he)
		}
	}

	t.Run("down", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		s := newService(t, Config{Relay: "smtp+insecure://" + addr, From: "noreply@site.example", MaxInFlight: 1, MaxInFlightTotal: 1})
		for range 3 { // more than the slots: each failure frees its own
			_, he := send(t, context.Background(), s, caller("tickets", true), req)
			wantCode(t, he, abi.HostErrFailed, "could not reach the mail relay")
		}
		recovers(t, s)
	})

	t.Run("silent", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() { // accepts and says nothing
			var conns []net.Conn
			defer func() {
				for _, c := range conns {
					c.Close()
				}
			}()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				conns = append(conns, c)
			}
		}()
		s := newService(t, Config{Relay: "smtp+insecure://" + ln.Addr().String(), From: "noreply@site.example", MaxInFlight: 1})
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, he := send(t, ctx, s, caller("tickets", true), req)
		wantCode(t, he, abi.HostErrFailed, "did not answer in time")
		recovers(t, s)
	})

	t.Run("no STARTTLS", func(t *testing.T) {
		plainOnly := mailtest.Start(t, mailtest.Options{})
		s := newService(t, Config{Relay: "smtp://" + plainOnly.Addr, From: "noreply@site.example"})
		_, he := send(t, context.Background(), s, caller("tickets", true), req)
		wantCode(t, he, abi.HostErrFailed, "does not offer STARTTLS")
		if n := len(plainOnly.Messages()); n != 0 {
			t.Fatalf("%d messages sent in clear", n)
		}
		insecure := newService(t, Config{Relay: "smtp+insecure://" + plainOnly.Addr, From: "noreply@site.example"})
		if _, he := send(t, context.Background(), insecure, caller("tickets", true), req); he != nil {
			t.Fatalf("smtp+insecure: %v", he)
		}
	})

	t.Run("untrusted certificate", func(t *testing.T) {
		tlsSrv := mailtest.Start(t, mailtest.Options{StartTLS: true})
		s := newService(t, Config{Relay: "smtp://" + tlsSrv.Addr, From: "noreply@site.example"}) // system roots
		_, he := send(t, context.Background(), s, caller("tickets", true), req)
		wantCode(t, he, abi.HostErrFailed, "certificate is not trusted")
		if n := len(tlsSrv.Messages()); n != 0 {
			t.Fatalf("%d messages sent", n)
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		authSrv := mailtest.Start(t, mailtest.Options{StartTLS: true, User: "site", Password: "right"})
		s := newService(t, Config{Relay: "smtp://site:wrong@" + authSrv.Addr, From: "noreply@site.example", RootCAs: authSrv.RootCAs})
		_, he := send(t, context.Background(), s, caller("tickets", true), req)
		wantCode(t, he, abi.HostErrFailed, "refused the site's login")
		if strings.Contains(he.Message, "wrong") {
			t.Fatalf("the password reached the module: %v", he)
		}
	})
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// TestInFlight: one module's sends in progress are capped (one more is
// refused at once), and the slot comes back when a send ends.
func TestInFlight(t *testing.T) {
	s := newService(t, Config{Relay: "smtp+insecure://127.0.0.1:25", From: "noreply@site.example", MaxInFlight: 2})
	r1, err := s.admit(context.Background(), "tickets")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := s.admit(context.Background(), "tickets")
	if err != nil {
		t.Fatal(err)
	}
	var he *abi.HostError
	if _, err := s.admit(context.Background(), "tickets"); !errors.As(err, &he) || he.Code != abi.HostErrLimit {
		t.Fatalf("third: %v", err)
	}
	r3, err := s.admit(context.Background(), "chat")
	if err != nil {
		t.Fatalf("another module: %v", err)
	}
	r1()
	r4, err := s.admit(context.Background(), "tickets")
	if err != nil {
		t.Fatalf("after a release: %v", err)
	}
	r2()
	r3()
	r4()
	if len(s.inFlight) != 0 || len(s.total) != 0 {
		t.Fatalf("slots left: %v, %d", s.inFlight, len(s.total))
	}
	// All slots of the site taken: a send waits, and gives up with its
	// caller's deadline.
	one := newService(t, Config{Relay: "smtp+insecure://127.0.0.1:25", From: "noreply@site.example", MaxInFlightTotal: 1})
	rel, err := one.admit(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := one.admit(ctx, "b"); !errors.As(err, &he) || he.Code != abi.HostErrLimit || one.inFlight["b"] != 0 {
		t.Fatalf("past the site's cap: %v", err)
	}
	rel()
}

// TestConfig: the relay URL's schemes, ports and credentials; plain SMTP
// only to this machine unless forced; a sender required; Describe never
// shows the password.
func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		err  string // "" accepted
		desc string
	}{
		{"none", Config{}, "", ""},
		{"starttls", Config{Relay: "smtp://u:p%40ss@mail.example.com", From: "Site <noreply@example.com>"}, "", `mail.example.com:587 (STARTTLS) as "Site" <noreply@example.com>`},
		{"smtps", Config{Relay: "smtps://mail.example.com", From: "noreply@example.com"}, "", "mail.example.com:465 (TLS) as <noreply@example.com>"},
		{"port", Config{Relay: "smtp://mail.example.com:2525", From: "noreply@example.com"}, "", "mail.example.com:2525 (STARTTLS)"},
		{"insecure localhost", Config{Relay: "smtp+insecure://localhost", From: "noreply@example.com"}, "", "localhost:25 (plain, unencrypted)"},
		{"insecure v6 loopback", Config{Relay: "smtp+insecure://[::1]:1025", From: "noreply@example.com"}, "", "[::1]:1025"},
		{"insecure remote", Config{Relay: "smtp+insecure://mail.example.com", From: "noreply@example.com"}, "only to a relay on this machine", ""},
		{"insecure remote forced", Config{Relay: "smtp+insecure://10.0.0.5", From: "noreply@example.com", AllowInsecureRemote: true}, "", "10.0.0.5:25"},
		{"env password", Config{Relay: "smtp://u@mail.example.com", From: "noreply@example.com", Password: "pw"}, "", "mail.example.com:587"},
		{"password without user", Config{Relay: "smtp://mail.example.com", From: "noreply@example.com", Password: "pw"}, "without a user", ""},
		{"no sender", Config{Relay: "smtp://mail.example.com"}, "sender address", ""},
		{"bad sender", Config{Relay: "smtp://mail.example.com", From: "not an address"}, "sender address", ""},
		{"two senders", Config{Relay: "smtp://mail.example.com", From: "a@example.com, b@example.com"}, "sender address", ""},
		{"sender without relay", Config{From: "noreply@example.com"}, "without a relay", ""},
		{"http scheme", Config{Relay: "https://api.mail.example.com", From: "noreply@example.com"}, "scheme", ""},
		{"path", Config{Relay: "smtp://mail.example.com/x", From: "noreply@example.com"}, "path", ""},
		{"query", Config{Relay: "smtp://mail.example.com?tls=no", From: "noreply@example.com"}, "path, query", ""},
		{"no host", Config{Relay: "smtp://:587", From: "noreply@example.com"}, "no host", ""},
		{"port 0", Config{Relay: "smtp://mail.example.com:0", From: "noreply@example.com"}, "port", ""},
		{"port too big", Config{Relay: "smtp://mail.example.com:70000", From: "noreply@example.com"}, "port", ""},
		{"not a URL", Config{Relay: "smtp://u:p@ss word@x:%zz", From: "noreply@example.com"}, "not a URL", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.cfg)
			if err := Check(tc.cfg); (err == nil) != (tc.err == "") {
				t.Fatalf("Check: %v", err)
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				if strings.Contains(err.Error(), "p@ss") || strings.Contains(err.Error(), "pw") {
					t.Fatalf("the password is in the error: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := s.Describe(); !strings.Contains(d, tc.desc) || strings.Contains(d, "p@ss") || strings.Contains(d, "pw") || (tc.desc == "") != (d == "") {
				t.Fatalf("Describe %q, want %q", d, tc.desc)
			}
		})
	}
}

// FuzzDecode: no payload panics the decoder, and whatever it accepts
// obeys every rule: no control character in anything that becomes a
// header, bare addresses, limits.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		fullRequest, `{"to":["a@b.c"],"subject":"s","text":"t"}`, `{"to":["a@b.c"],"subject":"s\r\nBcc: x@y","text":"t"}`,
		`{"to":["A <a@b.c>"],"subject":"s","html":"<p>"}`, `{"to":["a@b.c"],"subject":"s","text":"t","headers":{"x-a":"1","X-A":"2"}}`,
		`{"to":[],"subject":""}`, `null`, `{}`, "{\"to\":[\"a@b.c\"],\"subject\":\"\xff\",\"text\":\"t\"}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		req, err := Decode(payload)
		if err != nil {
			return
		}
		if len(req.To) == 0 || len(req.To) > abi.MaxMailRecipients || req.Text == "" && req.HTML == "" ||
			len(req.Text) > abi.MaxMailBody || len(req.HTML) > abi.MaxMailBody || len(req.Headers) > abi.MaxMailHeaders {
			t.Fatalf("accepted %+v", req)
		}
		lines := append([]string{req.Subject, req.ReplyTo, req.FromName}, req.To...)
		for k, v := range req.Headers {
			lines = append(lines, k, v)
			if !strings.HasPrefix(k, "X-") && !headerList[k] {
				t.Fatalf("header %q accepted", k)
			}
		}
		for _, l := range lines {
			if strings.ContainsAny(l, "\r\n\x00") || strings.IndexFunc(l, badInLine) >= 0 {
				t.Fatalf("control character accepted in %q", l)
			}
		}
		for _, a := range append([]string{req.ReplyTo}, req.To...) {
			if a != "" && checkAddress(a) != nil {
				t.Fatalf("address %q accepted", a)
			}
		}
	})
}
