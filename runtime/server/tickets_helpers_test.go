package server

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/internal/modbuild"
	"github.com/websonic/websonic/runtime/internal/site"
)

// The tickets module's end-to-end tests (issue 12) share this file: the
// compiled modules/tickets in a real runtime, real HTTP and WebSocket
// clients (chatter, from chat_journey_test.go), real PostgreSQL.

// ticketsModules builds modules/tickets once per test binary.
var ticketsModules = sync.OnceValues(func() (string, error) {
	dir := filepath.Join(scratch, "tickets")
	return dir, modbuild.Package(context.Background(), "../../modules/tickets", filepath.Join(dir, "tickets"))
})

// ticketsSite starts a site with the tickets module.
func ticketsSite(t *testing.T, options ...func(*Config)) *testSite {
	t.Helper()
	mods, err := ticketsModules()
	if err != nil {
		t.Fatal(err)
	}
	return newSiteWith(t, mods, hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testLog{t}}), append([]func(*Config){trustLoopback}, options...)...)
}

// person makes an account with role and the address NAME@example.test,
// and signs its person in from an address of their own.
func (s *testSite) person(t *testing.T, name string, role site.Role) *chatter {
	t.Helper()
	u, err := s.srv.site.Store().CreateUser(t.Context(), site.NewUser{
		Username: name, Password: chatPassword, Role: role, Email: name + "@example.test",
	})
	if err != nil {
		t.Fatal(err)
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	n := h.Sum32()
	c := newChatter(t, s.URL, name, fmt.Sprintf("10.%d.%d.%d", n>>16&0xff, n>>8&0xff, n&0xff|1))
	c.id = u.ID
	if st, b := c.login(t, chatPassword); st != 303 {
		t.Fatalf("login %s: %d %.300s", name, st, b)
	}
	return c
}

// The API's shapes (modules/tickets/API.md), as the tests read them.
type (
	tkUser struct {
		ID       int64  `json:"id"`
		Username string `json:"username"`
	}
	tkTicket struct {
		ID    int64 `json:"id"`
		Panel struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
		} `json:"panel"`
		Subject      string          `json:"subject"`
		Fields       json.RawMessage `json:"fields"`
		Status       string          `json:"status"`
		Priority     int             `json:"priority"`
		Opener       *tkUser         `json:"opener"`
		Assignee     *tkUser         `json:"assignee"`
		MergedInto   *int64          `json:"merged_into"`
		CanReopen    bool            `json:"can_reopen"`
		Unread       bool            `json:"unread"`
		Participants []tkUser        `json:"participants"`
		NextDue      *string         `json:"next_due"`
		Paused       bool            `json:"paused"`
		Overdue      bool            `json:"overdue"`
		Rating       *struct {
			Score   int    `json:"score"`
			Comment string `json:"comment"`
		} `json:"rating"`
	}
	tkAttachment struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
		Type string `json:"type"`
		Size int64  `json:"size"`
	}
	tkMessage struct {
		ID          int64           `json:"id"`
		Kind        string          `json:"kind"`
		Author      *tkUser         `json:"author"`
		Staff       bool            `json:"staff"`
		Body        string          `json:"body"`
		Event       json.RawMessage `json:"event"`
		Attachments []tkAttachment  `json:"attachments"`
	}
	tkNote struct {
		ID          int64          `json:"id"`
		Author      *tkUser        `json:"author"`
		Body        string         `json:"body"`
		Attachments []tkAttachment `json:"attachments"`
	}
	tkView struct {
		Ticket   tkTicket    `json:"ticket"`
		Messages []tkMessage `json:"messages"`
		Notes    []tkNote    `json:"notes"`
	}
)

// TestTicketsInstalls: the module starts on a fresh site with its schema
// migrated.
func TestTicketsInstalls(t *testing.T) {
	s := ticketsSite(t)
	if s.srv.Module("tickets") == nil {
		t.Fatal("tickets is not running")
	}
	want := len(s.srv.Module("tickets").Manifest().Migrations)
	if n := s.count(t, `SELECT count(*) FROM websonic.module_migrations WHERE module = 'tickets'`); n != want || want < 1 {
		t.Fatalf("%d migrations of tickets applied, want %d", n, want)
	}
}
