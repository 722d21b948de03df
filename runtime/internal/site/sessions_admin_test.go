package site

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"time"
)

// TestEndSessions: an admin lists a user's sessions (site and admin
// area), ends one by its id (that token resolves to no one; the others
// live; a user event and an audit entry with the admin and the address
// record it), and then ends all; ids never reach another user's sessions.
func TestEndSessions(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t)
	st := NewStore(pool)
	boss, err := st.CreateUser(ctx, NewUser{Username: "boss", Password: goodPassword, Role: RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	mia, err := st.CreateUser(ctx, NewUser{Username: "mia", Password: goodPassword})
	if err != nil {
		t.Fatal(err)
	}
	tokens := [][]byte{newToken(), newToken()}
	for _, tok := range tokens {
		if err := st.createSession(ctx, tok, mia.ID, 3600e9); err != nil {
			t.Fatal(err)
		}
	}
	adminTok := newToken()
	if _, err := pool.Exec(ctx, `INSERT INTO websonic.admin_sessions (token_hash, user_id, expires_at) VALUES ($1, $2, now() + interval '1 hour')`,
		tokenHash(adminTok), boss.ID); err != nil {
		t.Fatal(err)
	}
	bossSite := newToken()
	if err := st.createSession(ctx, bossSite, boss.ID, 3600e9); err != nil {
		t.Fatal(err)
	}

	list, err := st.UserSessions(ctx, mia.ID)
	if err != nil || len(list) != 2 || list[0].Area != AreaSite || !sessionIDRE.MatchString(list[0].ID) || list[0].ID == list[1].ID {
		t.Fatalf("mia's sessions: %+v, %v", list, err)
	}
	bossList, err := st.UserSessions(ctx, boss.ID)
	if err != nil || len(bossList) != 2 {
		t.Fatalf("boss's sessions: %+v, %v", bossList, err)
	}
	areas := map[string]bool{}
	for _, s := range bossList {
		areas[s.Area] = true
	}
	if !areas[AreaSite] || !areas[AreaAdmin] {
		t.Fatalf("boss's sessions: %+v", bossList)
	}

	admin := Actor{UserID: boss.ID, IP: "203.0.113.9"}
	// Another user's session id does not end it.
	if err := st.EndSession(ctx, admin, mia.ID, bossList[0].ID); !errors.Is(err, ErrNoSession) {
		t.Fatalf("ending boss's session as mia's: %v", err)
	}
	for _, tc := range []struct {
		name string
		a    Actor
		user int64
		id   string
		want error
	}{
		{"malformed id", admin, mia.ID, "x' OR true --", ErrNoSession},
		{"unknown id", admin, mia.ID, "000000000000000000000000", ErrNoSession},
		{"unknown user", admin, 1 << 40, list[0].ID, ErrUnknownUser},
		{"a module", Actor{Module: "chat"}, mia.ID, list[0].ID, ErrProtected},
	} {
		if err := st.EndSession(ctx, tc.a, tc.user, tc.id); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	before, _ := LastUserEvent(ctx, pool)
	if err := st.EndSession(ctx, admin, mia.ID, list[0].ID); err != nil {
		t.Fatal(err)
	}
	alive := 0
	for _, tok := range tokens {
		if u, err := st.sessionUser(ctx, tok); err != nil {
			t.Fatal(err)
		} else if u != nil {
			alive++
		}
	}
	if alive != 1 {
		t.Fatalf("%d of mia's 2 sessions alive after ending one", alive)
	}
	evs, _ := UserEventsAfter(ctx, pool, before, 10)
	if len(evs) != 1 || evs[0].Kind != EventSessionEnded || evs[0].UserID != mia.ID {
		t.Fatalf("events: %+v", evs)
	}
	entries, err := st.AuditLog(ctx, AuditQuery{Action: "user.session_end"})
	if err != nil || len(entries) != 1 {
		t.Fatalf("audit: %+v %v", entries, err)
	}
	var d map[string]any
	json.Unmarshal([]byte(entries[0].Detail), &d)
	if e := entries[0]; e.ActorID != boss.ID || e.Subject != "mia" || d["ip"] != "203.0.113.9" || d["session"] != list[0].ID || d["area"] != AreaSite {
		t.Fatalf("audit entry %+v", e)
	}
	if err := st.EndSession(ctx, admin, mia.ID, list[0].ID); !errors.Is(err, ErrNoSession) {
		t.Fatalf("ending it again: %v", err)
	}

	// End all of boss's: the site's and the admin area's.
	n, err := st.EndSessions(ctx, admin, boss.ID)
	if err != nil || n != 2 {
		t.Fatalf("end all: %d, %v", n, err)
	}
	if u, _ := st.SessionUserIn(ctx, AdminSessions, adminTok); u != nil {
		t.Fatal("the admin session lives on")
	}
	if left, _ := st.UserSessions(ctx, mia.ID); len(left) != 1 {
		t.Fatalf("mia's sessions after ending boss's: %+v", left)
	}
	if n, err := st.EndSessions(ctx, admin, boss.ID); err != nil || n != 0 {
		t.Fatalf("end all again: %d, %v", n, err)
	}
	if entries, _ := st.AuditLog(ctx, AuditQuery{Action: "user.sessions_end"}); len(entries) != 1 {
		t.Fatalf("sessions_end audited %d times, want once", len(entries))
	}
	addrs, err := st.UserAddresses(ctx, mia.ID)
	if err != nil || len(addrs) != 0 {
		t.Fatalf("addresses: %v %v", addrs, err)
	}
	recent, err := st.RecentUserEvents(ctx, mia.ID, 10)
	if err != nil || len(recent) != 1 || recent[0].Kind != EventSessionEnded {
		t.Fatalf("recent events: %+v %v", recent, err)
	}
}

// TestAuditFilters: the audit log filtered by actor (username or
// detail.by), subject and time, with the admin's address recorded by the
// moderation services.
func TestAuditFilters(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t)
	st := NewStore(pool)
	boss, err := st.CreateUser(ctx, NewUser{Username: "boss", Password: goodPassword, Role: RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	mia, err := st.CreateUser(ctx, NewUser{Username: "mia", Password: goodPassword})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Ban(ctx, Actor{UserID: boss.ID, IP: "192.0.2.1"}, mia.ID, "spam"); err != nil {
		t.Fatal(err)
	}
	if err := st.Unban(ctx, Actor{}, mia.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE websonic.audit_log SET at = '2020-01-01T12:00:00Z' WHERE action = 'user.register'`); err != nil {
		t.Fatal(err)
	}
	at2020 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		q    AuditQuery
		want []string // actions, newest first
	}{
		{"by username", AuditQuery{Actor: "Boss"}, []string{"user.ban", "user.register"}},
		{"by terminal", AuditQuery{Actor: "terminal"}, []string{"user.unban"}},
		{"subject", AuditQuery{Subject: "mia"}, []string{"user.unban", "user.ban", "user.register"}},
		{"subject and actor", AuditQuery{Subject: "mia", Actor: "boss"}, []string{"user.ban"}},
		{"since", AuditQuery{Since: at2020.AddDate(1, 0, 0)}, []string{"user.unban", "user.ban"}},
		{"until", AuditQuery{Until: at2020.AddDate(0, 0, 1)}, []string{"user.register", "user.register"}},
		{"day", AuditQuery{Since: at2020, Until: at2020.AddDate(0, 0, 1), Subject: "boss"}, []string{"user.register"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := st.AuditLog(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			var actions []string
			for _, e := range got {
				actions = append(actions, e.Action)
			}
			if len(actions) != len(tc.want) {
				t.Fatalf("got %v, want %v", actions, tc.want)
			}
			for i := range actions {
				if actions[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", actions, tc.want)
				}
			}
		})
	}
	ban, _ := st.AuditLog(ctx, AuditQuery{Action: "user.ban"})
	var d map[string]any
	if len(ban) != 1 || json.Unmarshal([]byte(ban[0].Detail), &d) != nil || d["ip"] != "192.0.2.1" || d["by"] != "user:"+strconv.FormatInt(boss.ID, 10) {
		t.Fatalf("ban entry: %+v", ban)
	}
	unban, _ := st.AuditLog(ctx, AuditQuery{Action: "user.unban"})
	d = nil
	if len(unban) != 1 || json.Unmarshal([]byte(unban[0].Detail), &d) != nil || d["ip"] != nil {
		t.Fatalf("unban entry from the terminal: %+v", unban)
	}
	for _, q := range []AuditQuery{{Actor: "a\x00"}, {Subject: "x\ny"}, {Subject: string(make([]byte, 201))}} {
		if _, err := st.AuditLog(ctx, q); !errors.Is(err, ErrInvalidAuditQuery) {
			t.Errorf("%q: %v", q.Actor+q.Subject, err)
		}
	}
}
