package server

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/internal/modbuild"
	"github.com/websonic/websonic/runtime/internal/privacy"
	"github.com/websonic/websonic/runtime/internal/site"
	"github.com/websonic/websonic/sdk/abi"
)

// usersModules builds the users test module twice (as users, and as
// users2 on /users2) and the hostile module, once per test binary.
var usersModules = sync.OnceValues(func() (string, error) {
	dir := filepath.Join(scratch, "users-modules")
	ctx := context.Background()
	if err := modbuild.Package(ctx, "../internal/testmodules/users", filepath.Join(dir, "users")); err != nil {
		return "", err
	}
	// users2: the same build under another name and route.
	users2 := filepath.Join(dir, "users2")
	if err := os.CopyFS(users2, os.DirFS(filepath.Join(dir, "users"))); err != nil {
		return "", err
	}
	m, err := os.ReadFile(filepath.Join(users2, "module.json"))
	if err != nil {
		return "", err
	}
	m = bytes.Replace(m, []byte(`"name": "users"`), []byte(`"name": "users2"`), 1)
	m = bytes.Replace(m, []byte(`"/users-test"`), []byte(`"/users2"`), 1)
	if err := os.WriteFile(filepath.Join(users2, "module.json"), m, 0o644); err != nil {
		return "", err
	}
	if err := modbuild.Package(ctx, "../internal/testmodules/hostile", filepath.Join(dir, "hostile")); err != nil {
		return "", err
	}
	return dir, nil
})

// usersSite is a site with the users modules, trusting loopback as a
// proxy (tests name clients with X-Forwarded-For).
func usersSite(t *testing.T) *testSite {
	t.Helper()
	dir, err := usersModules()
	if err != nil {
		t.Fatal(err)
	}
	return newSiteWith(t, dir, hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testLog{t}}), trustLoopback)
}

// modReply is what the users module's /call answers.
type modReply struct {
	Error  string `json:"error"`
	Code   string `json:"code"`
	Denied bool   `json:"denied"`
	Data   []byte `json:"data"`
}

// modCall asks a module (route prefix /users-test or /users2) to make one
// SDK call.
func (s *testSite) modCall(t *testing.T, prefix string, req map[string]any) modReply {
	t.Helper()
	b, _ := json.Marshal(req)
	resp, err := http.Post(s.URL+prefix+"/call", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r modReply
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s %v: status %d: %.300s", prefix, req["op"], resp.StatusCode, body)
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	return r
}

// post posts body to path and returns the answer's status and body.
func (s *testSite) post(t *testing.T, path, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(s.URL+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (s *testSite) mkUser(t *testing.T, name string, role site.Role) *site.User {
	t.Helper()
	u, err := s.srv.site.Store().CreateUser(t.Context(), site.NewUser{Username: name, Password: usersPassword, Role: role})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (s *testSite) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := s.srv.db.Pool.QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

const usersPassword = "correct horse battery"

// TestUserServices: the users.* services from a real wasm module, allowed
// with the capability and within the limits no capability lifts, denied
// without; malformed payloads refused cleanly.
func TestUserServices(t *testing.T) {
	s := usersSite(t)
	boss := s.mkUser(t, "boss", site.RoleAdmin)
	sam := s.mkUser(t, "sam", site.RoleStaff)
	mia := s.mkUser(t, "mia", site.RoleMember)
	const miaIP = "198.51.100.20"
	c := s.client(t)
	if resp := loginFrom(t, c, s.URL, miaIP, "mia", usersPassword); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	account := func() int {
		resp, err := c.Get(s.URL + "/account")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := account(); st != http.StatusOK {
		t.Fatalf("account: %d", st)
	}

	later := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	calls := []struct {
		name string
		req  map[string]any
		code string // "" for success
	}{
		{"ban admin", map[string]any{"op": "ban", "user_id": boss.ID}, abi.HostErrDenied},
		{"ban staff", map[string]any{"op": "ban", "user_id": sam.ID}, abi.HostErrDenied},
		{"grant admin", map[string]any{"op": "grant_role", "user_id": mia.ID, "role": "admin"}, abi.HostErrDenied},
		{"grant auditor", map[string]any{"op": "grant_role", "user_id": mia.ID, "role": "auditor"}, abi.HostErrDenied},
		{"revoke admin", map[string]any{"op": "revoke_role", "user_id": boss.ID, "role": "admin"}, abi.HostErrDenied},
		{"password of admin", map[string]any{"op": "set_password", "user_id": boss.ID, "password": "a brand new passphrase"}, abi.HostErrDenied},
		{"weak password", map[string]any{"op": "set_password", "user_id": mia.ID, "password": "short"}, abi.HostErrInvalid},
		{"unknown user", map[string]any{"op": "ban", "user_id": 99999}, abi.HostErrNotFound},
		{"block a /8", map[string]any{"op": "block_ip", "prefix": "10.0.0.0/8", "until": later}, abi.HostErrInvalid},
		{"suspend a century", map[string]any{"op": "suspend", "user_id": mia.ID, "seconds": 100 * 365 * 86400}, abi.HostErrInvalid},
		{"grant staff", map[string]any{"op": "grant_role", "user_id": mia.ID, "role": "staff"}, ""},
		{"revoke staff", map[string]any{"op": "revoke_role", "user_id": mia.ID, "role": "staff"}, ""},
		{"ban member", map[string]any{"op": "ban", "user_id": mia.ID, "reason": "flood"}, ""},
	}
	for _, tt := range calls {
		t.Run(tt.name, func(t *testing.T) {
			r := s.modCall(t, "/users-test", tt.req)
			if r.Code != tt.code || (tt.code == abi.HostErrDenied) != r.Denied {
				t.Errorf("code %q (error %q), want %q", r.Code, r.Error, tt.code)
			}
		})
	}
	// The ban took: the session ended, the address is refused.
	if st := account(); st != http.StatusSeeOther {
		t.Errorf("banned user's session: %d", st)
	}
	if resp := loginFrom(t, s.client(t), s.URL, miaIP, "sam", usersPassword); resp.StatusCode != http.StatusForbidden {
		t.Errorf("login from the banned user's address: %d", resp.StatusCode)
	}
	if n := s.count(t, `SELECT count(*) FROM websonic.audit_log WHERE action = 'user.ban' AND detail->>'by' = 'module:users'`); n != 1 {
		t.Errorf("%d ban audit rows by the module", n)
	}
	// Another module cannot lift it; the one that placed it can.
	if r := s.modCall(t, "/users2", map[string]any{"op": "unban", "user_id": mia.ID}); r.Code != abi.HostErrDenied {
		t.Errorf("users2 lifts users' ban: %+v", r)
	}
	if r := s.modCall(t, "/users-test", map[string]any{"op": "unban", "user_id": mia.ID}); r.Code != "" {
		t.Errorf("unban: %+v", r)
	}
	if resp := loginFrom(t, c, s.URL, miaIP, "mia", usersPassword); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("login after unban: %d", resp.StatusCode)
	}
	// Suspension and password change end the session too.
	if r := s.modCall(t, "/users-test", map[string]any{"op": "suspend", "user_id": mia.ID, "seconds": 3600}); r.Code != "" {
		t.Fatalf("suspend: %+v", r)
	}
	if resp := loginFrom(t, c, s.URL, "192.0.2.77", "mia", usersPassword); resp.StatusCode != http.StatusForbidden {
		t.Errorf("login while suspended: %d", resp.StatusCode)
	}
	if err := s.srv.site.Store().Unsuspend(t.Context(), site.Actor{}, mia.ID); err != nil {
		t.Fatal(err)
	}
	loginFrom(t, c, s.URL, miaIP, "mia", usersPassword)
	if r := s.modCall(t, "/users-test", map[string]any{"op": "set_password", "user_id": mia.ID, "password": "a brand new passphrase"}); r.Code != "" {
		t.Fatalf("set password: %+v", r)
	}
	if st := account(); st != http.StatusSeeOther {
		t.Errorf("session after a password change: %d", st)
	}
	// An IP block from the module refuses every request from it.
	if r := s.modCall(t, "/users-test", map[string]any{"op": "block_ip", "prefix": "2001:db8:7::/48", "until": later}); r.Code != "" {
		t.Fatalf("block: %+v", r)
	}
	get := func(ip string) int {
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/", nil)
		req.Header.Set("X-Forwarded-For", ip)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := get("2001:db8:7:1::9"); st != http.StatusForbidden {
		t.Errorf("GET from a blocked network: %d", st)
	}
	if r := s.modCall(t, "/users-test", map[string]any{"op": "unblock_ip", "prefix": "2001:db8:7::/48"}); r.Code != "" {
		t.Fatalf("unblock: %+v", r)
	}
	if st := get("2001:db8:7:1::9"); st != http.StatusOK {
		t.Errorf("GET after unblock: %d", st)
	}

	t.Run("hostile without the capabilities", func(t *testing.T) {
		st, body := s.post(t, "/hostile/users/sdk", "")
		var out map[string]string
		if st != http.StatusOK || json.Unmarshal([]byte(body), &out) != nil || len(out) != 10 {
			t.Fatalf("status %d: %s", st, body)
		}
		for call, got := range out {
			if got != "denied" {
				t.Errorf("%s: %s", call, got)
			}
		}
		for _, svc := range append(usersServices(), privacy.ServiceSeal, privacy.ServiceOpen) {
			for _, payload := range []string{"", "null", "{", `{"user_id": 1}`, strings.Repeat("[", 10000)} {
				if st, body := s.post(t, "/hostile/users/raw?service="+svc, payload); st != http.StatusOK || body != abi.HostErrDenied {
					t.Errorf("%s %.20q: %d %s", svc, payload, st, body)
				}
			}
		}
	})
	t.Run("malformed payloads with the capabilities", func(t *testing.T) {
		payloads := []string{
			"", "null", "[]", `"x"`, "{", `{"user_id": "1"}`, `{"user_id": 1.5}`, `{"user_id": 1, "surprise": 1}`,
			`{"user_id": 1} {}`, `{"user_id": -1}`, `{"user_id": 0}`, `{"prefix": "1.2.3.4", "user_id": 1, "role": "staff", "password": "x"}`,
			`{"reason": "` + strings.Repeat("x", 9000) + `"}`, strings.Repeat("[", 10000), `{"until": "tomorrow", "prefix": "192.0.2.0/24"}`,
			`{"prefix": "192.0.2.1/24", "until": "` + later + `"}`, `{"role": "root", "user_id": 1}`, `{"purpose": "", "plaintext": "aGk="}`,
			`{"purpose": "p", "sealed": "AAAA"}`, `{"purpose": "p", "plaintext": 1}`,
		}
		for _, svc := range append(usersServices(), privacy.ServiceSeal, privacy.ServiceOpen) {
			for _, p := range payloads {
				st, body := s.post(t, "/users-test/raw?service="+svc, p)
				if st != http.StatusOK || !strings.HasPrefix(body, "ok") && body != abi.HostErrInvalid && body != abi.HostErrNotFound && body != abi.HostErrDenied {
					t.Errorf("%s %.40q: %d %s", svc, p, st, body)
				}
				if strings.HasPrefix(body, "ok") && strings.HasPrefix(svc, "users.") {
					t.Errorf("%s %.40q was accepted", svc, p)
				}
			}
		}
		if st, _ := s.post(t, "/users-test/raw?service=users.ban", `{"user_id": `+jsonInt(boss.ID)+`}`); st != http.StatusOK {
			t.Error("the module stopped answering")
		}
		if n := s.count(t, `SELECT count(*) FROM websonic.users WHERE banned_at IS NOT NULL`); n != 0 {
			t.Errorf("%d users banned by malformed calls", n)
		}
	})
	t.Run("admin area", func(t *testing.T) {
		ada := s.mkUser(t, "ada", site.RoleAdmin)
		as := httptest.NewServer(s.srv.AdminHandler())
		defer as.Close()
		c := &adminClient{t: t, origin: as.URL}
		if resp := c.login("ada", usersPassword); resp.StatusCode != http.StatusSeeOther || c.cookie == nil {
			t.Fatalf("admin login: %d", resp.StatusCode)
		}
		if resp, _ := c.do("GET", "/admin/", nil, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("admin area: %d", resp.StatusCode)
		}
		if err := s.srv.site.Store().Ban(t.Context(), site.Actor{UserID: boss.ID}, ada.ID, ""); err != nil {
			t.Fatal(err)
		}
		if resp, _ := c.do("GET", "/admin/", nil, nil); resp.StatusCode == http.StatusOK {
			t.Error("a banned admin's admin session still works")
		}
		if n := s.count(t, `SELECT count(*) FROM websonic.admin_sessions WHERE user_id = $1`, ada.ID); n != 0 {
			t.Errorf("%d admin sessions left", n)
		}
		if resp := c.login("ada", usersPassword); resp.StatusCode != http.StatusForbidden {
			t.Errorf("a banned admin signs in to the admin area: %d", resp.StatusCode)
		}
		// Blocked addresses reach the admin area no more than the site.
		p, _ := site.ParsePrefix("127.0.0.1")
		if err := s.srv.site.Store().BlockIP(t.Context(), site.Actor{}, p, time.Now().Add(time.Hour), ""); err != nil {
			t.Fatal(err)
		}
		if resp, _ := c.do("GET", "/login", nil, nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("admin area from a blocked address: %d", resp.StatusCode)
		}
		if err := s.srv.site.Store().UnblockIP(t.Context(), site.Actor{}, p); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("auditor", func(t *testing.T) {
		aud := s.mkUser(t, "audrey", site.RoleMember)
		if err := s.srv.site.Store().GrantRole(t.Context(), site.Actor{UserID: boss.ID}, aud.ID, site.RoleAuditor); err != nil {
			t.Fatal(err)
		}
		ac := s.client(t)
		loginFrom(t, ac, s.URL, "192.0.2.90", "audrey", usersPassword)
		for path, want := range map[string]int{"/account/audit?action=user.": http.StatusOK, "/metrics": http.StatusForbidden} {
			resp, err := ac.Get(s.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("%s: %d, want %d", path, resp.StatusCode, want)
			}
			if want == http.StatusOK && !strings.Contains(string(b), "module:users") {
				t.Errorf("%s does not show the module's actions", path)
			}
		}
	})
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

func usersServices() []string {
	return []string{"users.ban", "users.unban", "users.suspend", "users.block_ip", "users.unblock_ip", "users.set_password", "users.grant_role", "users.revoke_role"}
}

// TestSealFromModules: sealing from wasm modules; another module or
// another purpose cannot open; rotation keeps old values readable and new
// seals use the new key; a loose key file stops the runtime.
func TestSealFromModules(t *testing.T) {
	s := usersSite(t)
	seal := func(prefix, purpose, data string) modReply {
		return s.modCall(t, prefix, map[string]any{"op": "seal", "purpose": purpose, "data": []byte(data)})
	}
	open := func(prefix, purpose string, sealed []byte) modReply {
		return s.modCall(t, prefix, map[string]any{"op": "open", "purpose": purpose, "data": sealed})
	}
	r := seal("/users-test", "email", "ann@example.com")
	if r.Code != "" || len(r.Data) != privacy.Overhead+len("ann@example.com") {
		t.Fatalf("seal: %+v", r)
	}
	sealed := r.Data
	if got := open("/users-test", "email", sealed); got.Code != "" || string(got.Data) != "ann@example.com" {
		t.Fatalf("open: %+v", got)
	}
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	for name, got := range map[string]modReply{
		"other module":  open("/users2", "email", sealed),
		"other purpose": open("/users-test", "phone", sealed),
		"tampered":      open("/users-test", "email", tampered),
		"truncated":     open("/users-test", "email", sealed[:10]),
	} {
		if got.Code != abi.HostErrInvalid {
			t.Errorf("%s: %+v", name, got)
		}
	}

	id, err := privacy.Rotate(t.Context(), s.srv.cfg.DataDir, "", s.srv.db.Pool)
	if err != nil || id != 2 {
		t.Fatalf("rotate: %d %v", id, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	var fresh []byte
	for {
		r := seal("/users-test", "email", "after")
		if h, _, _, err := privacy.ParseSealed(r.Data); err == nil && h.KeyID == 2 {
			fresh = r.Data
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the running site never sealed under the rotated key")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got := open("/users-test", "email", sealed); string(got.Data) != "ann@example.com" {
		t.Errorf("old value after rotation: %+v", got)
	}
	if got := open("/users-test", "email", fresh); string(got.Data) != "after" {
		t.Errorf("new value: %+v", got)
	}
	// A key file others may read stops a runtime from starting.
	path := filepath.Join(s.srv.cfg.DataDir, privacy.KeyFile)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := s.srv.cfg
	cfg.ModulesDir = ""
	if srv, err := Open(t.Context(), cfg); !errors.Is(err, privacy.ErrKeyFileMode) {
		if srv != nil {
			srv.Close(context.Background())
		}
		t.Errorf("Open with a loose key file: %v", err)
	}
	os.Chmod(path, 0o600)
}

// TestExportErase: a user's core and module data go into one archive;
// erasure removes the modules' part, then anonymises the account, keeping
// the audit log without the user's name; a module that fails stops it.
func TestExportErase(t *testing.T) {
	s := usersSite(t)
	ctx := t.Context()
	boss := s.mkUser(t, "boss", site.RoleAdmin)
	mia := s.mkUser(t, "mia", site.RoleMember)
	bob := s.mkUser(t, "bob", site.RoleMember)
	loginFrom(t, s.client(t), s.URL, "198.51.100.33", "mia", usersPassword)
	for _, n := range []struct{ prefix, body string }{{"/users-test", "mia's secret"}, {"/users2", "mia elsewhere"}} {
		if st, body := s.post(t, n.prefix+"/note", `{"user_id": `+jsonInt(mia.ID)+`, "body": "`+n.body+`"}`); st != http.StatusNoContent {
			t.Fatalf("note: %d %s", st, body)
		}
	}
	if err := s.srv.site.Store().Ban(ctx, site.Actor{UserID: boss.ID}, bob.ID, "x"); err != nil {
		t.Fatal(err)
	}
	if err := s.srv.site.Store().Unban(ctx, site.Actor{UserID: boss.ID}, bob.ID); err != nil {
		t.Fatal(err)
	}

	var buf bytes.Buffer
	if err := s.srv.ExportUser(site.WithUser(ctx, boss), mia.ID, &buf); err != nil {
		t.Fatal(err)
	}
	files := unzip(t, buf.Bytes())
	var man ExportManifest
	if err := json.Unmarshal(files["manifest.json"], &man); err != nil {
		t.Fatal(err)
	}
	if man.Format != ExportFormat || man.UserID != mia.ID || man.Modules["users"] != "exported" || man.Modules["users2"] != "exported" || man.Modules["hostile"] != "no data" {
		t.Errorf("manifest: %+v", man)
	}
	for _, f := range man.Files {
		if files[f.Name] == nil {
			t.Errorf("manifest lists %s, not in the archive", f.Name)
		}
	}
	var core site.CoreExport
	if err := json.Unmarshal(files["core.json"], &core); err != nil {
		t.Fatal(err)
	}
	if core.Account.Username != "mia" || len(core.Sessions) != 1 || len(core.Addresses) != 1 || core.Addresses[0].Address != "198.51.100.33/32" || len(core.Audit) == 0 {
		t.Errorf("core.json: %s", files["core.json"])
	}
	if !bytes.Contains(files["modules/users.json"], []byte(`"opened":"mia's secret"`)) || !bytes.Contains(files["modules/users2.json"], []byte("mia elsewhere")) {
		t.Errorf("modules: %s / %s", files["modules/users.json"], files["modules/users2.json"])
	}

	if err := s.srv.EraseUser(ctx, mia.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.srv.site.Store().LookupUser(ctx, "mia", 0); !errors.Is(err, site.ErrUnknownUser) {
		t.Errorf("mia after erasure: %v", err)
	}
	body := userBody(mia.ID)
	for _, name := range []string{"users", "users2"} {
		resp, err := s.srv.Module(name).Call(ctx, abi.UserExportPath, nil, body, "t")
		if err != nil || string(resp.Body) != `{"notes":[]}` {
			t.Errorf("%s still has: %v %s", name, err, resp.Body)
		}
	}
	checks := []struct {
		what string
		sql  string
		want int
	}{
		{"audit rows naming mia", `SELECT count(*) FROM websonic.audit_log WHERE subject = 'mia' OR detail::text LIKE '%198.51.100.33%'`, 0},
		{"the erasure audited", `SELECT count(*) FROM websonic.audit_log WHERE action = 'user.erase' AND subject = 'erased-' || $1::bigint::text`, 1},
		{"the export audited", `SELECT count(*) FROM websonic.audit_log WHERE action = 'user.export' AND actor_id = $1`, 0},
		{"sessions, addresses", `SELECT (SELECT count(*) FROM websonic.sessions WHERE user_id = $1) + (SELECT count(*) FROM websonic.user_ips WHERE user_id = $1)`, 0},
		{"personal fields", `SELECT count(*) FROM websonic.users WHERE id = $1 AND (email IS NOT NULL OR display_name <> 'Erased user' OR username <> 'erased-' || id)`, 0},
		{"in the modules' view", `SELECT count(*) FROM websonic_api.users WHERE id = $1`, 0},
	}
	for _, c := range checks {
		args := []any{mia.ID}
		if !strings.Contains(c.sql, "$1") {
			args = nil
		}
		if c.what == "the export audited" {
			args = []any{boss.ID}
			c.want = 1
		}
		if n := s.count(t, c.sql, args...); n != c.want {
			t.Errorf("%s: %d, want %d", c.what, n, c.want)
		}
	}
	if resp := loginFrom(t, s.client(t), s.URL, "192.0.2.5", "erased-"+jsonInt(mia.ID), usersPassword); resp.StatusCode == http.StatusSeeOther {
		t.Error("signed in to an erased account")
	}

	// A module that fails to erase stops the erasure: the account stays.
	if st, _ := s.post(t, "/users-test/note", `{"user_id": `+jsonInt(bob.ID)+`, "body": "refuse-erase"}`); st != http.StatusNoContent {
		t.Fatal(st)
	}
	if err := s.srv.EraseUser(ctx, bob.ID); !errors.Is(err, ErrIncomplete) {
		t.Errorf("erase with a failing module: %v", err)
	}
	if _, err := s.srv.site.Store().LookupUser(ctx, "bob", 0); err != nil {
		t.Errorf("bob after a failed erasure: %v", err)
	}
	if n := s.count(t, `SELECT count(*) FROM websonic.audit_log WHERE action = 'user.erase_failed'`); n != 1 {
		t.Errorf("%d erase_failed rows", n)
	}
	if err := s.srv.EraseUser(ctx, boss.ID); !errors.Is(err, site.ErrLastAdmin) {
		t.Errorf("erase the last admin: %v", err)
	}
	if err := s.srv.ExportUser(ctx, mia.ID, io.Discard); !errors.Is(err, site.ErrUnknownUser) {
		t.Errorf("export of an erased user: %v", err)
	}

	// The owner's commands go through the request queue to a running
	// runtime (websonic user export|erase).
	s.serve(t)
	c := s.console(t)
	opts := RequestOptions{Wait: time.Minute}
	zoe := s.mkUser(t, "zoe", site.RoleMember)
	if st, _ := s.post(t, "/users2/note", `{"user_id": `+jsonInt(zoe.ID)+`, "body": "zoe's note"}`); st != http.StatusNoContent {
		t.Fatal(st)
	}
	buf.Reset()
	if incomplete, err := c.ExportUser(ctx, "zoe", &buf, opts); err != nil || incomplete != "" {
		t.Fatalf("export through the queue: %q %v", incomplete, err)
	}
	if files := unzip(t, buf.Bytes()); !bytes.Contains(files["modules/users2.json"], []byte("zoe's note")) || !bytes.Contains(files["core.json"], []byte(`"zoe"`)) {
		t.Errorf("archive through the queue: %v", files)
	}
	if _, err := c.EraseUser(ctx, "bob", opts); err == nil || !strings.Contains(err.Error(), "did not erase") {
		t.Errorf("erase through the queue with a failing module: %v", err)
	}
	if res, err := c.EraseUser(ctx, "zoe", opts); err != nil || !strings.Contains(res, "erased user") {
		t.Errorf("erase through the queue: %q %v", res, err)
	}
	if _, err := c.ExportUser(ctx, "zoe", io.Discard, opts); !errors.Is(err, site.ErrUnknownUser) {
		t.Errorf("export of an erased user through the queue: %v", err)
	}
	if n := s.count(t, `SELECT count(*) FROM websonic.audit_log WHERE action = 'user.erase' AND detail->>'by' = 'terminal'`); n != 2 {
		t.Errorf("%d erasures audited by the terminal, want 2", n)
	}
}

func unzip(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		files[f.Name], _ = io.ReadAll(rc)
		rc.Close()
	}
	return files
}
