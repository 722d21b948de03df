package mail

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/websonic/websonic/sdk/abi"
)

// Config configures the service. Zero fields take the defaults shown.
type Config struct {
	// Relay is the owner's mail relay, a URL (package doc):
	// smtp://[user[:password]@]host[:port] (STARTTLS required, port 587),
	// smtps://… (implicit TLS, port 465) or smtp+insecure://… (plain, port
	// 25; loopback hosts only unless AllowInsecureRemote). "": no relay,
	// and every send fails with abi.HostErrFailed.
	Relay string
	// From is the sender's address, with or without a display name
	// ("Site <noreply@example.com>"); required with Relay. Message-IDs are
	// made on its domain.
	From string
	// Password, when set, is the relay's password (instead of the URL's),
	// so that it need not be on a command line (WEBSONIC_MAIL_PASSWORD).
	Password string
	// AllowInsecureRemote lets smtp+insecure:// name a host that is not a
	// loopback address: mail and password then cross a network in clear.
	AllowInsecureRemote bool
	// PerMinute is each module's sustained rate of sends (60 a minute),
	// Burst how many it may send at once after a quiet while (20).
	PerMinute float64
	Burst     int
	// MaxInFlight caps one module's sends in progress; one more is refused
	// at once with abi.HostErrLimit (4). MaxInFlightTotal caps the sends
	// in progress of all modules; a send past it waits for a slot within
	// its caller's deadline (16).
	MaxInFlight      int
	MaxInFlightTotal int
	// Timeout bounds each send, connection, TLS and SMTP dialogue
	// included; the caller's deadline bounds it too (30s).
	Timeout time.Duration
	// RootCAs, when set, are the only CAs trusted for the relay's TLS
	// certificate (nil: the system's roots). TLS is always verified.
	RootCAs *x509.CertPool
	// Logger logs each send (none).
	Logger hclog.Logger
	// Metrics, when set, gets websonic_mail_sends_total by module and
	// result.
	Metrics prometheus.Registerer
}

func (c *Config) defaults() {
	if c.PerMinute <= 0 {
		c.PerMinute = 60
	}
	if c.Burst <= 0 {
		c.Burst = 20
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 4
	}
	if c.MaxInFlightTotal <= 0 {
		c.MaxInFlightTotal = 16
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
}

// security is how a relay is reached.
type security int

const (
	startTLS    security = iota // smtp://: STARTTLS required
	implicitTLS                 // smtps://
	plain                       // smtp+insecure://
)

func (s security) String() string {
	switch s {
	case startTLS:
		return "STARTTLS"
	case implicitTLS:
		return "TLS"
	}
	return "plain, unencrypted"
}

// relay is a parsed Config.Relay.
type relay struct {
	host     string
	port     int
	security security
	user     string
	password string
}

// parseRelay reads Config's relay; nil, nil without one.
func parseRelay(cfg *Config) (*relay, *mail.Address, error) {
	if cfg.Relay == "" {
		if cfg.From != "" || cfg.Password != "" {
			return nil, nil, errors.New("mail: a sender address or password without a relay (--mail-relay)")
		}
		return nil, nil, nil
	}
	u, err := url.Parse(cfg.Relay)
	if err != nil {
		// url's error quotes the URL, password included: say less.
		return nil, nil, errors.New("mail: the relay is not a URL (smtp://user:password@host:port)")
	}
	r := &relay{host: u.Hostname()}
	def := 0
	switch u.Scheme {
	case "smtp":
		r.security, def = startTLS, 587
	case "smtps":
		r.security, def = implicitTLS, 465
	case "smtp+insecure":
		r.security, def = plain, 25
	default:
		return nil, nil, fmt.Errorf("mail: relay scheme %q: use smtp:// (STARTTLS), smtps:// (TLS) or smtp+insecure:// (plain, for a relay on this machine)", u.Scheme)
	}
	if r.host == "" || u.Opaque != "" {
		return nil, nil, errors.New("mail: the relay URL names no host (smtp://host:port)")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, nil, errors.New("mail: the relay URL has a path, query or fragment: give scheme://[user:password@]host[:port] only")
	}
	r.port = def
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != p {
			return nil, nil, fmt.Errorf("mail: relay port %q: want 1 to 65535", p)
		}
		r.port = n
	}
	if u.User != nil {
		r.user = u.User.Username()
		r.password, _ = u.User.Password()
	}
	if cfg.Password != "" {
		r.password = cfg.Password
	}
	if r.password != "" && r.user == "" {
		return nil, nil, errors.New("mail: a relay password without a user name (smtp://user@host)")
	}
	if r.security == plain && !cfg.AllowInsecureRemote && !loopback(r.host) {
		return nil, nil, fmt.Errorf("mail: smtp+insecure:// sends in clear: only to a relay on this machine (localhost, 127.0.0.1, ::1), not %s, unless forced (--mail-relay-insecure-remote)", r.host)
	}
	if cfg.From == "" {
		return nil, nil, errors.New("mail: a relay needs a sender address (--mail-from \"Site <noreply@example.com>\")")
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, nil, fmt.Errorf("mail: sender address %q: %w", cfg.From, err)
	}
	if err := checkAddress(from.Address); err != nil {
		return nil, nil, fmt.Errorf("mail: sender address: %w", err)
	}
	if err := checkLine("sender name", from.Name, abi.MaxMailName); err != nil {
		return nil, nil, fmt.Errorf("mail: %w", err)
	}
	return r, from, nil
}

// loopback says whether host is this machine: localhost or a loopback
// address.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// addr is the relay's host:port.
func (r *relay) addr() string { return net.JoinHostPort(r.host, strconv.Itoa(r.port)) }

// Check checks cfg's relay and sender as New does, so that a command can
// refuse a bad one before it starts anything.
func Check(cfg Config) error {
	_, _, err := parseRelay(&cfg)
	return err
}
