package server

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/runtime/internal/admin"
	"github.com/websonic/websonic/runtime/internal/site"
)

// peopleEnv is a site with its admin area, an admin signed in there, and
// a few users.
type peopleEnv struct {
	*testSite
	admin    *adminClient // root, signed in
	adminURL string
	csrf     string
	ids      map[string]int64
}

func newPeopleEnv(t *testing.T) *peopleEnv {
	s := newSiteWith(t, "", hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testLog{t}}), trustLoopback)
	as := httptest.NewServer(s.srv.AdminHandler())
	t.Cleanup(as.Close)
	e := &peopleEnv{testSite: s, adminURL: as.URL, ids: map[string]int64{}}
	for name, role := range map[string]site.Role{"root": site.RoleAdmin, "audrey": site.RoleAuditor, "sam": site.RoleStaff, "mia": site.RoleMember} {
		e.ids[name] = s.mkUser(t, name, role).ID
	}
	if _, err := s.srv.db.Pool.Exec(t.Context(), `UPDATE websonic.users SET display_name = 'Mia Wong', email = 'mia@shop.example' WHERE username = 'mia'`); err != nil {
		t.Fatal(err)
	}
	e.admin = &adminClient{t: t, origin: as.URL}
	if resp := e.admin.login("root", usersPassword); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("admin login: %d", resp.StatusCode)
	}
	_, b := e.admin.do("GET", "/admin/users", nil, nil)
	m := csrfRE.FindStringSubmatch(b)
	if m == nil {
		t.Fatalf("no CSRF token on the users page:\n%s", b)
	}
	e.csrf = html.UnescapeString(m[1])
	return e
}

// post posts form (with the CSRF token) to path as the admin.
func (e *peopleEnv) post(path string, form url.Values) (*http.Response, string) {
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", e.csrf)
	return e.admin.do("POST", path, form, nil)
}

func (e *peopleEnv) userPath(name string) string {
	return "/admin/users/" + strconv.FormatInt(e.ids[name], 10)
}

func (e *peopleEnv) status(t *testing.T, name string) *site.UserStatus {
	t.Helper()
	u, err := e.srv.site.Store().LookupUser(t.Context(), name, 0)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// signedIn says whether c's site session still signs it in.
func (e *peopleEnv) signedIn(t *testing.T, c *http.Client) bool {
	t.Helper()
	resp, err := c.Get(e.URL + "/account")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// siteLogin signs name in on the site from address ip.
func (e *peopleEnv) siteLogin(t *testing.T, name, password, ip string) *http.Client {
	t.Helper()
	c := e.client(t)
	if resp := loginFrom(t, c, e.URL, ip, name, password); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("%s's sign-in: %d", name, resp.StatusCode)
	}
	if !e.signedIn(t, c) {
		t.Fatalf("%s is not signed in", name)
	}
	return c
}

// lastAudit is the newest audit entry of action.
func (e *peopleEnv) lastAudit(t *testing.T, action string) (actor int64, subject string, detail map[string]any) {
	t.Helper()
	var raw string
	var a *int64
	if err := e.srv.db.Pool.QueryRow(t.Context(), `SELECT actor_id, subject, detail::text FROM websonic.audit_log
		WHERE action = $1 ORDER BY id DESC LIMIT 1`, action).Scan(&a, &subject, &raw); err != nil {
		t.Fatalf("audit %s: %v", action, err)
	}
	json.Unmarshal([]byte(raw), &detail)
	if a != nil {
		actor = *a
	}
	return actor, subject, detail
}

// wantAudited checks that the newest entry of action was the admin's,
// from the admin's address, about subject.
func (e *peopleEnv) wantAudited(t *testing.T, action, subject string) {
	t.Helper()
	actor, subj, detail := e.lastAudit(t, action)
	if actor != e.ids["root"] || subj != subject || detail["ip"] != "127.0.0.1" || detail["by"] != "user:"+strconv.FormatInt(e.ids["root"], 10) {
		t.Fatalf("audit %s: actor %d, subject %q, detail %v; want root from 127.0.0.1 about %s", action, actor, subj, detail, subject)
	}
}

var sessionRowRE = regexp.MustCompile(`<tr id="session-([0-9a-f]{24})">`)

// TestAdminUsers: the Users pages over HTTP against a real site: search,
// ban (confirmed first; sessions end; audited with the admin and the
// address), suspension, roles (the last admin stays), password reset (the
// site's policy and message), ending one session and all, the last
// admin's protection, and the user page's parts.
func TestAdminUsers(t *testing.T) {
	e := newPeopleEnv(t)
	ctx := t.Context()
	// Enough more accounts for two pages.
	if _, err := e.srv.db.Pool.Exec(ctx, `INSERT INTO websonic.users (username, display_name, password_hash)
		SELECT 'filler' || i, 'Filler ' || i, 'x' FROM generate_series(1, 55) i`); err != nil {
		t.Fatal(err)
	}

	t.Run("search", func(t *testing.T) {
		for _, tc := range []struct {
			query     string
			want, not []string
		}{
			{"q=mia", []string{`id="user-mia"`, "Mia Wong", "mia@shop.example"}, []string{`id="user-sam"`}},
			{"q=SHOP.example", []string{`id="user-mia"`}, []string{`id="user-root"`}},
			{"q=wong", []string{`id="user-mia"`}, nil},
			{"role=staff", []string{`id="user-sam"`}, []string{`id="user-mia"`}},
			{"q=nobody-here", []string{`id="no-users"`}, nil},
			{"", []string{"Users 1 to 50 of 59", `id="users-next"`}, []string{`id="users-prev"`}},
			{"page=2", []string{"Users 51 to 59 of 59", `id="users-prev"`}, []string{`id="users-next"`}},
			{"sort=created", []string{`id="user-filler55"`}, []string{`id="user-root"`}},
		} {
			resp, b := e.admin.do("GET", "/admin/users?"+tc.query, nil, nil)
			if resp.StatusCode != 200 {
				t.Fatalf("%s: %d", tc.query, resp.StatusCode)
			}
			for _, w := range tc.want {
				if !strings.Contains(b, w) {
					t.Errorf("%s: no %q", tc.query, w)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(b, n) {
					t.Errorf("%s: %q shown", tc.query, n)
				}
			}
		}
		for _, bad := range []string{"sort=age", "page=0", "role=root", "q=" + strings.Repeat("x", 101)} {
			if resp, _ := e.admin.do("GET", "/admin/users?"+bad, nil, nil); resp.StatusCode != 400 {
				t.Errorf("%s: %d, want 400", bad, resp.StatusCode)
			}
		}
		resp, b := e.admin.do("GET", "/admin/users?q=mia", nil, map[string]string{"Accept-Language": "fr"})
		if resp.StatusCode != 200 || !strings.Contains(b, "Rechercher") || !strings.Contains(b, `lang="fr"`) {
			t.Errorf("French users page: %d\n%.500s", resp.StatusCode, b)
		}
	})

	t.Run("ban", func(t *testing.T) {
		mia := e.siteLogin(t, "mia", usersPassword, "198.51.100.20")
		resp, b := e.post(e.userPath("mia")+"/ban", url.Values{"reason": {"spam"}})
		if resp.StatusCode != 200 || !strings.Contains(b, `id="confirm-question"`) || !strings.Contains(b, `name="reason" value="spam"`) {
			t.Fatalf("ban without confirmation: %d\n%s", resp.StatusCode, b)
		}
		if e.status(t, "mia").Banned || !e.signedIn(t, mia) {
			t.Fatal("banned before the confirmation")
		}
		resp, _ = e.post(e.userPath("mia")+"/ban", url.Values{"reason": {"spam"}, "confirm": {"yes"}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != e.userPath("mia")+"?done=ban" {
			t.Fatalf("ban: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		if st := e.status(t, "mia"); !st.Banned || st.BanReason != "spam" {
			t.Fatalf("mia: %+v", st)
		}
		if e.signedIn(t, mia) {
			t.Fatal("the banned user's site session lives on")
		}
		e.wantAudited(t, "user.ban", "mia")
		_, b = e.admin.do("GET", e.userPath("mia")+"?done=ban", nil, nil)
		for _, w := range []string{"The user is banned", `id="unban"`, "spam", "banned a user"} {
			if !strings.Contains(b, w) {
				t.Errorf("user page after the ban lacks %q", w)
			}
		}
		if resp, _ := e.post(e.userPath("mia")+"/unban", nil); resp.StatusCode != http.StatusSeeOther || e.status(t, "mia").Banned {
			t.Fatalf("unban: %d", resp.StatusCode)
		}
		e.wantAudited(t, "user.unban", "mia")
	})

	t.Run("suspend", func(t *testing.T) {
		mia := e.siteLogin(t, "mia", usersPassword, "198.51.100.20")
		if resp, b := e.post(e.userPath("mia")+"/suspend", url.Values{"for": {"24h0m0s"}, "reason": {"cool down"}}); resp.StatusCode != 200 || !strings.Contains(b, `id="confirm-yes"`) {
			t.Fatalf("suspend without confirmation: %d", resp.StatusCode)
		}
		if resp, b := e.post(e.userPath("mia")+"/suspend", url.Values{"until": {"2001-01-01"}, "confirm": {"yes"}}); resp.StatusCode != 400 || !strings.Contains(b, "must be in the future") {
			t.Fatalf("suspend into the past: %d\n%s", resp.StatusCode, b)
		}
		if resp, _ := e.post(e.userPath("mia")+"/suspend", url.Values{"for": {"24h0m0s"}, "reason": {"cool down"}, "confirm": {"yes"}}); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("suspend: %d", resp.StatusCode)
		}
		if st := e.status(t, "mia"); st.SuspendedUntil.IsZero() || st.SuspendReason != "cool down" {
			t.Fatalf("mia: %+v", st)
		}
		if e.signedIn(t, mia) {
			t.Fatal("the suspended user's session lives on")
		}
		e.wantAudited(t, "user.suspend", "mia")
		if resp, _ := e.post(e.userPath("mia")+"/unsuspend", nil); resp.StatusCode != http.StatusSeeOther || !e.status(t, "mia").SuspendedUntil.IsZero() {
			t.Fatalf("unsuspend: %d", resp.StatusCode)
		}
		e.wantAudited(t, "user.unsuspend", "mia")
	})

	t.Run("roles", func(t *testing.T) {
		grant := url.Values{"role": {"staff"}, "change": {"grant"}, "password": {"not the password"}}
		if resp, _ := e.post(e.userPath("mia")+"/roles", grant); resp.StatusCode != 401 || e.status(t, "mia").Has(site.RoleStaff) {
			t.Fatalf("grant with a wrong password: %d", resp.StatusCode)
		}
		grant.Set("password", usersPassword)
		if resp, _ := e.post(e.userPath("mia")+"/roles", grant); resp.StatusCode != http.StatusSeeOther || !e.status(t, "mia").Has(site.RoleStaff) {
			t.Fatalf("grant: %d", resp.StatusCode)
		}
		e.wantAudited(t, "user.role_grant", "mia")
		if resp, _ := e.post(e.userPath("mia")+"/roles", url.Values{"role": {"staff"}, "change": {"revoke"}}); resp.StatusCode != http.StatusSeeOther || e.status(t, "mia").Has(site.RoleStaff) {
			t.Fatalf("revoke: %d", resp.StatusCode)
		}
		e.wantAudited(t, "user.role_revoke", "mia")
		if resp, _ := e.post(e.userPath("mia")+"/roles", url.Values{"role": {"member"}, "change": {"grant"}, "password": {usersPassword}}); resp.StatusCode != 400 {
			t.Fatalf("grant member: %d", resp.StatusCode)
		}
		// The last admin stays one: the site's rule, in words.
		for _, tc := range []struct {
			path string
			form url.Values
		}{
			{"/roles", url.Values{"role": {"admin"}, "change": {"revoke"}}},
			{"/ban", url.Values{"confirm": {"yes"}}},
			{"/suspend", url.Values{"for": {"1h0m0s"}, "confirm": {"yes"}}},
		} {
			resp, b := e.post(e.userPath("root")+tc.path, tc.form)
			if resp.StatusCode != http.StatusConflict || !strings.Contains(b, "last active admin") {
				t.Errorf("%s on the last admin: %d\n%.400s", tc.path, resp.StatusCode, b)
			}
		}
		if st := e.status(t, "root"); !st.Has(site.RoleAdmin) || st.Banned || !st.SuspendedUntil.IsZero() {
			t.Fatalf("root: %+v", st)
		}
	})

	t.Run("password", func(t *testing.T) {
		mia := e.siteLogin(t, "mia", usersPassword, "198.51.100.20")
		const fresh = "a brand new passphrase for her"
		for _, tc := range []struct {
			name, pw, repeat, confirm, want string
		}{
			{"too short", "short", "short", "yes", "too short: use at least 15 characters"},
			{"common", "passwordpassword", "passwordpassword", "yes", "too easy to guess"},
			{"has the username", "mia-and-more-words", "mia-and-more-words", "yes", "must not contain the username"},
			{"differ", fresh, fresh + "!", "yes", "differ"},
			{"unconfirmed", fresh, fresh, "", "Tick the box"},
		} {
			resp, b := e.post(e.userPath("mia")+"/password", url.Values{"new_password": {tc.pw}, "repeat_password": {tc.repeat},
				"confirm": {tc.confirm}, "password": {usersPassword}})
			if resp.StatusCode != 400 || !strings.Contains(html.UnescapeString(b), tc.want) {
				t.Errorf("%s: %d, want 400 saying %q:\n%.300s", tc.name, resp.StatusCode, tc.want, b)
			}
		}
		if !e.signedIn(t, mia) {
			t.Fatal("a refused password change signed mia out")
		}
		resp, _ := e.post(e.userPath("mia")+"/password", url.Values{"new_password": {fresh}, "repeat_password": {fresh},
			"confirm": {"yes"}, "password": {usersPassword}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("set password: %d", resp.StatusCode)
		}
		if e.signedIn(t, mia) {
			t.Fatal("mia's session outlived the new password")
		}
		e.wantAudited(t, "user.password", "mia")
		e.siteLogin(t, "mia", fresh, "198.51.100.20")
	})

	t.Run("sessions", func(t *testing.T) {
		if resp, _ := e.post(e.userPath("mia")+"/sessions/end-all", nil); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("end all: %d", resp.StatusCode)
		}
		const pw = "a brand new passphrase for her"
		first := e.siteLogin(t, "mia", pw, "198.51.100.21")
		second := e.siteLogin(t, "mia", pw, "198.51.100.22")
		_, b := e.admin.do("GET", e.userPath("mia"), nil, nil)
		ids := sessionRowRE.FindAllStringSubmatch(b, -1)
		if len(ids) != 2 || !strings.Contains(b, "198.51.100.22") {
			t.Fatalf("mia's page shows %d sessions:\n%s", len(ids), b)
		}
		// Newest first: the second sign-in's.
		sessions, _ := e.srv.site.Store().UserSessions(ctx, e.ids["mia"])
		if resp, _ := e.post(e.userPath("mia")+"/sessions/end", url.Values{"session": {sessions[0].ID}}); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("end one: %d", resp.StatusCode)
		}
		if e.signedIn(t, second) || !e.signedIn(t, first) {
			t.Fatalf("after ending one of two sessions: first %v, second %v", e.signedIn(t, first), e.signedIn(t, second))
		}
		e.wantAudited(t, "user.session_end", "mia")
		if resp, b := e.post(e.userPath("mia")+"/sessions/end", url.Values{"session": {sessions[0].ID}}); resp.StatusCode != 404 || !strings.Contains(b, "ended already") {
			t.Fatalf("ending it again: %d", resp.StatusCode)
		}
		if resp, _ := e.post(e.userPath("mia")+"/sessions/end-all", nil); resp.StatusCode != http.StatusSeeOther || e.signedIn(t, first) || e.signedIn(t, second) {
			t.Fatalf("end all: %d", resp.StatusCode)
		}
		e.wantAudited(t, "user.sessions_end", "mia")
		if resp, b := e.admin.do("GET", e.userPath("mia")+"?done=sessions", nil, nil); resp.StatusCode != 200 || !strings.Contains(b, `id="no-sessions"`) {
			t.Fatalf("after ending all: %d", resp.StatusCode)
		}
	})

	t.Run("no such user", func(t *testing.T) {
		for _, p := range []string{"/admin/users/0", "/admin/users/999999", "/admin/users/abc"} {
			if resp, _ := e.admin.do("GET", p, nil, nil); resp.StatusCode != 404 {
				t.Errorf("%s: %d", p, resp.StatusCode)
			}
		}
		if resp, _ := e.post("/admin/users/999999/ban", url.Values{"confirm": {"yes"}}); resp.StatusCode != 404 {
			t.Errorf("ban nobody: %d", resp.StatusCode)
		}
	})
}

// TestAdminBlocks: an IP block placed in the admin area refuses the
// address on the site, is audited with the admin and its address, and is
// lifted there; the admin's own address is never blocked from here.
func TestAdminBlocks(t *testing.T) {
	e := newPeopleEnv(t)
	get := func(ip string) int {
		resp, _ := getWith(t, http.DefaultClient, e.URL+"/login", map[string]string{"X-Forwarded-For": ip})
		return resp.StatusCode
	}
	if get("198.51.100.5") != 200 {
		t.Fatal("the address is refused before the block")
	}
	form := url.Values{"prefix": {"198.51.100.0/24"}, "for": {"24h0m0s"}, "reason": {"abuse"}}
	if resp, b := e.post("/admin/blocks", form); resp.StatusCode != 200 || !strings.Contains(b, `id="confirm-question"`) {
		t.Fatalf("block without confirmation: %d", resp.StatusCode)
	}
	form.Set("confirm", "yes")
	if resp, _ := e.post("/admin/blocks", form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("block: %d", resp.StatusCode)
	}
	if got := get("198.51.100.5"); got != http.StatusForbidden {
		t.Fatalf("a blocked address: %d", got)
	}
	if get("203.0.113.5") != 200 {
		t.Fatal("another address is refused")
	}
	e.wantAudited(t, "ip.block", "198.51.100.0/24")
	_, b := e.admin.do("GET", "/admin/blocks?done=block", nil, nil)
	if !strings.Contains(b, `id="block-198.51.100.0/24"`) || !strings.Contains(b, "abuse") || !strings.Contains(b, "root") {
		t.Fatalf("blocks page:\n%s", b)
	}
	for _, tc := range []struct {
		prefix string
		status int
		want   string
	}{
		{"127.0.0.1", http.StatusConflict, "your own address"},
		{"127.0.0.0/8", http.StatusConflict, "your own address"},
		{"not an address", http.StatusBadRequest, "not an address"},
		{"10.0.0.1/8", http.StatusBadRequest, "not an address"},
	} {
		resp, b := e.post("/admin/blocks", url.Values{"prefix": {tc.prefix}, "confirm": {"yes"}})
		if resp.StatusCode != tc.status || !strings.Contains(b, tc.want) {
			t.Errorf("block %s: %d, want %d saying %q", tc.prefix, resp.StatusCode, tc.status, tc.want)
		}
	}
	if resp, _ := e.post("/admin/blocks/remove", url.Values{"prefix": {"198.51.100.0/24"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("unblock: %d", resp.StatusCode)
	}
	if get("198.51.100.5") != 200 {
		t.Fatal("the address is still refused")
	}
	e.wantAudited(t, "ip.unblock", "198.51.100.0/24")
	if resp, b := e.post("/admin/blocks/remove", url.Values{"prefix": {"198.51.100.0/24"}}); resp.StatusCode != 404 || !strings.Contains(b, "lifted already") {
		t.Fatalf("unblock again: %d", resp.StatusCode)
	}
}

// TestAdminAuditLog: the audit log page for an auditor: actions in plain
// words with their names, the actor and address, filters by action,
// actor, subject and dates, keyset pages newest first; staff get 403,
// and an auditor may not use the Users pages.
func TestAdminAuditLog(t *testing.T) {
	e := newPeopleEnv(t)
	ctx := t.Context()
	if resp, _ := e.post(e.userPath("mia")+"/ban", url.Values{"reason": {"spam"}, "confirm": {"yes"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("ban: %d", resp.StatusCode)
	}
	if _, err := e.srv.db.Pool.Exec(ctx, `INSERT INTO websonic.audit_log (action, subject) SELECT 'test.filler', 'filler ' || i FROM generate_series(1, 70) i`); err != nil {
		t.Fatal(err)
	}
	auditor := &adminClient{t: t, origin: e.adminURL}
	if resp := auditor.login("audrey", usersPassword); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("auditor login: %d", resp.StatusCode)
	}
	for _, tc := range []struct {
		query     string
		want, not []string
	}{
		{"action=user.ban", []string{"banned a user", "user.ban", "root", "127.0.0.1", "reason: spam", ">mia<"}, []string{"test.filler", `id="audit-older"`}},
		{"action=user.", []string{"user.ban", "user.register"}, []string{"test.filler"}},
		{"actor=root", []string{"user.ban", "signed in to the admin area"}, []string{"test.filler"}},
		{"subject=mia", []string{"user.ban", "user.register"}, []string{"admin.login"}},
		{"subject=mia&actor=root", []string{"user.ban"}, []string{"user.register"}},
		{"from=2000-01-01&to=2000-01-31", []string{`id="no-entries"`}, nil},
		{"from=2000-01-01", []string{"test.filler", `id="audit-older"`}, []string{`id="audit-newest"`}},
	} {
		resp, b := auditor.do("GET", "/admin/audit?"+tc.query, nil, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", tc.query, resp.StatusCode)
		}
		b = html.UnescapeString(b)
		if i := strings.Index(b, `id="audit-filters"`); i >= 0 {
			if j := strings.Index(b[i:], "</form>"); j >= 0 {
				b = b[:i] + b[i+j:] // the filters list every action
			}
		}
		for _, w := range tc.want {
			if !strings.Contains(b, w) {
				t.Errorf("%s: no %q", tc.query, w)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(b, n) {
				t.Errorf("%s: %q shown", tc.query, n)
			}
		}
	}
	// Keyset pages: newest first, every entry once.
	seen := map[string]bool{}
	next := "/admin/audit"
	pages := 0
	entryRE := regexp.MustCompile(`<tr id="entry-(\d+)">`)
	olderRE := regexp.MustCompile(`href="([^"]+)" rel="next" id="audit-older"`)
	for next != "" && pages < 10 {
		pages++
		_, b := auditor.do("GET", next, nil, nil)
		last := int64(1 << 62)
		for _, m := range entryRE.FindAllStringSubmatch(b, -1) {
			id, _ := strconv.ParseInt(m[1], 10, 64)
			if id >= last || seen[m[1]] {
				t.Fatalf("page %d: entry %d out of order or repeated", pages, id)
			}
			last, seen[m[1]] = id, true
		}
		next = ""
		for _, m := range olderRE.FindAllStringSubmatch(b, -1) {
			if m[1] != "" {
				next = strings.TrimPrefix(html.UnescapeString(m[1]), e.adminURL)
			}
		}
	}
	var total int
	e.srv.db.Pool.QueryRow(ctx, `SELECT count(*) FROM websonic.audit_log`).Scan(&total)
	if len(seen) != total || pages < 2 {
		t.Fatalf("paged through %d of %d entries in %d pages", len(seen), total, pages)
	}
	if resp, _ := auditor.do("GET", "/admin/audit?before=-3", nil, nil); resp.StatusCode != 400 {
		t.Errorf("a bad page: %d", resp.StatusCode)
	}
	if resp, _ := auditor.do("GET", "/admin/audit?action=DROP%20TABLE", nil, nil); resp.StatusCode != 400 {
		t.Errorf("a bad action: %d", resp.StatusCode)
	}
	// Read-only: the auditor gets no Users pages and no actions.
	for _, p := range []string{"/admin/users", e.userPath("mia"), "/admin/blocks"} {
		if resp, _ := auditor.do("GET", p, nil, nil); resp.StatusCode != 403 {
			t.Errorf("auditor GET %s: %d", p, resp.StatusCode)
		}
	}
	_, b := auditor.do("GET", "/admin/audit", nil, nil)
	if strings.Contains(b, `href="/admin/users"`) || !strings.Contains(b, `href="/admin/audit"`) {
		t.Error("the auditor's navigation offers the Users pages, or not the audit log")
	}
	// Staff hold no admin session by signing in; one made by hand (a
	// role taken away since) is refused.
	token := make([]byte, 32)
	rand.Read(token)
	if _, err := e.srv.db.Pool.Exec(ctx, `INSERT INTO websonic.admin_sessions (token_hash, user_id, expires_at)
		VALUES (sha256($1), $2, now() + interval '1 hour')`, token, e.ids["sam"]); err != nil {
		t.Fatal(err)
	}
	staff := &adminClient{t: t, origin: e.adminURL, cookie: &http.Cookie{Name: admin.AdminCookie, Value: base64.RawURLEncoding.EncodeToString(token)}}
	if resp, _ := staff.do("GET", "/admin/audit", nil, nil); resp.StatusCode != 403 {
		t.Errorf("staff GET /admin/audit: %d", resp.StatusCode)
	}
	// French: the action in words, the raw name kept.
	_, b = auditor.do("GET", "/admin/audit?action=user.ban", nil, map[string]string{"Accept-Language": "fr-FR,fr;q=0.9"})
	if !strings.Contains(html.UnescapeString(b), "a banni un utilisateur") || !strings.Contains(b, "user.ban") {
		t.Errorf("French audit page:\n%.2000s", b)
	}
}
