package server

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// The staff queue's page is built as JSON by PostgreSQL (queue.go's
// queueTicketJSON), the staff ticket view's ticket by encoding/json over
// scanTicket: the two must say the same of every ticket, whatever it is.

// tkQJSONTimes are the ticket's times: RFC 3339 both ways, compared as
// instants (the texts differ: PostgreSQL writes every microsecond digit
// and "Z", Go trims zeros).
var tkQJSONTimes = []string{"created_at", "updated_at", "solved_at", "closed_at",
	"first_response_at", "first_response_due", "resolution_due", "next_due"}

func TestTicketsQueueJSON(t *testing.T) {
	d := newTkStaffDesk(t)
	ins := func(cols string, vals ...any) int64 {
		t.Helper()
		ph := make([]string, len(vals))
		for i := range vals {
			ph[i] = fmt.Sprintf("$%d", i+1)
		}
		return d.id(t, "INSERT INTO tickets ("+cols+") VALUES ("+strings.Join(ph, ", ")+") RETURNING id", vals...)
	}
	g, p := d.grouped, d.open
	ids := map[string]int64{}
	ids["member, fields, HTML and unicode"] = ins("panel_id, opener_id, subject, fields, first_response_due, resolution_due",
		g, d.olga.id, `<script>alert("x")</script> Café — 日本 🔥 \ back & 'quote'`, `{"order": "A-12", "n": 3, "nested": {"a": [1, null, "<b>"]}}`,
		time.Now().Add(time.Hour), time.Now().Add(4*time.Hour))
	ids["guest"] = ins("panel_id, guest_email, guest_name, guest_token, subject", p, "guest@example.test", "Gül <Guest>",
		[]byte(strings.Repeat("g", 32)), "A guest's question")
	ids["assigned, urgent, answered"] = ins("panel_id, opener_id, assignee_id, subject, status, urgency, impact, first_response_at, first_response_due, resolution_due",
		g, d.olga.id, d.gina.id, "Assigned", "open", 3, 3, time.Now().Add(-time.Minute), time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	ids["rated, solved"] = ins("panel_id, opener_id, subject, status, solved_at, rating, rating_comment, rated_at",
		p, d.olga.id, "Rated", "solved", time.Now().Add(-time.Hour), 4, "Thanks <3 — merci", time.Now().Add(-time.Minute))
	ids["merged, closed"] = ins("panel_id, opener_id, subject, status, closed_at, merged_into",
		p, d.mark.id, "Merged", "closed", time.Now(), ids["guest"])
	ids["paused"] = ins("panel_id, opener_id, subject, status, paused_at, first_response_due, resolution_due",
		g, d.olga.id, "Paused", "pending", time.Now().Add(-time.Minute), time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	ids["overdue"] = ins("panel_id, opener_id, subject, first_response_due, resolution_due, urgency, impact",
		g, d.olga.id, "Overdue", time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour), 1, 1)
	ids["no SLA, on hold"] = ins("panel_id, opener_id, subject, status", p, d.olga.id, "No SLA", "on_hold")
	ids["erased opener"] = ins("panel_id, opener_id, subject", p, int64(987654321), "Erased")
	ids["closed, round times"] = ins("panel_id, opener_id, subject, status, created_at, updated_at, solved_at, closed_at",
		p, d.olga.id, "Round", "closed", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 100_000_000, time.UTC), time.Date(2026, 1, 2, 3, 4, 7, 123_456_000, time.UTC))
	ids["rated, no rating time"] = ins("panel_id, opener_id, subject, status, solved_at, rating", p, d.olga.id, "Rated without time", "solved", time.Now(), 1)
	d.admin.must(t, "POST", fmt.Sprintf("/tickets/staff/api/tickets/%d/participants", ids["assigned, urgent, answered"]), map[string]string{"username": "pete"}, 200, nil)

	queue := func(q string) (map[string]json.RawMessage, []map[string]any) {
		t.Helper()
		st, b := d.admin.api(t, "GET", "/tickets/staff/api/queue?"+q, nil)
		if st != 200 {
			t.Fatalf("queue ?%s: %d %s", q, st, b)
		}
		var top map[string]json.RawMessage
		if err := json.Unmarshal(b, &top); err != nil {
			t.Fatalf("queue ?%s: %v: %s", q, err, b)
		}
		var tickets []map[string]any
		if err := json.Unmarshal(top["tickets"], &tickets); err != nil || tickets == nil {
			t.Fatalf("queue ?%s: tickets %v: %s", q, err, b)
		}
		return top, tickets
	}

	t.Run("same as the ticket view", func(t *testing.T) {
		top, tickets := queue("status=all&limit=100")
		if keys := slices.Sorted(maps.Keys(top)); !slices.Equal(keys, []string{"next", "tickets"}) || string(top["next"]) != "null" {
			t.Fatalf("the page's keys %v, next %s", keys, top["next"])
		}
		byID := map[int64]map[string]any{}
		for _, tk := range tickets {
			byID[int64(tk["id"].(float64))] = tk
		}
		for name, id := range ids {
			q, ok := byID[id]
			if !ok {
				t.Errorf("%s: ticket %d is not in the queue", name, id)
				continue
			}
			var view struct {
				Ticket map[string]any `json:"ticket"`
			}
			d.admin.must(t, "GET", fmt.Sprintf("/tickets/staff/api/tickets/%d", id), nil, 200, &view)
			v := view.Ticket
			if !slices.Equal(slices.Sorted(maps.Keys(q)), slices.Sorted(maps.Keys(v))) {
				t.Errorf("%s: the queue's keys %v, the view's %v", name, slices.Sorted(maps.Keys(q)), slices.Sorted(maps.Keys(v)))
			}
			if ps, ok := q["participants"].([]any); !ok || len(ps) != 0 {
				t.Errorf("%s: the queue's participants %#v, want []", name, q["participants"])
			}
			for k, qv := range q {
				vv := v[k]
				switch {
				case k == "participants":
				case slices.Contains(tkQJSONTimes, k):
					tkQJSONSameTime(t, name+": "+k, qv, vv)
				case k == "rating" && qv != nil && vv != nil:
					qr, vr := qv.(map[string]any), vv.(map[string]any)
					tkQJSONSameTime(t, name+": rating.at", qr["at"], vr["at"])
					if qr["score"] != vr["score"] || qr["comment"] != vr["comment"] || len(qr) != 3 || len(vr) != 3 {
						t.Errorf("%s: rating: the queue's %v, the view's %v", name, qr, vr)
					}
				default:
					if !reflect.DeepEqual(qv, vv) {
						t.Errorf("%s: %s: the queue's %#v, the view's %#v", name, k, qv, vv)
					}
				}
			}
		}
		// What the tickets are, so that the comparison covers them.
		want := map[string]func(map[string]any) bool{
			"guest":                            func(m map[string]any) bool { return m["opener"] == nil && m["guest_email"] == "guest@example.test" },
			"erased opener":                    func(m map[string]any) bool { return m["opener"] == nil && m["guest_email"] == "" },
			"assigned, urgent, answered":       func(m map[string]any) bool { return m["assignee"] != nil && m["priority"] == 4.0 },
			"rated, solved":                    func(m map[string]any) bool { return m["rating"] != nil && m["can_reopen"] == true },
			"merged, closed":                   func(m map[string]any) bool { return m["merged_into"] != nil && m["can_reopen"] == false },
			"paused":                           func(m map[string]any) bool { return m["paused"] == true && m["overdue"] == false },
			"overdue":                          func(m map[string]any) bool { return m["overdue"] == true && m["priority"] == 1.0 },
			"no SLA, on hold":                  func(m map[string]any) bool { return m["next_due"] == nil },
			"member, fields, HTML and unicode": func(m map[string]any) bool { return m["fields"].(map[string]any)["order"] == "A-12" },
		}
		for name, ok := range want {
			if !ok(byID[ids[name]]) {
				t.Errorf("%s: not what the test meant: %v", name, byID[ids[name]])
			}
		}
	})

	// The cursor comes from the last row's key beside its JSON: small
	// pages, followed, list the whole view in the same order.
	t.Run("cursors", func(t *testing.T) {
		for _, s := range []string{"sort=updated", "sort=created&order=asc", "sort=priority", "sort=due&order=asc"} {
			_, all := queue("status=all&limit=100&" + s)
			var paged []any
			next := ""
			for range 20 {
				top, page := queue("status=all&limit=3&" + s + "&cursor=" + url.QueryEscape(next))
				for _, tk := range page {
					paged = append(paged, tk["id"])
				}
				if string(top["next"]) == "null" {
					next = ""
					break
				}
				if err := json.Unmarshal(top["next"], &next); err != nil || next == "" {
					t.Fatalf("%s: next %s", s, top["next"])
				}
			}
			if next != "" {
				t.Fatalf("%s: no last page", s)
			}
			var whole []any
			for _, tk := range all {
				whole = append(whole, tk["id"])
			}
			if len(whole) < len(ids) || !reflect.DeepEqual(paged, whole) {
				t.Errorf("%s: pages of 3 list %v, one page %v", s, paged, whole)
			}
		}
	})
}

// tkQJSONSameTime checks that two decoded times are both null, or both
// RFC 3339 texts of the same instant.
func tkQJSONSameTime(t *testing.T, what string, q, v any) {
	t.Helper()
	if q == nil || v == nil {
		if q != v {
			t.Errorf("%s: the queue's %v, the view's %v", what, q, v)
		}
		return
	}
	qs, _ := q.(string)
	vs, _ := v.(string)
	qt, err1 := time.Parse(time.RFC3339Nano, qs)
	vt, err2 := time.Parse(time.RFC3339Nano, vs)
	if err1 != nil || err2 != nil || !qt.Equal(vt) {
		t.Errorf("%s: the queue's %#v, the view's %#v (%v, %v)", what, q, v, err1, err2)
	}
}
