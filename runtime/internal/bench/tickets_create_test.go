package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	coresite "github.com/websonic/websonic/runtime/internal/site"
)

// Opening tickets: how many customers, and how many clients open tickets
// at once.
const (
	ticketsCustomers = 24
	ticketsOpeners   = 8
)

// BenchmarkTicketsCreate opens tickets (POST /tickets/api/tickets, a
// subject and a description of some 40 words, on the four panels without
// a group, each request as one of 24 customers in turn: the login guard
// lets one address sign in about 30 times at once), 8 clients at once:
// through the tickets module (module: the module host, as the runtime
// mounts it, the customer in the request's context; fullstack: the
// runtime's whole handler with the customer's session cookie) against a
// native Go handler on the same chi router (ticketsNative.open) doing the
// same work: the panel read, then in one transaction the
// per-customer-and-panel advisory lock, the count of the customer's open
// tickets, the ticket's insert, its lock, the size of its conversation
// and its first message (the same statements in the same order as
// tickets.go and lifecycle.go's addReply), then the same publish
// through the host's realtime.publish (the events table and its NOTIFY)
// and the ticket read back with the same SQL.
//
// cpu/module and cpu/native are sequential calls straight into the router
// (an httptest recorder: no sockets), reporting the process's CPU time per
// ticket (PostgreSQL is another process), as BenchmarkCallCost does.
//
// The panels take 100 open tickets per customer (the most max_open
// allows: the default, 3, would refuse the benchmark's) and every
// sub-benchmark starts with no ticket open (the ones before are closed,
// untimed).
func BenchmarkTicketsCreate(b *testing.B) {
	s := newTicketsSite(b)
	ctx := context.Background()
	if _, err := s.super.Exec(ctx, `UPDATE mod_tickets.panels SET max_open = 100`); err != nil {
		b.Fatal(err)
	}
	customers := ticketsCustomers
	if smokeRun() {
		customers = 4
	}
	var (
		users   = map[string]*coresite.User{}
		cookies []string
	)
	for i := range customers {
		c, u := s.signIn(b, fmt.Sprintf("customer%d", i+1), coresite.RoleMember)
		users[strconv.Itoa(i)] = u
		cookies = append(cookies, s.cookieHeader(b, c))
	}
	open := s.panels[:4] // the Refunds panel's group is nobody's business here
	who := func(r *http.Request) *coresite.User { return users[r.Header.Get("X-Bench-Customer")] }
	router, base := s.router(b, who, map[string]http.Handler{"/native": s.newTicketsNative().routes()})
	const path = "/tickets/api/tickets"
	body := func(i int) string {
		return fmt.Sprintf(`{"panel_id": %d, "subject": "The printer on floor %d is on fire again", "urgency": %d, "impact": %d,
			"description": "Hello, since this morning the printer on floor %d shows an error and the paper smells of smoke. `+
			`We tried to restart it twice, then unplugged it for ten minutes, nothing changed. The invoices for the `+
			`customer meeting tomorrow are stuck in its queue: please send someone before noon. Thanks, request %d."}`,
			open[(i/customers)%len(open)], i%40, 1+i%3, 1+(i/3)%3, i%40, i)
	}
	// post opens the i-th ticket at u: as the i-th customer, named by the
	// header the router reads (viaRouter) or by their session cookie.
	post := func(u string, viaRouter bool) request {
		return func(c *http.Client, i int) error {
			req, err := http.NewRequest("POST", u, strings.NewReader(body(i)))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/json")
			if viaRouter {
				req.Header.Set("X-Bench-Customer", strconv.Itoa(i%customers))
			} else {
				req.Header.Set("Cookie", cookies[i%customers])
			}
			return drain(c.Do(req))(http.StatusCreated, "POST "+u)
		}
	}
	// Same answer both ways (but for the ticket's id and times).
	answer := func(u string) []byte {
		req, err := http.NewRequest("POST", u, strings.NewReader(body(0)))
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Bench-Customer", "0")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		got, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusCreated {
			b.Fatalf("POST %s: %s %s", u, resp.Status, got)
		}
		var m map[string]any
		if err := json.Unmarshal(got, &m); err != nil {
			b.Fatal(err)
		}
		for _, k := range []string{"id", "created_at", "updated_at"} {
			if m[k] == nil {
				b.Fatalf("POST %s: no %s in %s", u, k, got)
			}
			delete(m, k)
		}
		j, _ := json.Marshal(m)
		return j
	}
	sameJSON(b, "POST "+path, answer(base+"/native"+path), answer(base+path))

	// closeAll closes every ticket open, so that no customer reaches the
	// panels' limit.
	closeAll := func(b *testing.B) {
		b.Helper()
		if _, err := s.super.Exec(ctx, `UPDATE mod_tickets.tickets SET status = 'closed', closed_at = now()
			WHERE status NOT IN ('solved', 'closed')`); err != nil {
			b.Fatal(err)
		}
	}
	native := post(base+"/native"+path, true)
	b.Run("native", func(b *testing.B) {
		closeAll(b)
		measureFunc(b, newLoadgenN(b, ticketsOpeners, nil), native)
	})
	b.Run("module", func(b *testing.B) {
		closeAll(b)
		measurePairFunc(b, newLoadgenN(b, ticketsOpeners, nil), native, post(base+path, true), "module/native")
	})
	b.Run("fullstack", func(b *testing.B) {
		closeAll(b)
		measurePairFunc(b, newLoadgenN(b, ticketsOpeners, nil), native, post(s.URL+path, false), "full/native")
	})
	direct := func(p string) func() {
		i := 0
		return func() {
			i++
			w := httptest.NewRecorder()
			r := httptest.NewRequest("POST", p, strings.NewReader(body(i)))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("X-Bench-Customer", strconv.Itoa(i%customers))
			router.ServeHTTP(w, r)
			if w.Code != http.StatusCreated {
				b.Fatalf("POST %s: %d %s", p, w.Code, w.Body)
			}
		}
	}
	b.Run("cpu/module", func(b *testing.B) { closeAll(b); cpuPerCall(b, direct(path)) })
	b.Run("cpu/native", func(b *testing.B) { closeAll(b); cpuPerCall(b, direct("/native"+path)) })
	var opened int64
	if err := s.super.QueryRow(ctx, `SELECT count(*) FROM mod_tickets.tickets`).Scan(&opened); err != nil {
		b.Fatal(err)
	}
	ticketsLog("tickets opened by BenchmarkTicketsCreate: %d", opened)
}
