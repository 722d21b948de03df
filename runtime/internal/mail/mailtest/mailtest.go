// Package mailtest runs a real SMTP server (github.com/emersion/go-smtp)
// on a loopback port for tests of the mail.send service and of modules
// that send mail: it keeps every message it receives, parsed.
package mailtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Options shape a Server.
type Options struct {
	// StartTLS offers STARTTLS with a certificate for 127.0.0.1 and
	// localhost (Server.RootCAs trusts it).
	StartTLS bool
	// ImplicitTLS speaks TLS from the first byte (smtps).
	ImplicitTLS bool
	// User and Password, when set, are required (AUTH PLAIN) before MAIL.
	User, Password string
}

// Message is one message received.
type Message struct {
	From string   // envelope sender
	To   []string // envelope recipients
	Raw  []byte
	*mail.Message
	// TLS says whether the session was encrypted; Authed whether it
	// logged in.
	TLS, Authed bool
}

// Server is a running SMTP server; the test's cleanup stops it.
type Server struct {
	// Addr is host:port, Host and Port its parts.
	Addr, Host, Port string
	// RootCAs trusts the server's certificate.
	RootCAs *x509.CertPool

	opts Options
	mu   sync.Mutex
	msgs []*Message
	seen chan struct{} // closed and replaced on each message
}

// Start starts a server on 127.0.0.1 for the test.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{opts: opts, seen: make(chan struct{})}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{s: s, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	srv.MaxMessageBytes = 8 << 20
	srv.MaxRecipients = 50
	srv.AllowInsecureAuth = true
	srv.ErrorLog = log.New(io.Discard, "", 0) // clients that hang up are the tests' point
	if opts.StartTLS || opts.ImplicitTLS {
		cert, pool := selfSigned(t)
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		s.RootCAs = pool
	}
	var ln net.Listener
	var err error
	if opts.ImplicitTLS {
		ln, err = tls.Listen("tcp", "127.0.0.1:0", srv.TLSConfig)
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	if opts.ImplicitTLS {
		srv.TLSConfig = nil // go-smtp must not offer STARTTLS on a TLS connection
	}
	s.Addr = ln.Addr().String()
	s.Host, s.Port, _ = net.SplitHostPort(s.Addr)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s
}

// Messages returns the messages received so far.
func (s *Server) Messages() []*Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Message(nil), s.msgs...)
}

// Wait returns the messages once there are at least n, or fails the test
// after the deadline (a minute).
func (s *Server) Wait(t testing.TB, n int) []*Message {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		s.mu.Lock()
		msgs, seen := append([]*Message(nil), s.msgs...), s.seen
		s.mu.Unlock()
		if len(msgs) >= n {
			return msgs
		}
		select {
		case <-seen:
		case <-deadline:
			t.Fatalf("mailtest: %d messages after a minute, want %d", len(msgs), n)
		}
	}
}

func (s *Server) add(m *Message) {
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	close(s.seen)
	s.seen = make(chan struct{})
	s.mu.Unlock()
}

type session struct {
	s      *Server
	conn   *smtp.Conn
	authed bool
	from   string
	to     []string
}

func (ss *session) AuthMechanisms() []string {
	if ss.s.opts.User == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != ss.s.opts.User || password != ss.s.opts.Password {
			return smtp.ErrAuthFailed
		}
		ss.authed = true
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.opts.User != "" && !ss.authed {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		return &smtp.SMTPError{Code: 554, Message: "mailtest: not a message: " + err.Error()}
	}
	_, tlsOn := ss.conn.TLSConnectionState()
	ss.s.add(&Message{From: ss.from, To: ss.to, Raw: raw, Message: m, TLS: tlsOn, Authed: ss.authed})
	return nil
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

// selfSigned makes a certificate for 127.0.0.1 and localhost and a pool
// trusting it.
func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mailtest"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
