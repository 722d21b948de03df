package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/runtime/internal/site"
)

// BenchmarkTicketsQueue: the staff queue of a desk of 100,000 tickets
// (70% closed, 10% solved, 20% active over 8 panels, 20 staff), one page
// of 50 through the whole path (HTTP, session, the wasm module, its
// queries through the host), for the queue's usual views; it reports each
// view's p99. Target (issue 12): a filtered, sorted page p99 < 20 ms, and
// the full-text search's p99; the counts of the queue's views.
//
//	go test -run '^$' -bench TicketsQueue -benchtime 200x ./runtime/server/
func BenchmarkTicketsQueue(b *testing.B) {
	mods, err := ticketsModules()
	if err != nil {
		b.Fatal(err)
	}
	s := newSiteWith(b, mods, hclog.NewNullLogger(), trustLoopback)
	u, err := s.srv.site.Store().CreateUser(b.Context(), site.NewUser{Username: "nora", Password: chatPassword, Role: site.RoleStaff})
	if err != nil {
		b.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	nora := &chatter{name: "nora", id: u.ID, ip: "10.9.9.9", base: s.URL, c: &http.Client{Jar: jar, Transport: fromAddr{"10.9.9.9"},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	if resp, err := nora.c.PostForm(s.URL+"/login", url.Values{"username": {"nora"}, "password": {chatPassword}}); err != nil || resp.StatusCode != http.StatusSeeOther {
		b.Fatalf("login: %v %v", resp, err)
	}
	pool := s.srv.Module("tickets").DB().Pool()
	for _, q := range []string{
		`INSERT INTO panels (name, position) SELECT 'Panel ' || g, g + 3 FROM generate_series(1, 5) g`,
		fmt.Sprintf(`INSERT INTO tickets (panel_id, opener_id, subject, status, urgency, impact, assignee_id, created_at, updated_at,
			first_response_due, resolution_due, first_response_at, search)
		SELECT 1 + g %% 8, 1000 + g %% 4900, 'Subject ' || g || ' ' || (ARRAY['printer','invoice','password','refund','crash','login','email','slow'])[1 + g %% 8],
			CASE WHEN g %% 10 < 7 THEN 'closed' WHEN g %% 10 = 7 THEN 'solved' WHEN g %% 20 = 8 THEN 'new' WHEN g %% 20 = 18 THEN 'open'
			     WHEN g %% 3 = 0 THEN 'pending' ELSE 'on_hold' END,
			1 + g %% 3, 1 + (g / 3) %% 3, CASE WHEN g %% 7 = 0 THEN NULL WHEN g %% 20 = 9 THEN %d ELSE 5000 + g %% 20 END,
			now() - (100000 - g) * interval '5 minutes', now() - (100000 - g) * interval '5 minutes' + (g %% 50) * interval '1 minute',
			now() - (100000 - g) * interval '5 minutes' + interval '4 hours', now() - (100000 - g) * interval '5 minutes' + interval '1 day',
			CASE WHEN g %% 3 = 0 THEN now() END,
			to_tsvector('simple', 'Subject ' || g || ' ' || (ARRAY['printer','invoice','password','refund','crash','login','email','slow'])[1 + g %% 8]
			            || ' word' || (g %% 997) || ' the customer wrote about their trouble')
		FROM generate_series($1::int, $1::int + 1999) g`, nora.id),
	} {
		for lo := 1; lo <= 100000; lo += 2000 {
			args := []any{lo}
			if !strings.Contains(q, "$1") {
				args, lo = nil, 100000
			}
			if _, err := pool.Exec(b.Context(), q, args...); err != nil {
				b.Fatalf("%.80s: %v", q, err)
			}
		}
	}
	if _, err := pool.Exec(b.Context(), `VACUUM ANALYZE tickets`); err != nil {
		b.Fatal(err)
	}
	for _, v := range []struct{ name, query string }{
		{"active-updated", ""},
		{"panel-due", "panel=2&sort=due&order=asc"},
		{"priority-high", "priority=3&sort=priority"},
		{"mine", "assignee=me"},
		{"unassigned-created", "assignee=none&sort=created"},
		{"overdue", "overdue=1"},
		{"all-closed", "status=closed"},
		{"search-word", "status=all&q=printer"},
		{"search-two-words", "status=all&q=refund+word12"},
		{"page-3", "__page3"},
		{"counts", "__counts"},
		{"floor", "__floor"}, // a route of one tiny query: the request's own cost, for comparison
	} {
		b.Run(v.name, func(b *testing.B) {
			path := "/tickets/staff/api/queue?" + v.query
			if v.query == "__page3" { // the third page, through the cursors
				var p struct{ Next *string }
				path = "/tickets/staff/api/queue"
				for range 2 {
					tkGetB(b, nora, path, &p)
					if p.Next == nil {
						b.Fatal("no next page")
					}
					path = "/tickets/staff/api/queue?cursor=" + *p.Next
				}
			}
			if v.query == "__floor" {
				path = "/tickets/staff/api/canned?panel=1"
				var c map[string]any
				tkGetB(b, nora, path, &c)
			} else if v.query == "__counts" {
				path = "/tickets/staff/api/counts"
				var n map[string]int
				if tkGetB(b, nora, path, &n); n["open"] == 0 || n["overdue"] == 0 {
					b.Fatalf("counts %v", n)
				}
			} else {
				var first struct{ Tickets []tkTicket }
				tkGetB(b, nora, path, &first)
				if len(first.Tickets) == 0 {
					b.Fatalf("%s lists nothing", path)
				}
			}
			times := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				if st, body := chatJSON(b, nora.c, "GET", nora.base+path, nil); st != 200 {
					b.Fatalf("%s: %d %.200s", path, st, body)
				}
				times = append(times, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(times)
			b.ReportMetric(float64(times[min(len(times)-1, len(times)*99/100)].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
		})
	}
}

// tkGetB reads a JSON answer of 200 into out.
func tkGetB(b testing.TB, c *chatter, path string, out any) {
	b.Helper()
	st, body := chatJSON(b, c.c, "GET", c.base+path, nil)
	if st != 200 {
		b.Fatalf("%s: %d %.300s", path, st, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		b.Fatal(err)
	}
}
