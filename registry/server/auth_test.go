package server_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/websonic/websonic/registry/server"
)

// TestAuthThrottled: failed authentications are throttled per client on
// every endpoint that takes a token (the token endpoint, OCI pushes, TUF
// changes), answered 429 with Retry-After before the credential is even
// looked up; other clients are not affected, and the token endpoint
// itself is rate limited per client.
func TestAuthThrottled(t *testing.T) {
	e := newEnv(t)
	attacker, other := clientFrom(t, "127.0.0.2"), clientFrom(t, "127.0.0.3")
	wrongBasic := func(c *http.Client) (int, http.Header) {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/v1/token", nil)
		req.SetBasicAuth("x", "wsp_guessed")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	attempts := []struct {
		name string
		do   func(c *http.Client) (int, http.Header)
	}{
		{"token endpoint", wrongBasic},
		{"OCI push", func(c *http.Client) (int, http.Header) {
			code, h, _ := send(t, c, http.MethodPost, e.srv.URL+"/v2/modules/blog/blobs/uploads/", nil, "Authorization", "Bearer wsp_guessed")
			return code, h
		}},
		{"TUF targets", func(c *http.Client) (int, http.Header) {
			code, h, _ := send(t, c, http.MethodPut, e.srv.URL+"/v1/tuf/targets.json", []byte("{}"), "Authorization", "Bearer wsp_guessed")
			return code, h
		}},
	}
	refused := 0
	for i := 0; i < 100 && refused == 0; i++ {
		a := attempts[i%len(attempts)]
		code, h := a.do(attacker)
		switch code {
		case http.StatusUnauthorized:
		case http.StatusTooManyRequests:
			if s, err := strconv.Atoi(h.Get("Retry-After")); err != nil || s < 1 {
				t.Fatalf("%s: 429 with Retry-After %q", a.name, h.Get("Retry-After"))
			}
			refused = i + 1
		default:
			t.Fatalf("%s: %d", a.name, code)
		}
	}
	if refused == 0 {
		t.Fatal("100 failed authentications from one client, none refused")
	}
	// Throttled everywhere now, even with the right token.
	if code, _, _ := send(t, attacker, http.MethodPost, e.srv.URL+"/v2/modules/blog/blobs/uploads/", nil, "Authorization", "Bearer "+e.tokens["blog"]); code != http.StatusTooManyRequests {
		t.Fatalf("a throttled client's valid push: %d, want 429", code)
	}
	if code, _ := wrongBasic(other); code != http.StatusUnauthorized {
		t.Fatalf("another client: %d, want 401", code)
	}
	if code, _, _ := send(t, other, http.MethodPost, e.srv.URL+"/v2/modules/blog/blobs/uploads/", nil, "Authorization", "Bearer "+e.tokens["blog"]); code != http.StatusAccepted {
		t.Fatalf("another client's valid push: %d, want 202", code)
	}
	// The token endpoint is rate limited even for valid logins.
	limited := false
	good := clientFrom(t, "127.0.0.4")
	for i := 0; i < 100 && !limited; i++ {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/v1/token", nil)
		req.SetBasicAuth("x", e.tokens["blog"])
		resp, err := good.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		limited = resp.StatusCode == http.StatusTooManyRequests
		if !limited && resp.StatusCode != http.StatusOK {
			t.Fatalf("valid login: %d", resp.StatusCode)
		}
	}
	if !limited {
		t.Fatal("100 logins in a row from one client, none limited")
	}
}

// TestChallengeRealm: the WWW-Authenticate realm is the configured public
// URL's token endpoint, whatever Host the request names.
func TestChallengeRealm(t *testing.T) {
	e := newEnvWith(t, func(c *server.Config) {
		c.PrivatePulls = true
		c.PublicURL = "https://registry.example"
	})
	want := `Bearer realm="https://registry.example/v1/token",service="websonic-registry"`
	for _, path := range []string{"/v1/token", "/v2/modules/blog/manifests/1.0.0", "/v2/"} {
		code, h, _ := send(t, http.DefaultClient, http.MethodGet, e.srv.URL+path, nil, "Host", "evil.example")
		got := h.Get("WWW-Authenticate")
		if code != http.StatusUnauthorized || strings.Contains(got, "evil") || got != want {
			t.Errorf("GET %s: %d %q, want 401 %q", path, code, got, want)
		}
	}
}

func TestPublicURLChecked(t *testing.T) {
	for _, u := range []string{"ftp://registry.example", "registry.example", "https://", "https://user@registry.example", "https://registry.example/?q=1"} {
		if _, err := server.Open(t.Context(), server.Config{PublicURL: u}); err == nil || !strings.Contains(err.Error(), "PublicURL") {
			t.Errorf("PublicURL %q: %v", u, err)
		}
	}
}
