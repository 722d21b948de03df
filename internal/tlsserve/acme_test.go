package tlsserve

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"
)

// startDNS serves DNS over TCP on loopback, answering every A question
// with 127.0.0.1: the ACME server's validation finds this test's listeners
// under any name.
func startDNS(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{Listener: ln, NotifyStartedFunc: func() { close(started) },
		Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
			m := new(dns.Msg)
			m.SetReply(r)
			for _, q := range r.Question {
				if q.Qtype == dns.TypeA {
					m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(127, 0, 0, 1)})
				}
			}
			w.WriteMsg(m)
		})}
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return ln.Addr().String()
}

// acmeCA is Pebble, Let's Encrypt's ACME test server, run in this process
// and validating challenges against this test's listeners.
type acmeCA struct {
	dir   string         // directory URL
	roots *x509.CertPool // for the ACME API's own certificate
	ca    *ca.CAImpl
}

func (a *acmeCA) issuerRoots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(a.ca.GetRootCert(0).Cert)
	return p
}

func startPebble(t *testing.T, httpPort, tlsPort int) *acmeCA {
	t.Helper()
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")      // no random validation delays
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0") // no random nonce rejections
	logger := log.New(testLog{t}, "pebble ", 0)
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "test"}})
	validator := va.New(logger, httpPort, tlsPort, false, startDNS(t), store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	srv := httptest.NewTLSServer(front.Handler())
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	return &acmeCA{dir: srv.URL + wfe.DirectoryPath, roots: roots, ca: authority}
}

// TestACME obtains a certificate from an ACME CA with each challenge type,
// serves it (a real client verifies the chain up to the CA's root), and
// renews it: the renewed certificate is served without a restart.
func TestACME(t *testing.T) {
	for _, challenge := range []string{"tls-alpn-01", "http-01"} {
		t.Run(challenge, func(t *testing.T) {
			httpsLn, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			redirLn, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			pebble := startPebble(t, redirLn.Addr().(*net.TCPAddr).Port, httpsLn.Addr().(*net.TCPAddr).Port)

			cached := make(chan []string, 8)
			l, err := Start(context.Background(), Config{
				ACMEDomains: []string{"site.test"}, ACMEEmail: "owner@site.test",
				ACMEDirectory: pebble.dir, ACMERoots: pebble.roots, Dir: t.TempDir(), Logger: testLogger(t),
				redirectLn: redirLn, challenge: challenge,
				onEvent: func(event string, data map[string]any) {
					if event == "cached_managed_cert" {
						names, _ := data["sans"].([]string)
						cached <- names
					}
				},
			}, httpsLn)
			if err != nil {
				t.Fatal(err)
			}
			hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "tls "+r.Proto) })}
			done := make(chan struct{})
			go func() { defer close(done); hs.Serve(l) }()
			defer func() { hs.Close(); <-done; l.Close() }()

			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a hang guard, not a measurement
			defer cancel()
			select {
			case names := <-cached:
				if len(names) != 1 || names[0] != "site.test" {
					t.Fatalf("cached a certificate for %v", names)
				}
			case <-ctx.Done():
				t.Fatal("no certificate was obtained (see the log)")
			}

			roots := pebble.issuerRoots()
			check := func() *x509.Certificate {
				t.Helper()
				cs, err := handshake(t, l, &tls.Config{RootCAs: roots, ServerName: "site.test"})
				if err != nil {
					t.Fatal(err)
				}
				chain := cs.VerifiedChains[0]
				if len(chain) != 3 || !chain[2].Equal(pebble.ca.GetRootCert(0).Cert) {
					t.Fatalf("chain %v does not end at the ACME CA's root through its intermediate", subjects(chain))
				}
				return cs.PeerCertificates[0]
			}
			first := check()
			if _, err := handshake(t, l, &tls.Config{RootCAs: pebble.roots, ServerName: "site.test"}); err == nil {
				t.Fatal("the served certificate verified against an unrelated root")
			}

			if err := l.renew(ctx); err != nil {
				t.Fatal(err)
			}
			second := check()
			if second.SerialNumber.Cmp(first.SerialNumber) == 0 {
				t.Fatal("still serving the first certificate after renewal")
			}
			if n := len(l.cache.AllMatchingCertificates("site.test")); n != 1 {
				t.Fatalf("%d certificates cached for site.test after renewal, want 1", n)
			}

			// The redirect listener still redirects what is not a
			// challenge.
			resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).
				Get("http://" + redirLn.Addr().String() + "/x")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusPermanentRedirect || !strings.HasPrefix(loc, "https://127.0.0.1:") {
				t.Fatalf("redirect: %s %q", resp.Status, loc)
			}
		})
	}
}

func subjects(chain []*x509.Certificate) []string {
	var out []string
	for _, c := range chain {
		out = append(out, c.Subject.CommonName)
	}
	return out
}
