package server

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/internal/modbuild"
)

// outboundBuild builds the outbound test module once per test binary.
var outboundBuild = sync.OnceValues(func() (string, error) {
	dir := filepath.Join(scratch, "outbound-build", "outbound")
	return dir, modbuild.Package(context.Background(), "../internal/testmodules/outbound", dir)
})

// outboundSite starts a site with hello and the outbound test module,
// whose manifest lists origins in capabilities.outbound_http.
func outboundSite(t *testing.T, origins []string, options ...func(*Config)) *testSite {
	t.Helper()
	built, err := outboundBuild()
	if err != nil {
		t.Fatal(err)
	}
	mods, err := modulesDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "outbound"), os.DirFS(built)); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(dir, "hello"), os.DirFS(filepath.Join(mods, "hello"))); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "outbound", "module.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m["capabilities"].(map[string]any)["outbound_http"] = origins
	if raw, err = json.MarshalIndent(m, "", "  "); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return newSiteWith(t, dir, hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testLog{t}}), options...)
}

// fetchInstruction is what the outbound test module is asked to fetch.
type fetchInstruction struct {
	Method    string      `json:"method,omitempty"`
	URL       string      `json:"url"`
	Headers   [][2]string `json:"headers,omitempty"`
	Body      string      `json:"body,omitempty"`
	TimeoutMS int64       `json:"timeout_ms,omitempty"`
}

// fetchOutcome is what the module saw.
type fetchOutcome struct {
	Status  int                 `json:"status"`
	Headers map[string][]string `json:"headers"`
	Body    string              `json:"body"`
	BodyLen int                 `json:"body_len"`
	URL     string              `json:"url"`
	Error   string              `json:"error"`
	Code    string              `json:"code"`
	Denied  bool                `json:"denied"`
}

// fetchVia has the outbound module fetch in; it returns the status of the
// module's own answer and, when it is 200, what the module saw.
func (s *testSite) fetchVia(t testing.TB, in fetchInstruction) (int, fetchOutcome) {
	t.Helper()
	b, _ := json.Marshal(in)
	resp, err := http.Post(s.URL+"/outbound/fetch", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out fetchOutcome
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, out
}

// mustFetch fetches in and fails unless the remote answered.
func (s *testSite) mustFetch(t testing.TB, in fetchInstruction) fetchOutcome {
	t.Helper()
	status, out := s.fetchVia(t, in)
	if status != http.StatusOK || out.Error != "" {
		t.Fatalf("fetch %s %s: module answered %d, %+v", in.Method, in.URL, status, out)
	}
	return out
}

// wantRefused fetches in and wants the module to see an error of code
// whose message contains msg.
func (s *testSite) wantRefused(t testing.TB, in fetchInstruction, code, msg string) fetchOutcome {
	t.Helper()
	status, out := s.fetchVia(t, in)
	if status != http.StatusOK || out.Code != code || !strings.Contains(out.Error, msg) || (code == "denied") != out.Denied {
		t.Fatalf("fetch %s %s: module answered %d, %+v; want code %s with %q", in.Method, in.URL, status, out, code, msg)
	}
	return out
}

// remote is a test HTTP server a module fetches from.
type remote struct {
	*httptest.Server
	origin string // http://127.0.0.1:port
	port   string
	hits   atomic.Int64

	mu      sync.Mutex
	release chan struct{} // closed: /slow answers
	arrived chan struct{} // one value per /slow request
}

func newRemote(t *testing.T, start func(*httptest.Server)) *remote {
	r := &remote{release: make(chan struct{}), arrived: make(chan struct{}, 16)}
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		w.Header().Add("X-Reply", "one")
		w.Header().Add("X-Reply", "two")
		json.NewEncoder(w).Encode(map[string]any{
			"method": req.Method, "headers": req.Header, "body": string(body), "host": req.Host, "uri": req.RequestURI,
		})
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, req *http.Request) {
		n, _ := strconv.Atoi(req.URL.Query().Get("n"))
		if req.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", strconv.Itoa(n))
		}
		chunk := bytes.Repeat([]byte("x"), 4096)
		for n > 0 {
			k := min(n, len(chunk))
			w.Write(chunk[:k])
			n -= k
		}
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, req *http.Request) {
		code, _ := strconv.Atoi(req.URL.Query().Get("code"))
		if code == 0 {
			code = http.StatusFound
		}
		http.Redirect(w, req, req.URL.Query().Get("to"), code)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		release := r.release
		r.mu.Unlock()
		r.arrived <- struct{}{}
		select {
		case <-release:
			io.WriteString(w, "late")
		case <-req.Context().Done():
		}
	})
	r.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.hits.Add(1)
		mux.ServeHTTP(w, req)
	}))
	start(r.Server)
	t.Cleanup(func() {
		r.letGo()
		r.Close()
	})
	u := r.URL
	_, r.port, _ = net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://"))
	r.origin = strings.Replace(u, "localhost", "127.0.0.1", 1)
	if !strings.Contains(r.origin, ":"+r.port) {
		t.Fatalf("origin %s", r.origin)
	}
	return r
}

// letGo answers the /slow requests waiting and those to come, until hold.
func (r *remote) letGo() {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.release:
	default:
		close(r.release)
	}
}

// hold makes /slow wait again.
func (r *remote) hold() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.release = make(chan struct{})
}

// selfSigned is a TLS certificate for 127.0.0.1 that no one trusts.
func selfSigned(t *testing.T) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "untrusted"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestOutboundFetch: the outbound test module, compiled to wasm, fetches
// through sdk.HTTPClient from real servers on this machine. They are all
// on loopback, so the ones that must work are approved for private access
// by the owner (Config.Outbound.PrivateOrigins); the others are in the
// module's manifest but not approved, and must stay out of reach however
// their address is spelled or resolved.
func TestOutboundFetch(t *testing.T) {
	a := newRemote(t, (*httptest.Server).Start)          // approved, private access
	b := newRemote(t, (*httptest.Server).Start)          // in the manifest, no private access
	c := newRemote(t, (*httptest.Server).Start)          // not in the manifest
	trusted := newRemote(t, (*httptest.Server).StartTLS) // httptest's certificate, trusted below
	untrusted := newRemote(t, func(s *httptest.Server) {
		s.TLS = &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}
		s.StartTLS()
	})
	roots := x509.NewCertPool()
	roots.AddCert(trusted.Certificate())
	rebind := "http://rebind.test:" + a.port // a name the test resolver maps to 127.0.0.1
	viaLocalhost := "http://localhost:" + b.port
	site := outboundSite(t, []string{a.origin, b.origin, viaLocalhost, rebind, trusted.origin, untrusted.origin}, func(cfg *Config) {
		cfg.Outbound.PrivateOrigins = []string{a.origin, trusted.origin, untrusted.origin}
		cfg.Outbound.MaxResponseBody = 64 << 10
		cfg.Outbound.MaxConcurrent = 1
		cfg.Outbound.RootCAs = roots
		cfg.Outbound.Resolve = func(ctx context.Context, host string) ([]netip.Addr, error) {
			if host == "rebind.test" {
				return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
			}
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
		cfg.Pool.MinWarm = 2
	})
	type echo struct {
		Method  string              `json:"method"`
		Headers map[string][]string `json:"headers"`
		Body    string              `json:"body"`
		Host    string              `json:"host"`
		URI     string              `json:"uri"`
	}
	readEcho := func(t *testing.T, out fetchOutcome) echo {
		t.Helper()
		var e echo
		if err := json.Unmarshal([]byte(out.Body), &e); err != nil {
			t.Fatalf("echo: %v in %+v", err, out)
		}
		return e
	}

	t.Run("GET", func(t *testing.T) {
		out := site.mustFetch(t, fetchInstruction{URL: a.origin + "/echo?x=1", Headers: [][2]string{{"X-Test", "1"}, {"X-Test", "2"}, {"Authorization", "Bearer module-secret"}}})
		e := readEcho(t, out)
		if out.Status != 200 || e.Method != "GET" || e.URI != "/echo?x=1" || strings.Join(e.Headers["X-Test"], ",") != "1,2" ||
			e.Headers["Authorization"][0] != "Bearer module-secret" || e.Headers["User-Agent"][0] != "websonic-module/outbound" {
			t.Fatalf("%+v\n%+v", out, e)
		}
		if _, ok := e.Headers["Cookie"]; ok {
			t.Fatalf("a cookie was sent: %v", e.Headers)
		}
		if strings.Join(out.Headers["X-Reply"], ",") != "one,two" || out.URL != a.origin+"/echo?x=1" {
			t.Fatalf("response headers %v, url %s", out.Headers, out.URL)
		}
	})
	t.Run("POST with a body", func(t *testing.T) {
		out := site.mustFetch(t, fetchInstruction{Method: "POST", URL: a.origin + "/echo", Body: "hello, remote", Headers: [][2]string{{"Content-Type", "text/plain"}}})
		if e := readEcho(t, out); e.Method != "POST" || e.Body != "hello, remote" || e.Headers["Content-Type"][0] != "text/plain" {
			t.Fatalf("%+v", e)
		}
	})
	t.Run("host-controlled headers refused", func(t *testing.T) {
		for _, h := range []string{"Host", "Transfer-Encoding", "Connection", "Proxy-Authorization", "Upgrade", "Te", "Trailer"} {
			site.wantRefused(t, fetchInstruction{URL: a.origin + "/echo", Headers: [][2]string{{h, "x"}}}, "invalid", "")
		}
	})
	t.Run("response body cap", func(t *testing.T) {
		for _, chunked := range []string{"", "&chunked=1"} {
			out := site.mustFetch(t, fetchInstruction{URL: fmt.Sprintf("%s/big?n=%d%s", a.origin, 64<<10, chunked)})
			if out.BodyLen != 64<<10 {
				t.Fatalf("body of %d bytes", out.BodyLen)
			}
			site.wantRefused(t, fetchInstruction{URL: fmt.Sprintf("%s/big?n=%d%s", a.origin, 64<<10+1, chunked)}, "limit", "over 65536 bytes")
		}
	})
	t.Run("unapproved origin", func(t *testing.T) {
		site.wantRefused(t, fetchInstruction{URL: c.origin + "/echo"}, "denied", "not in the module's capabilities.outbound_http")
		if n := c.hits.Load(); n != 0 {
			t.Fatalf("the unapproved server got %d requests", n)
		}
	})
	t.Run("loopback refused however it is named", func(t *testing.T) {
		site.wantRefused(t, fetchInstruction{URL: b.origin + "/echo"}, "denied", "loopback")
		site.wantRefused(t, fetchInstruction{URL: viaLocalhost + "/echo"}, "denied", "loopback")
		// rebind.test resolves to a's own address, which a's origin may
		// reach: the approval is the origin's, not the address's.
		site.wantRefused(t, fetchInstruction{URL: rebind + "/echo"}, "denied", "loopback")
		site.wantRefused(t, fetchInstruction{URL: "http://[::ffff:127.0.0.1]:" + b.port + "/echo"}, "denied", "not in the module's")
		if n := b.hits.Load(); n != 0 {
			t.Fatalf("the loopback server got %d requests", n)
		}
	})
	t.Run("redirects", func(t *testing.T) {
		out := site.mustFetch(t, fetchInstruction{URL: a.origin + "/redirect?to=/echo%3Fy%3D2"})
		if e := readEcho(t, out); e.URI != "/echo?y=2" || out.URL != a.origin+"/echo?y=2" {
			t.Fatalf("%+v %+v", out, e)
		}
		// 307 keeps the method and body, 303 makes a GET without one.
		out = site.mustFetch(t, fetchInstruction{Method: "POST", Body: "kept", URL: a.origin + "/redirect?code=307&to=/echo"})
		if e := readEcho(t, out); e.Method != "POST" || e.Body != "kept" {
			t.Fatalf("307: %+v", e)
		}
		out = site.mustFetch(t, fetchInstruction{Method: "POST", Body: "dropped", URL: a.origin + "/redirect?code=303&to=/echo"})
		if e := readEcho(t, out); e.Method != "GET" || e.Body != "" {
			t.Fatalf("303: %+v", e)
		}
		site.wantRefused(t, fetchInstruction{URL: a.origin + "/redirect?to=" + c.origin + "/echo"}, "denied", "redirected to origin "+c.origin+",")
		site.wantRefused(t, fetchInstruction{URL: a.origin + "/redirect?to=" + b.origin + "/echo"}, "denied", "loopback")
		site.wantRefused(t, fetchInstruction{URL: a.origin + "/redirect?to=" + rebind + "/echo"}, "denied", "loopback")
		site.wantRefused(t, fetchInstruction{URL: a.origin + "/redirect?to=file:///etc/passwd"}, "denied", "does not fetch")
		// Five redirects are followed, a sixth is not.
		chain := func(n int) string {
			u := "/echo"
			for range n {
				u = "/redirect?to=" + url.QueryEscape(u)
			}
			return a.origin + u
		}
		site.mustFetch(t, fetchInstruction{URL: chain(5)})
		site.wantRefused(t, fetchInstruction{URL: chain(6)}, "denied", "stopped after 5 redirects")
		if n := c.hits.Load() + b.hits.Load(); n != 0 {
			t.Fatalf("refused targets got %d requests", n)
		}
	})
	t.Run("TLS", func(t *testing.T) {
		out := site.mustFetch(t, fetchInstruction{URL: trusted.origin + "/echo"})
		if readEcho(t, out).Method != "GET" {
			t.Fatalf("%+v", out)
		}
		site.wantRefused(t, fetchInstruction{URL: untrusted.origin + "/echo"}, "failed", "certificate")
		if n := untrusted.hits.Load(); n != 0 {
			t.Fatalf("the untrusted server got %d requests", n)
		}
	})
	t.Run("fetch timeout", func(t *testing.T) {
		a.hold()
		site.wantRefused(t, fetchInstruction{URL: a.origin + "/slow", TimeoutMS: 300}, "failed", "timed out")
		<-a.arrived
	})
	t.Run("concurrent fetches bounded", func(t *testing.T) {
		a.hold()
		done := make(chan fetchOutcome)
		go func() {
			_, out := site.fetchVia(t, fetchInstruction{URL: a.origin + "/slow"})
			done <- out
		}()
		<-a.arrived
		site.wantRefused(t, fetchInstruction{URL: a.origin + "/echo"}, "limit", "fetches in flight")
		a.letGo()
		if out := <-done; out.Body != "late" {
			t.Fatalf("the first fetch: %+v", out)
		}
	})
	t.Run("call deadline; the neighbour keeps answering", func(t *testing.T) {
		a.hold()
		type result struct {
			status int
			out    fetchOutcome
		}
		done := make(chan result)
		go func() {
			status, out := site.fetchVia(t, fetchInstruction{URL: a.origin + "/slow"})
			done <- result{status, out}
		}()
		<-a.arrived
		for range 3 {
			if status, body := get(t, http.DefaultClient, site.URL+"/guestbook"); status != 200 {
				t.Fatalf("hello answered %d %s while outbound waited", status, body)
			}
		}
		// The fetch ends with the call's deadline: the module either sees
		// that (and answers in time to be heard) or is stopped with a 504.
		r := <-done
		if r.status != http.StatusGatewayTimeout && (r.status != 200 || r.out.Code != "failed" || !strings.Contains(r.out.Error, "ran out of time")) {
			t.Fatalf("the module's call ended with %d %+v, want 504 or the fetch failed for lack of time", r.status, r.out)
		}
		a.letGo()
	})
	t.Run("metrics", func(t *testing.T) {
		req, _ := http.NewRequest("GET", site.URL+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+testMetricsToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b := body(t, resp)
		for _, want := range []string{`websonic_outbound_fetches_total{module="outbound",result="ok"}`, `websonic_outbound_fetches_total{module="outbound",result="denied"}`} {
			if !strings.Contains(b, want) {
				t.Errorf("no %s in /metrics", want)
			}
		}
	})
}

// TestOutboundHostilePayloads: payloads no SDK sends, made raw through the
// host import by the hostile module, each fail with a clean error and the
// module keeps serving.
func TestOutboundHostilePayloads(t *testing.T) {
	site := newSite(t)
	invalid := []string{
		"empty", "not-json", "array", "null", "trailing", "unknown-field", "bad-base64", "url-number",
		"header-short", "header-long", "header-crlf", "header-name", "header-host", "header-te", "header-length",
		"header-proxy", "header-upgrade", "many-headers", "method-connect", "method-trace", "method-bad", "timeout",
		"file", "gopher", "ftp", "javascript", "opaque", "relative", "schemeless", "no-host", "userinfo", "userinfo-at",
		"zone", "v6-bad", "v6-nobracket", "decimal-ip", "octal-ip", "hex-ip", "short-ip", "numeric-tld",
		"port-0", "port-big", "port-empty", "nul", "escaped-host", "long-url",
	}
	cases := map[string]string{"huge-body": "limit", "huge-payload": "limit", "unapproved": "denied", "loopback": "denied", "metadata": "denied"}
	for _, c := range invalid {
		cases[c] = "invalid"
	}
	for name, code := range cases {
		t.Run(name, func(t *testing.T) {
			status, b := get(t, http.DefaultClient, site.URL+"/hostile/outbound?case="+name)
			if status != 200 || !strings.HasPrefix(b, code+"|") {
				t.Fatalf("%d %.300s; want %s", status, b, code)
			}
		})
	}
	if status, b := get(t, http.DefaultClient, site.URL+"/hostile/ok"); status != 200 || b != "ok" {
		t.Fatalf("hostile after the attacks: %d %s", status, b)
	}
}
