package server

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func body(t testing.TB, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestEndToEnd registers, logs in and uses the hello module's page and the
// table it owns, through real HTTP, the real site and a real wasm module.
func TestEndToEnd(t *testing.T) {
	s := newSite(t)
	c := s.client(t)

	// Anonymous: the guestbook shows, without the form.
	resp, err := c.Get(s.URL + "/guestbook")
	if err != nil {
		t.Fatal(err)
	}
	if b := body(t, resp); resp.StatusCode != 200 || !strings.Contains(b, "No entries yet") || strings.Contains(b, "<form") {
		t.Fatalf("anonymous guestbook: %d %s", resp.StatusCode, b)
	}
	// Signing anonymously is sent to the login page by the module.
	resp = postForm(t, c, s.URL+"/guestbook", url.Values{"message": {"hi"}})
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") {
		t.Fatalf("anonymous sign: %d %q", resp.StatusCode, loc)
	}

	resp = postForm(t, c, s.URL+"/register", url.Values{
		"username": {"ada"}, "display_name": {"Ada Lovelace"}, "password": {"analytical-engine-1843"},
	})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("register: %d %s", resp.StatusCode, body(t, resp))
	}
	// Log out and in again, to go through the login form too.
	resp = postForm(t, c, s.URL+"/logout", nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	resp = postForm(t, c, s.URL+"/login", url.Values{"username": {"ada"}, "password": {"wrong-password-123"}})
	if b := body(t, resp); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d %s", resp.StatusCode, b)
	}
	resp = postForm(t, c, s.URL+"/login", url.Values{"username": {"ada"}, "password": {"analytical-engine-1843"}, "next": {"/guestbook"}})
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/guestbook" {
		t.Fatalf("login: %d %q", resp.StatusCode, loc)
	}

	resp, _ = c.Get(s.URL + "/guestbook")
	if b := body(t, resp); !strings.Contains(b, `<form class="card" method="post" action="/guestbook">`) ||
		!strings.Contains(b, "<title>Guestbook · Web Sonic</title>") || !strings.Contains(b, "Signed in as") {
		t.Fatalf("signed-in guestbook lacks its form or the site's frame: %s", b)
	}
	for _, msg := range []string{"Hello from the engine", "Second <b>entry</b>"} {
		resp = postForm(t, c, s.URL+"/guestbook", url.Values{"message": {msg}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign: %d %s", resp.StatusCode, body(t, resp))
		}
	}
	resp = postForm(t, c, s.URL+"/guestbook", url.Values{"message": {"   "}})
	if b := body(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(b, "1 to 500 characters") {
		t.Fatalf("empty message: %d %s", resp.StatusCode, b)
	}
	resp, _ = c.Get(s.URL + "/guestbook")
	b := body(t, resp)
	for _, want := range []string{"<strong>Ada Lovelace</strong>", "<p>Hello from the engine</p>", "<p>Second &lt;b&gt;entry&lt;/b&gt;</p>"} {
		if !strings.Contains(b, want) {
			t.Errorf("guestbook lacks %q:\n%s", want, b)
		}
	}
	// The rows are in the module's own table, in its own schema.
	var n int
	if err := s.srv.Module("hello").DB().Pool().QueryRow(t.Context(), `SELECT count(*) FROM mod_hello.entries`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("mod_hello.entries: %d rows, %v", n, err)
	}
	// The home page links the module through its nav entry.
	resp, _ = c.Get(s.URL + "/")
	if b := body(t, resp); !strings.Contains(b, `href="/guestbook"`) {
		t.Errorf("home page has no guestbook link:\n%s", b)
	}
}

func TestCoreEndpoints(t *testing.T) {
	s := newSite(t)
	tests := []struct {
		name, method, path string
		header             map[string]string
		want               int
		contains           string
	}{
		{"health", "GET", "/healthz", nil, 200, "ok"},
		{"ready", "GET", "/readyz", nil, 200, "ready"},
		{"metrics", "GET", "/metrics", map[string]string{"Authorization": "Bearer " + testMetricsToken}, 200, `websonic_module_instances{module="hello"}`},
		{"method not in the manifest", "DELETE", "/guestbook", nil, 405, "method not allowed"},
		{"cross-origin form post", "POST", "/guestbook", map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}, 403, ""},
		{"unknown path", "GET", "/nope", nil, 404, ""},
		{"the runtime's health call into modules", "GET", "/_websonic/health", nil, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, s.URL+tt.path, nil)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b := body(t, resp)
			if resp.StatusCode != tt.want || !strings.Contains(b, tt.contains) {
				t.Fatalf("%s %s = %d, want %d containing %q:\n%.500s", tt.method, tt.path, resp.StatusCode, tt.want, tt.contains, b)
			}
			if resp.Header.Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id")
			}
		})
	}
}

// TestHeadMatchesGet checks that a module's HEAD answer carries the length
// of its GET body, and no body.
func TestHeadMatchesGet(t *testing.T) {
	s := newSite(t)
	resp, err := http.Get(s.URL + "/guestbook")
	if err != nil {
		t.Fatal(err)
	}
	get := body(t, resp)
	resp, err = http.Head(s.URL + "/guestbook")
	if err != nil {
		t.Fatal(err)
	}
	if b := body(t, resp); resp.StatusCode != 200 || b != "" || resp.ContentLength != int64(len(get)) {
		t.Fatalf("HEAD: %d, Content-Length %d (GET body %d), body %q", resp.StatusCode, resp.ContentLength, len(get), b)
	}
}

func TestBadRolePrefix(t *testing.T) {
	_, err := Open(t.Context(), Config{RolePrefix: `x"; DROP ROLE y; --`})
	if err == nil || !strings.Contains(err.Error(), "role prefix") {
		t.Fatalf("err = %v", err)
	}
}
