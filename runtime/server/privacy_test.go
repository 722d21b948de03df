package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/runtime/internal/site"
)

// TestSelfServiceExportAndErasure: a user downloads their own data from
// their account page (theirs only, with hello's part; a second download
// at once is refused), asks to delete their account (a wrong password
// changes nothing; the right one signs them out), is not erased before the
// grace period ends, and is erased by the core job once it has: no text,
// json, inet or cidr column of any schema (core and mod_*) still holds
// their username, e-mail or address, while the other user's data stays.
func TestSelfServiceExportAndErasure(t *testing.T) {
	s := newSite(t, trustLoopback)
	ctx := context.Background()
	mk := func(name string) *chatter {
		c := s.person(t, name, site.RoleMember) // NAME@example.test, from an address of its own
		if st, b := c.form(t, "/guestbook", url.Values{"message": {"a note for the board"}}); st >= 400 {
			t.Fatalf("guestbook post %s: %d %.300s", name, st, b)
		}
		return c
	}
	mia, bob := mk("mia_quartz"), mk("bob_zephyr")

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
		files[name] = string(b)
	}
	if !strings.Contains(files["core.json"], "mia_quartz@example.test") || !strings.Contains(files["core.json"], mia.ip) {
		t.Errorf("core.json lacks mia's account or address:\n%.1000s", files["core.json"])
	}
	// hello serves no export (its manifest says its entries stay until
	// staff delete them): the archive's manifest says so.
	if !strings.Contains(files["manifest.json"], `"hello": "no data"`) {
		t.Errorf("manifest.json does not account for hello: %s (files %v)", files["manifest.json"], keys(files))
	}
	for name, f := range files {
		for _, other := range []string{"bob_zephyr", bob.ip} {
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
	for _, needle := range []string{"mia_quartz", "mia_quartz@example.test", mia.ip} {
		if hits := s.search(t, needle); len(hits) > 0 {
			t.Errorf("%q still found after erasure in %v", needle, hits)
		}
	}
	if hits := s.search(t, "bob_zephyr"); len(hits) == 0 {
		t.Error("the other user's data went too")
	}
}

// TestErasureCancelledAtSignIn: signing in during the grace period leads
// to the privacy page, which cancels the deletion; the job then leaves
// the account.
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
	if st, _ := c.form(t, "/account/privacy/cancel", nil); st != http.StatusOK {
		t.Fatalf("cancel: %d", st)
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

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// search finds needle in every text, json, inet and cidr column of every
// table of the core's and the modules' schemas, as the database's owner;
// it returns "schema.table.column" for each hit.
func (s *testSite) search(t *testing.T, needle string) []string {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, s.db.AdminURL) // a superuser, for the assertion only
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	rows, err := pool.Query(ctx, `SELECT c.table_schema, c.table_name, c.column_name FROM information_schema.columns c
		JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE'
		WHERE (c.table_schema = 'websonic' OR c.table_schema LIKE 'mod\_%')
		  AND c.data_type IN ('text', 'character varying', 'json', 'jsonb', 'inet', 'cidr', 'tsvector')`)
	if err != nil {
		t.Fatal(err)
	}
	type col struct{ schema, table, column string }
	var cols []col
	for rows.Next() {
		var c col
		if err := rows.Scan(&c.schema, &c.table, &c.column); err != nil {
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
		q := fmt.Sprintf(`SELECT count(*) FROM %q.%q WHERE strpos(lower(%q::text), lower($1)) > 0`, c.schema, c.table, c.column)
		if err := pool.QueryRow(ctx, q, needle).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if n > 0 {
			hits = append(hits, c.schema+"."+c.table+"."+c.column)
		}
	}
	return hits
}
