package server

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/runtime/internal/admin"
	"github.com/websonic/websonic/runtime/internal/site"
	"github.com/websonic/websonic/sdk/abi"
)

// TestTicketsAdmin runs the tickets module's admin slice through the
// compiled module, real HTTP and PostgreSQL, on one site shared by the
// subtests (each builds on the ones before): panels and groups (bad
// input refused with nothing changed), reports and the stats command on a
// known set of tickets, attachments (each type with real bytes, the
// limits, who reads what, the headers), transcripts, the jobs through the
// runtime's scheduler, export and erasure. Tickets the other slices'
// routes would open are written straight into the module's schema.
func TestTicketsAdmin(t *testing.T) {
	clk := newFakeClock(time.Date(2030, 1, 1, 2, 14, 30, 0, time.UTC))
	s := ticketsSite(t, func(c *Config) { c.JobClock = clk.now })
	ctx := context.Background()
	pool := s.srv.Module("tickets").DB().Pool()
	root := s.person(t, "root", site.RoleAdmin)
	sam := s.person(t, "sam", site.RoleStaff)
	rita := s.person(t, "rita", site.RoleStaff)
	gina := s.person(t, "gina", site.RoleStaff)
	olga := s.person(t, "olga", site.RoleStaff)
	carol := s.person(t, "carol", site.RoleMember)
	dave := s.person(t, "dave", site.RoleMember)
	pollAll(s.srv) // the jobs' first sight: nothing is due
	if _, err := s.srv.db.Pool.Exec(ctx, `UPDATE websonic.users SET display_name = 'Carol' WHERE id = $1`, carol.id); err != nil {
		t.Fatal(err)
	}

	type panel struct {
		ID                   int64           `json:"id"`
		Name                 string          `json:"name"`
		Description          string          `json:"description"`
		Fields               json.RawMessage `json:"fields"`
		Group                *string         `json:"group"`
		FirstResponseMinutes *int            `json:"first_response_minutes"`
		ResolutionMinutes    *int            `json:"resolution_minutes"`
		MaxOpen              int             `json:"max_open"`
		Guests               bool            `json:"guests"`
		Position             int             `json:"position"`
		Archived             bool            `json:"archived"`
	}
	panels := func(t *testing.T) []panel {
		var out struct{ Panels []panel }
		root.must(t, "GET", "/tickets/admin/api/panels", nil, 200, &out)
		return out.Panels
	}
	panelNamed := func(t *testing.T, name string) panel {
		t.Helper()
		for _, p := range panels(t) {
			if p.Name == name && !p.Archived {
				return p
			}
		}
		t.Fatalf("no panel %q", name)
		return panel{}
	}
	var problem, reports panel

	t.Run("panels", func(t *testing.T) {
		ps := panels(t)
		if len(ps) != 3 || ps[0].Name != "Question" || ps[1].Name != "Problem" || ps[2].Name != "Billing" ||
			*ps[1].FirstResponseMinutes != 240 || *ps[1].ResolutionMinutes != 1440 || ps[1].MaxOpen != 3 || string(ps[1].Fields) != "[]" {
			t.Fatalf("the seeded panels: %+v", ps)
		}
		problem = ps[1]
		var p panel
		root.must(t, "POST", "/tickets/admin/api/panels", map[string]any{
			"name": " Reports ", "description": "Figures\nfor the admins", "first_response_minutes": 60, "resolution_minutes": 600,
			"max_open": 5, "position": 4, "fields": []map[string]any{
				{"name": "order", "label": "Order number", "type": "text", "required": true},
				{"name": "plan", "label": "Plan", "type": "select", "options": []string{"Free", "Pro"}},
			}}, 201, &p)
		if p.ID == 0 || p.Name != "Reports" || p.Description != "Figures\nfor the admins" || *p.FirstResponseMinutes != 60 ||
			p.MaxOpen != 5 || p.Group != nil || p.Archived || !strings.Contains(string(p.Fields), `"options":["Free","Pro"]`) {
			t.Fatalf("created %+v", p)
		}
		reports = p
		before := panels(t)
		for _, c := range []struct {
			name   string
			method string
			path   string
			body   any
			status int
			msg    string
		}{
			{"empty name", "POST", "", map[string]any{"name": " "}, 400, "A panel's name is 1 to 80 characters on one line."},
			{"long name", "POST", "", map[string]any{"name": strings.Repeat("n", 81)}, 400, "A panel's name is 1 to 80 characters on one line."},
			{"control character", "POST", "", map[string]any{"name": "Bell\a"}, 400, "A panel's name is 1 to 80 characters on one line."},
			{"zero minutes", "POST", "", map[string]any{"name": "X", "first_response_minutes": 0}, 400, "A response or resolution target is 1 to 525,600 minutes (a year), or none."},
			{"minutes past a year", "POST", "", map[string]any{"name": "X", "resolution_minutes": 525601}, 400, "A response or resolution target is 1 to 525,600 minutes (a year), or none."},
			{"max_open 0", "POST", "", map[string]any{"name": "X", "max_open": 0}, 400, "The open tickets a customer may have on a panel are 1 to 100."},
			{"max_open 101", "POST", "", map[string]any{"name": "X", "max_open": 101}, 400, "The open tickets a customer may have on a panel are 1 to 100."},
			{"unknown group", "POST", "", map[string]any{"name": "X", "group": "nobody"}, 400, "There is no group nobody: create it first."},
			{"bad field", "POST", "", map[string]any{"name": "X", "fields": []map[string]any{{"name": "x", "label": "X", "type": "colour"}}}, 400,
				"Field 1: a type is one of text, textarea, number, select, checkbox, email, date."},
			{"unknown key", "POST", "", map[string]any{"name": "X", "colour": "red"}, 400, ""},
			{"taken name, any case", "POST", "", map[string]any{"name": "qUESTION"}, 409, "Another panel is already called qUESTION."},
			{"rename onto another", "PUT", fmt.Sprint(reports.ID), map[string]any{"name": "Billing"}, 409, "Another panel is already called Billing."},
			{"update bad input", "PUT", fmt.Sprint(reports.ID), map[string]any{"name": "Reports", "max_open": -1}, 400, "The open tickets a customer may have on a panel are 1 to 100."},
			{"update unknown", "PUT", "999999", map[string]any{"name": "Ghost"}, 404, "There is no such panel."},
			{"archive unknown", "DELETE", "999999", nil, 404, "There is no such panel."},
		} {
			path := "/tickets/admin/api/panels"
			if c.path != "" {
				path += "/" + c.path
			}
			st, b := root.api(t, c.method, path, c.body)
			var e struct{ Error string }
			json.Unmarshal(b, &e)
			if st != c.status || c.msg != "" && e.Error != c.msg || e.Error == "" {
				t.Errorf("%s: %d %s, want %d %q", c.name, st, b, c.status, c.msg)
			}
		}
		// Staff and members cannot reach the admin API.
		for _, c := range []*chatter{sam, carol} {
			if st, b := c.api(t, "POST", "/tickets/admin/api/panels", map[string]any{"name": "Sneaky"}); st == 200 || st == 201 {
				t.Errorf("%s created a panel: %d %s", c.name, st, b)
			}
		}
		if after := panels(t); !bytes.Equal(must(json.Marshal(before)), must(json.Marshal(after))) {
			t.Fatalf("refused requests changed the panels:\n%+v\n%+v", before, after)
		}
		// Update, archive, and the name is free again.
		root.must(t, "PUT", fmt.Sprintf("/tickets/admin/api/panels/%d", reports.ID), map[string]any{"name": "Reports", "first_response_minutes": 60,
			"resolution_minutes": 600, "max_open": 5, "position": 4, "guests": true}, 200, &p)
		if !p.Guests || string(p.Fields) != "[]" || p.Description != "" {
			t.Fatalf("PUT replaces: %+v", p)
		}
		var tmp panel
		root.must(t, "POST", "/tickets/admin/api/panels", map[string]any{"name": "Temporary"}, 201, &tmp)
		root.must(t, "DELETE", fmt.Sprintf("/tickets/admin/api/panels/%d", tmp.ID), nil, 204, nil)
		root.must(t, "POST", "/tickets/admin/api/panels", map[string]any{"name": "temporary"}, 201, nil)
		ps = panels(t)
		if last := ps[len(ps)-1]; last.ID != tmp.ID || !last.Archived {
			t.Fatalf("archived panels come last: %+v", ps)
		}
	})

	// A known set of tickets: the figures below are worked out by hand.
	var ticketsBefore int
	t.Run("reports", func(t *testing.T) {
		db := tkDB{t: t, pool: pool}
		ticketsBefore = db.count(`SELECT count(*) FROM tickets`)
		if ticketsBefore != 0 {
			t.Fatalf("%d tickets before the known set", ticketsBefore)
		}
		// ticket: panel, minutes ago it was opened, answered (after opening), solved, assignee, rating and when rated
		mk := func(p panel, openedDays float64, answeredMin, solvedMin int, assignee *chatter, rating int) {
			t.Helper()
			var as any
			if assignee != nil {
				as = assignee.id
			}
			var rate, ratedAt any
			if rating > 0 {
				rate, ratedAt = rating, fmt.Sprintf("%d minutes", solvedMin+5)
			}
			db.exec(`INSERT INTO tickets (panel_id, opener_id, subject, status, created_at, first_response_at, first_response_due,
				resolution_due, solved_at, assignee_id, rating, rated_at)
				SELECT $1, $2, 'Known', CASE WHEN $5::int > 0 THEN 'solved' WHEN $4::int > 0 THEN 'open' ELSE 'new' END, c,
				       CASE WHEN $4::int > 0 THEN c + make_interval(mins => $4::int) END,
				       c + make_interval(mins => $6::int), c + make_interval(mins => $7::int),
				       CASE WHEN $5::int > 0 THEN c + make_interval(mins => $5::int) END, $8, $9,
				       CASE WHEN $10::text IS NOT NULL THEN c + $10::text::interval END
				FROM (SELECT now() - make_interval(secs => $3::float8 * 86400) AS c) x`,
				p.ID, carol.id, openedDays, answeredMin, solvedMin, *p.FirstResponseMinutes, *p.ResolutionMinutes, as, rate, ratedAt)
		}
		mk(reports, 10, 30, 24*60, rita, 5) // resolution late
		mk(reports, 5, 90, 120, rita, 3)    // first response late
		mk(reports, 2, 10, 0, sam, 0)       // open
		mk(reports, 1, 0, 0, nil, 0)        // new
		mk(reports, 40, 5, 5*24*60, sam, 1) // 40 days ago, resolution late
		mk(problem, 3, 300, 20*60, sam, 4)  // first response late
		type report struct {
			Opened, Solved, FRB, RB, Ratings int64
			Median, Average                  *float64
			ByPanel                          []string
			ByAgent                          []string
		}
		get := func(t *testing.T, days int) report {
			t.Helper()
			var r struct {
				From    time.Time `json:"from"`
				To      time.Time `json:"to"`
				Opened  int64     `json:"opened"`
				Solved  int64     `json:"solved"`
				FRB     int64     `json:"first_response_breaches"`
				RB      int64     `json:"resolution_breaches"`
				Median  *float64  `json:"median_first_response_minutes"`
				Ratings int64     `json:"ratings"`
				Average *float64  `json:"average_rating"`
				ByPanel []struct {
					Panel                   struct{ Name string }
					Opened, Solved, Ratings int64
					FRB                     int64    `json:"first_response_breaches"`
					RB                      int64    `json:"resolution_breaches"`
					Median                  *float64 `json:"median_first_response_minutes"`
					Average                 *float64 `json:"average_rating"`
				} `json:"by_panel"`
				ByAgent []struct {
					Agent   struct{ Username string }
					Solved  int64
					Ratings int64
					Average *float64 `json:"average_rating"`
				} `json:"by_agent"`
			}
			root.must(t, "GET", fmt.Sprintf("/tickets/admin/api/reports?days=%d", days), nil, 200, &r)
			if d := r.To.Sub(r.From); d != time.Duration(days)*24*time.Hour {
				t.Errorf("the period is %v", d)
			}
			out := report{Opened: r.Opened, Solved: r.Solved, FRB: r.FRB, RB: r.RB, Ratings: r.Ratings, Median: r.Median, Average: r.Average}
			for _, p := range r.ByPanel {
				out.ByPanel = append(out.ByPanel, fmt.Sprintf("%s %d/%d %d/%d m%s %d a%s", p.Panel.Name, p.Opened, p.Solved, p.FRB, p.RB, tkNum(p.Median), p.Ratings, tkNum(p.Average)))
			}
			for _, a := range r.ByAgent {
				out.ByAgent = append(out.ByAgent, fmt.Sprintf("%s %d %d a%s", a.Agent.Username, a.Solved, a.Ratings, tkNum(a.Average)))
			}
			return out
		}
		for _, c := range []struct {
			days int
			want string
		}{
			{30, "5 3 2 1 3 m60 a4 [temporary 0/0 0/0 m- 0 a- Question 0/0 0/0 m- 0 a- Problem 1/1 1/0 m300 1 a4 Billing 0/0 0/0 m- 0 a- Reports 4/2 1/1 m30 2 a4] [rita 2 2 a4 sam 1 1 a4]"},
			{60, "6 4 2 2 4 m30 a3.25 [temporary 0/0 0/0 m- 0 a- Question 0/0 0/0 m- 0 a- Problem 1/1 1/0 m300 1 a4 Billing 0/0 0/0 m- 0 a- Reports 5/3 1/2 m20 3 a3] [rita 2 2 a4 sam 2 2 a2.5]"},
		} {
			r := get(t, c.days)
			got := fmt.Sprintf("%d %d %d %d %d m%s a%s %v %v", r.Opened, r.Solved, r.FRB, r.RB, r.Ratings, tkNum(r.Median), tkNum(r.Average), r.ByPanel, r.ByAgent)
			if got != c.want {
				t.Errorf("reports over %d days:\n got %s\nwant %s", c.days, got, c.want)
			}
		}
		for _, q := range []string{"0", "3651", "x", "-3"} {
			st, b := root.api(t, "GET", "/tickets/admin/api/reports?days="+q, nil)
			if st != 400 || !strings.Contains(string(b), "A report covers 1 to 3,650 days.") {
				t.Errorf("days=%s: %d %s", q, st, b)
			}
		}
		if st, _ := sam.api(t, "GET", "/tickets/admin/api/reports", nil); st == 200 {
			t.Error("staff read the reports")
		}

		// The stats command gives the same figures as a table.
		res, err := s.srv.RunCommand(ctx, s.siteUser(t, "root"), "tickets", "stats", map[string]json.RawMessage{"days": json.RawMessage("30")})
		if err != nil {
			t.Fatal(err)
		}
		var rows []string
		for _, r := range res.Rows {
			cells := make([]string, len(r))
			for i, c := range r {
				cells[i] = fmt.Sprint(c)
			}
			if r[0] == "desk" {
				cells[1] = "-"
			}
			rows = append(rows, strings.Join(cells, "|"))
		}
		want := []string{
			"desk|-|5|3|2|1|60|3|4",
			"panel|temporary|0|0|0|0|<nil>|0|<nil>",
			"panel|Question|0|0|0|0|<nil>|0|<nil>",
			"panel|Problem|1|1|1|0|300|1|4",
			"panel|Billing|0|0|0|0|<nil>|0|<nil>",
			"panel|Reports|4|2|1|1|30|2|4",
			"agent|rita|<nil>|2|<nil>|<nil>|<nil>|2|4",
			"agent|sam|<nil>|1|<nil>|<nil>|<nil>|1|4",
		}
		if len(res.Columns) != 9 || res.Columns[6] != "median first response (minutes)" || strings.Join(rows, "\n") != strings.Join(want, "\n") {
			t.Errorf("stats: %v\n%s", res.Columns, strings.Join(rows, "\n"))
		}
		if _, err := s.srv.RunCommand(ctx, s.siteUser(t, "root"), "tickets", "stats", map[string]json.RawMessage{"days": json.RawMessage("0")}); err == nil {
			t.Error("stats over 0 days ran")
		}

		// The admin area's page shows the tables.
		ac := tkAdminArea(t, s, root.id)
		_, page := ac.do("GET", "/admin/modules/tickets/pages/reports?days=60", nil, nil)
		i, j := strings.Index(page, `id="module-page"`), strings.LastIndex(page, "</section>")
		if i < 0 || j < i {
			t.Fatalf("no module page:\n%.2000s", page)
		}
		frag := page[i:j]
		for _, want := range []string{"<td>6</td><td>4</td><td>2</td><td>2</td><td>30</td><td>4</td><td>3.25</td>",
			"Reports", "<td>5</td><td>3</td><td>1</td><td>2</td><td>20</td><td>3</td><td>3</td>",
			"@sam", "<td>2</td><td>2</td><td>2.5</td>", "/tickets/admin/reports", `value="60" selected`} {
			if !strings.Contains(frag, want) {
				t.Errorf("the reports page lacks %q:\n%s", want, frag)
			}
		}
		db.exec(`DELETE FROM tickets`)
	})

	// Groups, and a grouped panel's tickets for its group only.
	var billing panel
	t.Run("groups", func(t *testing.T) {
		db := tkDB{t: t, pool: pool}
		type group struct {
			Name, Label string
			Members     []tkUser
		}
		groups := func(t *testing.T) []group {
			var out struct{ Groups []group }
			root.must(t, "GET", "/tickets/admin/api/groups", nil, 200, &out)
			return out.Groups
		}
		root.must(t, "POST", "/tickets/admin/api/groups", map[string]any{"name": "billing", "label": "Billing team"}, 201, nil)
		root.must(t, "POST", "/tickets/admin/api/groups", map[string]any{"name": "empty", "label": "Nobody"}, 201, nil)
		for _, c := range []struct {
			method, path string
			body         any
			status       int
			msg          string
		}{
			{"POST", "/tickets/admin/api/groups", map[string]any{"name": "billing", "label": "Again"}, 409, "There is already a group billing."},
			{"POST", "/tickets/admin/api/groups", map[string]any{"name": "Bad Name", "label": "X"}, 400, "A group's name is 1 to 40 of a-z, 0-9 and _, starting with a letter."},
			{"POST", "/tickets/admin/api/groups", map[string]any{"name": "nolabel", "label": ""}, 400, "A group's label is 1 to 80 characters on one line."},
			{"POST", "/tickets/admin/api/groups/billing/members", map[string]any{"username": "carol"}, 400, "carol is not staff: only staff members handle tickets."},
			{"POST", "/tickets/admin/api/groups/billing/members", map[string]any{"username": "nobody"}, 404, "There is no user nobody."},
			{"POST", "/tickets/admin/api/groups/ghosts/members", map[string]any{"username": "gina"}, 404, "There is no such group."},
			{"DELETE", "/tickets/admin/api/groups/ghosts", nil, 404, "There is no such group."},
			{"DELETE", fmt.Sprintf("/tickets/admin/api/groups/billing/members/%d", olga.id), nil, 404, "This person is not in the group."},
		} {
			st, b := root.api(t, c.method, c.path, c.body)
			if st != c.status || !strings.Contains(string(b), c.msg) {
				t.Errorf("%s %s: %d %s, want %d %q", c.method, c.path, st, b, c.status, c.msg)
			}
		}
		var m tkUser
		root.must(t, "POST", "/tickets/admin/api/groups/billing/members", map[string]any{"username": "@Gina"}, 201, &m)
		root.must(t, "POST", "/tickets/admin/api/groups/billing/members", map[string]any{"username": "gina"}, 200, nil) // already
		root.must(t, "POST", "/tickets/admin/api/groups/billing/members", map[string]any{"username": "olga"}, 201, nil)
		root.must(t, "DELETE", fmt.Sprintf("/tickets/admin/api/groups/billing/members/%d", olga.id), nil, 204, nil)
		root.must(t, "DELETE", "/tickets/admin/api/groups/empty", nil, 204, nil)
		if g := groups(t); len(g) != 1 || g[0].Name != "billing" || g[0].Label != "Billing team" || len(g[0].Members) != 1 || g[0].Members[0].Username != "gina" || m.ID != gina.id {
			t.Fatalf("groups: %+v", g)
		}
		billing = panelNamed(t, "Billing")
		billing.Group = ptr("billing")
		var p panel
		root.must(t, "PUT", fmt.Sprintf("/tickets/admin/api/panels/%d", billing.ID), map[string]any{"name": "Billing", "group": "billing",
			"first_response_minutes": 480, "resolution_minutes": 4320, "position": 3}, 200, &p)
		if p.Group == nil || *p.Group != "billing" {
			t.Fatalf("grouped: %+v", p)
		}
		// carol's billing ticket: gina (the group) works it, olga (staff
		// outside the group) does not even see it.
		id := db.ticket(billing.ID, carol.id, "Refund please", "open")
		if st, b := tkUpload(t, gina, fmt.Sprintf("/tickets/staff/api/tickets/%d/attachments?name=a.txt", id), "text/plain", []byte("hi")); st != 201 {
			t.Errorf("gina's upload: %d %s", st, b)
		}
		st, b := tkUpload(t, olga, fmt.Sprintf("/tickets/staff/api/tickets/%d/attachments?name=a.txt", id), "text/plain", []byte("hi"))
		if st != 404 || !strings.Contains(string(b), "There is no such ticket, or it is not yours.") {
			t.Errorf("olga's upload on a panel of another group: %d %s", st, b)
		}
		// Nor does she read it, nor find it in her queue.
		if st, _ := olga.api(t, "GET", fmt.Sprintf("/tickets/staff/api/tickets/%d", id), nil); st != 404 {
			t.Errorf("olga reads a ticket of another group's panel: %d", st)
		}
		var queue struct {
			Tickets []struct {
				ID int64 `json:"id"`
			} `json:"tickets"`
		}
		olga.must(t, "GET", "/tickets/staff/api/queue?status=all&limit=100", nil, 200, &queue)
		for _, x := range queue.Tickets {
			if x.ID == id {
				t.Error("olga's queue lists a ticket of another group's panel")
			}
		}
	})

	// Attachments: uploads of each type, the limits, who reads what.
	var t1 int64
	var noteFile, replyFile, carolDraft tkAttachment
	t.Run("attachments", func(t *testing.T) {
		db := tkDB{t: t, pool: pool}
		t1 = db.ticket(problem.ID, carol.id, "Printer on fire", "open")
		up := func(c *chatter, name, typ string, data []byte) (int, []byte) {
			prefix := "/tickets/api"
			if c == sam {
				prefix = "/tickets/staff/api"
			}
			return tkUpload(t, c, fmt.Sprintf("%s/tickets/%d/attachments?name=%s", prefix, t1, url.QueryEscape(name)), typ, data)
		}
		files := tkFiles(t)
		stored := db.count(`SELECT count(*) FROM attachments`)
		var ids []int64
		for _, f := range files {
			st, b := up(carol, f.name, f.typ, f.data)
			var a tkAttachment
			json.Unmarshal(b, &a)
			if st != 201 || a.ID == 0 || a.Name != f.name || a.Type != f.typ || a.Size != int64(len(f.data)) {
				t.Fatalf("upload %s: %d %s", f.name, st, b)
			}
			ids = append(ids, a.ID)
			// Her draft is hers: the bytes come back with safe headers;
			// nobody else (not even an agent) gets it.
			resp, body := tkGet(t, carol, fmt.Sprintf("/tickets/attachments/%d", a.ID))
			if resp.StatusCode != 200 || !bytes.Equal(body, f.data) {
				t.Fatalf("download %s: %d, %d bytes", f.name, resp.StatusCode, len(body))
			}
			tkCheckFileHeaders(t, resp, f.name, f.typ)
			for _, other := range []*chatter{dave, sam} {
				if resp, body := tkGet(t, other, fmt.Sprintf("/tickets/attachments/%d", a.ID)); resp.StatusCode != 404 || bytes.Equal(body, f.data) {
					t.Errorf("%s got carol's draft %s: %d", other.name, f.name, resp.StatusCode)
				}
			}
		}
		if n := db.count(`SELECT count(*) FROM attachments WHERE sha256 = sha256(data) AND size = length(data)`); n != stored+len(files) {
			t.Errorf("%d attachments with their hash and size, want %d", n, stored+len(files))
		}
		// The RFC 5987 name.
		st, b := up(carol, `C:\docs\résumé "final"; v2.pdf`, "application/pdf", files[4].data)
		var pdf tkAttachment
		json.Unmarshal(b, &pdf)
		if st != 201 || pdf.Name != `résumé "final"; v2.pdf` {
			t.Fatalf("the PDF's name: %d %s", st, b)
		}
		resp, _ := tkGet(t, carol, fmt.Sprintf("/tickets/attachments/%d", pdf.ID))
		if got := resp.Header.Get("Content-Disposition"); got != `attachment; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22%3B%20v2.pdf` {
			t.Errorf("Content-Disposition %q", got)
		}
		carolDraft = pdf

		// Refused: nothing is stored.
		stored = db.count(`SELECT count(*) FROM attachments`)
		if err := s.srv.SetSettings(ctx, root.id, "tester", "tickets", map[string]json.RawMessage{"max_attachment_bytes": json.RawMessage("2000")}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name, typ string
			data      []byte
			status    int
			msg       string
		}{
			{"big.txt", "text/plain", bytes.Repeat([]byte("a"), 2001), 413, "A file is at most 2 kB."},
			{"page.svg", "image/svg+xml", []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`), 415, "Attach a picture (PNG, JPEG, GIF, WebP), a PDF, a text or CSV file, or a ZIP archive."},
			{"page.html", "text/html", []byte("<p>hi</p>"), 415, "Attach a picture"},
			{"fake.png", "image/png", files[1].data, 415, "The file's content is not of the type it claims; attach the original file."},
			{"fake.pdf", "application/pdf", []byte("<html><script>alert(1)</script>"), 415, "The file's content is not of the type it claims"},
			{"bin.txt", "text/plain", []byte("a\x00b"), 415, "The file's content is not of the type it claims"},
			{"latin1.txt", "text/plain", []byte("caf\xe9"), 415, "The file's content is not of the type it claims"},
			{"", "text/plain", []byte("x"), 400, "A file's name is 1 to 200 characters, without control characters."},
			{"a\x01b.txt", "text/plain", []byte("x"), 400, "A file's name is 1 to 200 characters"},
			{strings.Repeat("n", 201), "text/plain", []byte("x"), 400, "A file's name is 1 to 200 characters"},
			{"empty.txt", "text/plain", nil, 400, "The file is empty."},
		} {
			st, b := up(carol, c.name, c.typ, c.data)
			if st != c.status || !strings.Contains(string(b), c.msg) {
				t.Errorf("%s: %d %s, want %d %q", c.name, st, b, c.status, c.msg)
			}
		}
		if st, b := tkUpload(t, dave, fmt.Sprintf("/tickets/api/tickets/%d/attachments?name=a.txt", t1), "text/plain", []byte("x")); st != 404 {
			t.Errorf("dave uploads to carol's ticket: %d %s", st, b)
		}
		if err := s.srv.SetSettings(ctx, root.id, "tester", "tickets", map[string]json.RawMessage{}); err != nil {
			t.Fatal(err)
		}
		if n := db.count(`SELECT count(*) FROM attachments`); n != stored {
			t.Fatalf("refused uploads stored files: %d, want %d", n, stored)
		}
		// At most 20 drafts per person per ticket.
		have := db.count(`SELECT count(*) FROM attachments WHERE ticket_id = $1 AND uploader_id = $2 AND message_id IS NULL AND note_id IS NULL`, t1, carol.id)
		for i := have; i < 20; i++ {
			if st, b := up(carol, fmt.Sprintf("n%d.txt", i), "text/plain", []byte("x")); st != 201 {
				t.Fatalf("draft %d: %d %s", i, st, b)
			}
		}
		if st, b := up(carol, "21.txt", "text/plain", []byte("x")); st != 409 || !strings.Contains(string(b), "You have 20 files waiting to be sent on this ticket") {
			t.Errorf("the 21st draft: %d %s", st, b)
		}
		// A reply carries two of hers; sam's note carries his upload.
		reply := db.id(`INSERT INTO messages (ticket_id, author_id, body) VALUES ($1, $2, 'Photos attached') RETURNING id`, t1, carol.id)
		db.exec(`UPDATE attachments SET message_id = $1 WHERE id = ANY($2)`, reply, ids[:2])
		replyFile = tkAttachment{ID: ids[0], Name: files[0].name, Type: files[0].typ}
		st, b = up(sam, "internal.png", "image/png", files[0].data)
		json.Unmarshal(b, &noteFile)
		if st != 201 {
			t.Fatalf("sam's upload: %d %s", st, b)
		}
		note := db.id(`INSERT INTO notes (ticket_id, author_id, body) VALUES ($1, $2, 'SECRET NOTE: the customer is the arsonist') RETURNING id`, t1, sam.id)
		db.exec(`UPDATE attachments SET note_id = $1 WHERE id = $2`, note, noteFile.ID)
		for _, c := range []struct {
			who    *chatter
			file   int64
			status int
		}{
			{carol, replyFile.ID, 200}, {sam, replyFile.ID, 200}, {root, replyFile.ID, 200}, {dave, replyFile.ID, 404}, {olga, replyFile.ID, 200},
			{carol, noteFile.ID, 404}, {dave, noteFile.ID, 404}, {sam, noteFile.ID, 200}, {root, noteFile.ID, 200},
			{carol, 999999, 404},
		} {
			if resp, body := tkGet(t, c.who, fmt.Sprintf("/tickets/attachments/%d", c.file)); resp.StatusCode != c.status ||
				c.status == 404 && !strings.Contains(string(body), "There is no such file, or it is not yours.") {
				t.Errorf("%s GET attachment %d: %d %.200s, want %d", c.who.name, c.file, resp.StatusCode, body, c.status)
			}
		}
		// A closed ticket takes no file.
		closed := db.ticket(problem.ID, carol.id, "Old", "closed")
		if st, b := tkUpload(t, carol, fmt.Sprintf("/tickets/api/tickets/%d/attachments?name=a.txt", closed), "text/plain", []byte("x")); st != 409 ||
			!strings.Contains(string(b), "This ticket is closed; reopen it to write again.") {
			t.Errorf("upload to a closed ticket: %d %s", st, b)
		}
	})

	t.Run("transcripts", func(t *testing.T) {
		db := tkDB{t: t, pool: pool}
		path := fmt.Sprintf("/tickets/%d/transcript.", t1)
		for _, ext := range []string{"html", "txt"} {
			resp, b := tkGet(t, carol, path+ext)
			if resp.StatusCode != 409 || !strings.Contains(string(b), "A ticket's transcript is ready once the ticket is solved or closed.") {
				t.Errorf("transcript of an open ticket: %d %s", resp.StatusCode, b)
			}
		}
		db.exec(`INSERT INTO messages (ticket_id, author_id, body) VALUES ($1, $2, 'Look: <script>alert("x")</script> & <b>bold</b>')`, t1, carol.id)
		db.exec(`INSERT INTO messages (ticket_id, author_id, staff, body) VALUES ($1, $2, true, 'Unplug it, please.')`, t1, sam.id)
		db.exec(`INSERT INTO messages (ticket_id, kind, author_id, staff, event) VALUES ($1, 'event', $2, true, '{"type": "status", "from": "open", "to": "solved"}')`, t1, sam.id)
		db.exec(`UPDATE tickets SET status = 'solved', solved_at = now() WHERE id = $1`, t1)
		resp, page := tkGet(t, carol, path+"html")
		if resp.StatusCode != 200 {
			t.Fatalf("HTML transcript: %d %s", resp.StatusCode, page)
		}
		h := resp.Header
		if h.Get("Content-Type") != "text/html; charset=utf-8" || h.Get("Content-Disposition") != fmt.Sprintf(`attachment; filename="ticket-%d.html"`, t1) ||
			h.Get("X-Content-Type-Options") != "nosniff" || !slices.Contains(h.Values("Content-Security-Policy"), "default-src 'none'; style-src 'unsafe-inline'; sandbox") {
			t.Errorf("HTML transcript headers: %v", h)
		}
		html := string(page)
		for _, want := range []string{"Printer on fire", "Carol (@carol)", "Look: &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;",
			"Unplug it, please.", "Status changed from open to solved.", "Photos attached", "Attachment: <bdi>" + replyFile.Name} {
			if !strings.Contains(html, want) {
				t.Errorf("the HTML transcript lacks %q", want)
			}
		}
		for _, bad := range []string{"SECRET NOTE", "arsonist", "internal.png", "<script", "<b>", "src=", "href=", "http"} {
			if strings.Contains(html, bad) {
				t.Errorf("the HTML transcript holds %q", bad)
			}
		}
		resp, text := tkGet(t, sam, path+"txt")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" ||
			resp.Header.Get("Content-Disposition") != fmt.Sprintf(`attachment; filename="ticket-%d.txt"`, t1) {
			t.Fatalf("text transcript: %d %v", resp.StatusCode, resp.Header)
		}
		for _, want := range []string{fmt.Sprintf("Ticket #%d: Printer on fire\n", t1), "Panel: Problem\n", "Opened by: Carol (@carol)\n", "Status: solved\n",
			"Carol (@carol):\nLook: <script>alert(\"x\")</script> & <b>bold</b>\n", "@sam, support:\nUnplug it, please.\n", "Attachments: " + replyFile.Name} {
			if !strings.Contains(string(text), want) {
				t.Errorf("the text transcript lacks %q:\n%s", want, text)
			}
		}
		if strings.Contains(string(text), "SECRET") {
			t.Error("the text transcript holds the note")
		}
		for _, c := range []struct {
			who    *chatter
			path   string
			status int
		}{{dave, path + "html", 404}, {root, path + "txt", 200}, {carol, fmt.Sprintf("/tickets/%d/transcript.pdf", t1), 404}, {carol, "/tickets/999999/transcript.txt", 404}} {
			if resp, b := tkGet(t, c.who, c.path); resp.StatusCode != c.status {
				t.Errorf("%s %s: %d %.200s", c.who.name, c.path, resp.StatusCode, b)
			}
		}
	})

	t.Run("jobs", func(t *testing.T) {
		db := tkDB{t: t, pool: pool}
		old := db.ticket(problem.ID, carol.id, "Closed long ago", "closed")
		recent := db.ticket(problem.ID, carol.id, "Closed lately", "closed")
		db.exec(`UPDATE tickets SET closed_at = now() - interval '800 days' WHERE id = $1`, old)
		db.exec(`UPDATE tickets SET closed_at = now() - interval '10 days' WHERE id = $1`, recent)
		solvedLong := db.ticket(problem.ID, carol.id, "Solved a week ago", "solved")
		solvedNow := db.ticket(problem.ID, carol.id, "Solved today", "solved")
		db.exec(`UPDATE tickets SET solved_at = now() - interval '8 days' WHERE id = $1`, solvedLong)
		db.exec(`UPDATE tickets SET solved_at = now() - interval '1 hour' WHERE id = $1`, solvedNow)
		staleDraft := db.id(`INSERT INTO attachments (ticket_id, uploader_id, name, type, size, sha256, data, created_at)
			VALUES ($1, $2, 'stale.txt', 'text/plain', 1, sha256('x'), 'x', now() - interval '2 days') RETURNING id`, recent, carol.id)
		sentOld := db.id(`INSERT INTO outbox (to_addr, subject, body, sent_at, created_at) VALUES ('a@example.test', 's', 'b', now() - interval '40 days', now() - interval '40 days') RETURNING id`)
		unsent := db.id(`INSERT INTO outbox (to_addr, subject, body, created_at) VALUES ('a@example.test', 's', 'b', now() - interval '40 days') RETURNING id`)
		oldAudit := db.id(`INSERT INTO audit (action, at) VALUES ('test', now() - interval '800 days') RETURNING id`)
		drafts := db.count(`SELECT count(*) FROM attachments WHERE message_id IS NULL AND note_id IS NULL`)

		clk.set(time.Date(2030, 1, 1, 2, 15, 5, 0, time.UTC))
		pollAll(s.srv)
		if runs := jobRuns(t, s.srv, "tickets", "autoclose"); len(runs) != 1 || runs[0] != "02:15 ok" {
			t.Fatalf("autoclose runs: %q", runs)
		}
		if st := db.str(`SELECT status FROM tickets WHERE id = $1`, solvedLong); st != "closed" {
			t.Errorf("a ticket solved 8 days ago is %s", st)
		}
		if st := db.str(`SELECT status FROM tickets WHERE id = $1`, solvedNow); st != "solved" {
			t.Errorf("a ticket solved an hour ago is %s", st)
		}
		if ev := db.str(`SELECT event::text FROM messages WHERE ticket_id = $1 AND kind = 'event' ORDER BY id DESC LIMIT 1`, solvedLong); !strings.Contains(ev, `"to": "closed"`) {
			t.Errorf("autoclose's event: %s", ev)
		}
		if n := db.count(`SELECT count(*) FROM outbox WHERE ticket_id = $1 AND to_addr = 'carol@example.test' AND body LIKE '%is closed%'`, solvedLong); n != 1 {
			t.Errorf("%d closing mails to carol", n)
		}

		clk.set(time.Date(2030, 1, 1, 2, 45, 5, 0, time.UTC))
		pollAll(s.srv)
		if runs := jobRuns(t, s.srv, "tickets", "retention"); len(runs) != 1 || runs[0] != "02:45 ok" {
			t.Fatalf("retention runs: %q", runs)
		}
		for q, want := range map[string]int{
			fmt.Sprintf(`SELECT count(*) FROM tickets WHERE id = %d`, old):                  0,
			fmt.Sprintf(`SELECT count(*) FROM tickets WHERE id = %d`, recent):               1,
			fmt.Sprintf(`SELECT count(*) FROM attachments WHERE id = %d`, staleDraft):       0,
			`SELECT count(*) FROM attachments WHERE message_id IS NULL AND note_id IS NULL`: drafts - 1,
			fmt.Sprintf(`SELECT count(*) FROM outbox WHERE id = %d`, sentOld):               0,
			fmt.Sprintf(`SELECT count(*) FROM outbox WHERE id = %d`, unsent):                1,
			fmt.Sprintf(`SELECT count(*) FROM audit WHERE id = %d`, oldAudit):               0,
		} {
			if n := db.count(q); n != want {
				t.Errorf("after retention, %s: %d, want %d", q, n, want)
			}
		}
	})

	t.Run("export and erase", func(t *testing.T) {
		db := tkDB{t: t, pool: pool}
		erin := s.person(t, "erin", site.RoleMember)
		stan := s.person(t, "stan", site.RoleStaff)
		root.must(t, "POST", "/tickets/admin/api/groups/billing/members", map[string]any{"username": "stan"}, 201, nil)
		// erin: her own ticket, a reply on carol's (as a participant), a
		// draft there, and events naming her; stan: a note, a claim, a
		// reply, an assignment, an audit entry, a mail to him.
		mine := db.ticket(problem.ID, erin.id, "Erin's own trouble", "open")
		db.exec(`INSERT INTO messages (ticket_id, author_id, body) VALUES ($1, $2, 'erin writes on her own ticket')`, mine, erin.id)
		db.exec(`INSERT INTO participants (ticket_id, user_id, added_by) VALUES ($1, $2, $3)`, t1, erin.id, sam.id)
		db.exec(`INSERT INTO messages (ticket_id, kind, author_id, staff, event) VALUES ($1, 'event', $2, true, '{"type": "participant_added", "user": "erin"}')`, t1, sam.id)
		db.exec(`INSERT INTO messages (ticket_id, author_id, body) VALUES ($1, $2, 'I agree with carol')`, t1, erin.id)
		if st, b := tkUpload(t, erin, fmt.Sprintf("/tickets/api/tickets/%d/attachments?name=erin.txt", t1), "text/plain", []byte("erin's draft")); st != 201 {
			t.Fatalf("erin's upload: %d %s", st, b)
		}
		db.exec(`INSERT INTO notes (ticket_id, author_id, body) VALUES ($1, $2, 'A note that stays')`, t1, stan.id)
		db.exec(`INSERT INTO messages (ticket_id, kind, author_id, staff, event) VALUES ($1, 'event', $2, true, '{"type": "claimed", "user": "stan"}')`, t1, stan.id)
		db.exec(`INSERT INTO messages (ticket_id, author_id, staff, body) VALUES ($1, $2, true, 'Answer from support')`, t1, stan.id)
		db.exec(`UPDATE tickets SET assignee_id = $2 WHERE id = $1`, t1, stan.id)
		db.exec(`INSERT INTO audit (actor_id, action, ticket_id, detail) VALUES ($1, 'assign', $2, '{"user": "stan"}')`, stan.id, t1)
		db.exec(`INSERT INTO outbox (to_addr, subject, body) VALUES ('stan@example.test', 's', 'b')`)

		export := func(c *chatter) string {
			t.Helper()
			var archive bytes.Buffer
			if err := s.srv.ExportUser(ctx, c.id, &archive); err != nil {
				t.Fatal(err)
			}
			zr, err := zip.NewReader(bytes.NewReader(archive.Bytes()), int64(archive.Len()))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range zr.File {
				if f.Name == "modules/tickets.json" {
					rc, _ := f.Open()
					b, _ := io.ReadAll(rc)
					rc.Close()
					return string(b)
				}
			}
			t.Fatalf("%s's export has no tickets part", c.name)
			return ""
		}
		ce := export(carol)
		var doc struct {
			Tickets []struct {
				ID            int64
				Subject, Role string
			}
			Messages []struct {
				Ticket int64
				Body   string
				Mine   bool
			}
			Drafts []struct{ Name string }
		}
		if err := json.Unmarshal([]byte(ce), &doc); err != nil {
			t.Fatalf("carol's export: %v\n%.500s", err, ce)
		}
		for _, want := range []string{"Printer on fire", "Look: \\u003cscript\\u003e", "Unplug it, please.", "I agree with carol", strings.Trim(string(must(json.Marshal(carolDraft.Name))), `"`)} {
			if !strings.Contains(ce, want) && !strings.Contains(ce, strings.ReplaceAll(want, "\\u003c", "<")) {
				t.Errorf("carol's export lacks %q", want)
			}
		}
		for _, bad := range []string{"SECRET NOTE", "A note that stays", "Erin's own trouble", "erin writes"} {
			if strings.Contains(ce, bad) {
				t.Errorf("carol's export holds %q", bad)
			}
		}
		if len(doc.Tickets) == 0 || doc.Tickets[0].Role != "opener" {
			t.Errorf("carol's tickets: %+v", doc.Tickets)
		}
		se := export(sam)
		if !strings.Contains(se, "Unplug it, please.") || strings.Contains(se, "SECRET NOTE") || strings.Contains(se, "Printer on fire") {
			t.Errorf("sam's export: his reply, never his note, no one's ticket:\n%.1000s", se)
		}
		ee := export(erin)
		if !strings.Contains(ee, "Erin's own trouble") || !strings.Contains(ee, `"role" : "participant"`) && !strings.Contains(ee, `"role":"participant"`) ||
			!strings.Contains(ee, "erin.txt") || strings.Contains(ee, "SECRET NOTE") {
			t.Errorf("erin's export:\n%.2000s", ee)
		}

		for _, c := range []*chatter{erin, stan} {
			if err := s.srv.EraseUser(ctx, c.id); err != nil {
				t.Fatal(err)
			}
		}
		// Nothing in the module names them any more.
		for _, table := range []string{"tickets", "messages", "notes", "attachments", "participants", "groups", "group_members", "canned", "audit", "outbox", "panels"} {
			for _, who := range []string{"erin", "stan"} {
				if n := db.count(fmt.Sprintf(`SELECT count(*) FROM %s x WHERE x::text ILIKE '%%' || $1 || '%%'`, table), who); n != 0 {
					t.Errorf("after erasure, %d rows of %s name %s", n, table, who)
				}
			}
		}
		for q, want := range map[string]int{
			fmt.Sprintf(`SELECT count(*) FROM tickets WHERE id = %d OR opener_id = %d`, mine, erin.id):                                  0,
			fmt.Sprintf(`SELECT count(*) FROM messages WHERE author_id IN (%d, %d)`, erin.id, stan.id):                                  0,
			fmt.Sprintf(`SELECT count(*) FROM notes WHERE author_id = %d`, stan.id):                                                     0,
			`SELECT count(*) FROM notes WHERE author_id IS NULL AND body = 'A note that stays'`:                                         1,
			fmt.Sprintf(`SELECT count(*) FROM messages WHERE ticket_id = %d AND author_id IS NULL AND body = 'I agree with carol'`, t1): 1,
			fmt.Sprintf(`SELECT count(*) FROM attachments WHERE uploader_id IN (%d, %d)`, erin.id, stan.id):                             0,
			fmt.Sprintf(`SELECT count(*) FROM participants WHERE user_id = %d`, erin.id):                                                0,
			fmt.Sprintf(`SELECT count(*) FROM group_members WHERE user_id = %d`, stan.id):                                               0,
			fmt.Sprintf(`SELECT count(*) FROM tickets WHERE assignee_id = %d`, stan.id):                                                 0,
			fmt.Sprintf(`SELECT count(*) FROM audit WHERE actor_id = %d`, stan.id):                                                      0,
			`SELECT count(*) FROM outbox WHERE to_addr = 'stan@example.test'`:                                                           0,
		} {
			if n := db.count(q); n != want {
				t.Errorf("after erasure, %s: %d, want %d", q, n, want)
			}
		}
		// What others read of it: the transcript and carol's export.
		_, text := tkGet(t, carol, fmt.Sprintf("/tickets/%d/transcript.txt", t1))
		ce = export(carol)
		for _, who := range []string{"erin", "stan"} {
			if strings.Contains(strings.ToLower(string(text)), who) || strings.Contains(strings.ToLower(ce), who) {
				t.Errorf("carol's transcript or export still names %s:\n%s\n%s", who, text, ce)
			}
		}
		if !strings.Contains(string(text), "deleted user:\nI agree with carol") {
			t.Errorf("erin's reply is not kept by deleted user:\n%s", text)
		}
		// The module's erasure again changes nothing and fails nothing.
		resp, err := s.srv.Module("tickets").Call(ctx, abi.UserErasePath, nil, []byte(fmt.Sprintf(`{"user_id": %d}`, erin.id)), "")
		if err != nil || resp.Status/100 != 2 {
			t.Fatalf("erase again: %+v, %v", resp, err)
		}
	})
}

func ptr[T any](v T) *T { return &v }

func tkNum(f *float64) string {
	if f == nil {
		return "-"
	}
	return fmt.Sprint(*f)
}

// tkDB reads and writes the tickets module's own schema in tests.
type tkDB struct {
	t    *testing.T
	pool *pgxpool.Pool
}

func (d tkDB) exec(q string, args ...any) {
	d.t.Helper()
	if _, err := d.pool.Exec(context.Background(), q, args...); err != nil {
		d.t.Fatalf("%s: %v", q, err)
	}
}

func (d tkDB) count(q string, args ...any) int {
	d.t.Helper()
	var n int
	if err := d.pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		d.t.Fatalf("%s: %v", q, err)
	}
	return n
}

func (d tkDB) id(q string, args ...any) int64 {
	d.t.Helper()
	var n int64
	if err := d.pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		d.t.Fatalf("%s: %v", q, err)
	}
	return n
}

func (d tkDB) str(q string, args ...any) string {
	d.t.Helper()
	var s string
	if err := d.pool.QueryRow(context.Background(), q, args...).Scan(&s); err != nil {
		d.t.Fatalf("%s: %v", q, err)
	}
	return s
}

// ticket writes a ticket as the customer slice's route would open it,
// with its "opened" event, in status.
func (d tkDB) ticket(panel, opener int64, subject, status string) int64 {
	d.t.Helper()
	id := d.id(`INSERT INTO tickets (panel_id, opener_id, subject, status, solved_at, closed_at)
		VALUES ($1, $2, $3, $4, CASE WHEN $4 IN ('solved', 'closed') THEN now() END, CASE WHEN $4 = 'closed' THEN now() END) RETURNING id`,
		panel, opener, subject, status)
	d.exec(`INSERT INTO messages (ticket_id, kind, author_id, event) VALUES ($1, 'event', $2, '{"type": "opened"}')`, id, opener)
	return id
}

// tkFile is a file of an allowed type, with real bytes.
type tkFile struct {
	name, typ string
	data      []byte
}

// tkFiles makes one file of each allowed type with the encoders of the
// standard library (WebP: a 1×1 lossless image).
func tkFiles(t *testing.T) []tkFile {
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	img.Set(1, 1, color.RGBA{255, 0, 0, 255})
	enc := func(f func(w io.Writer) error) []byte {
		var b bytes.Buffer
		if err := f(&b); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	webp, _ := base64.StdEncoding.DecodeString("UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==")
	zipped := enc(func(w io.Writer) error {
		z := zip.NewWriter(w)
		f, _ := z.Create("log.txt")
		f.Write([]byte("error 42\n"))
		return z.Close()
	})
	return []tkFile{
		{"shot.png", "image/png", enc(func(w io.Writer) error { return png.Encode(w, img) })},
		{"photo.jpg", "image/jpeg", enc(func(w io.Writer) error { return jpeg.Encode(w, img, nil) })},
		{"anim.gif", "image/gif", enc(func(w io.Writer) error { return gif.Encode(w, img, nil) })},
		{"tiny.webp", "image/webp", webp},
		{"invoice.pdf", "application/pdf", []byte("%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")},
		{"notes.txt", "text/plain", []byte("Le café est prêt.\nLine two.\n")},
		{"orders.csv", "text/csv", []byte("id,total\n1,9.99\n")},
		{"logs.zip", "application/zip", zipped},
	}
}

// tkUpload posts a file's bytes with its Content-Type.
func tkUpload(t *testing.T, c *chatter, path, typ string, data []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", c.base+path, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", typ)
	resp, err := c.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// tkGet GETs path as c.
func tkGet(t *testing.T, c *chatter, path string) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.c.Get(c.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// tkCheckFileHeaders checks a download's headers, exactly.
func tkCheckFileHeaders(t *testing.T, resp *http.Response, name, typ string) {
	t.Helper()
	h := resp.Header
	ct := typ
	if strings.HasPrefix(typ, "text/") {
		ct += "; charset=utf-8"
	}
	disp := "attachment"
	if strings.HasPrefix(typ, "image/") {
		disp = "inline"
	}
	for k, want := range map[string]string{
		"Content-Type":           ct,
		"X-Content-Type-Options": "nosniff",
		"Content-Disposition":    disp + "; filename*=UTF-8''" + url.PathEscape(name),
		"Cache-Control":          "private, no-store",
	} {
		if got := h.Values(k); len(got) != 1 || got[0] != want {
			t.Errorf("%s: %s %q, want %q", name, k, got, want)
		}
	}
	if !slices.Contains(h.Values("Content-Security-Policy"), "default-src 'none'; sandbox") {
		t.Errorf("%s: Content-Security-Policy %q", name, h.Values("Content-Security-Policy"))
	}
}

// tkAdminArea signs userID into the admin area (a session made in the
// database, as the admin tests do).
func tkAdminArea(t *testing.T, s *testSite, userID int64) *adminClient {
	t.Helper()
	token := make([]byte, 32)
	rand.Read(token)
	if _, err := s.srv.db.Pool.Exec(t.Context(), `INSERT INTO websonic.admin_sessions (token_hash, user_id, expires_at)
		VALUES (sha256($1), $2, now() + interval '1 hour')`, token, userID); err != nil {
		t.Fatal(err)
	}
	as := httptest.NewServer(s.srv.AdminHandler())
	t.Cleanup(as.Close)
	return &adminClient{t: t, origin: as.URL, cookie: &http.Cookie{Name: admin.AdminCookie, Value: base64.RawURLEncoding.EncodeToString(token)}}
}
