package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/runtime/internal/jobs"
	"github.com/websonic/websonic/runtime/internal/site"
)

// gdprModules links every first-party module (hello, chat, tickets), as
// the other tests build them, into one folder of modules.
var gdprModules = sync.OnceValues(func() (string, error) {
	dir := filepath.Join(scratch, "gdpr")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	for _, build := range []func() (string, error){modulesDir, chatRoomsModules, ticketsModules} {
		from, err := build()
		if err != nil {
			return "", err
		}
		for _, name := range []string{"hello", "chat", "tickets"} {
			if _, err := os.Stat(filepath.Join(from, name, "module.json")); err == nil {
				if err := os.Symlink(filepath.Join(from, name), filepath.Join(dir, name)); err != nil && !os.IsExist(err) {
					return "", err
				}
			}
		}
	}
	return dir, nil
})

// gdprPerson is a member with data in the core and every first-party
// module: each text holds a marker of its own (never the username: what
// they wrote in a room stays after their erasure, without their name).
type gdprPerson struct {
	*chatter
	email, guestbook, roomText, dmText, about, ticket string
	ticketID                                          int64
}

// TestSelfServiceExportAndErasure is the GDPR test over every
// first-party module. Two members (and a staff member) leave data in the
// core (account, addresses, audit), hello (guestbook), chat (a room, a
// private conversation, reactions, mentions of each other by name, a
// profile) and tickets (a ticket each, a staff reply). One downloads their
// data from their account page: the archive holds their part of the core
// and of every module, and nothing of the other's (e-mail, address, texts);
// a second download at once is refused. They ask to delete their account
// (a wrong password changes nothing; the right one signs them out); the
// core job leaves them until the grace period ends, then erases them: no
// text, varchar, json, jsonb, inet, cidr, tsvector or bytea column of any
// schema (websonic and every mod_*) still holds their username, e-mail,
// address or the texts that were theirs alone, the other's mentions of
// them (sealed ones too) name nobody, and the other's data stays.
func TestSelfServiceExportAndErasure(t *testing.T) {
	mods, err := gdprModules()
	if err != nil {
		t.Fatal(err)
	}
	s := newSiteWith(t, mods, hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testLog{t}}), trustLoopback)
	ctx := context.Background()
	super, err := pgx.Connect(ctx, s.db.AdminURL) // a superuser, for the set-up and assertions only
	if err != nil {
		t.Fatal(err)
	}
	defer super.Close(ctx)
	var panel int64
	if err := super.QueryRow(ctx, `SELECT id FROM mod_tickets.panels WHERE name = 'Problem'`).Scan(&panel); err != nil {
		t.Fatal(err)
	}
	sam := s.person(t, "sam_desk", site.RoleStaff)
	mk := func(name, mark string) *gdprPerson {
		p := &gdprPerson{chatter: s.person(t, name, site.RoleMember), email: name + "@example.test",
			guestbook: mark + "-guestbook", roomText: mark + "-room", dmText: mark + "-dm", about: mark + "-about", ticket: mark + "-ticket"}
		if st, b := p.form(t, "/guestbook", url.Values{"message": {p.guestbook}}); st >= 400 {
			t.Fatalf("guestbook post %s: %d %.300s", name, st, b)
		}
		p.must(t, "PATCH", "/chat/api/profile", map[string]string{"about": p.about}, 200, nil)
		var tk tkTicket
		p.must(t, "POST", "/tickets/api/tickets", map[string]any{"panel_id": panel, "subject": p.ticket, "description": p.ticket + " in detail"}, 201, &tk)
		p.ticketID = tk.ID
		return p
	}
	mia, bob := mk("mia_quartz", "qx71"), mk("bob_zephyr", "zy93")
	sam.must(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/replies", mia.ticketID), map[string]any{"body": "Hello @mia_quartz, we look into it."}, 201, nil)

	// The chat: a room, reactions and mentions both ways, a private
	// conversation (sealed) with a mention in it.
	general := mia.rooms(t)["General"].ID
	mm := mia.post(t, general, mia.roomText)
	bm := bob.post(t, general, bob.roomText+" thanks @mia_quartz and @MIA_QUARTZ.")
	mia.must(t, "POST", fmt.Sprintf("/chat/api/messages/%d/reactions", bm.ID), map[string]string{"emoji": "👍"}, 200, nil)
	bob.must(t, "POST", fmt.Sprintf("/chat/api/messages/%d/reactions", mm.ID), map[string]string{"emoji": "🎉"}, 200, nil)
	mia.post(t, general, "and @bob_zephyr too")
	var req chatRequest
	mia.must(t, "POST", "/chat/api/friends/requests", map[string]string{"username": bob.name}, 200, &req)
	bob.must(t, "POST", fmt.Sprintf("/chat/api/friends/requests/%d/accept", req.ID), nil, 204, nil)
	var dm chatRoom
	mia.must(t, "POST", "/chat/api/dms", map[string]string{"username": bob.name}, 200, &dm)
	mia.post(t, dm.ID, mia.dmText)
	bob.post(t, dm.ID, bob.dmText+" see you @mia_quartz")
	if n := s.countAs(t, super, `SELECT count(*) FROM mod_chat.mentions WHERE user_id = $1`, mia.id); n != 2 {
		t.Fatalf("%d mentions of mia recorded, want 2", n)
	}

	// The export: hers, from every module, nobody else's.
	st, page := mia.get(t, "/account/privacy")
	if st != http.StatusOK || !strings.Contains(page, "delete-account") || !strings.Contains(page, "download-data") {
		t.Fatalf("privacy page: %d %.500s", st, page)
	}
	st, archive := mia.form(t, "/account/privacy/export", nil)
	if st != http.StatusOK {
		t.Fatalf("export: %d %.300s", st, archive)
	}
	files := map[string]string{}
	for name, b := range unzip(t, []byte(archive)) {
		var compact bytes.Buffer
		if err := json.Compact(&compact, b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		files[name] = compact.String()
	}
	for file, wants := range map[string][]string{
		"manifest.json":        {`"hello":"exported"`, `"chat":"exported"`, `"tickets":"exported"`},
		"core.json":            {mia.email, mia.ip, `"user.login"`},
		"modules/hello.json":   {mia.guestbook},
		"modules/chat.json":    {mia.roomText, mia.dmText, mia.about, "👍", `"mentions":[{"message_id":` + strconv.FormatInt(bm.ID, 10)},
		"modules/tickets.json": {mia.ticket, "we look into it"},
	} {
		for _, want := range wants {
			if !strings.Contains(files[file], want) {
				t.Errorf("%s lacks %q:\n%.1500s", file, want, files[file])
			}
		}
	}
	for name, f := range files {
		for _, other := range []string{bob.email, bob.ip, bob.guestbook, bob.roomText, bob.dmText, bob.about, bob.ticket} {
			if strings.Contains(f, other) {
				t.Errorf("%s holds the other user's %q", name, other)
			}
		}
	}
	if st, _ := mia.form(t, "/account/privacy/export", nil); st != http.StatusTooManyRequests {
		t.Errorf("a second export at once: %d, want 429", st)
	}
	if n := s.count(t, `SELECT count(*) FROM websonic.audit_log WHERE action = 'user.export' AND actor_id = $1 AND subject = $1::bigint::text`, mia.id); n != 1 {
		t.Errorf("%d self exports audited, want 1", n)
	}

	// The request: a password first; then signed out, and due in 14 days.
	if st, _ := mia.form(t, "/account/privacy/delete", url.Values{"password": {"not the password at all"}}); st != http.StatusUnauthorized {
		t.Errorf("delete with a wrong password: %d, want 401", st)
	}
	if due, _ := s.srv.site.Store().ErasurePending(ctx, mia.id); !due.IsZero() {
		t.Fatal("a wrong password scheduled the erasure")
	}
	if st, b := mia.form(t, "/account/privacy/delete", url.Values{"password": {chatPassword}}); st != http.StatusOK {
		t.Fatalf("delete: %d %.300s", st, b)
	}
	if st, _ := mia.get(t, "/account/privacy"); st != http.StatusSeeOther {
		t.Errorf("after the request the session still works: %d", st)
	}
	due, err := s.srv.site.Store().ErasurePending(ctx, mia.id)
	if err != nil || due.Sub(time.Now()) < 13*24*time.Hour || due.Sub(time.Now()) > 15*24*time.Hour {
		t.Fatalf("due %v (%v), want in 14 days", due, err)
	}

	// Not yet due: the job leaves her; once due it erases her.
	if err := s.srv.runErasures(ctx, due.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := s.count(t, `SELECT count(*) FROM websonic.users WHERE id = $1 AND erased_at IS NULL`, mia.id); n != 1 {
		t.Fatal("erased before the grace period ended")
	}
	if err := s.srv.runErasures(ctx, due); err != nil {
		t.Fatal(err)
	}
	if n := s.count(t, `SELECT count(*) FROM websonic.audit_log WHERE action = 'user.erase' AND detail->>'user_id' = $1::bigint::text AND detail->>'by' = 'module:_core'`, mia.id); n != 1 {
		t.Errorf("%d erasures by the job audited, want 1", n)
	}
	for _, needle := range []string{mia.name, mia.email, mia.ip, mia.guestbook, mia.about, mia.ticket} {
		if hits := s.search(t, needle); len(hits) > 0 {
			t.Errorf("%q still found after erasure in %v", needle, hits)
		}
	}
	for _, needle := range []string{bob.name, bob.email, bob.ip, bob.guestbook, bob.roomText, bob.about, bob.ticket} {
		if hits := s.search(t, needle); len(hits) == 0 {
			t.Errorf("the other user's %q went too", needle)
		}
	}
	// What stays for the others: her messages, by nobody; their mentions
	// of her, naming nobody (the sealed ones are read as bob reads them).
	for _, room := range []int64{general, dm.ID} {
		var page struct{ Messages []chatMessage }
		bob.must(t, "GET", fmt.Sprintf("/chat/api/rooms/%d/messages", room), nil, 200, &page)
		var texts []string
		for _, m := range page.Messages {
			texts = append(texts, m.Text)
			if strings.Contains(strings.ToLower(m.Text), mia.name) {
				t.Errorf("room %d: %q still names her", room, m.Text)
			}
		}
		if want := map[int64]string{general: mia.roomText, dm.ID: mia.dmText}[room]; !slices.Contains(texts, want) {
			t.Errorf("room %d lost her message %q (the others keep it): %q", room, want, texts)
		}
	}
}

// countAs is one count through conn.
func (s *testSite) countAs(t *testing.T, conn *pgx.Conn, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := conn.QueryRow(t.Context(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// TestErasureCancelledAtSignIn: signing in during the grace period leads
// to the privacy page, the only place the account reaches (pages lead
// there; forms, the module's, and the realtime socket are refused), which
// cancels the deletion; the site then serves them again, and the job
// leaves the account.
func TestErasureCancelledAtSignIn(t *testing.T) {
	s := newSite(t, trustLoopback)
	ctx := context.Background()
	c := s.member(t, "cara_lumen", "10.5.5.5", site.RoleMember)
	if st, _ := c.form(t, "/account/privacy/delete", url.Values{"password": {chatPassword}}); st != http.StatusOK {
		t.Fatalf("delete: %d", st)
	}
	resp, err := c.c.PostForm(c.base+"/login", url.Values{"username": {c.name}, "password": {chatPassword}, "next": {"/guestbook"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); loc != "/account/privacy" {
		t.Errorf("sign-in during the grace period goes to %q, want /account/privacy", loc)
	}
	if st, page := c.get(t, "/account/privacy"); st != http.StatusOK || !strings.Contains(page, "cancel-erasure") {
		t.Fatalf("privacy page during the grace period: %d %.300s", st, page)
	}
	// Meanwhile the account reaches nothing else: pages lead to the
	// privacy page; forms, the API and the socket are refused.
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/guestbook", http.StatusSeeOther},
		{"GET", "/account", http.StatusSeeOther},
		{"GET", "/", http.StatusSeeOther},
		{"POST", "/guestbook", http.StatusForbidden},
		{"POST", "/account/privacy/delete", http.StatusForbidden},
	} {
		var st int
		if tc.method == "GET" {
			st, _ = c.get(t, tc.path)
		} else {
			st, _ = c.form(t, tc.path, url.Values{"message": {"written while leaving"}, "password": {chatPassword}})
		}
		if st != tc.want {
			t.Errorf("%s %s while the erasure is pending: %d, want %d", tc.method, tc.path, st, tc.want)
		}
	}
	super, err := pgx.Connect(ctx, s.db.AdminURL) // a superuser, for the assertion only
	if err != nil {
		t.Fatal(err)
	}
	defer super.Close(ctx)
	if n := s.countAs(t, super, `SELECT count(*) FROM mod_hello.entries`); n != 0 {
		t.Errorf("%d guestbook entries written while the erasure was pending", n)
	}
	if _, resp, err := websocket.Dial(t.Context(), strings.Replace(s.URL, "http", "ws", 1)+"/ws", &websocket.DialOptions{HTTPClient: c.c}); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("the realtime socket while the erasure is pending: %v %v, want 403", resp, err)
	}
	if st, _ := c.form(t, "/account/privacy/cancel", nil); st != http.StatusOK {
		t.Fatalf("cancel: %d", st)
	}
	if st, b := c.form(t, "/guestbook", url.Values{"message": {"still here"}}); st != http.StatusSeeOther {
		t.Errorf("the guestbook after the cancellation: %d %.300s", st, b)
	}
	if err := s.srv.runErasures(ctx, time.Now().Add(400*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := s.count(t, `SELECT count(*) FROM websonic.users WHERE id = $1 AND erased_at IS NULL`, c.id); n != 1 {
		t.Error("the cancelled erasure happened")
	}
	if n := s.count(t, `SELECT count(*) FROM websonic.audit_log WHERE action = 'user.erase_cancelled' AND actor_id = $1`, c.id); n != 1 {
		t.Errorf("%d cancellations audited, want 1", n)
	}
}

// TestProcessingRecord: the record lists the core's activities with the
// owner's rules and every running module's declarations, and the copy the
// CLI reads (Console) agrees with it.
func TestProcessingRecord(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	if err := s.srv.site.Store().SetPrivacySettings(ctx, site.Actor{}, site.PrivacySettings{EraseGraceDays: 7, IPDays: 30}); err != nil {
		t.Fatal(err)
	}
	rec, err := s.srv.ProcessingRecord(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var sources []string
	var sawIP, sawHello bool
	for _, a := range rec.Activities {
		sources = append(sources, a.Source)
		sawIP = sawIP || a.Source == "core" && a.Category == "IP addresses" && a.Retention == "30 days after last use"
		sawHello = sawHello || a.Source == "hello" && a.Category == "guestbook entries" && a.Version == "1.0.0"
	}
	if !sawIP || !sawHello {
		t.Errorf("record lacks the core's IP rule or hello's declaration: %+v", rec.Activities)
	}
	console := &Console{db: s.srv.db}
	crec, err := console.ProcessingRecord(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(crec.Activities) != fmt.Sprint(rec.Activities) {
		t.Errorf("the console's record differs:\n%+v\n%+v", crec.Activities, rec.Activities)
	}
}

func (c *chatter) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := c.c.Get(c.base + path)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body(t, resp)
}

// search finds needle in every text, varchar, json, jsonb, inet, cidr,
// tsvector and bytea column of every table of the core's and the modules'
// schemas, as the database's owner; it returns "schema.table.column" for
// each hit.
func (s *testSite) search(t *testing.T, needle string) []string {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, s.db.AdminURL) // a superuser, for the assertion only
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	rows, err := pool.Query(ctx, `SELECT c.table_schema, c.table_name, c.column_name, c.data_type FROM information_schema.columns c
		JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE'
		WHERE (c.table_schema = 'websonic' OR c.table_schema LIKE 'mod\_%')
		  AND c.data_type IN ('text', 'character varying', 'json', 'jsonb', 'inet', 'cidr', 'tsvector', 'bytea')`)
	if err != nil {
		t.Fatal(err)
	}
	type col struct{ schema, table, column, dataType string }
	var cols []col
	for rows.Next() {
		var c col
		if err := rows.Scan(&c.schema, &c.table, &c.column, &c.dataType); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	if len(cols) < 20 {
		t.Fatalf("only %d columns to search", len(cols))
	}
	var hits []string
	for _, c := range cols {
		var n int
		// bytea: the bytes themselves (sealed values are ciphertext, and
		// never match).
		q := fmt.Sprintf(`SELECT count(*) FROM %q.%q WHERE strpos(lower(%q::text), lower($1)) > 0`, c.schema, c.table, c.column)
		if c.dataType == "bytea" {
			q = fmt.Sprintf(`SELECT count(*) FROM %q.%q WHERE position(convert_to($1, 'UTF8') IN %q) > 0`, c.schema, c.table, c.column)
		}
		if err := pool.QueryRow(ctx, q, needle).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if n > 0 {
			hits = append(hits, c.schema+"."+c.table+"."+c.column)
		}
	}
	return hits
}

// TestRetentionJobs runs the owner's retention rules end to end: a runtime
// whose core scheduler reaches the daily retention tick (the jobs' clock
// moved) deletes the expired sessions, the audit entries past the audit
// rule, the addresses past the address rule (and the addresses in older
// audit entries), and erases the accounts inactive past the rule (through
// every module, audited) — and nothing else: not the younger ones, not an
// idle admin, not an idle account with a live session.
func TestRetentionJobs(t *testing.T) {
	day := time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	tick := day.Add(3*time.Hour + 17*time.Minute) // the retention job's daily tick
	clk := newFakeClock(day.Add(3 * time.Hour))
	s := newSite(t, func(c *Config) { c.JobClock = clk.now; c.Backup.Disabled = true })
	ctx := context.Background()
	pool := s.srv.db.Pool
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	st := s.srv.site.Store()
	if err := st.SetPrivacySettings(ctx, site.Actor{}, site.PrivacySettings{EraseGraceDays: 14, AuditDays: 90, IPDays: 30, InactiveMonths: 12}); err != nil {
		t.Fatal(err)
	}
	user := func(name string, role site.Role, lastLogin time.Time) int64 {
		u, err := st.CreateUser(ctx, site.NewUser{Username: name, Password: chatPassword, Role: role, Email: name + "@example.test"})
		if err != nil {
			t.Fatal(err)
		}
		exec(`UPDATE websonic.users SET created_at = $2::timestamptz - interval '3 years', last_login_at = $2 WHERE id = $1`, u.ID, lastLogin)
		return u.ID
	}
	longAgo, lately := tick.AddDate(-1, -1, 0), tick.AddDate(0, -1, 0)
	idle := user("idle_ivy", site.RoleMember, longAgo)
	active := user("active_al", site.RoleMember, lately)
	idleAdmin := user("idle_admin", site.RoleAdmin, longAgo)
	idleSignedIn := user("idle_sid", site.RoleMember, longAgo)
	// Sessions: one expired before the tick, one live after it.
	exec(`INSERT INTO websonic.sessions (token_hash, user_id, expires_at) VALUES ('\x01', $1, $3), ('\x02', $2, $4)`,
		active, idleSignedIn, tick.Add(-time.Hour), tick.Add(time.Hour))
	exec(`INSERT INTO websonic.admin_sessions (token_hash, user_id, expires_at) VALUES ('\x03', $1, $2), ('\x04', $1, $3)`,
		idleAdmin, tick.Add(-time.Minute), tick.Add(time.Minute))
	// Addresses: 40 days old go, 10 days old stay.
	exec(`INSERT INTO websonic.user_ips (user_id, ip, first_seen, last_seen) VALUES
		($1, '10.9.0.1', $2, $2), ($1, '10.9.0.2', $3, $3), ($4, '10.9.0.3', $2, $2)`, active, tick.AddDate(0, 0, -40), tick.AddDate(0, 0, -10), idleSignedIn)
	// Audit entries: 100 days old go; 40 days old stay without their address;
	// 10 days old stay whole.
	exec(`INSERT INTO websonic.audit_log (at, actor_id, action, subject, detail) VALUES
		($2, $1, 'test.ancient', 'active_al', '{"ip": "10.9.0.1"}'),
		($3, $1, 'test.old', 'active_al', '{"ip": "10.9.0.1", "note": "kept"}'),
		($4, $1, 'test.recent', 'active_al', '{"ip": "10.9.0.2"}')`,
		active, tick.AddDate(0, 0, -100), tick.AddDate(0, 0, -40), tick.AddDate(0, 0, -10))

	pollAll(s.srv) // the scheduler's first look: nothing due yet
	if n := s.count(t, `SELECT count(*) FROM websonic.audit_log WHERE action = 'test.ancient'`); n != 1 {
		t.Fatal("the retention ran before its tick")
	}
	clk.set(tick.Add(5 * time.Second))
	pollAll(s.srv)
	if runs := jobRuns(t, s.srv, jobs.CoreModule, jobRetention); len(runs) != 1 || runs[0] != "03:17 ok" {
		t.Fatalf("retention runs: %q", runs)
	}
	for _, c := range []struct {
		what  string
		query string
		want  int
		args  []any
	}{
		{"expired site sessions", `SELECT count(*) FROM websonic.sessions WHERE token_hash = '\x01'`, 0, nil},
		{"live site sessions", `SELECT count(*) FROM websonic.sessions WHERE token_hash = '\x02'`, 1, nil},
		{"expired admin sessions", `SELECT count(*) FROM websonic.admin_sessions WHERE token_hash = '\x03'`, 0, nil},
		{"live admin sessions", `SELECT count(*) FROM websonic.admin_sessions WHERE token_hash = '\x04'`, 1, nil},
		{"old addresses", `SELECT count(*) FROM websonic.user_ips WHERE ip IN ('10.9.0.1', '10.9.0.3')`, 0, nil},
		{"recent addresses", `SELECT count(*) FROM websonic.user_ips WHERE ip = '10.9.0.2'`, 1, nil},
		{"ancient audit entries", `SELECT count(*) FROM websonic.audit_log WHERE action = 'test.ancient'`, 0, nil},
		{"old audit entries, without their address", `SELECT count(*) FROM websonic.audit_log WHERE action = 'test.old' AND NOT detail ? 'ip' AND detail->>'note' = 'kept'`, 1, nil},
		{"recent audit entries, whole", `SELECT count(*) FROM websonic.audit_log WHERE action = 'test.recent' AND detail->>'ip' = '10.9.0.2'`, 1, nil},
		{"the inactive account, erased", `SELECT count(*) FROM websonic.users WHERE id = $1 AND erased_at IS NOT NULL AND username = 'erased-' || id`, 1, []any{idle}},
		{"its erasure, audited", `SELECT count(*) FROM websonic.audit_log WHERE action = 'user.erase' AND detail->>'user_id' = $1::bigint::text AND detail->>'reason' = 'no sign-in for 12 months'`, 1, []any{idle}},
		{"the others, kept", `SELECT count(*) FROM websonic.users WHERE id IN ($1, $2, $3) AND erased_at IS NULL`, 3, []any{active, idleAdmin, idleSignedIn}},
	} {
		if n := s.count(t, c.query, c.args...); n != c.want {
			t.Errorf("%s: %d, want %d", c.what, n, c.want)
		}
	}
}
