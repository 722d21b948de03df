package site

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"slices"
	"testing"
	"time"
)

// TestRetentionRules: each rule deletes exactly the rows outside its
// limit, measured from the clock it is given: an audit entry a minute
// past the limit goes, one a minute inside stays; likewise the addresses
// (user_ips rows and the "ip" of audit entries, the rest of the entry
// kept) and inactive accounts (never an admin, never one with a live
// session).
func TestRetentionRules(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t)
	st := NewStore(pool)
	now := time.Date(2031, 6, 15, 12, 0, 0, 0, time.UTC)
	days := 30
	limit := now.AddDate(0, 0, -days)
	outside, inside := limit.Add(-time.Minute), limit.Add(time.Minute)

	mk := func(name string, role Role) int64 {
		u, err := st.CreateUser(ctx, NewUser{Username: name, Password: goodPassword, Role: role})
		if err != nil {
			t.Fatal(err)
		}
		return u.ID
	}
	old, recent, admin, live := mk("old_one", RoleMember), mk("recent_one", RoleMember), mk("old_admin", RoleAdmin), mk("old_live", RoleMember)
	if _, err := pool.Exec(ctx, `DELETE FROM websonic.audit_log`); err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, at := range []time.Time{outside, inside} {
		exec(`INSERT INTO websonic.audit_log (at, action, subject, detail) VALUES ($1, 'user.login', 'x', '{"ip": "192.0.2.1", "reason": "r"}')`, at)
	}
	exec(`INSERT INTO websonic.user_ips (user_id, ip, first_seen, last_seen) VALUES ($1, '192.0.2.1/32', $2, $2), ($1, '192.0.2.2/32', $3, $3)`, old, outside, inside)

	// Addresses: the older row and the older entry's ip go.
	addrs, audited, err := st.PruneAddresses(ctx, now, days)
	if err != nil || addrs != 1 || audited != 1 {
		t.Fatalf("PruneAddresses = %d, %d, %v; want 1, 1", addrs, audited, err)
	}
	var ips []string
	rows, _ := pool.Query(ctx, `SELECT host(ip) FROM websonic.user_ips ORDER BY ip`)
	for rows.Next() {
		var s string
		rows.Scan(&s)
		ips = append(ips, s)
	}
	if !slices.Equal(ips, []string{"192.0.2.2"}) {
		t.Errorf("addresses left: %v", ips)
	}
	var withIP, withReason int
	pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE detail ? 'ip'), count(*) FILTER (WHERE detail ? 'reason') FROM websonic.audit_log`).Scan(&withIP, &withReason)
	if withIP != 1 || withReason != 2 {
		t.Errorf("audit entries with an ip: %d (want 1), with their other details: %d (want 2)", withIP, withReason)
	}

	// Audit log: the older entry goes.
	if n, err := st.PruneAudit(ctx, now, days); err != nil || n != 1 {
		t.Fatalf("PruneAudit = %d, %v; want 1", n, err)
	}
	var left time.Time
	if err := pool.QueryRow(ctx, `SELECT at FROM websonic.audit_log`).Scan(&left); err != nil || !left.Equal(inside) {
		t.Errorf("audit entry left: %v, %v; want the one at %v", left, err, inside)
	}

	// Inactive accounts: six months without a sign-in.
	months := 6
	cut := now.AddDate(0, -months, 0)
	exec(`UPDATE websonic.users SET created_at = $2, last_login_at = NULL WHERE id = ANY($1)`, []int64{old, admin, live}, cut.Add(-time.Minute))
	exec(`UPDATE websonic.users SET created_at = $2, last_login_at = $3 WHERE id = $1`, recent, cut.AddDate(-1, 0, 0), cut.Add(time.Minute))
	exec(`INSERT INTO websonic.sessions (token_hash, user_id, expires_at) VALUES ('\x01', $1, $2)`, live, now.Add(time.Hour))
	exec(`INSERT INTO websonic.sessions (token_hash, user_id, expires_at) VALUES ('\x02', $1, $2)`, old, now.Add(-time.Hour))
	ids, err := st.InactiveAccounts(ctx, now, months, 100)
	if err != nil || !slices.Equal(ids, []int64{old}) {
		t.Errorf("InactiveAccounts = %v, %v; want only %d (old_one)", ids, err, old)
	}
}

// TestErasureRequest: a user's request schedules the erasure after the
// grace period, ends their sessions, is audited; asking again keeps the
// first due time; DueErasures lists it once due and not a minute before;
// cancel clears it (audited), and cancelling twice finds nothing. The
// last admin cannot ask.
func TestErasureRequest(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t)
	st := NewStore(pool)
	boss, _ := st.CreateUser(ctx, NewUser{Username: "boss", Password: goodPassword, Role: RoleAdmin})
	mia, err := st.CreateUser(ctx, NewUser{Username: "mia", Password: goodPassword})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetPrivacySettings(ctx, Actor{}, PrivacySettings{EraseGraceDays: 3}); err != nil {
		t.Fatal(err)
	}
	tok := newToken()
	if err := st.createSession(ctx, tok, mia.ID, time.Hour); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	due, err := st.RequestErasure(ctx, Actor{UserID: mia.ID}, mia.ID, now)
	if err != nil || !due.Equal(now.Add(72*time.Hour)) {
		t.Fatalf("RequestErasure = %v, %v; want %v", due, err, now.Add(72*time.Hour))
	}
	if u, _ := st.sessionUser(ctx, tok); u != nil {
		t.Error("the session survived the request")
	}
	if again, err := st.RequestErasure(ctx, Actor{UserID: mia.ID}, mia.ID, now.Add(time.Hour)); err != nil || !again.Equal(due) {
		t.Errorf("asking again = %v, %v; want the first due time %v", again, err, due)
	}
	if ids, _ := st.DueErasures(ctx, due.Add(-time.Minute), 10); len(ids) != 0 {
		t.Errorf("due a minute early: %v", ids)
	}
	if ids, _ := st.DueErasures(ctx, due, 10); !slices.Equal(ids, []int64{mia.ID}) {
		t.Errorf("DueErasures at the due time = %v", ids)
	}
	if ok, err := st.CancelErasure(ctx, Actor{UserID: mia.ID}, mia.ID); !ok || err != nil {
		t.Fatalf("CancelErasure = %v, %v", ok, err)
	}
	if ok, _ := st.CancelErasure(ctx, Actor{UserID: mia.ID}, mia.ID); ok {
		t.Error("cancelled twice")
	}
	if d, _ := st.ErasurePending(ctx, mia.ID); !d.IsZero() {
		t.Errorf("still pending: %v", d)
	}
	var actions []string
	rows, _ := pool.Query(ctx, `SELECT action FROM websonic.audit_log WHERE subject = 'mia' AND action LIKE 'user.erase%' ORDER BY id`)
	for rows.Next() {
		var a string
		rows.Scan(&a)
		actions = append(actions, a)
	}
	if want := []string{"user.erase_requested", "user.erase_requested", "user.erase_cancelled"}; !slices.Equal(actions, want) {
		t.Errorf("audited %v, want %v", actions, want)
	}
	if _, err := st.RequestErasure(ctx, Actor{UserID: boss.ID}, boss.ID, now); !errors.Is(err, ErrLastAdmin) {
		t.Errorf("the last admin's request: %v, want ErrLastAdmin", err)
	}
}

func TestPrivacySettings(t *testing.T) {
	ctx := context.Background()
	st := NewStore(newPool(t))
	ps, err := st.PrivacySettings(ctx)
	if err != nil || ps.EraseGraceDays != 14 || ps.AuditDays != 0 || ps.IPDays != 0 || ps.InactiveMonths != 0 {
		t.Fatalf("defaults = %+v, %v", ps, err)
	}
	for _, bad := range []PrivacySettings{{EraseGraceDays: -1}, {EraseGraceDays: 366}, {AuditDays: -5}, {AuditDays: 36501}, {InactiveMonths: 1201}, {IPDays: -1}} {
		if err := st.SetPrivacySettings(ctx, Actor{}, bad); !errors.Is(err, ErrInvalidPrivacySettings) {
			t.Errorf("%+v: %v, want ErrInvalidPrivacySettings", bad, err)
		}
	}
	want := PrivacySettings{EraseGraceDays: 0, AuditDays: 365, IPDays: 90, InactiveMonths: 24}
	if err := st.SetPrivacySettings(ctx, Actor{}, want); err != nil {
		t.Fatal(err)
	}
	got, _ := st.PrivacySettings(ctx)
	got.Updated = time.Time{}
	if got != want {
		t.Errorf("read back %+v, want %+v", got, want)
	}
}

// TestRecordCSV: a declaration that looks like a formula is written as
// text.
func TestRecordCSV(t *testing.T) {
	r := &ProcessingRecord{Activities: append(CoreActivities(PrivacySettings{EraseGraceDays: 14, IPDays: 90}, 0),
		Activity{Source: "evil", Category: "=HYPERLINK(\"x\")", Purpose: "p", Retention: "r", Subjects: "users", Fields: []string{"a", "b.c"}})}
	var buf bytes.Buffer
	if err := r.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(recs) != 6 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	last := recs[5]
	if last[2] != `'=HYPERLINK("x")` || last[6] != "a b.c" {
		t.Errorf("last row %q", last)
	}
	if recs[3][5] != "90 days after last use" {
		t.Errorf("IP retention %q", recs[3][5])
	}
}
