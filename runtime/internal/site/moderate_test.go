package site

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
)

const otherPassword = "purple elephant umbrella"

// TestBan: a ban ends the user's sessions, refuses their sign-in and the
// addresses they used (for anyone, at login and registration), and an
// unban restores all of it; both are audited with their actor.
func TestBan(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	ctx := context.Background()
	admin := e.user("boss", goodPassword, RoleAdmin)
	alice := e.user("alice", goodPassword, RoleMember)
	e.user("carol", otherPassword, RoleMember)
	const aliceIP, carolIP, v6 = "198.51.100.7", "203.0.113.9", "2001:db8:1:2::77"

	c := e.client()
	if res := e.loginFrom(c, aliceIP, "alice", goodPassword); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", res.StatusCode)
	}
	if res := e.loginFrom(e.client(), v6, "alice", goodPassword); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login over IPv6: %d", res.StatusCode)
	}
	if res := e.get(c, "/account"); res.StatusCode != http.StatusOK {
		t.Fatalf("account: %d", res.StatusCode)
	}
	if err := e.site.Store().Ban(ctx, Actor{UserID: admin.ID}, alice.ID, "spam"); err != nil {
		t.Fatal(err)
	}
	if res := e.get(c, "/account"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("a banned user's session still works: %d", res.StatusCode)
	}
	if n := e.count(`SELECT count(*) FROM websonic.sessions WHERE user_id = $1`, alice.ID); n != 0 {
		t.Errorf("%d sessions left", n)
	}
	// A session made in the same instant (another replica's sign-in) does
	// not resolve either.
	late := newToken()
	if err := e.site.Store().createSession(ctx, late, alice.ID, time.Hour); err != nil {
		t.Fatal(err)
	}
	if u, err := e.site.Store().sessionUser(ctx, late); u != nil || err != nil {
		t.Errorf("a banned user's session resolves: %v %v", u, err)
	}
	if n := e.count(`SELECT count(*) FROM websonic.user_events WHERE user_id = $1 AND kind = 'banned'`, alice.ID); n != 1 {
		t.Errorf("%d banned events", n)
	}
	refused := []struct {
		name, ip, user, password, want string
	}{
		{"banned user elsewhere", "192.0.2.50", "alice", goodPassword, "banned"},
		{"other user at the banned address", aliceIP, "carol", otherPassword, "blocked"},
		{"other user in the banned IPv6 /64", "2001:db8:1:2::1234", "carol", otherPassword, "blocked"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			res := e.loginFrom(e.client(), tt.ip, tt.user, tt.password)
			if res.StatusCode != http.StatusForbidden || !strings.Contains(res.body, tt.want) {
				t.Errorf("status %d, body lacks %q:\n%s", res.StatusCode, tt.want, res.body)
			}
		})
	}
	reg := url.Values{"username": {"dave"}, "password": {otherPassword}}
	if res := e.postFrom(e.client(), aliceIP, "/register", reg); res.StatusCode != http.StatusForbidden {
		t.Errorf("registration from a banned user's address: %d", res.StatusCode)
	}
	if res := e.loginFrom(e.client(), carolIP, "carol", otherPassword); res.StatusCode != http.StatusSeeOther {
		t.Errorf("carol from her own address: %d", res.StatusCode)
	}

	if err := e.site.Store().Unban(ctx, Actor{}, alice.ID); err != nil {
		t.Fatal(err)
	}
	if res := e.loginFrom(e.client(), aliceIP, "alice", goodPassword); res.StatusCode != http.StatusSeeOther {
		t.Errorf("login after unban: %d %s", res.StatusCode, res.body)
	}
	if res := e.postFrom(e.client(), aliceIP, "/register", reg); res.StatusCode != http.StatusSeeOther {
		t.Errorf("registration after unban: %d", res.StatusCode)
	}
	if n := e.count(`SELECT count(*) FROM websonic.audit_log WHERE action = 'user.ban' AND actor_id = $1 AND subject = 'alice'
		AND detail->>'by' = $2 AND detail->>'reason' = 'spam'`, admin.ID, fmt.Sprintf("user:%d", admin.ID)); n != 1 {
		t.Errorf("%d ban audit rows", n)
	}
	if n := e.count(`SELECT count(*) FROM websonic.audit_log WHERE action = 'user.unban' AND actor_id IS NULL AND detail->>'by' = 'terminal'`); n != 1 {
		t.Errorf("%d unban audit rows", n)
	}
}

// TestSuspend: a suspended user cannot sign in (the message says until
// when) nor use a session, and the suspension lifts itself when its time
// has passed, with no job.
func TestSuspend(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	ctx := context.Background()
	alice := e.user("alice", goodPassword, RoleMember)
	c := e.client()
	e.login(c, "alice", goodPassword)
	until := time.Now().Add(time.Hour)
	if err := e.site.Store().Suspend(ctx, Actor{}, alice.ID, until, "cool down"); err != nil {
		t.Fatal(err)
	}
	if res := e.get(c, "/account"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("a suspended user's session still works: %d", res.StatusCode)
	}
	res := e.loginFrom(e.client(), "192.0.2.1", "alice", goodPassword)
	if want := until.UTC().Format("2006-01-02 15:04"); res.StatusCode != http.StatusForbidden || !strings.Contains(res.body, want) {
		t.Errorf("login while suspended: %d, body lacks %q:\n%s", res.StatusCode, want, res.body)
	}
	if res := e.loginFrom(e.client(), "192.0.2.1", "alice", "not the password at all"); !strings.Contains(res.body, "Wrong password") {
		t.Errorf("a wrong password tells of the suspension: %s", res.body)
	}
	// The hour passes.
	if _, err := e.pool.Exec(ctx, `UPDATE websonic.users SET suspended_until = now() - interval '1 second' WHERE id = $1`, alice.ID); err != nil {
		t.Fatal(err)
	}
	if res := e.loginFrom(e.client(), "192.0.2.1", "alice", goodPassword); res.StatusCode != http.StatusSeeOther {
		t.Errorf("login after the suspension: %d", res.StatusCode)
	}
	if err := e.site.Store().Suspend(ctx, Actor{}, alice.ID, time.Now().Add(-time.Second), ""); !errors.Is(err, ErrInvalidUntil) {
		t.Errorf("suspension into the past: %v", err)
	}
	if n := e.count(`SELECT count(*) FROM websonic.audit_log WHERE action = 'user.suspend' AND detail->>'reason' = 'cool down'`); n != 1 {
		t.Errorf("%d suspend audit rows", n)
	}
}

// TestIPBlocks: a block refuses every request from the addresses it
// covers, IPv4 and IPv6, address or network, until it ends or is lifted.
func TestIPBlocks(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	ctx := context.Background()
	st := e.site.Store()
	tests := []struct {
		block, in, out string
	}{
		{"198.51.100.7", "198.51.100.7", "198.51.100.8"},
		{"203.0.113.0/24", "203.0.113.200", "203.0.114.1"},
		{"2001:db8:aa::5", "2001:db8:aa::5", "2001:db8:aa::6"},
		{"2001:db8:bb::/48", "2001:db8:bb:ffff::1", "2001:db8:bc::1"},
		{"::ffff:192.0.2.9", "192.0.2.9", "192.0.2.10"},
	}
	get := func(ip string) int {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/", nil)
		req.Header.Set("X-Forwarded-For", ip)
		return e.do(e.client(), req).StatusCode
	}
	for _, tt := range tests {
		t.Run(tt.block, func(t *testing.T) {
			p, err := ParsePrefix(tt.block)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.BlockIP(ctx, Actor{}, p, time.Time{}, "abuse"); err != nil {
				t.Fatal(err)
			}
			if s := get(tt.in); s != http.StatusForbidden {
				t.Errorf("GET from %s: %d", tt.in, s)
			}
			if s := get(tt.out); s != http.StatusOK {
				t.Errorf("GET from %s: %d", tt.out, s)
			}
			if res := e.postFrom(e.client(), tt.in, "/register", url.Values{"username": {"newcomer"}, "password": {otherPassword}}); res.StatusCode != http.StatusForbidden {
				t.Errorf("registration from %s: %d", tt.in, res.StatusCode)
			}
			if err := st.UnblockIP(ctx, Actor{}, p); err != nil {
				t.Fatal(err)
			}
			if s := get(tt.in); s != http.StatusOK {
				t.Errorf("GET from %s after unblock: %d", tt.in, s)
			}
		})
	}
	// A block with an end lets requests in once it has passed.
	p := netip.MustParsePrefix("192.0.2.0/24")
	if err := st.BlockIP(ctx, Actor{}, p, time.Now().Add(time.Hour), ""); err != nil {
		t.Fatal(err)
	}
	if s := get("192.0.2.33"); s != http.StatusForbidden {
		t.Errorf("GET while blocked: %d", s)
	}
	if _, err := e.pool.Exec(ctx, `UPDATE websonic.ip_blocks SET until = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	st.blocks.invalidate() // else within blockRefresh
	if s := get("192.0.2.33"); s != http.StatusOK {
		t.Errorf("GET after the block ended: %d", s)
	}
	if err := st.UnblockIP(ctx, Actor{}, netip.MustParsePrefix("10.0.0.0/8")); !errors.Is(err, ErrNoBlock) {
		t.Errorf("unblock of nothing: %v", err)
	}
	if n := e.count(`SELECT count(*) FROM websonic.audit_log WHERE action IN ('ip.block', 'ip.unblock')`); n != 2*len(tests)+1 {
		t.Errorf("%d block audit rows", n)
	}
	for _, bad := range []string{"", "300.1.1.1", "10.0.0.1/8", "fe80::1%eth0", "1.2.3.4/33", "host"} {
		if p, err := ParsePrefix(bad); err == nil {
			if err := st.BlockIP(ctx, Actor{}, p, time.Time{}, ""); !errors.Is(err, ErrInvalidPrefix) {
				t.Errorf("%q: parsed as %s and blocked: %v", bad, p, err)
			}
		}
	}
}

// TestSetPassword: a new password follows the policy and ends every
// session.
func TestSetPassword(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	ctx := context.Background()
	alice := e.user("alice", goodPassword, RoleMember)
	c := e.client()
	e.login(c, "alice", goodPassword)
	if err := e.site.Store().SetPassword(ctx, Actor{}, alice.ID, "short"); !errors.Is(err, ErrWeakPassword) {
		t.Fatalf("weak password: %v", err)
	}
	if err := e.site.Store().SetPassword(ctx, Actor{}, alice.ID, "alice-in-wonderland-rabbit"); !errors.Is(err, ErrWeakPassword) {
		t.Fatalf("password with the username: %v", err)
	}
	if err := e.site.Store().SetPassword(ctx, Actor{}, alice.ID, otherPassword); err != nil {
		t.Fatal(err)
	}
	if res := e.get(c, "/account"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("session survived a password change: %d", res.StatusCode)
	}
	if res := e.loginFrom(e.client(), "192.0.2.1", "alice", goodPassword); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("old password: %d", res.StatusCode)
	}
	e.login(e.client(), "alice", otherPassword)
	if n := e.count(`SELECT count(*) FROM websonic.user_events WHERE user_id = $1 AND kind = 'password'`, alice.ID); n != 1 {
		t.Errorf("%d password events", n)
	}
	if n := e.count(`SELECT count(*) FROM websonic.audit_log WHERE action = 'user.password' AND NOT detail::text LIKE '%elephant%'`); n != 1 {
		t.Errorf("%d password audit rows (without the password)", n)
	}
	if err := e.site.Store().SetPassword(ctx, Actor{}, 999, otherPassword); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("unknown user: %v", err)
	}
}

// TestRolesAndAuditLog: several roles per user; the auditor reads the
// audit log and nothing staff may; the last active admin stays.
func TestRolesAndAuditLog(t *testing.T) {
	e := newEnv(t, Config{}, func(s *Site, r chi.Router) {
		r.Get("/staff-only", func(w http.ResponseWriter, r *http.Request) {
			if u := UserFrom(r.Context()); !u.Has(RoleStaff) {
				s.Deny(w, r, u, RoleStaff)
			}
		})
	})
	ctx := context.Background()
	st := e.site.Store()
	boss := e.user("boss", goodPassword, RoleAdmin)
	audrey := e.user("audrey", goodPassword, RoleMember)
	sam := e.user("sam", goodPassword, RoleStaff)
	e.user("mia", goodPassword, RoleMember)
	if err := st.GrantRole(ctx, Actor{UserID: boss.ID}, audrey.ID, RoleAuditor); err != nil {
		t.Fatal(err)
	}
	u, err := st.Authenticate(ctx, "audrey", goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(u.Roles(), " "); got != "auditor member" {
		t.Errorf("auditor's roles: %s", got)
	}
	for range 60 { // more than a page
		if _, err := e.pool.Exec(ctx, `INSERT INTO websonic.audit_log (action, subject) VALUES ('test.filler', 'x')`); err != nil {
			t.Fatal(err)
		}
	}
	pages := []struct {
		user, path string
		status     int
		contains   string
	}{
		{"audrey", "/account/audit?action=user.role_grant", http.StatusOK, "audrey"},
		{"audrey", "/account/audit?action=user.", http.StatusOK, "user.role_grant"},
		{"audrey", "/account/audit?action=test.filler", http.StatusOK, "before="},
		{"audrey", "/account/audit?action=DROP%20TABLE", http.StatusBadRequest, ""},
		{"audrey", "/account/audit?before=-1", http.StatusBadRequest, ""},
		{"audrey", "/staff-only", http.StatusForbidden, "staff"},
		{"boss", "/account/audit", http.StatusOK, "Audit log"},
		{"sam", "/account/audit", http.StatusForbidden, "auditor"},
		{"mia", "/account/audit", http.StatusForbidden, "auditor"},
		{"", "/account/audit", http.StatusSeeOther, ""},
	}
	clients := map[string]*http.Client{}
	for _, tt := range pages {
		t.Run(tt.user+tt.path, func(t *testing.T) {
			c, ok := clients[tt.user]
			if !ok {
				c = e.client()
				if tt.user != "" {
					e.login(c, tt.user, goodPassword)
				}
				clients[tt.user] = c
			}
			res := e.get(c, tt.path)
			if res.StatusCode != tt.status || !strings.Contains(res.body, tt.contains) {
				t.Errorf("status %d (want %d), body lacks %q:\n%.600s", res.StatusCode, tt.status, tt.contains, res.body)
			}
		})
	}
	entries, err := st.AuditLog(ctx, AuditQuery{Action: "test.filler", Limit: 50})
	if err != nil || len(entries) != 50 {
		t.Fatalf("page 1: %d entries, %v", len(entries), err)
	}
	more, err := st.AuditLog(ctx, AuditQuery{Action: "test.filler", Before: entries[49].ID})
	if err != nil || len(more) != 10 || more[0].ID >= entries[49].ID {
		t.Fatalf("page 2: %d entries, %v", len(more), err)
	}

	// The last active admin: neither demoted, banned nor suspended; a
	// banned admin does not count.
	last := []struct {
		name string
		f    func() error
	}{
		{"revoke", func() error { return st.RevokeRole(ctx, Actor{}, boss.ID, RoleAdmin) }},
		{"ban", func() error { return st.Ban(ctx, Actor{}, boss.ID, "") }},
		{"suspend", func() error { return st.Suspend(ctx, Actor{}, boss.ID, time.Now().Add(time.Hour), "") }},
		{"set role", func() error { return st.SetRole(ctx, "boss", RoleStaff) }},
	}
	for _, tt := range last {
		if err := tt.f(); !errors.Is(err, ErrLastAdmin) {
			t.Errorf("%s the last admin: %v", tt.name, err)
		}
	}
	if err := st.GrantRole(ctx, Actor{}, sam.ID, RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if err := st.Ban(ctx, Actor{}, sam.ID, ""); err != nil {
		t.Fatal(err)
	}
	if err := st.RevokeRole(ctx, Actor{}, boss.ID, RoleAdmin); !errors.Is(err, ErrLastAdmin) {
		t.Errorf("revoke with only a banned admin left: %v", err)
	}
	if err := st.Unban(ctx, Actor{}, sam.ID); err != nil {
		t.Fatal(err)
	}
	if err := st.RevokeRole(ctx, Actor{}, boss.ID, RoleAdmin); err != nil {
		t.Errorf("revoke with another admin: %v", err)
	}
	if err := st.GrantRole(ctx, Actor{}, boss.ID, "member"); !errors.Is(err, ErrInvalidRole) {
		t.Errorf("grant member: %v", err)
	}
	if n := e.count(`SELECT count(*) FROM websonic.audit_log WHERE action IN ('user.role_grant', 'user.role_revoke')`); n != 3 {
		t.Errorf("%d role audit rows, want 3", n)
	}
}

// TestModuleLimits: what a module may never do, whatever its capability.
func TestModuleLimits(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	ctx := context.Background()
	st := e.site.Store()
	boss := e.user("boss", goodPassword, RoleAdmin)
	sam := e.user("sam", goodPassword, RoleStaff)
	mia := e.user("mia", goodPassword, RoleMember)
	mod := Actor{Module: "chat", UserID: mia.ID}
	hour := time.Now().Add(time.Hour)
	tests := []struct {
		name string
		f    func() error
		want error
	}{
		{"ban admin", func() error { return st.Ban(ctx, mod, boss.ID, "") }, ErrProtected},
		{"ban staff", func() error { return st.Ban(ctx, mod, sam.ID, "") }, ErrProtected},
		{"suspend admin", func() error { return st.Suspend(ctx, mod, boss.ID, hour, "") }, ErrProtected},
		{"password of admin", func() error { return st.SetPassword(ctx, mod, boss.ID, otherPassword) }, ErrProtected},
		{"grant admin", func() error { return st.GrantRole(ctx, mod, mia.ID, RoleAdmin) }, ErrProtected},
		{"grant auditor", func() error { return st.GrantRole(ctx, mod, mia.ID, RoleAuditor) }, ErrProtected},
		{"revoke admin", func() error { return st.RevokeRole(ctx, mod, boss.ID, RoleAdmin) }, ErrProtected},
		{"revoke staff of admin", func() error { return st.RevokeRole(ctx, mod, boss.ID, RoleStaff) }, ErrProtected},
		{"suspend too long", func() error { return st.Suspend(ctx, mod, mia.ID, time.Now().Add(2*MaxSuspension), "") }, ErrInvalidUntil},
		{"block a /8", func() error { return st.BlockIP(ctx, mod, netip.MustParsePrefix("10.0.0.0/8"), hour, "") }, ErrInvalidPrefix},
		{"block forever", func() error { return st.BlockIP(ctx, mod, netip.MustParsePrefix("10.0.0.0/24"), time.Time{}, "") }, ErrInvalidUntil},
		{"grant staff", func() error { return st.GrantRole(ctx, mod, mia.ID, RoleStaff) }, nil},
		{"revoke staff", func() error { return st.RevokeRole(ctx, mod, mia.ID, RoleStaff) }, nil},
		{"ban member", func() error { return st.Ban(ctx, mod, mia.ID, "flood") }, nil},
		{"unban own", func() error { return st.Unban(ctx, mod, mia.ID) }, nil},
		{"owner bans", func() error { return st.Ban(ctx, Actor{}, mia.ID, "") }, nil},
		{"unban the owner's ban", func() error { return st.Unban(ctx, mod, mia.ID) }, ErrNotYours},
		{"other module's unban", func() error { return st.Unban(ctx, Actor{Module: "other"}, mia.ID) }, ErrNotYours},
		{"owner blocks", func() error { return st.BlockIP(ctx, Actor{}, netip.MustParsePrefix("192.0.2.0/24"), time.Time{}, "") }, nil},
		{"unblock the owner's", func() error { return st.UnblockIP(ctx, mod, netip.MustParsePrefix("192.0.2.0/24")) }, ErrNotYours},
		{"replace the owner's", func() error { return st.BlockIP(ctx, mod, netip.MustParsePrefix("192.0.2.0/24"), hour, "") }, ErrNotYours},
	}
	for _, tt := range tests {
		if err := tt.f(); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	if n := e.count(`SELECT count(*) FROM websonic.audit_log WHERE detail->>'by' = 'module:chat' AND actor_id = $1`, mia.ID); n != 4 {
		t.Errorf("%d audit rows by the module for mia, want 4", n)
	}
}

// TestUserAddressesBounded: at most maxUserIPs addresses per user, the
// newest.
func TestUserAddressesBounded(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	ctx := context.Background()
	alice := e.user("alice", goodPassword, RoleMember)
	for i := range maxUserIPs + 5 {
		if err := e.site.Store().noteAddress(ctx, alice.ID, netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 32), true); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.count(`SELECT count(*) FROM websonic.user_ips WHERE user_id = $1`, alice.ID); n != maxUserIPs {
		t.Errorf("%d addresses kept", n)
	}
	if n := e.count(`SELECT count(*) FROM websonic.user_ips WHERE user_id = $1 AND ip = '192.0.2.24/32'`, alice.ID); n != 1 {
		t.Error("the newest address is not kept")
	}
}
