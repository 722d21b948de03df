package bench

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/websonic/websonic/internal/modbuild"
	"github.com/websonic/websonic/runtime/internal/realtime"
	coresite "github.com/websonic/websonic/runtime/internal/site"
)

// The tickets benchmarks (issue 12) measure the first-party module
// modules/tickets in a real runtime: BenchmarkTicketsQueue
// (tickets_queue_test.go), the staff queue of a desk of 100,000 tickets,
// and BenchmarkTicketsCreate (tickets_create_test.go), customers opening
// tickets. Their baseline is in tickets_native_test.go: the module's own
// SQL run natively through pgx by chi handlers, as the chat's.

// ticketsSrc is the tickets module's source, relative to this package.
const ticketsSrc = "../../../modules/tickets"

// ticketsPackage builds the tickets module once per test binary into a
// folder of its own (server.Config.ModulesDir).
var ticketsPackage = sync.OnceValues(func() (string, error) {
	dir := filepath.Join(scratch, "packages", "ticketssite")
	return dir, modbuild.Package(context.Background(), ticketsSrc, filepath.Join(dir, "tickets"))
})

// ticketsSite is a runtime serving the tickets module, with its desk's
// staff: ticketsAgents staff members (agents[0] signs in: the queue's
// viewer) and the panels (panels, in order; the last one, Refunds, is the
// group "finance"'s, whose members are agents[7:], so the viewer does not
// work it).
type ticketsSite struct {
	*moduleSite
	agents []*coresite.User
	// viewer is agents[0], signed in on the site.
	viewer       *http.Client
	panels       []int64
	refundsPanel int64
}

// ticketsAgents is how many staff members work the desk.
const ticketsAgents = 10

func newTicketsSite(b *testing.B) *ticketsSite {
	b.Helper()
	dir, err := ticketsPackage()
	if err != nil {
		b.Fatal(err)
	}
	s := &ticketsSite{moduleSite: newModuleSite(b, "tickets", dir, realtime.Limits{})}
	s.staffDesk(b)
	return s
}

// staffDesk gives the site's desk its staff, groups and panels (see
// ticketsSite).
func (s *ticketsSite) staffDesk(b *testing.B) {
	b.Helper()
	c, u := s.signIn(b, "agent1", coresite.RoleStaff)
	s.viewer, s.agents = c, []*coresite.User{u}
	for i := 2; i <= ticketsAgents; i++ {
		s.agents = append(s.agents, s.user(b, "agent"+strconv.Itoa(i), coresite.RoleStaff))
	}
	ctx := context.Background()
	// The install's three panels (Question, Problem, Billing), and two
	// more: Sales, and Refunds for the finance group.
	for _, q := range []string{
		`INSERT INTO mod_tickets.groups (name, label) VALUES ('finance', 'Finance')`,
		`INSERT INTO mod_tickets.panels (name, description, first_response_minutes, resolution_minutes, position)
			VALUES ('Sales', 'Quotes, demos and orders.', 480, 2880, 4)`,
		`INSERT INTO mod_tickets.panels (name, description, group_name, first_response_minutes, resolution_minutes, position)
			VALUES ('Refunds', 'Money back.', 'finance', 240, 2880, 5)`,
	} {
		if _, err := s.super.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	for _, a := range s.agents[7:] {
		if _, err := s.super.Exec(ctx, `INSERT INTO mod_tickets.group_members (group_name, user_id) VALUES ('finance', $1)`, a.ID); err != nil {
			b.Fatal(err)
		}
	}
	rows, err := s.super.Query(ctx, `SELECT id FROM mod_tickets.panels ORDER BY position, id`)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			b.Fatal(err)
		}
		s.panels = append(s.panels, id)
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	if len(s.panels) != 5 {
		b.Fatalf("the desk has panels %v, want 5", s.panels)
	}
	s.refundsPanel = s.panels[4]
}

// agentIDs are the agents' user ids.
func (s *ticketsSite) agentIDs() []int64 {
	ids := make([]int64, len(s.agents))
	for i, a := range s.agents {
		ids[i] = a.ID
	}
	return ids
}

// ticketsLog prints a line of the tickets benchmarks' findings (plans,
// data sizes) on the benchmark's output, whatever -test.v says.
func ticketsLog(format string, args ...any) {
	fmt.Printf("tickets: "+format+"\n", args...)
}
