package site

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/websonic/websonic/internal/i18n"
)

const goodPassword = "correct horse battery"

func TestRegister(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	e.user("alice", goodPassword, RoleMember)

	tests := []struct {
		name     string
		form     url.Values
		status   int
		message  string // part of the message on the form
		redirect string // on success
	}{
		{"too short username", url.Values{"username": {"ab"}, "password": {goodPassword}}, 400, "Usernames are 3 to 32 characters", ""},
		{"username starts with dash", url.Values{"username": {"-bob"}, "password": {goodPassword}}, 400, "Usernames are 3 to 32 characters", ""},
		{"username with bad character", url.Values{"username": {"bob!"}, "password": {goodPassword}}, 400, "Usernames are 3 to 32 characters", ""},
		{"non-ASCII username", url.Values{"username": {"bøb"}, "password": {goodPassword}}, 400, "Usernames are 3 to 32 characters", ""},
		{"username too long", url.Values{"username": {strings.Repeat("a", 33)}, "password": {goodPassword}}, 400, "Usernames are 3 to 32 characters", ""},
		{"taken username", url.Values{"username": {"alice"}, "password": {goodPassword}}, 409, "already taken", ""},
		{"taken username other case", url.Values{"username": {"ALICE"}, "password": {goodPassword}}, 409, "already taken", ""},
		{"short password", url.Values{"username": {"bob"}, "password": {"12345678901234"}}, 400, "at least 15 characters", ""},
		{"password12", url.Values{"username": {"bob"}, "password": {"password12"}}, 400, "at least 15 characters", ""},
		{"1234567890", url.Values{"username": {"bob"}, "password": {"1234567890"}}, 400, "at least 15 characters", ""},
		{"breached password", url.Values{"username": {"bob"}, "password": {"1qaz2wsx3edc4rfv"}}, 400, "too easy to guess", ""},
		{"common password with digits", url.Values{"username": {"bob"}, "password": {"Password1234567"}}, 400, "too easy to guess", ""},
		{"repeated common password", url.Values{"username": {"bob"}, "password": {"iloveyouiloveyou"}}, 400, "too easy to guess", ""},
		{"username as password", url.Values{"username": {"robert12345678901"}, "password": {"Robert12345678901"}}, 400, "must not contain your username", ""},
		{"username in password", url.Values{"username": {"robert"}, "password": {"my name is ROBERT, hi"}}, 400, "must not contain your username", ""},
		{"bad email", url.Values{"username": {"bob"}, "password": {goodPassword}, "email": {"not-an-email"}}, 400, "email address does not look right", ""},
		{"email with name", url.Values{"username": {"bob"}, "password": {goodPassword}, "email": {"Bob <bob@example.com>"}}, 400, "email address does not look right", ""},
		{"display name too long", url.Values{"username": {"bob"}, "password": {goodPassword}, "display_name": {strings.Repeat("x", 65)}}, 400, "Display names are 1 to 64", ""},
		{"ok", url.Values{"username": {"Bob"}, "password": {goodPassword}, "email": {"bob@example.com"}, "next": {"/account"}}, 303, "", "/account"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.client()
			res := e.post(c, "/register", tt.form)
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d; body:\n%s", res.StatusCode, tt.status, res.body)
			}
			if tt.status != http.StatusSeeOther {
				if !strings.Contains(res.body, tt.message) {
					t.Errorf("body lacks %q:\n%s", tt.message, res.body)
				}
				if !strings.Contains(res.body, `value="`+tt.form.Get("username")+`"`) {
					t.Errorf("form does not keep the username %q", tt.form.Get("username"))
				}
				if strings.Contains(res.body, tt.form.Get("password")) {
					t.Errorf("form echoes the password")
				}
				if sessionCookie(res.Response) != nil {
					t.Errorf("failed registration set a session cookie")
				}
				return
			}
			if got := res.Header.Get("Location"); got != tt.redirect {
				t.Errorf("Location %q, want %q", got, tt.redirect)
			}
			// Registration signs the new user in.
			acc := e.get(c, "/account")
			if acc.StatusCode != 200 || !strings.Contains(acc.body, "bob@example.com") || !strings.Contains(acc.body, "Signed in as") {
				t.Errorf("account page after registration: %d\n%s", acc.StatusCode, acc.body)
			}
		})
	}
	if n := e.count(`SELECT count(*) FROM websonic.audit_log WHERE action = 'user.register' AND subject = 'bob'`); n != 1 {
		t.Errorf("%d register audit rows for bob, want 1", n)
	}
}

func TestLogin(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	e.user("alice", goodPassword, RoleMember)

	tests := []struct {
		name     string
		username string
		password string
		status   int
		message  string
	}{
		{"unknown user", "nobody", goodPassword, 401, "There is no account with that username."},
		{"invalid username is unknown", "x", goodPassword, 401, "There is no account with that username."},
		{"wrong password", "alice", "wrong password!", 401, "Wrong password for that username."},
		{"missing password", "alice", "", 400, "Enter your username and password."},
		{"missing username", "", goodPassword, 400, "Enter your username and password."},
		{"ok", "alice", goodPassword, 303, ""},
		{"ok with other case and spaces", " ALICE ", goodPassword, 303, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.client()
			res := e.post(c, "/login", url.Values{"username": {tt.username}, "password": {tt.password}})
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d; body:\n%s", res.StatusCode, tt.status, res.body)
			}
			if tt.status == http.StatusSeeOther {
				if sessionCookie(res.Response) == nil {
					t.Fatal("no session cookie")
				}
				if home := e.get(c, "/"); !strings.Contains(home.body, "Signed in as <a href=\"/account\">alice</a>") {
					t.Errorf("home page does not show the login:\n%s", home.body)
				}
				return
			}
			if !strings.Contains(res.body, tt.message) {
				t.Errorf("body lacks %q:\n%s", tt.message, res.body)
			}
			if tt.password != "" && strings.Contains(res.body, tt.password) {
				t.Errorf("form echoes the password")
			}
		})
	}
	if n := e.count(`SELECT count(*) FROM websonic.audit_log WHERE action = 'user.login_failed' AND subject = 'nobody' AND detail->>'reason' = 'unknown_user'`); n != 1 {
		t.Errorf("%d login_failed audit rows for nobody, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM websonic.audit_log WHERE action = 'user.login_failed' AND subject = 'alice' AND detail->>'reason' = 'wrong_password'`); n != 1 {
		t.Errorf("%d login_failed audit rows for alice, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM websonic.audit_log WHERE action = 'user.login' AND subject = 'alice'`); n != 2 {
		t.Errorf("%d login audit rows for alice, want 2", n)
	}
}

// TestSessionCookie checks the cookie's attributes and that only its hash is
// stored; over HTTPS (real TLS, a trusted proxy's X-Forwarded-Proto, or
// SecureCookies) it is Secure and named with the __Host- prefix.
func TestSessionCookie(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		tls    bool
		proto  string // X-Forwarded-Proto through the trusted loopback
		secure bool
	}{
		{"plain HTTP", Config{}, false, "", false},
		{"TLS", Config{}, true, "", true},
		{"trusted proxy over HTTPS", Config{}, false, "https", true},
		{"SecureCookies", Config{SecureCookies: true}, false, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.SessionTTL = time.Hour
			var e *env
			if tt.tls {
				e = newTLSEnv(t, tt.cfg)
			} else {
				e = newEnv(t, tt.cfg, nil)
			}
			e.user("alice", goodPassword, RoleMember)
			req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/login", strings.NewReader(url.Values{"username": {"alice"}, "password": {goodPassword}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tt.proto != "" {
				req.Header.Set("X-Forwarded-Proto", tt.proto)
			}
			res := e.do(e.client(), req)
			c := sessionCookie(res.Response)
			if c == nil {
				t.Fatalf("no session cookie; status %d", res.StatusCode)
			}
			wantName := map[bool]string{false: SessionCookie, true: HostSessionCookie}[tt.secure]
			if c.Name != wantName || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" || c.Secure != tt.secure || c.MaxAge != 3600 {
				t.Errorf("cookie %+v: want %s, HttpOnly, SameSite=Lax, Path=/, no Domain, Secure=%v, Max-Age=3600", c, wantName, tt.secure)
			}
			token, err := base64.RawURLEncoding.DecodeString(c.Value)
			if err != nil || len(token) != 32 {
				t.Fatalf("token %q: %d bytes, %v", c.Value, len(token), err)
			}
			sum := sha256.Sum256(token)
			if n := e.count(`SELECT count(*) FROM websonic.sessions WHERE token_hash = $1 AND expires_at > now() + interval '59 minutes'`, sum[:]); n != 1 {
				t.Errorf("%d sessions stored under the token's SHA-256, want 1", n)
			}
			if n := e.count(`SELECT count(*) FROM websonic.sessions WHERE token_hash = $1`, token); n != 0 {
				t.Errorf("the raw token is stored")
			}
			if !tt.tls {
				return
			}
			// Over HTTPS the unprefixed spelling (which plain HTTP or a
			// sibling subdomain could plant) is not read; the real one is.
			for name, signedIn := range map[string]bool{SessionCookie: false, HostSessionCookie: true} {
				req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/account", nil)
				req.AddCookie(&http.Cookie{Name: name, Value: c.Value})
				res := e.do(e.client(), req)
				if got := res.StatusCode == http.StatusOK; got != signedIn {
					t.Errorf("cookie %s over TLS: status %d, signed in %v, want %v", name, res.StatusCode, got, signedIn)
				}
			}
		})
	}
}

func TestNewSessionOnLogin(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	e.user("alice", goodPassword, RoleMember)
	c := e.client()
	e.login(c, "alice", goodPassword)
	u, _ := url.Parse(e.srv.URL)
	first := jarCookie(t, c, u, SessionCookie).Value
	e.login(c, "alice", goodPassword)
	second := jarCookie(t, c, u, SessionCookie).Value
	if first == second {
		t.Fatal("logging in again kept the session token")
	}
	if n := e.count(`SELECT count(*) FROM websonic.sessions`); n != 1 {
		t.Errorf("%d sessions after logging in twice from one browser, want 1 (the old one ended)", n)
	}
}

func TestLogoutEndsSession(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	e.user("alice", goodPassword, RoleMember)
	c := e.client()
	e.login(c, "alice", goodPassword)
	u, _ := url.Parse(e.srv.URL)
	old := jarCookie(t, c, u, SessionCookie)

	res := e.post(c, "/logout", nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("logout: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	if ck := sessionCookie(res.Response); ck == nil || ck.MaxAge >= 0 {
		t.Errorf("logout did not clear the cookie: %+v", ck)
	}
	if n := e.count(`SELECT count(*) FROM websonic.sessions`); n != 0 {
		t.Errorf("%d sessions left after logout", n)
	}
	if n := e.count(`SELECT count(*) FROM websonic.audit_log WHERE action = 'user.logout' AND subject = 'alice'`); n != 1 {
		t.Errorf("%d logout audit rows", n)
	}
	// Every replica hears of it (the realtime hub closes the session's sockets).
	if n := e.count(`SELECT count(*) FROM websonic.user_events e JOIN websonic.users u ON u.id = e.user_id
		WHERE u.username = 'alice' AND e.kind = 'session_ended'`); n != 1 {
		t.Errorf("%d session_ended events for alice, want 1", n)
	}

	// Replaying the old cookie is anonymous, and the cookie is cleared.
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/account", nil)
	req.AddCookie(&http.Cookie{Name: SessionCookie, Value: old.Value})
	replay := e.do(e.client(), req)
	if replay.StatusCode != http.StatusSeeOther || replay.Header.Get("Location") != "/login?next=%2Faccount" {
		t.Errorf("replayed cookie: %d %q, want 303 to the login page", replay.StatusCode, replay.Header.Get("Location"))
	}
	if ck := sessionCookie(replay.Response); ck == nil || ck.MaxAge >= 0 {
		t.Errorf("replayed cookie not cleared: %+v", ck)
	}
}

func TestBadCookies(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	e.user("alice", goodPassword, RoleMember)
	c := e.client()
	e.login(c, "alice", goodPassword)
	if _, err := e.pool.Exec(context.Background(), `UPDATE websonic.sessions SET expires_at = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	expired := e.get(c, "/")
	tests := []struct {
		name  string
		value string
	}{
		{"garbage", "not base64 !!"},
		{"short", base64.RawURLEncoding.EncodeToString([]byte("short"))},
		{"unknown token", base64.RawURLEncoding.EncodeToString(make([]byte, 32))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/", nil)
			req.AddCookie(&http.Cookie{Name: SessionCookie, Value: tt.value})
			res := e.do(e.client(), req)
			if res.StatusCode != 200 || !strings.Contains(res.body, `href="/login"`) {
				t.Errorf("status %d, want an anonymous home page:\n%s", res.StatusCode, res.body)
			}
			if ck := sessionCookie(res.Response); ck == nil || ck.MaxAge >= 0 {
				t.Errorf("bad cookie not cleared: %+v", ck)
			}
		})
	}
	t.Run("expired", func(t *testing.T) {
		if expired.StatusCode != 200 || strings.Contains(expired.body, "Signed in") {
			t.Errorf("expired session is not anonymous: %d\n%s", expired.StatusCode, expired.body)
		}
		if ck := sessionCookie(expired.Response); ck == nil || ck.MaxAge >= 0 {
			t.Errorf("expired cookie not cleared: %+v", ck)
		}
		if n, err := e.site.Store().deleteExpiredSessions(context.Background()); err != nil || n != 1 {
			t.Errorf("sweep removed %d, %v; want 1", n, err)
		}
	})
}

func TestNextRedirect(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	e.user("alice", goodPassword, RoleMember)
	tests := []struct{ next, want string }{
		{"/account?tab=1", "/account?tab=1"},
		{"//evil.example", "/"},
		{`/\evil.example`, "/"},
		{"https://evil.example/", "/"},
	}
	for _, tt := range tests {
		t.Run(tt.next, func(t *testing.T) {
			res := e.post(e.client(), "/login", url.Values{"username": {"alice"}, "password": {goodPassword}, "next": {tt.next}})
			if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != tt.want {
				t.Errorf("%d to %q, want 303 to %q", res.StatusCode, res.Header.Get("Location"), tt.want)
			}
		})
	}
	t.Run("login form keeps next", func(t *testing.T) {
		res := e.get(e.client(), "/login?next=%2Faccount")
		if !strings.Contains(res.body, `name="next" value="/account"`) {
			t.Errorf("login form lacks next:\n%s", res.body)
		}
		res = e.get(e.client(), "/login?next=%2F%2Fevil.example")
		if !strings.Contains(res.body, `name="next" value="/"`) {
			t.Errorf("login form keeps a foreign next:\n%s", res.body)
		}
	})
}

func TestSafeNext(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "/"},
		{"/", "/"},
		{"/a/b?c=d#e", "/a/b?c=d#e"},
		{"//evil.example", "/"},
		{`/\evil.example`, "/"},
		{"/\t/evil.example", "/"},
		{"/\n/evil.example", "/"},
		{"https://evil.example", "/"},
		{"evil.example", "/"},
		{"javascript:alert(1)", "/"},
		{" /x", "/"},
		{"/" + strings.Repeat("a", 3000), "/"},
	}
	for _, tt := range tests {
		if got := safeNext(tt.in); got != tt.want {
			t.Errorf("safeNext(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDeny(t *testing.T) {
	staffOnly := func(s *Site, r chi.Router) {
		h := func(w http.ResponseWriter, r *http.Request) {
			u := UserFrom(r.Context())
			if !u.Has(RoleStaff) {
				s.Deny(w, r, u, RoleStaff)
				return
			}
			w.Write([]byte("staff area"))
		}
		r.Get("/staff", h)
		r.Post("/staff", h)
	}
	e := newEnv(t, Config{}, staffOnly)
	e.user("mia", goodPassword, RoleMember)
	e.user("sam", goodPassword, RoleStaff)
	e.user("ada", goodPassword, RoleAdmin)
	clients := map[string]*http.Client{"": e.client()}
	for _, name := range []string{"mia", "sam", "ada"} {
		clients[name] = e.client()
		e.login(clients[name], name, goodPassword)
	}
	tests := []struct {
		name, user, method string
		status             int
		location, body     string
	}{
		{"anonymous GET", "", http.MethodGet, 303, "/login?next=%2Fstaff%3Fx%3D1", ""},
		{"anonymous POST", "", http.MethodPost, 401, "", "Please sign in"},
		{"member GET", "mia", http.MethodGet, 403, "", "needs the staff role"},
		{"member POST", "mia", http.MethodPost, 403, "", "needs the staff role"},
		{"staff", "sam", http.MethodGet, 200, "", "staff area"},
		{"admin", "ada", http.MethodGet, 200, "", "staff area"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var res result
			if tt.method == http.MethodGet {
				res = e.get(clients[tt.user], "/staff?x=1")
			} else {
				res = e.post(clients[tt.user], "/staff?x=1", url.Values{})
			}
			if res.StatusCode != tt.status || res.Header.Get("Location") != tt.location || !strings.Contains(res.body, tt.body) {
				t.Errorf("got %d %q, want %d %q with %q in:\n%s", res.StatusCode, res.Header.Get("Location"), tt.status, tt.location, tt.body, res.body)
			}
		})
	}
	t.Run("account needs login", func(t *testing.T) {
		res := e.get(e.client(), "/account")
		if res.StatusCode != 303 || res.Header.Get("Location") != "/login?next=%2Faccount" {
			t.Errorf("got %d %q", res.StatusCode, res.Header.Get("Location"))
		}
	})
}

func TestNavAndPages(t *testing.T) {
	nav := func(u *User, _ *i18n.Printer) []NavLink {
		links := []NavLink{{"Blog", "/blog"}}
		if u.Has(RoleStaff) {
			links = append(links, NavLink{"Tickets", "/tickets"})
		}
		return links
	}
	e := newEnv(t, Config{Nav: nav, SiteName: "Acme"}, nil)
	e.user("sam", goodPassword, RoleStaff)
	anon := e.get(e.client(), "/")
	if !strings.Contains(anon.body, "Acme") || !strings.Contains(anon.body, `href="/blog"`) || strings.Contains(anon.body, "/tickets") ||
		!strings.Contains(anon.body, `href="/register"`) {
		t.Errorf("anonymous home page:\n%s", anon.body)
	}
	if anon.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", anon.Header.Get("Cache-Control"))
	}
	c := e.client()
	e.login(c, "sam", goodPassword)
	for _, path := range []string{"/", "/account", "/login", "/register"} {
		res := e.get(c, path)
		if res.StatusCode != 200 || !strings.Contains(res.body, `href="/tickets"`) || !strings.Contains(res.body, `action="/logout"`) {
			t.Errorf("%s for staff: %d\n%s", path, res.StatusCode, res.body)
		}
	}
}

func TestFormTooLarge(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	res := e.post(e.client(), "/login", url.Values{"username": {strings.Repeat("a", 100<<10)}, "password": {"x"}})
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d, want 413", res.StatusCode)
	}
}

func TestNewAndClose(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New without a pool succeeded")
	}
	s, err := New(Config{Pool: newPool(t)})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s.Close()
}
