package tlsserve

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/crypto/ocsp"

	"github.com/websonic/websonic/internal/tlsserve/tlstest"
)

type testLog struct{ t testing.TB }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testLogger(t testing.TB) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: testLog{t}})
}

// serve starts cfg on a loopback listener with an HTTP server answering
// "tls PROTO" (or "plain") and returns the listener.
func serve(t *testing.T, cfg Config) *Listener {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := Start(context.Background(), cfg, ln)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			io.WriteString(w, "plain")
			return
		}
		io.WriteString(w, "tls "+r.Proto)
	})}
	done := make(chan struct{})
	go func() { defer close(done); hs.Serve(l) }()
	t.Cleanup(func() {
		hs.Close()
		<-done
		if err := l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			t.Error(err)
		}
	})
	return l
}

// handshake dials l and returns the verified connection state.
func handshake(t *testing.T, l *Listener, conf *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	c, err := tls.Dial("tcp", l.Addr().String(), conf)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	return c.ConnectionState(), nil
}

func servedSerial(t *testing.T, l *Listener, roots *x509.CertPool, name string) string {
	t.Helper()
	cs, err := handshake(t, l, &tls.Config{RootCAs: roots, ServerName: name})
	if err != nil {
		t.Fatalf("handshake for %s: %v", name, err)
	}
	if len(cs.VerifiedChains) == 0 {
		t.Fatal("no verified chain")
	}
	return cs.PeerCertificates[0].SerialNumber.String()
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // "" is valid
	}{
		{"files", Config{CertFile: "c", KeyFile: "k", Dir: "d"}, ""},
		{"acme", Config{ACMEDomains: []string{"site.example"}, ACMEEmail: "a@b.example", Dir: "d"}, ""},
		{"self-signed", Config{SelfSigned: true, Dir: "d"}, ""},
		{"nothing but a redirect", Config{RedirectAddr: ":80", Dir: "d"}, "no certificate"},
		{"cert without key", Config{CertFile: "c", Dir: "d"}, "needs its key file"},
		{"key without cert", Config{KeyFile: "k", Dir: "d"}, "needs its key file"},
		{"two sources", Config{CertFile: "c", KeyFile: "k", SelfSigned: true, Dir: "d"}, "choose one"},
		{"acme and files", Config{CertFile: "c", KeyFile: "k", ACMEDomains: []string{"site.example"}, Dir: "d"}, "choose one"},
		{"acme public ip", Config{ACMEDomains: []string{"203.0.113.7"}, Dir: "d"}, ""},
		{"acme private ip", Config{ACMEDomains: []string{"10.1.2.3"}, Dir: "d"}, "public DNS name"},
		{"acme localhost", Config{ACMEDomains: []string{"localhost"}, Dir: "d"}, "public DNS name"},
		{"acme wildcard", Config{ACMEDomains: []string{"*.site.example"}, Dir: "d"}, "public DNS name"},
		{"acme blank", Config{ACMEDomains: []string{" site.example"}, Dir: "d"}, "public DNS name"},
		{"acme plain directory", Config{ACMEDomains: []string{"site.example"}, ACMEDirectory: "http://ca.example/dir", Dir: "d"}, "https:// URL"},
		{"acme settings alone", Config{CertFile: "c", KeyFile: "k", ACMEEmail: "a@b.example", Dir: "d"}, "without ACME domains"},
		{"no dir", Config{SelfSigned: true}, "Dir is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
	if (Config{}).Enabled() {
		t.Fatal("the zero Config is enabled: HTTPS (or a self-signed certificate) must be asked for")
	}
}

// TestCertificateFiles serves a certificate from files, verified by a
// real client against the issuing CA, and swaps in a new pair without a
// restart; a broken pair is refused and the served one stays.
func TestCertificateFiles(t *testing.T) {
	ca := tlstest.NewCA(t, "files CA")
	dir := t.TempDir()
	first := ca.Issue(t, "site.example", "127.0.0.1")
	certFile, keyFile := first.WriteFiles(t, dir)
	l := serve(t, Config{CertFile: certFile, KeyFile: keyFile, Dir: t.TempDir()})

	for _, name := range []string{"site.example", "127.0.0.1", "other.example"} {
		// other.example: the one certificate is served whatever the
		// name; the client then refuses the name itself.
		cs, err := handshake(t, l, &tls.Config{RootCAs: ca.Pool(), ServerName: name})
		if name == "other.example" {
			var herr x509.HostnameError
			if !errors.As(err, &herr) {
				t.Fatalf("other.example: %v, want a hostname error", err)
			}
			continue
		}
		if err != nil || cs.PeerCertificates[0].SerialNumber.Cmp(first.Leaf.SerialNumber) != 0 {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, err := handshake(t, l, &tls.Config{ServerName: "site.example"}); err == nil {
		t.Fatal("a client trusting only the system roots accepted the test CA's certificate")
	}

	// Renewed by another tool: served after Reload, no restart.
	if l.changed() {
		t.Fatal("files reported changed before any change")
	}
	second := ca.Issue(t, "site.example", "127.0.0.1")
	second.WriteFiles(t, dir)
	if !l.changed() {
		t.Fatal("rewritten files not noticed")
	}
	if err := l.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := servedSerial(t, l, ca.Pool(), "site.example"); got != second.Leaf.SerialNumber.String() {
		t.Fatalf("after reload the served serial is %s, want the new %s", got, second.Leaf.SerialNumber)
	}

	// A key that does not match: refused, the second pair keeps serving.
	third := ca.Issue(t, "site.example")
	if err := os.WriteFile(certFile, third.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := l.Reload(context.Background()); err == nil || !strings.Contains(err.Error(), "private key does not match") {
		t.Fatalf("mismatched pair: Reload = %v", err)
	}
	// An expired certificate: refused too.
	expired := ca.Sign(t, &x509.Certificate{DNSNames: []string{"site.example"}, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	expired.WriteFiles(t, dir)
	if err := l.Reload(context.Background()); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired pair: Reload = %v", err)
	}
	if got := servedSerial(t, l, ca.Pool(), "site.example"); got != second.Leaf.SerialNumber.String() {
		t.Fatalf("after refused reloads the served serial is %s, want %s", got, second.Leaf.SerialNumber)
	}
}

// TestStartRefusesBadFiles: a server does not start on a pair it cannot
// serve.
func TestStartRefusesBadFiles(t *testing.T) {
	ca := tlstest.NewCA(t, "CA")
	dir := t.TempDir()
	certFile, keyFile := ca.Issue(t, "site.example").WriteFiles(t, dir)
	for _, tc := range []struct {
		name       string
		cert, key  string
		wantErrSub string
	}{
		{"missing cert", filepath.Join(dir, "none.pem"), keyFile, "no such file"},
		{"key as cert", keyFile, keyFile, "certificate"},
		{"cert as key", certFile, certFile, "key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			_, err = Start(context.Background(), Config{CertFile: tc.cert, KeyFile: tc.key, Dir: t.TempDir(), Logger: testLogger(t)}, ln)
			if err == nil || !strings.Contains(err.Error(), tc.wantErrSub) {
				t.Fatalf("Start = %v, want an error about %q", err, tc.wantErrSub)
			}
			if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("the listener of a failed Start is still open: %v", err)
			}
		})
	}
}

// TestProtocolVersions: TLS 1.2 with strong suites and TLS 1.3 are
// served, TLS 1.1 and 1.0 and weak TLS 1.2 suites are refused.
func TestProtocolVersions(t *testing.T) {
	ca := tlstest.NewCA(t, "CA")
	certFile, keyFile := ca.Issue(t, "site.example").WriteFiles(t, t.TempDir())
	l := serve(t, Config{CertFile: certFile, KeyFile: keyFile, Dir: t.TempDir()})
	for _, tc := range []struct {
		name     string
		min, max uint16
		suites   []uint16
		ok       bool
	}{
		{"TLS 1.3", tls.VersionTLS13, tls.VersionTLS13, nil, true},
		{"TLS 1.2", tls.VersionTLS12, tls.VersionTLS12, nil, true},
		{"TLS 1.2 CBC only", tls.VersionTLS12, tls.VersionTLS12, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}, false},
		{"TLS 1.1", tls.VersionTLS10, tls.VersionTLS11, nil, false},
		{"TLS 1.0", tls.VersionTLS10, tls.VersionTLS10, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs, err := handshake(t, l, &tls.Config{RootCAs: ca.Pool(), ServerName: "site.example", MinVersion: tc.min, MaxVersion: tc.max, CipherSuites: tc.suites})
			if tc.ok && (err != nil || cs.Version != tc.max) {
				t.Fatalf("handshake: %v (version %x)", err, cs.Version)
			}
			if !tc.ok && err == nil {
				t.Fatalf("handshake succeeded with version %x, suite %x", cs.Version, cs.CipherSuite)
			}
		})
	}
	// HTTP/2 is negotiated and the handler sees the request came over TLS.
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), ServerName: "site.example"}, ForceAttemptHTTP2: true}}
	defer c.CloseIdleConnections()
	resp, err := c.Get("https://" + l.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "tls HTTP/2.0" {
		t.Fatalf("body %q, want %q", b, "tls HTTP/2.0")
	}
}

// TestRedirect: the plain-HTTP listener sends GET and HEAD to the same
// host and path over HTTPS and refuses everything else.
func TestRedirect(t *testing.T) {
	dir := t.TempDir()
	l := serve(t, Config{SelfSigned: true, Dir: dir, RedirectAddr: "127.0.0.1:0"})
	_, httpsPort, _ := net.SplitHostPort(l.Addr().String())
	plain := "http://" + l.RedirectAddr().String()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		name, method, host, path string
		status                   int
		location                 string
	}{
		{"get", "GET", "site.example", "/a/b?c=d", 308, "https://site.example:" + httpsPort + "/a/b?c=d"},
		{"head with port", "HEAD", "site.example:8080", "/", 308, "https://site.example:" + httpsPort + "/"},
		{"ipv6", "GET", "[::1]:80", "/x", 308, "https://[::1]:" + httpsPort + "/x"},
		{"post", "POST", "site.example", "/login", 400, ""},
		{"put", "PUT", "site.example", "/v1/tuf/targets.json", 400, ""},
		{"bad host", "GET", "evil.example/@x", "/", 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, plain+tc.path, strings.NewReader(""))
			if err != nil {
				t.Fatal(err)
			}
			req.Host = tc.host
			resp, err := noFollow.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status || resp.Header.Get("Location") != tc.location {
				t.Fatalf("%s %s: %d %q, want %d %q", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Location"), tc.status, tc.location)
			}
		})
	}
	// A real client lands on HTTPS, trusting the pinned development
	// certificate.
	pin, err := os.ReadFile(filepath.Join(dir, SelfSignedCert))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pin)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	defer c.CloseIdleConnections()
	resp, err := c.Get("http://" + l.RedirectAddr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(b), "tls ") || resp.Request.URL.Scheme != "https" {
		t.Fatalf("followed the redirect to %s and got %q", resp.Request.URL, b)
	}
}

// TestSelfSigned: only when asked; made once and kept, so that a client
// pins one certificate across restarts.
func TestSelfSigned(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Start(context.Background(), Config{Dir: dir}, ln); err == nil || !strings.Contains(err.Error(), "no certificate") {
		t.Fatalf("Start with no certificate source = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, SelfSignedCert)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a self-signed certificate was made without being asked for: %v", err)
	}

	var serials []string
	for range 2 {
		l := serve(t, Config{SelfSigned: true, Dir: dir})
		pin, err := os.ReadFile(filepath.Join(dir, SelfSignedCert))
		if err != nil {
			t.Fatal(err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pin) {
			t.Fatal("self-signed.pem holds no certificate")
		}
		for _, name := range []string{"localhost", "127.0.0.1"} {
			serials = append(serials, servedSerial(t, l, roots, name))
		}
		l.Close()
	}
	if serials[0] != serials[3] {
		t.Fatalf("the development certificate changed across restarts: %v", serials)
	}
	if fi, err := os.Stat(filepath.Join(dir, selfSignedKey)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi.Mode(), err)
	}
}

// TestOCSPStapled: a certificate naming an OCSP responder is served with
// the responder's answer stapled, fetched once and kept in Dir.
func TestOCSPStapled(t *testing.T) {
	ca := tlstest.NewCA(t, "CA with OCSP")
	asked := make(chan struct{}, 16)
	var pair tlstest.Pair
	responder := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked <- struct{}{}
		now := time.Now()
		der, err := ocsp.CreateResponse(ca.Cert, ca.Cert, ocsp.Response{
			Status: ocsp.Good, SerialNumber: pair.Leaf.SerialNumber, ThisUpdate: now.Add(-time.Minute), NextUpdate: now.Add(time.Hour),
		}, ca.Key())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/ocsp-response")
		w.Write(der)
	}))
	defer responder.Close()
	pair = ca.Sign(t, &x509.Certificate{DNSNames: []string{"site.example"}, OCSPServer: []string{responder.URL}})
	pair.CertPEM = append(pair.CertPEM, ca.PEM...) // the chain names the issuer the OCSP request needs
	certFile, keyFile := pair.WriteFiles(t, t.TempDir())
	dir := t.TempDir()

	for range 2 { // the second start takes the staple from Dir
		l := serve(t, Config{CertFile: certFile, KeyFile: keyFile, Dir: dir})
		cs, err := handshake(t, l, &tls.Config{RootCAs: ca.Pool(), ServerName: "site.example"})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := ocsp.ParseResponseForCert(cs.OCSPResponse, pair.Leaf, ca.Cert)
		if err != nil {
			t.Fatalf("stapled OCSP response: %v", err)
		}
		if resp.Status != ocsp.Good {
			t.Fatalf("stapled status %d", resp.Status)
		}
		l.Close()
	}
	if n := len(asked); n != 1 {
		t.Fatalf("the responder was asked %d times, want once (the staple is kept)", n)
	}
}

// lineSignal is a log writer that sends every line containing want.
type lineSignal struct {
	t    testing.TB
	want string
	c    chan struct{}
}

func (w lineSignal) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	if strings.Contains(string(p), w.want) {
		select {
		case w.c <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// TestCertificateFilesWatched: rewritten files are picked up by the
// periodic check, with no call to Reload and no restart.
func TestCertificateFilesWatched(t *testing.T) {
	ca := tlstest.NewCA(t, "CA")
	dir := t.TempDir()
	certFile, keyFile := ca.Issue(t, "site.example").WriteFiles(t, dir)
	loaded := make(chan struct{}, 4)
	l := serve(t, Config{CertFile: certFile, KeyFile: keyFile, Dir: t.TempDir(), ReloadEvery: time.Millisecond,
		Logger: hclog.New(&hclog.LoggerOptions{Output: lineSignal{t, "serving certificate", loaded}})})
	<-loaded // the first load, in Start
	next := ca.Issue(t, "site.example")
	next.WriteFiles(t, dir)
	select {
	case <-loaded:
	case <-time.After(time.Minute): // a hang guard, not a measurement
		t.Fatal("the rewritten certificate files were not reloaded")
	}
	if got := servedSerial(t, l, ca.Pool(), "site.example"); got != next.Leaf.SerialNumber.String() {
		t.Fatalf("served serial %s, want the rewritten %s", got, next.Leaf.SerialNumber)
	}
}
