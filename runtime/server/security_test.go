package server

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/internal/clientaddr"
	"github.com/websonic/websonic/runtime/internal/site"
)

// trustLoopback makes the test site believe forwarding headers from
// loopback, as behind a reverse proxy on the same machine.
func trustLoopback(c *Config) {
	ps, err := clientaddr.ParsePrefixes("127.0.0.0/8, ::1")
	if err != nil {
		panic(err)
	}
	c.TrustedProxies = ps
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// getWith does a GET with headers and returns the response with its body read.
func getWith(t testing.TB, c *http.Client, u string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body(t, resp)
}

// loginFrom posts a login form as the client named in X-Forwarded-For.
func loginFrom(t testing.TB, c *http.Client, siteURL, client, username, password string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", siteURL+"/login", strings.NewReader(url.Values{"username": {username}, "password": {password}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", client)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestTrustedProxies: behind a trusted proxy, the client X-Forwarded-For
// names is the one modules see, the access log records and the login guard
// counts; without the setting the header is not believed at all.
func TestTrustedProxies(t *testing.T) {
	var logs syncBuffer
	s := newSite(t, trustLoopback, func(c *Config) {
		c.Logger = hclog.New(&hclog.LoggerOptions{Level: hclog.Info, Output: &logs})
	})
	if _, err := s.srv.CreateAdmin(t.Context(), "alice", "", "", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	_, seen := getWith(t, http.DefaultClient, s.URL+"/hostile/whoami", map[string]string{"X-Forwarded-For": "6.6.6.6, 198.51.100.7", "X-Forwarded-Proto": "https"})
	if seen != `remote=198.51.100.7:0 xff="" proto=""` {
		t.Errorf("module saw %q, want the derived client and no forwarding headers", seen)
	}
	if l := logs.String(); !strings.Contains(l, "path=/hostile/whoami") || !strings.Contains(l, "remote=198.51.100.7:0") || !strings.Contains(l, "peer=127.0.0.1:") {
		t.Errorf("access log lacks the derived client and the proxy:\n%s", l)
	}

	// An attacker's address is slowed; alice's, through the same proxy, is not.
	for i := range 7 {
		loginFrom(t, s.client(t), s.URL, "198.51.100.66", "alice", "guess "+strconv.Itoa(i))
	}
	if resp := loginFrom(t, s.client(t), s.URL, "198.51.100.66", "alice", "correct horse battery"); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("attacker after 7 failures: %d, want 429", resp.StatusCode)
	}
	if resp := loginFrom(t, s.client(t), s.URL, "203.0.113.10", "alice", "correct horse battery"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("owner through the proxy during the attack: %d, want 303", resp.StatusCode)
	}

	t.Run("untrusted by default", func(t *testing.T) {
		s := newSite(t)
		_, seen := getWith(t, http.DefaultClient, s.URL+"/hostile/whoami", map[string]string{"X-Forwarded-For": "198.51.100.7"})
		if !strings.HasPrefix(seen, "remote=127.0.0.1:") || strings.Contains(seen, "198.51.100.7") {
			t.Errorf("module saw %q: the header was believed", seen)
		}
	})
}

// TestMetricsAccess: /metrics on the site's listener is for the token or a
// signed-in admin, never for "loopback" (behind a same-host proxy everyone
// is loopback); the metrics listener serves it by its address, and by the
// token when one is set.
func TestMetricsAccess(t *testing.T) {
	s := newSite(t, trustLoopback)
	if _, err := s.srv.CreateAdmin(t.Context(), "boss", "", "", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	admin := s.client(t)
	if resp := postForm(t, admin, s.URL+"/login", url.Values{"username": {"boss"}, "password": {"correct horse battery"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("admin login: %d", resp.StatusCode)
	}
	member := s.client(t)
	if resp := postForm(t, member, s.URL+"/register", url.Values{"username": {"mia"}, "password": {"correct horse battery"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("register: %d", resp.StatusCode)
	}
	tests := []struct {
		name   string
		c      *http.Client
		header map[string]string
		status int
	}{
		{"anonymous from loopback", s.client(t), nil, http.StatusSeeOther},
		{"anonymous through the proxy", s.client(t), map[string]string{"X-Forwarded-For": "198.51.100.7"}, http.StatusSeeOther},
		{"member", member, nil, http.StatusForbidden},
		{"admin", admin, nil, http.StatusOK},
		{"token", s.client(t), map[string]string{"Authorization": "Bearer " + testMetricsToken}, http.StatusOK},
		{"wrong token", s.client(t), map[string]string{"Authorization": "Bearer " + testMetricsToken + "x"}, http.StatusUnauthorized},
		{"not a bearer", s.client(t), map[string]string{"Authorization": "Basic " + testMetricsToken}, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := getWith(t, tt.c, s.URL+"/metrics", tt.header)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if leaked := strings.Contains(b, "websonic_module_instances"); leaked != (tt.status == http.StatusOK) {
				t.Errorf("metrics in the body: %v, want %v", leaked, tt.status == http.StatusOK)
			}
		})
	}

	t.Run("metrics listener", func(t *testing.T) {
		for _, token := range []string{"", testMetricsToken} {
			s.srv.cfg.MetricsToken = token // before the listener starts
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- s.srv.ServeMetrics(ctx, ln) }()
			base := "http://" + ln.Addr().String()
			resp, b := getWith(t, http.DefaultClient, base+"/metrics", nil)
			wantOpen := token == ""
			if (resp.StatusCode == http.StatusOK) != wantOpen || strings.Contains(b, "websonic_module_instances") != wantOpen {
				t.Errorf("token %q: no bearer: %d", token, resp.StatusCode)
			}
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("metrics listener without nosniff")
			}
			if token != "" {
				if resp, _ := getWith(t, http.DefaultClient, base+"/metrics", map[string]string{"Authorization": "Bearer " + token}); resp.StatusCode != http.StatusOK {
					t.Errorf("with the token: %d", resp.StatusCode)
				}
			}
			if resp, _ := getWith(t, http.DefaultClient, base+"/login", nil); resp.StatusCode != http.StatusNotFound {
				t.Errorf("the site on the metrics listener: %d, want 404", resp.StatusCode)
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("ServeMetrics: %v", err)
			}
		}
		s.srv.cfg.MetricsToken = testMetricsToken
	})
}

// TestSecurityHeaders: every kind of response carries nosniff, a
// Referrer-Policy and a frame policy; HSTS only when the request came over
// HTTPS, whether directly (real TLS) or through a trusted proxy.
func TestSecurityHeaders(t *testing.T) {
	s := newSite(t, trustLoopback)
	tlsSrv := httptest.NewTLSServer(s.srv.Handler())
	t.Cleanup(tlsSrv.Close)
	requests := []struct {
		name, method, path string
		header             map[string]string
	}{
		{"health", "GET", "/healthz", nil},
		{"ready", "GET", "/readyz", nil},
		{"metrics", "GET", "/metrics", map[string]string{"Authorization": "Bearer " + testMetricsToken}},
		{"metrics refused", "GET", "/metrics", map[string]string{"Authorization": "Bearer nope"}},
		{"core page", "GET", "/login", nil},
		{"not found", "GET", "/nope", nil},
		{"module page", "GET", "/guestbook", nil},
		{"raw module response", "GET", "/hostile/ok", nil},
		{"module error", "GET", "/hostile/panic", nil},
		{"method not allowed", "DELETE", "/guestbook", nil},
		{"cross-origin refusal", "POST", "/guestbook", map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}},
	}
	transports := []struct {
		name  string
		base  string
		c     *http.Client
		extra map[string]string
		hsts  bool
	}{
		{"http", s.URL, http.DefaultClient, nil, false},
		{"tls", tlsSrv.URL, tlsSrv.Client(), nil, true},
		{"proxy https", s.URL, http.DefaultClient, map[string]string{"X-Forwarded-Proto": "https"}, true},
		{"proxy http", s.URL, http.DefaultClient, map[string]string{"X-Forwarded-Proto": "http"}, false},
	}
	for _, tr := range transports {
		for _, rq := range requests {
			t.Run(tr.name+"/"+rq.name, func(t *testing.T) {
				req, _ := http.NewRequest(rq.method, tr.base+rq.path, nil)
				for k, v := range rq.header {
					req.Header.Set(k, v)
				}
				for k, v := range tr.extra {
					req.Header.Set(k, v)
				}
				resp, err := tr.c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				h := resp.Header
				if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") == "" {
					t.Errorf("%d: nosniff %q, Referrer-Policy %q", resp.StatusCode, h.Get("X-Content-Type-Options"), h.Get("Referrer-Policy"))
				}
				if h.Get("X-Frame-Options") != "DENY" && !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
					t.Errorf("%d: no frame policy: X-Frame-Options %q, CSP %q", resp.StatusCode, h.Get("X-Frame-Options"), h.Get("Content-Security-Policy"))
				}
				if got := h.Get("Strict-Transport-Security"); (got != "") != tr.hsts || (tr.hsts && !strings.HasPrefix(got, "max-age=")) {
					t.Errorf("%d: Strict-Transport-Security %q, want it: %v", resp.StatusCode, got, tr.hsts)
				}
			})
		}
	}
}

// TestCrossOriginScheme: without Sec-Fetch-Site, an Origin of this host
// with the other scheme is cross-origin (http:// posting to an https://
// site), which http.CrossOriginProtection alone lets through.
func TestCrossOriginScheme(t *testing.T) {
	s := newSite(t, trustLoopback)
	tlsSrv := httptest.NewTLSServer(s.srv.Handler())
	t.Cleanup(tlsSrv.Close)
	host := strings.TrimPrefix(tlsSrv.URL, "https://")
	plainHost := strings.TrimPrefix(s.URL, "http://")
	tests := []struct {
		name, base, origin string
		c                  *http.Client
		proto              string
		refused            bool
	}{
		{"http origin to https site", tlsSrv.URL, "http://" + host, tlsSrv.Client(), "", true},
		{"https origin to https site", tlsSrv.URL, "https://" + host, tlsSrv.Client(), "", false},
		{"https origin to http site", s.URL, "https://" + plainHost, http.DefaultClient, "", true},
		{"http origin to http site", s.URL, "http://" + plainHost, http.DefaultClient, "", false},
		{"http origin through a TLS proxy", s.URL, "http://" + plainHost, http.DefaultClient, "https", true},
		{"https origin through a TLS proxy", s.URL, "https://" + plainHost, http.DefaultClient, "https", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", tt.base+"/login", strings.NewReader("username=nobody&password=whatever+it+is"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", tt.origin)
			if tt.proto != "" {
				req.Header.Set("X-Forwarded-Proto", tt.proto)
			}
			resp, err := tt.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b := body(t, resp)
			if refused := resp.StatusCode == http.StatusForbidden; refused != tt.refused {
				t.Errorf("status %d, refused %v, want %v:\n%.300s", resp.StatusCode, refused, tt.refused, b)
			}
		})
	}
}

// TestSessionCookieOverTLS: over HTTPS the session cookie is the Secure
// __Host- one, and no module sees or sets either spelling.
func TestSessionCookieOverTLS(t *testing.T) {
	s := newSite(t)
	tlsSrv := httptest.NewTLSServer(s.srv.Handler())
	t.Cleanup(tlsSrv.Close)
	c := s.client(t)
	c.Transport = tlsSrv.Client().Transport
	resp := postForm(t, c, tlsSrv.URL+"/register", url.Values{"username": {"grace"}, "password": {"compiler-pioneer-1952"}})
	var got *http.Cookie
	for _, ck := range resp.Cookies() {
		got = ck
	}
	if resp.StatusCode != http.StatusSeeOther || got == nil || got.Name != site.HostSessionCookie || !got.Secure {
		t.Fatalf("register over TLS: %d, cookie %+v", resp.StatusCode, got)
	}
	assertModuleSeesNoSession(t, c, tlsSrv.URL)
}

// assertModuleSeesNoSession has the hostile module echo the Cookie header it
// received and try to set the session cookie in both spellings: it must see
// neither spelling (a planted unprefixed one included) and set nothing.
func assertModuleSeesNoSession(t *testing.T, c *http.Client, base string) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/hostile/setcookie", nil)
	req.AddCookie(&http.Cookie{Name: "theme", Value: "dark"})
	if strings.HasPrefix(base, "https://") {
		req.AddCookie(&http.Cookie{Name: site.SessionCookie, Value: "planted"})
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	seen := body(t, resp)
	if strings.Contains(seen, "websonic_session") || !strings.Contains(seen, "theme=dark") {
		t.Errorf("module saw Cookie: %q", seen)
	}
	if sc := resp.Header.Values("Set-Cookie"); len(sc) != 0 {
		t.Errorf("module set cookies: %q", sc)
	}
}

// TestGenericLoginErrorsSetting: Config.GenericLoginErrors reaches the site.
func TestGenericLoginErrorsSetting(t *testing.T) {
	s := newSite(t, func(c *Config) { c.GenericLoginErrors = true })
	for _, u := range []string{"nobody", "x"} {
		resp := postForm(t, s.client(t), s.URL+"/login", url.Values{"username": {u}, "password": {"some password here"}})
		if b := body(t, resp); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(b, "Wrong username or password.") {
			t.Errorf("%s: %d\n%s", u, resp.StatusCode, b)
		}
	}
}

func TestBadMetricsToken(t *testing.T) {
	_, err := Open(t.Context(), Config{MetricsToken: "short"})
	if err == nil || !strings.Contains(err.Error(), "metrics token") {
		t.Fatalf("err = %v", err)
	}
}
