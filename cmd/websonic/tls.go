package main

import (
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/websonic/websonic/internal/tlsserve"
)

// tlsFlags are the HTTPS flags `serve` and `registry serve` share, and the
// runtime's --registry-ca. Call load after parsing.
type tlsFlags struct {
	prefix                                string // of the environment variables
	cert, key                             string
	acmeDomains, acmeEmail, acmeCA, roots string
	selfSigned                            bool
	redirect, dir                         string
	registryCA                            *string // nil: not the runtime

	// Set by load.
	tls         tlsserve.Config
	registryPEM []byte
}

// registerTLS adds the HTTPS flags to fs, their environment variables
// starting with prefix (WEBSONIC_ or WEBSONIC_REGISTRY_); runtime adds
// --registry-ca.
func registerTLS(fs *flag.FlagSet, prefix string, runtime bool) *tlsFlags {
	f := &tlsFlags{prefix: prefix}
	e := func(name string) string { return prefix + name }
	fs.StringVar(&f.cert, "tls-cert", env(e("TLS_CERT"), ""), "serve HTTPS with this PEM certificate chain, leaf first; re-read when it changes ("+e("TLS_CERT")+")")
	fs.StringVar(&f.key, "tls-key", env(e("TLS_KEY"), ""), "the private key of --tls-cert, PEM ("+e("TLS_KEY")+")")
	fs.StringVar(&f.acmeDomains, "acme-domains", env(e("ACME_DOMAINS"), ""), "serve HTTPS with certificates obtained and renewed automatically over ACME for these comma-separated public names; they must resolve to this server, reachable on port 443 (or 80 with --http-redirect-addr :80); using the CA means agreeing to its terms ("+e("ACME_DOMAINS")+")")
	fs.StringVar(&f.acmeEmail, "acme-email", env(e("ACME_EMAIL"), ""), "contact address of the ACME account, for the CA's expiry and incident notices ("+e("ACME_EMAIL")+")")
	fs.StringVar(&f.acmeCA, "acme-ca", env(e("ACME_CA"), tlsserve.LetsEncrypt), "ACME directory URL ("+e("ACME_CA")+")")
	fs.StringVar(&f.roots, "acme-ca-roots", env(e("ACME_CA_ROOTS"), ""), "PEM file of the only roots trusted for the ACME server's own certificate: a private ACME CA (default: the system roots) ("+e("ACME_CA_ROOTS")+")")
	fs.BoolVar(&f.selfSigned, "tls-self-signed", env(e("TLS_SELF_SIGNED"), "") == "true", "serve HTTPS with a self-signed certificate for localhost: development only, clients pin TLS-DIR/"+tlsserve.SelfSignedCert+" ("+e("TLS_SELF_SIGNED")+"=true)")
	fs.StringVar(&f.redirect, "http-redirect-addr", env(e("HTTP_REDIRECT_ADDR"), ""), "with HTTPS, also listen for plain HTTP here (e.g. :80): redirects to HTTPS and answers ACME http-01 challenges ("+e("HTTP_REDIRECT_ADDR")+")")
	fs.StringVar(&f.dir, "tls-dir", env(e("TLS_DIR"), ""), "folder of the ACME account, certificates and locks, OCSP staples and the self-signed certificate; replicas may share it (default DATA-DIR/tls) ("+e("TLS_DIR")+")")
	if runtime {
		f.registryCA = fs.String("registry-ca", env("WEBSONIC_REGISTRY_CA", ""), "PEM file of the CA certificates that alone are trusted for the registry's HTTPS certificate, for metadata, downloads and the watch stream (default: the system roots) (WEBSONIC_REGISTRY_CA)")
	}
	return f
}

// load reads the files the flags name and checks the HTTPS settings;
// dataDir gives --tls-dir its default.
func (f *tlsFlags) load(dataDir string) error {
	if f.registryCA != nil && *f.registryCA != "" {
		b, err := os.ReadFile(*f.registryCA)
		if err != nil {
			return fmt.Errorf("registry CA: %w", err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(b) {
			return fmt.Errorf("registry CA: %s holds no PEM certificate", *f.registryCA)
		}
		f.registryPEM = b
	}
	c := tlsserve.Config{CertFile: f.cert, KeyFile: f.key, SelfSigned: f.selfSigned, RedirectAddr: f.redirect, Dir: f.dir}
	for _, d := range strings.Split(f.acmeDomains, ",") {
		if d = strings.TrimSpace(d); d != "" {
			c.ACMEDomains = append(c.ACMEDomains, d)
		}
	}
	if len(c.ACMEDomains) > 0 {
		c.ACMEEmail, c.ACMEDirectory = f.acmeEmail, f.acmeCA
		if f.roots != "" {
			b, err := os.ReadFile(f.roots)
			if err != nil {
				return fmt.Errorf("ACME CA roots: %w", err)
			}
			if c.ACMERoots = x509.NewCertPool(); !c.ACMERoots.AppendCertsFromPEM(b) {
				return fmt.Errorf("ACME CA roots: %s holds no PEM certificate", f.roots)
			}
		}
	} else if f.acmeEmail != "" || f.roots != "" {
		return errors.New("--acme-email and --acme-ca-roots need --acme-domains")
	}
	if !c.Enabled() {
		return nil
	}
	if c.Dir == "" {
		c.Dir = filepath.Join(dataDir, "tls")
	}
	if err := c.Validate(); err != nil {
		return err
	}
	f.tls = c
	return nil
}
