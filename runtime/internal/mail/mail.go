package mail

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	gomail "github.com/wneessen/go-mail"
	"golang.org/x/time/rate"

	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/sdk/abi"
)

// NoRelay is the message of the error a send gets when the site has no
// mail relay.
const NoRelay = "the site has no mail relay (its owner sets one with websonic serve --mail-relay)"

// Service is the mail.send host service (package doc). Register it under
// abi.ServiceMail.
type Service struct {
	cfg    Config
	relay  *relay        // nil: no relay
	from   *mail.Address // the owner's sender
	domain string        // of Message-IDs
	total  chan struct{} // a slot per send in progress, of all modules
	sends  *prometheus.CounterVec

	mu       sync.Mutex
	limiters map[string]*rate.Limiter // by module
	inFlight map[string]int           // by module
}

var _ modhost.Service = (*Service)(nil)

// New makes the service. A relay or sender that does not parse is an
// error; no relay at all is not (every send then fails, saying so).
func New(cfg Config) (*Service, error) {
	cfg.defaults()
	r, from, err := parseRelay(&cfg)
	if err != nil {
		return nil, err
	}
	s := &Service{
		cfg: cfg, relay: r, from: from, total: make(chan struct{}, cfg.MaxInFlightTotal),
		limiters: map[string]*rate.Limiter{}, inFlight: map[string]int{},
	}
	if from != nil {
		s.domain = from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	}
	if cfg.Metrics != nil {
		s.sends = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "websonic_mail_sends_total",
			Help: "E-mails modules sent (mail.send), by result: ok or the error code.",
		}, []string{"module", "result"})
		if err := cfg.Metrics.Register(s.sends); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, fmt.Errorf("mail: metrics: %w", err)
			}
			s.sends = are.ExistingCollector.(*prometheus.CounterVec)
		}
	}
	return s, nil
}

// Configured says whether the site has a mail relay.
func (s *Service) Configured() bool { return s != nil && s.relay != nil }

// Describe says, for the owner, where mail goes: "smtp.example.com:587
// (STARTTLS) as Site <noreply@example.com>", never the password; "" without
// a relay.
func (s *Service) Describe() string {
	if s == nil || s.relay == nil {
		return ""
	}
	return fmt.Sprintf("%s (%s) as %s", s.relay.addr(), s.relay.security, s.from.String())
}

// Serve sends one message for c (abi.MailRequest in, abi.MailSent out).
func (s *Service) Serve(ctx context.Context, c *modhost.Caller, payload []byte) (_ []byte, err error) {
	if !c.Manifest.Capabilities.Mail {
		return nil, modhost.Denied("%s: the module's manifest does not ask for mail", abi.ServiceMail)
	}
	defer func() { s.count(c.Module, err) }()
	if s.relay == nil {
		return nil, &abi.HostError{Code: abi.HostErrFailed, Message: abi.ServiceMail + ": " + NoRelay}
	}
	req, err := Decode(payload)
	if err != nil {
		return nil, modhost.Invalid("%s: %v", abi.ServiceMail, err)
	}
	release, err := s.admit(ctx, c.Module)
	if err != nil {
		return nil, err
	}
	defer release()
	msg, id, err := s.message(c.Module, req)
	if err != nil {
		return nil, modhost.Invalid("%s: %v", abi.ServiceMail, err)
	}
	log := s.cfg.Logger.With("module", c.Module, "recipients", len(req.To), "message_id", id, "request_id", c.RequestID)
	start := time.Now()
	if err := s.send(ctx, msg); err != nil {
		he := sendError(ctx, err)
		log.Warn("mail not sent", "error", err, "duration", time.Since(start))
		return nil, he
	}
	log.Info("mail sent", "duration", time.Since(start))
	return json.Marshal(abi.MailSent{MessageID: id})
}

// admit applies the module's rate and the caps on sends in progress; the
// release it returns frees the slots taken.
func (s *Service) admit(ctx context.Context, module string) (release func(), err error) {
	s.mu.Lock()
	lim := s.limiters[module]
	if lim == nil {
		lim = rate.NewLimiter(rate.Limit(s.cfg.PerMinute/60), s.cfg.Burst)
		s.limiters[module] = lim
	}
	if !lim.Allow() {
		s.mu.Unlock()
		return nil, &abi.HostError{Code: abi.HostErrLimit, Message: fmt.Sprintf("%s: more than %g e-mails a minute (bursts of %d): try again later", abi.ServiceMail, s.cfg.PerMinute, s.cfg.Burst)}
	}
	if s.inFlight[module] >= s.cfg.MaxInFlight {
		s.mu.Unlock()
		return nil, &abi.HostError{Code: abi.HostErrLimit, Message: fmt.Sprintf("%s: %d e-mails of this module are being sent already", abi.ServiceMail, s.cfg.MaxInFlight)}
	}
	s.inFlight[module]++
	s.mu.Unlock()
	mine := func() {
		s.mu.Lock()
		if s.inFlight[module]--; s.inFlight[module] == 0 {
			delete(s.inFlight, module)
		}
		s.mu.Unlock()
	}
	select {
	case s.total <- struct{}{}:
	case <-ctx.Done():
		mine()
		return nil, &abi.HostError{Code: abi.HostErrLimit, Message: abi.ServiceMail + ": the site is sending too much mail at once: try again later"}
	}
	return func() { <-s.total; mine() }, nil
}

// message builds the message of req and its Message-ID.
func (s *Service) message(module string, req *abi.MailRequest) (*gomail.Msg, string, error) {
	m := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	from := *s.from
	if req.FromName != "" {
		from.Name = req.FromName
	}
	m.FromMailAddress(&from)
	if err := m.To(req.To...); err != nil {
		return nil, "", fmt.Errorf("to: %w", err)
	}
	if req.ReplyTo != "" {
		if err := m.ReplyTo(req.ReplyTo); err != nil {
			return nil, "", fmt.Errorf("reply_to: %w", err)
		}
	}
	m.Subject(req.Subject)
	m.SetDate()
	id := newID() + "@" + s.domain
	m.SetMessageIDWithValue(id)
	m.SetGenHeader("Auto-Submitted", "auto-generated")
	m.SetGenHeader("X-Websonic-Module", module)
	for _, name := range slices.Sorted(maps.Keys(req.Headers)) {
		m.SetGenHeader(gomail.Header(name), req.Headers[name])
	}
	switch {
	case req.Text != "" && req.HTML != "":
		m.SetBodyString(gomail.TypeTextPlain, req.Text)
		m.AddAlternativeString(gomail.TypeTextHTML, req.HTML)
	case req.Text != "":
		m.SetBodyString(gomail.TypeTextPlain, req.Text)
	default:
		m.SetBodyString(gomail.TypeTextHTML, req.HTML)
	}
	return m, id, nil
}

// newID is the random part of a Message-ID: 128 bits, base32.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// send delivers m to the relay within ctx and the service's timeout.
func (s *Service) send(ctx context.Context, m *gomail.Msg) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	timeout := s.cfg.Timeout
	if d, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(d), time.Millisecond)
	}
	r := s.relay
	tlsConfig := &tls.Config{ServerName: r.host, RootCAs: s.cfg.RootCAs, MinVersion: tls.VersionTLS12}
	opts := []gomail.Option{
		gomail.WithPort(r.port), gomail.WithTimeout(timeout), gomail.WithTLSConfig(tlsConfig),
		gomail.WithDialContextFunc(s.dialer(ctx, tlsConfig)),
	}
	switch r.security {
	case startTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	default: // implicit TLS is the dialer's; plain has none
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if r.user != "" {
		auth := gomail.SMTPAuthPlain
		if r.security == plain {
			auth = gomail.SMTPAuthPlainNoEnc
		}
		opts = append(opts, gomail.WithSMTPAuth(auth), gomail.WithUsername(r.user), gomail.WithPassword(r.password))
	}
	client, err := gomail.NewClient(r.host, opts...)
	if err != nil {
		return fmt.Errorf("mail: client: %w", err)
	}
	return client.DialAndSendWithContext(ctx, m)
}

// dialer connects to the relay (over TLS for smtps://); the connection is
// closed when ctx ends, so that no step of the SMTP dialogue outlives the
// caller's deadline.
func (s *Service) dialer(ctx context.Context, tlsConfig *tls.Config) gomail.DialContextFunc {
	return func(dctx context.Context, network, address string) (net.Conn, error) {
		var conn net.Conn
		var err error
		d := &net.Dialer{}
		if s.relay.security == implicitTLS {
			conn, err = (&tls.Dialer{NetDialer: d, Config: tlsConfig}).DialContext(dctx, network, address)
		} else {
			conn, err = d.DialContext(dctx, network, address)
		}
		if err != nil {
			return nil, err
		}
		context.AfterFunc(ctx, func() { conn.Close() })
		return conn, nil
	}
}

// sendError is the module's error for a failed send: what kind of
// failure, not the relay's own words (the log has them).
func sendError(ctx context.Context, err error) *abi.HostError {
	msg := "the mail relay did not take the message (see the site's log)"
	var ne net.Error
	var oe *net.OpError
	var ce *tls.CertificateVerificationError
	switch {
	case ctx.Err() != nil || errors.As(err, &ne) && ne.Timeout():
		msg = "the mail relay did not answer in time"
	case errors.As(err, &oe) && oe.Op == "dial":
		msg = "could not reach the mail relay (see the site's log)"
	case errors.As(err, &ce):
		msg = "the mail relay's TLS certificate is not trusted (see the site's log)"
	case strings.Contains(err.Error(), "does not support STARTTLS"):
		msg = "the mail relay does not offer STARTTLS, and the site sends mail encrypted only (see the site's log)"
	case errors.Is(err, gomail.ErrSMTPAuthMethodIsNil) || strings.Contains(err.Error(), "SMTP AUTH"):
		msg = "the mail relay refused the site's login (see the site's log)"
	}
	return &abi.HostError{Code: abi.HostErrFailed, Message: abi.ServiceMail + ": " + msg}
}

// count counts a send's outcome.
func (s *Service) count(module string, err error) {
	if s.sends == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = abi.HostErrFailed
		var he *abi.HostError
		if errors.As(err, &he) {
			result = he.Code
		}
	}
	s.sends.WithLabelValues(module, result).Inc()
}
