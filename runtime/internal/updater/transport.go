package updater

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
)

// clients builds the updater's HTTP clients for the registry: one for
// requests and one for the watch stream (neither with an overall timeout:
// New bounds each request by Config.Limits), over
// one transport that speaks TLS 1.2 or later and, with cfg.RegistryCA,
// trusts only those CAs. Neither follows a redirect off HTTPS (except to a
// loopback address when cfg.PlainLoopback allows it). A caller's
// cfg.HTTPClient is used as it is, and excludes RegistryCA.
func clients(cfg Config) (requests, stream *http.Client, err error) {
	if cfg.HTTPClient != nil {
		if len(cfg.RegistryCA) > 0 {
			return nil, nil, errors.New("updater: Config takes RegistryCA or HTTPClient, not both")
		}
		return cfg.HTTPClient, &http.Client{Transport: cfg.HTTPClient.Transport, CheckRedirect: cfg.HTTPClient.CheckRedirect}, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(cfg.RegistryCA) > 0 {
		if tc.RootCAs, err = certPool(cfg.RegistryCA); err != nil {
			return nil, nil, err
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	redirect := func(r *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("updater: stopped after 10 redirects")
		}
		if r.URL.Scheme != "https" && !(cfg.PlainLoopback && isLoopback(r.URL.Hostname())) {
			return fmt.Errorf("updater: the registry redirected to %s://%s: refused, the registry is reached over HTTPS only", r.URL.Scheme, r.URL.Host)
		}
		return nil
	}
	// No overall timeout: New bounds every request by its Limits (headers
	// in time, a minimum rate, a deadline sized from its length), which a
	// large download at a slow but steady rate passes and a flat timeout
	// would not.
	return &http.Client{Transport: tr, CheckRedirect: redirect},
		&http.Client{Transport: tr, CheckRedirect: redirect}, nil
}

// certPool parses PEM certificates strictly: at least one, nothing but
// CERTIFICATE blocks, nothing else in the file.
func certPool(pemBytes []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for rest := bytes.TrimSpace(pemBytes); len(rest) > 0; rest = bytes.TrimSpace(rest) {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			return nil, errors.New("updater: registry CA: not PEM (want one or more CERTIFICATE blocks)")
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("updater: registry CA: a %s block where a CERTIFICATE was expected", b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("updater: registry CA: %w", err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, errors.New("updater: registry CA: no certificate")
	}
	return pool, nil
}

// isLoopback reports whether host (no port) is localhost or a loopback
// address.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
