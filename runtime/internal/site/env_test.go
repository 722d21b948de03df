package site

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/internal/clientaddr"
)

// env is a Site on a fresh database behind a real HTTP server, wrapped the way
// the server wraps it (client address, CrossOriginProtection, Sessions). The
// server trusts loopback as a proxy, so a test names a request's client with
// X-Forwarded-For (see postFrom).
type env struct {
	t    *testing.T
	pool *pgxpool.Pool
	site *Site
	srv  *httptest.Server
}

// newEnv starts a site over HTTP; cfg.Pool is filled in. extra may add routes.
func newEnv(t *testing.T, cfg Config, extra func(s *Site, r chi.Router)) *env {
	t.Helper()
	return startEnv(t, cfg, extra, nil, false)
}

// newGuardedEnv is newEnv with the login guard's limits set to g.
func newGuardedEnv(t *testing.T, cfg Config, g guardConfig) *env {
	t.Helper()
	return startEnv(t, cfg, nil, &g, false)
}

// newTLSEnv starts a site over HTTPS (httptest's TLS server).
func newTLSEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	return startEnv(t, cfg, nil, nil, true)
}

func startEnv(t *testing.T, cfg Config, extra func(s *Site, r chi.Router), g *guardConfig, tls bool) *env {
	t.Helper()
	pool := newPool(t)
	cfg.Pool = pool
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if g != nil {
		s.guard = newLoginGuard(*g) // before any request
	}
	r := chi.NewRouter()
	r.Use(s.BlockedAddresses, s.Sessions)
	s.Routes(r)
	if extra != nil {
		extra(s, r)
	}
	loopback, err := clientaddr.ParsePrefixes("127.0.0.0/8, ::1")
	if err != nil {
		t.Fatal(err)
	}
	h := clientaddr.New(loopback).Middleware(http.NewCrossOriginProtection().Handler(r))
	srv := httptest.NewUnstartedServer(h)
	if tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return &env{t: t, pool: pool, site: s, srv: srv}
}

// client returns a browser-like client with its own cookie jar that does not
// follow redirects.
func (e *env) client() *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return &http.Client{
		Jar:           jar,
		Transport:     e.srv.Client().Transport, // trusts the TLS server's certificate
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// result is a response with its body read.
type result struct {
	*http.Response
	body string
}

func (e *env) do(c *http.Client, req *http.Request) result {
	e.t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return result{resp, string(b)}
}

func (e *env) get(c *http.Client, path string) result {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.do(c, req)
}

func (e *env) post(c *http.Client, path string, form url.Values) result {
	e.t.Helper()
	return e.postFrom(c, "", path, form)
}

// postFrom posts form as the client at address client ("" for the loopback
// peer itself), named by X-Forwarded-For through the trusted loopback.
func (e *env) postFrom(c *http.Client, client, path string, form url.Values) result {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if client != "" {
		req.Header.Set("X-Forwarded-For", client)
	}
	return e.do(c, req)
}

// loginFrom posts a login form from client.
func (e *env) loginFrom(c *http.Client, client, username, password string) result {
	e.t.Helper()
	return e.postFrom(c, client, "/login", url.Values{"username": {username}, "password": {password}})
}

// user creates a user directly in the store.
func (e *env) user(username, password string, role Role) *User {
	e.t.Helper()
	u, err := e.site.Store().CreateUser(context.Background(), NewUser{Username: username, Password: password, Role: role})
	if err != nil {
		e.t.Fatalf("CreateUser(%q): %v", username, err)
	}
	return u
}

// login logs c in and fails the test unless it worked.
func (e *env) login(c *http.Client, username, password string) {
	e.t.Helper()
	res := e.post(c, "/login", url.Values{"username": {username}, "password": {password}})
	if res.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("login %s: status %d, body:\n%s", username, res.StatusCode, res.body)
	}
}

// sessionCookie returns the session cookie a response set (either
// spelling), or nil.
func sessionCookie(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == SessionCookie || c.Name == HostSessionCookie {
			return c
		}
	}
	return nil
}

func (e *env) count(sql string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}
