package tlsserve

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/hashicorp/go-hclog"
	"github.com/mholt/acmez/v3"
)

// LetsEncrypt is Let's Encrypt's production ACME directory, the default
// ACMEDirectory.
const LetsEncrypt = certmagic.LetsEncryptProductionCA

// Config configures HTTPS. The zero Config is disabled; exactly one
// certificate source (files, ACMEDomains or SelfSigned) enables it. Zero
// fields take the defaults shown.
type Config struct {
	// CertFile and KeyFile are a PEM certificate chain, leaf first, and its
	// private key. They are read again when they change.
	CertFile, KeyFile string
	// ACMEDomains are public DNS names (or IP addresses, where the CA issues
	// for them) to obtain certificates for over ACME.
	// They must resolve to this server, reachable on port 443 (tls-alpn-01)
	// or, with RedirectAddr on port 80, there (http-01).
	ACMEDomains []string
	// ACMEEmail is the ACME account's contact address (none).
	ACMEEmail string
	// ACMEDirectory is the ACME server's directory URL (LetsEncrypt). Using
	// a CA means agreeing to its terms of service.
	ACMEDirectory string
	// ACMERoots, when set, replace the system roots for connections to the
	// ACME server: a private ACME CA, or a test one.
	ACMERoots *x509.CertPool
	// SelfSigned serves a self-signed certificate for localhost and the
	// loopback addresses: development only, clients must pin it
	// (Dir/self-signed.pem).
	SelfSigned bool
	// Dir keeps the ACME account and certificates, OCSP staples and the
	// self-signed certificate: required (the servers use DATA-DIR/tls).
	Dir string
	// RedirectAddr, when set, is a plain-HTTP listen address (":80") that
	// answers ACME http-01 challenges and redirects GET and HEAD requests to
	// HTTPS, refusing the rest (none).
	RedirectAddr string
	// RedirectListener, when set, wraps the redirect listener before it
	// serves: a server caps its connections there as on its own listener
	// (a flood of plain-HTTP connections holds descriptors too). Nil
	// serves it as it is.
	RedirectListener func(net.Listener) net.Listener
	// Listen opens the redirect listener (net.Listen): a runtime under a
	// graceful restarter passes its own, which hands it over.
	Listen func(network, addr string) (net.Listener, error)
	// ReloadEvery is how often CertFile and KeyFile are checked for
	// changes (1 minute).
	ReloadEvery time.Duration
	// Logger receives this package's and certmagic's logs (discarded).
	Logger hclog.Logger

	// Tests: onEvent sees certmagic's events, redirectLn is the redirect
	// listener already open, challenge the one ACME challenge type to use.
	onEvent    func(event string, data map[string]any)
	redirectLn net.Listener
	challenge  string
}

func (c Config) redirects() bool { return c.RedirectAddr != "" || c.redirectLn != nil }

// Enabled reports whether cfg asks for anything: a certificate source or a
// redirect listener. A disabled Config serves plain HTTP.
func (c Config) Enabled() bool {
	return c.CertFile != "" || c.KeyFile != "" || len(c.ACMEDomains) > 0 || c.SelfSigned || c.RedirectAddr != ""
}

// Validate checks an enabled Config without touching files or the
// network: one certificate source, complete, and a Dir.
func (c Config) Validate() error {
	sources := 0
	if c.CertFile != "" || c.KeyFile != "" {
		sources++
		if c.CertFile == "" || c.KeyFile == "" {
			return errors.New("tlsserve: a certificate file needs its key file, and a key file its certificate")
		}
	}
	if len(c.ACMEDomains) > 0 {
		sources++
		for _, d := range c.ACMEDomains {
			if d != strings.TrimSpace(d) || strings.Contains(d, "*") || !certmagic.SubjectQualifiesForPublicCert(d) {
				return fmt.Errorf("tlsserve: ACME domain %q: want a public DNS name or IP address (no localhost, private address or wildcard)", d)
			}
		}
		if c.ACMEDirectory != "" {
			if u, err := url.Parse(c.ACMEDirectory); err != nil || u.Scheme != "https" || u.Host == "" {
				return fmt.Errorf("tlsserve: ACME directory %q: want an https:// URL", c.ACMEDirectory)
			}
		}
	} else if c.ACMEEmail != "" || c.ACMEDirectory != "" || c.ACMERoots != nil {
		return errors.New("tlsserve: ACME settings without ACME domains")
	}
	if c.SelfSigned {
		sources++
	}
	switch {
	case sources == 0:
		return errors.New("tlsserve: no certificate: give a certificate and key file, ACME domains, or ask for a self-signed development certificate")
	case sources > 1:
		return errors.New("tlsserve: choose one certificate source: files, ACME or self-signed")
	case c.Dir == "":
		return errors.New("tlsserve: Dir is required")
	}
	return nil
}

// Listener is a TLS listener with its certificate machinery: what
// http.Server.Serve accepts from (connections are *tls.Conn, so HTTP/2 and
// Request.TLS work). Close stops everything Start started. Its methods are
// safe for concurrent use.
type Listener struct {
	net.Listener
	cfg      Config
	log      hclog.Logger
	cache    *certmagic.Cache
	magic    *certmagic.Config
	tls      *tls.Config
	redirect *http.Server
	redirLn  net.Listener
	stop     context.CancelFunc
	bg       sync.WaitGroup

	mu    sync.Mutex // Reload and renew
	files fileState

	closeOnce sync.Once
	closeErr  error
}

// Start serves TLS on ln, which it owns from now on, and the redirect
// listener when cfg asks for one. Certificates from files or self-signed
// are loaded before it returns (a bad file is an error); ACME certificates
// are obtained in the background. ctx bounds the background work besides
// Close.
func Start(ctx context.Context, cfg Config, ln net.Listener) (_ *Listener, err error) {
	if err := cfg.Validate(); err != nil {
		ln.Close()
		return nil, err
	}
	if cfg.ACMEDirectory == "" {
		cfg.ACMEDirectory = LetsEncrypt
	}
	if cfg.ReloadEvery <= 0 {
		cfg.ReloadEvery = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		ln.Close()
		return nil, fmt.Errorf("tlsserve: %w", err)
	}
	bgctx, stop := context.WithCancel(ctx)
	l := &Listener{cfg: cfg, log: cfg.Logger, stop: stop}
	defer func() {
		if err != nil {
			l.Listener = ln
			l.Close()
		}
	}()
	zl := zapLogger(l.log)
	l.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return l.magic, nil },
		Logger:           zl,
	})
	mc := certmagic.Config{
		Storage: &certmagic.FileStorage{Path: cfg.Dir},
		Logger:  zl,
		Issuers: []certmagic.Issuer{}, // none but ACME's, below
	}
	if cfg.onEvent != nil {
		mc.OnEvent = func(_ context.Context, event string, data map[string]any) error {
			cfg.onEvent(event, data)
			return nil
		}
	}
	if len(cfg.ACMEDomains) == 0 {
		mc.CertSelection = anyCertificate{} // one certificate, whatever name was asked for
	}
	l.magic = certmagic.New(l.cache, mc)

	var acme *certmagic.ACMEIssuer
	if len(cfg.ACMEDomains) > 0 {
		acme = l.acmeIssuer(ln.Addr())
		l.magic.Issuers = []certmagic.Issuer{acme}
	}
	switch {
	case cfg.CertFile != "":
		if err := l.Reload(ctx); err != nil {
			return nil, err
		}
	case cfg.SelfSigned:
		if err := l.loadSelfSigned(ctx); err != nil {
			return nil, err
		}
	}

	l.tls = l.magic.TLSConfig()
	l.tls.NextProtos = []string{"h2", "http/1.1"}
	if acme != nil {
		l.tls.NextProtos = append(l.tls.NextProtos, acmez.ACMETLS1Protocol)
	}
	l.tls.MinVersion = tls.VersionTLS12
	l.tls.CipherSuites = cipherSuites
	l.tls.CurvePreferences = curves
	l.Listener = tls.NewListener(ln, l.tls)

	if cfg.redirects() {
		if err := l.startRedirect(ln.Addr(), acme); err != nil {
			return nil, err
		}
	}
	if acme != nil {
		if err := l.magic.ManageAsync(bgctx, cfg.ACMEDomains); err != nil {
			return nil, fmt.Errorf("tlsserve: %w", err)
		}
		l.log.Info("certificates come from ACME", "domains", cfg.ACMEDomains, "directory", cfg.ACMEDirectory)
	}
	if cfg.CertFile != "" {
		l.bg.Add(1)
		go l.watchFiles(bgctx)
	}
	return l, nil
}

// Wrap is how a server uses Start: with cfg disabled it returns ln as it
// is and "http"; otherwise Start's listener and "https", Dir defaulting to
// dataDir/tls and Logger to log.Named("tls").
func Wrap(ctx context.Context, cfg Config, ln net.Listener, dataDir string, log hclog.Logger) (net.Listener, string, error) {
	if !cfg.Enabled() {
		return ln, "http", nil
	}
	if cfg.Dir == "" {
		cfg.Dir = filepath.Join(dataDir, "tls")
	}
	if cfg.Logger == nil {
		cfg.Logger = log.Named("tls")
	}
	l, err := Start(ctx, cfg, ln)
	if err != nil {
		return nil, "", err
	}
	return l, "https", nil
}

// TLS 1.2 suites: ECDHE key exchange and AEAD ciphers only (TLS 1.3's are
// not configurable and all good).
var cipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

var curves = []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256, tls.CurveP384}

// anyCertificate serves the one certificate loaded (files, self-signed)
// whatever server name the client asked for, or none: the client checks
// the name.
type anyCertificate struct{}

func (anyCertificate) SelectCertificate(hello *tls.ClientHelloInfo, choices []certmagic.Certificate) (certmagic.Certificate, error) {
	return certmagic.DefaultCertificateSelector(hello, choices)
}

// acmeIssuer answers tls-alpn-01 on the HTTPS listener at addr and http-01
// on the redirect listener, if there is one. certmagic binds a challenge
// port itself only when nothing listens there, which is never the case
// for these two.
func (l *Listener) acmeIssuer(addr net.Addr) *certmagic.ACMEIssuer {
	tmpl := certmagic.ACMEIssuer{
		CA: l.cfg.ACMEDirectory, Email: l.cfg.ACMEEmail, Agreed: true, TrustedRoots: l.cfg.ACMERoots,
		Logger:                  zapLogger(l.log.Named("acme")),
		DisableHTTPChallenge:    !l.cfg.redirects() || l.cfg.challenge == "tls-alpn-01",
		DisableTLSALPNChallenge: l.cfg.challenge == "http-01",
	}
	if ta, ok := addr.(*net.TCPAddr); ok {
		tmpl.AltTLSALPNPort = ta.Port
		if !ta.IP.IsUnspecified() {
			tmpl.ListenHost = ta.IP.String()
		}
	}
	return certmagic.NewACMEIssuer(l.magic, tmpl)
}

// TLSConfig is a copy of the served TLS configuration.
func (l *Listener) TLSConfig() *tls.Config { return l.tls.Clone() }

// RedirectAddr is the redirect listener's address, nil without one.
func (l *Listener) RedirectAddr() net.Addr {
	if l.redirLn == nil {
		return nil
	}
	return l.redirLn.Addr()
}

// Close stops accepting, the redirect listener, file watching and
// certificate maintenance. It may be called more than once (http.Server's
// Shutdown calls it too).
func (l *Listener) Close() error {
	l.closeOnce.Do(func() {
		l.stop()
		if l.Listener != nil {
			l.closeErr = l.Listener.Close()
		}
		if l.redirect != nil {
			l.redirect.Close()
		}
		l.bg.Wait()
		if l.cache != nil {
			l.cache.Stop()
		}
	})
	return l.closeErr
}

// renew obtains fresh certificates for every ACME domain now, due or not,
// and serves them in place of the old ones.
func (l *Listener) renew(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, d := range l.cfg.ACMEDomains {
		var old []string
		for _, c := range l.cache.AllMatchingCertificates(d) {
			old = append(old, c.Hash())
		}
		if err := l.magic.RenewCertSync(ctx, d, true); err != nil {
			return fmt.Errorf("tlsserve: renew %s: %w", d, err)
		}
		c, err := l.magic.CacheManagedCertificate(ctx, d)
		if err != nil {
			return fmt.Errorf("tlsserve: renew %s: %w", d, err)
		}
		l.cache.Remove(slices.DeleteFunc(old, func(h string) bool { return h == c.Hash() }))
	}
	return nil
}

// ServerName is the name clients reach a server of this Config by, as its
// certificate tells: the first ACME domain; the first DNS name, else IP
// address, of CertFile's leaf; "localhost" for the self-signed
// certificate. It is "" without a certificate source, or when CertFile
// cannot be read (Start then fails with the reason). Servers use it for
// the URLs they announce (the registry's login realm) when none is
// configured.
func (c Config) ServerName() string {
	switch {
	case len(c.ACMEDomains) > 0:
		return c.ACMEDomains[0]
	case c.CertFile != "":
		return leafName(c.CertFile)
	case c.SelfSigned:
		return "localhost"
	}
	return ""
}

// leafName is the first DNS name, else IP address, of the first
// certificate in the PEM file at path; "" if there is none.
func leafName(path string) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	for {
		var b *pem.Block
		if b, raw = pem.Decode(raw); b == nil {
			return ""
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		leaf, err := x509.ParseCertificate(b.Bytes)
		switch {
		case err != nil:
			return ""
		case len(leaf.DNSNames) > 0:
			return leaf.DNSNames[0]
		case len(leaf.IPAddresses) > 0:
			return leaf.IPAddresses[0].String()
		}
		return ""
	}
}
