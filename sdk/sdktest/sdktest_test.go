package sdktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/websonic/websonic/sdk"
	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/abi/abihttp"
	"github.com/websonic/websonic/sdk/internal/hostcall"
)

// These tests install process-wide handlers, so none of them runs in
// parallel with another.

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// seen is what the echo handler reports about the request it got.
type seen struct {
	Method, URI, Path, Query, Host, RemoteAddr, RequestID, Proto string
	Header                                                       http.Header
	Body                                                         string
	ContentLength                                                int64
	User                                                         *sdk.User
}

func echo(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(seen{
		Method: r.Method, URI: r.RequestURI, Path: r.URL.Path, Query: r.URL.RawQuery, Host: r.Host,
		RemoteAddr: r.RemoteAddr, RequestID: sdk.RequestID(r), Proto: r.Proto, Header: r.Header,
		Body: string(b), ContentLength: r.ContentLength, User: sdk.UserFrom(r),
	})
}

func doEcho(t *testing.T, r *http.Request, u *sdk.User) seen {
	t.Helper()
	sdk.Handle(http.HandlerFunc(echo))
	resp := Do(r, u)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body(t, resp))
	}
	var s seen
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDoSendsTheRequest(t *testing.T) {
	r := httptest.NewRequest("POST", "http://shop.example:8080/guestbook/sign?x=1&y=%2F", strings.NewReader("message=hi"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Add("Accept", "text/html")
	r.Header.Add("Accept", "application/json")
	r.RemoteAddr = "203.0.113.9:4711"
	u := &sdk.User{ID: 7, Username: "ada", DisplayName: "Ada", Roles: []string{"staff", "member"}}
	s := doEcho(t, WithRequestID(r, "req-1"), u)

	if s.Method != "POST" || s.URI != "/guestbook/sign?x=1&y=%2F" || s.Path != "/guestbook/sign" || s.Query != "x=1&y=%2F" {
		t.Errorf("method/target: %+v", s)
	}
	if s.Host != "shop.example:8080" || s.RemoteAddr != "203.0.113.9:4711" || s.RequestID != "req-1" || s.Proto != "HTTP/1.1" {
		t.Errorf("host/remote/id/proto: %+v", s)
	}
	if s.Body != "message=hi" || s.ContentLength != int64(len("message=hi")) {
		t.Errorf("body %q, content length %d", s.Body, s.ContentLength)
	}
	if got := s.Header["Accept"]; !slices.Equal(got, []string{"text/html", "application/json"}) {
		t.Errorf("Accept = %q", got)
	}
	if s.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type = %q", s.Header.Get("Content-Type"))
	}
	if s.User == nil || s.User.ID != 7 || s.User.Username != "ada" || s.User.DisplayName != "Ada" || !s.User.HasRole("staff") || s.User.HasRole("admin") {
		t.Errorf("user = %+v", s.User)
	}
}

func TestDoAnonymous(t *testing.T) {
	s := doEcho(t, httptest.NewRequest("GET", "/", nil), nil)
	if s.User != nil {
		t.Errorf("anonymous request has user %+v", s.User)
	}
	if s.RemoteAddr != "192.0.2.1:1234" || s.Host != "example.com" {
		t.Errorf("defaults from httptest: %+v", s)
	}
}

func TestDoWithoutHTTPTest(t *testing.T) {
	r, err := http.NewRequest("", "https://site.example/p", nil)
	if err != nil {
		t.Fatal(err)
	}
	s := doEcho(t, r, nil)
	if s.Method != "GET" || s.URI != "/p" || s.Host != "site.example" || s.RemoteAddr == "" {
		t.Errorf("request: %+v", s)
	}
}

func TestDoRequestIDs(t *testing.T) {
	a := doEcho(t, httptest.NewRequest("GET", "/", nil), nil).RequestID
	b := doEcho(t, httptest.NewRequest("GET", "/", nil), nil).RequestID
	if a == "" || a == b {
		t.Errorf("made-up request ids %q and %q are not unique", a, b)
	}
	if got := doEcho(t, WithRequestID(httptest.NewRequest("GET", "/", nil), "abc"), nil).RequestID; got != "abc" {
		t.Errorf("WithRequestID: id %q", got)
	}
}

func TestDoFiltersRequestHeaders(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Cookie", "theme=dark; websonic_session=secret; lang=en")
	r.Header.Add("Cookie", "websonic_session=again")
	r.Header.Set("Connection", "keep-alive")
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Content-Length", "999")
	r.Header.Set("X-Kept", "yes")
	s := doEcho(t, r, nil)
	if got := s.Header["Cookie"]; !slices.Equal(got, []string{"theme=dark; lang=en"}) {
		t.Errorf("Cookie = %q, want the session cookie removed", got)
	}
	for _, h := range []string{"Connection", "Upgrade", "Content-Length"} {
		if v, ok := s.Header[h]; ok {
			t.Errorf("%s forwarded: %q", h, v)
		}
	}
	if s.Header.Get("X-Kept") != "yes" {
		t.Error("X-Kept not forwarded")
	}
}

func TestDoFiltersResponseHeaders(t *testing.T) {
	sdk.Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "websonic_session", Value: "fixated"})
		http.SetCookie(w, &http.Cookie{Name: "theme", Value: "dark"})
		w.Header().Set("Connection", "close")
		w.Header().Set("Content-Length", "1")
		w.Header().Add("X-Many", "1")
		w.Header().Add("X-Many", "2")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "made")
	}))
	resp := Do(httptest.NewRequest("POST", "/", nil), nil)
	if resp.StatusCode != http.StatusCreated || resp.Status != "201 Created" {
		t.Errorf("status %d %q", resp.StatusCode, resp.Status)
	}
	if got := resp.Header.Values("Set-Cookie"); !slices.Equal(got, []string{"theme=dark"}) {
		t.Errorf("Set-Cookie = %q, want only theme", got)
	}
	if resp.Header.Get("Connection") != "" {
		t.Error("Connection header passed through")
	}
	if got := resp.Header.Values("X-Many"); !slices.Equal(got, []string{"1", "2"}) {
		t.Errorf("X-Many = %q", got)
	}
	if resp.Header.Get("Content-Length") != "4" || resp.ContentLength != 4 || body(t, resp) != "made" {
		t.Errorf("Content-Length %q/%d", resp.Header.Get("Content-Length"), resp.ContentLength)
	}
	if resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("sniffed Content-Type = %q", resp.Header.Get("Content-Type"))
	}
}

func TestDoHead(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /page", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<p>hello</p>") })
	sdk.Handle(mux)
	resp := Do(httptest.NewRequest("HEAD", "/page", nil), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if b := body(t, resp); b != "" {
		t.Errorf("HEAD body %q", b)
	}
	if resp.ContentLength != int64(len("<p>hello</p>")) || resp.Header.Get("Content-Length") != "12" {
		t.Errorf("HEAD Content-Length %d / %q, want the GET body's length", resp.ContentLength, resp.Header.Get("Content-Length"))
	}
}

func TestDoRoutesThroughAServeMux(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /guestbook", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "list") })
	mux.HandleFunc("POST /guestbook", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/guestbook", http.StatusSeeOther)
	})
	sdk.Handle(mux)
	for _, tc := range []struct {
		method, target string
		status         int
		location       string
	}{
		{"GET", "/guestbook", 200, ""},
		{"POST", "/guestbook", 303, "/guestbook"},
		{"DELETE", "/guestbook", 405, ""},
		{"GET", "/elsewhere", 404, ""},
	} {
		resp := Do(httptest.NewRequest(tc.method, tc.target, nil), nil)
		if resp.StatusCode != tc.status || resp.Header.Get("Location") != tc.location {
			t.Errorf("%s %s: %d, Location %q", tc.method, tc.target, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

func TestDoBodyLimit(t *testing.T) {
	called := false
	sdk.Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		called = true
		b, _ := io.ReadAll(r.Body)
		fmt.Fprint(w, len(b))
	}))
	resp := Do(httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("x", MaxRequestBytes))), nil)
	if resp.StatusCode != 200 || body(t, resp) != fmt.Sprint(MaxRequestBytes) {
		t.Errorf("body of exactly the limit: status %d", resp.StatusCode)
	}
	called = false
	resp = Do(httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("x", MaxRequestBytes+1))), nil)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || called {
		t.Errorf("body over the limit: status %d, handler called %v", resp.StatusCode, called)
	}
	if b := body(t, resp); !strings.Contains(b, "larger than 1048576 bytes") {
		t.Errorf("413 body %q", b)
	}
}

func TestDoResponseLimit(t *testing.T) {
	sdk.Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(make([]byte, MaxResponseBytes))
	}))
	resp := Do(WithRequestID(httptest.NewRequest("GET", "/", nil), "r9"), nil)
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", resp.StatusCode)
	}
	if b := body(t, resp); b != "Bad Gateway (request id r9)\n" {
		t.Errorf("502 body %q", b)
	}
}

// TestDoInvalidStatus: like net/http, the SDK panics on a status outside
// 100-999 (in the runtime that fails the request with a 500).
func TestDoInvalidStatus(t *testing.T) {
	sdk.Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(42) }))
	defer func() {
		if v := recover(); v == nil || !strings.Contains(fmt.Sprint(v), "invalid WriteHeader code 42") {
			t.Errorf("recovered %v, want the SDK's invalid-status panic", v)
		}
	}()
	Do(httptest.NewRequest("GET", "/", nil), nil)
}

func TestDoPanicReachesTheTest(t *testing.T) {
	sdk.Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("boom") }))
	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Errorf("recovered %v, want the handler's panic", v)
			}
		}()
		Do(httptest.NewRequest("GET", "/", nil), nil)
	}()
	// Do is still usable.
	doEcho(t, httptest.NewRequest("GET", "/", nil), nil)
}

func TestDoWithoutHandler(t *testing.T) {
	hostcall.SetHandler(nil)
	resp := Do(httptest.NewRequest("GET", "/", nil), nil)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body(t, resp), "sdk.Handle") {
		t.Errorf("status %d", resp.StatusCode)
	}
}

// TestDoDecodesTheWire installs raw ABI handlers, below package sdk, to
// check the bytes Do sends and how it treats the bytes it gets back.
func TestDoDecodesTheWire(t *testing.T) {
	var got abi.HTTPRequest
	hostcall.SetHandler(func(in []byte) []byte {
		if err := got.Unmarshal(in); err != nil {
			t.Errorf("Do sent a malformed request: %v", err)
		}
		resp := abi.HTTPResponse{Status: 202, Headers: []abi.Header{
			{Name: "x-lower", Value: "kept"}, {Name: "Transfer-Encoding", Value: "chunked"},
			{Name: "set-cookie", Value: " websonic_session=x; Path=/"},
		}, Body: []byte("ok")}
		return resp.AppendMarshal(nil)
	})
	r := WithRequestID(httptest.NewRequest("PUT", "/a?b", strings.NewReader("data")), "id")
	r.Header.Set("Cookie", "websonic_session=only")
	resp := Do(r, &sdk.User{ID: 1, Roles: []string{"member"}})
	want := abi.HTTPRequest{Method: "PUT", URI: "/a?b", Host: "example.com", RemoteAddr: "192.0.2.1:1234", RequestID: "id",
		Body: []byte("data"), User: &abi.User{ID: 1, Roles: []string{"member"}}}
	if got.Method != want.Method || got.URI != want.URI || got.Host != want.Host || got.RemoteAddr != want.RemoteAddr ||
		got.RequestID != want.RequestID || string(got.Body) != "data" ||
		len(got.Headers) != 1 || got.Headers[0] != (abi.Header{Name: abihttp.AssetsHeader, Value: AssetsPrefix}) ||
		got.User == nil || got.User.ID != 1 || !slices.Equal(got.User.Roles, want.User.Roles) {
		t.Errorf("sent %+v (user %+v)", got, got.User)
	}
	if resp.StatusCode != 202 || resp.Header.Get("X-Lower") != "kept" || resp.Header.Get("Transfer-Encoding") != "" ||
		resp.Header.Get("Set-Cookie") != "" || body(t, resp) != "ok" {
		t.Errorf("response %d %v", resp.StatusCode, resp.Header)
	}

	for name, out := range map[string][]byte{
		"empty":    nil,
		"garbage":  []byte("HTTP/1.1 200 OK\r\n\r\n"),
		"trailing": append((&abi.HTTPResponse{Status: 200}).AppendMarshal(nil), 0),
	} {
		hostcall.SetHandler(func([]byte) []byte { return out })
		if resp := Do(httptest.NewRequest("GET", "/", nil), nil); resp.StatusCode != http.StatusBadGateway {
			t.Errorf("%s response: status %d, want 502", name, resp.StatusCode)
		}
	}
}

func TestHostCallsFailNatively(t *testing.T) {
	sdk.Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var cfg map[string]any
		if err := sdk.Config(&cfg); !errors.Is(err, ErrNotInRuntime) {
			t.Errorf("Config: %v", err)
		}
		var n int
		if err := sdk.DB().QueryRowContext(r.Context(), "SELECT 1").Scan(&n); !errors.Is(err, ErrNotInRuntime) {
			t.Errorf("DB query: %v", err)
		}
		if _, err := sdk.DB().ExecContext(r.Context(), "DELETE FROM t"); !errors.Is(err, ErrNotInRuntime) {
			t.Errorf("DB exec: %v", err)
		}
		if _, err := sdk.DB().BeginTx(r.Context(), nil); !errors.Is(err, ErrNotInRuntime) {
			t.Errorf("DB begin: %v", err)
		}
		sdk.Logger().Info("dropped natively", "k", "v")
		io.WriteString(w, "done")
	}))
	if resp := Do(httptest.NewRequest("GET", "/", nil), nil); body(t, resp) != "done" {
		t.Errorf("status %d", resp.StatusCode)
	}
}

// TestDoConcurrent: concurrent calls are serialized, each gets its own
// response (run with -race).
func TestDoConcurrent(t *testing.T) {
	sdk.Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Query().Get("n")+"/"+sdk.RequestID(r))
	}))
	const P, N = 8, 50
	var wg sync.WaitGroup
	for p := range P {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range N {
				id := fmt.Sprintf("%d-%d", p, i)
				resp := Do(WithRequestID(httptest.NewRequest("GET", "/?n="+id, nil), id), nil)
				if b, _ := io.ReadAll(resp.Body); string(b) != id+"/"+id {
					t.Errorf("request %s got %q", id, b)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestHealth(t *testing.T) {
	errDB := errors.New("database unreachable")
	tests := []struct {
		name    string
		handler bool // sdk.Handle(echo) as well
		check   func(context.Context) error
		wantErr string // "" for healthy
	}{
		{"no check", true, nil, ""},
		{"no check, no handler", false, nil, ""},
		{"healthy check", true, func(context.Context) error { return nil }, ""},
		{"failing check", true, func(context.Context) error { return errDB }, "503 database unreachable"},
		{"failing check, no handler", false, func(context.Context) error { return errDB }, "503 database unreachable"},
		{"check sees a request context", true, func(ctx context.Context) error {
			if ctx == nil || ctx.Err() != nil {
				return errors.New("no live context")
			}
			return nil
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hostcall.SetHandler(nil)
			if tt.handler {
				sdk.Handle(http.HandlerFunc(echo))
			}
			sdk.HealthCheck(tt.check)
			defer sdk.HealthCheck(nil)
			err := Health()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (!errors.Is(err, ErrUnhealthy) || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Health() = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestHealthPathIsExact: only GET of the exact health path reaches the
// check; other paths under /_websonic/ are the host's and answer 404
// unless a feature of the SDK registered them (they never reach the
// module's handler); anything else is the module's own request.
func TestHealthPathIsExact(t *testing.T) {
	sdk.Handle(http.HandlerFunc(echo))
	sdk.HealthCheck(func(context.Context) error { return errors.New("checked") })
	defer sdk.HealthCheck(nil)
	for _, tt := range []struct{ method, target string }{
		{"POST", abi.HealthPath},
		{"GET", abi.HealthPath + "?x=1"},
		{"GET", abi.HealthPath + "/more"},
		{"GET", "/_websonic/%68ealth"},
		{"GET", "/x/../_websonic/health"},
	} {
		r := httptest.NewRequest(tt.method, "/", nil)
		u, err := url.ParseRequestURI(tt.target)
		if err != nil {
			t.Fatal(err)
		}
		r.URL = u
		resp := Do(r, nil)
		want := http.StatusOK // the handler's echo
		if strings.HasPrefix(tt.target, abi.HostPathPrefix) {
			want = http.StatusNotFound
		}
		if b := body(t, resp); resp.StatusCode != want || strings.Contains(b, "checked") {
			t.Errorf("%s %s: %d %s, want %d", tt.method, tt.target, resp.StatusCode, b, want)
		}
	}
	resp := Do(httptest.NewRequest("GET", abi.HealthPath, nil), nil)
	if b := body(t, resp); resp.StatusCode != http.StatusServiceUnavailable || b != "checked\n" {
		t.Errorf("GET %s: %d %q", abi.HealthPath, resp.StatusCode, b)
	}
}
