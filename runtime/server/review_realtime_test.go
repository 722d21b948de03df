package server

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/internal/modbuild"
	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/runtime/internal/realtime"
	"github.com/websonic/websonic/runtime/internal/site"
	"github.com/websonic/websonic/sdk/manifest"
)

// squatModules builds the realtime test module and squatter (which tries
// to publish into realtime's chat.*) once per test binary.
var squatModules = sync.OnceValues(func() (string, error) {
	dir := filepath.Join(scratch, "squatmodules")
	for _, src := range []string{"../internal/testmodules/realtime", "../internal/testmodules/squatter"} {
		if err := modbuild.Package(context.Background(), src, filepath.Join(dir, filepath.Base(src))); err != nil {
			return "", err
		}
	}
	return dir, nil
})

// TestRealtimeTopicSquatting: a topic belongs to one module. A module
// whose manifest declares topics overlapping a running module's does not
// start (as for overlapping routes), and a running module may not publish
// into another's topics: a topic's events are its owner's, the module that
// also decides who subscribes. Its own topics stay its own.
func TestRealtimeTopicSquatting(t *testing.T) {
	mods, err := squatModules()
	if err != nil {
		t.Fatal(err)
	}
	s := newSiteWith(t, mods, hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testLog{t}}))
	listener := dial(t, s.URL, nil)
	listener.subscribe("chat.watch")

	// Declaring them is refused at start, for the topic and any prefix
	// over or under it.
	for _, topics := range [][]string{{"chat.*"}, {"chat.watch"}, {"chat.room.*"}} {
		p, err := modhost.LoadDir(filepath.Join(mods, "squatter"))
		if err != nil {
			t.Fatal(err)
		}
		p.Manifest.Name = "squatter_two"
		p.Manifest.Capabilities.Routes = []manifest.Route{{Path: "/squat-two", Access: manifest.AccessPublic}}
		p.Manifest.Capabilities.Topics = topics
		err = s.srv.Start(context.Background(), p, modhost.ApproveAll(p.Manifest))
		if err == nil || !strings.Contains(err.Error(), "overlaps chat.* of module realtime") {
			t.Errorf("a module declaring %v started: %v", topics, err)
		}
	}

	for _, tt := range []struct {
		topic  string
		status int
	}{
		{"chat.watch", http.StatusForbidden}, // realtime's: it owns chat.*
		{"chat.other", http.StatusForbidden},
		{"squat", http.StatusOK}, // its own
	} {
		resp, err := http.Post(s.URL+"/squat/publish?topic="+tt.topic, "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		if b := body(t, resp); resp.StatusCode != tt.status {
			t.Errorf("squatter publish %s: %d %s, want %d", tt.topic, resp.StatusCode, b, tt.status)
		}
	}
	mustPublish(t, s.URL, "chat.watch", `"real"`)
	if f := listener.expect(realtime.TypeEvent, "chat.watch"); string(f.Data) != `"real"` {
		t.Errorf("the subscriber got %s first, want the owner's event", f.Data)
	}
}

// TestRealtimeRolesRevoked: a socket carries the roles its user had when
// it opened them, and a module's subscribe decision rests on them (squat
// is for staff only). Once staff is revoked, the socket must not go on
// with the old roles: the hub closes it (4001), and a new one is refused.
func TestRealtimeRolesRevoked(t *testing.T) {
	mods, err := squatModules()
	if err != nil {
		t.Fatal(err)
	}
	s := newSiteWith(t, mods, hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testLog{t}}))
	client, id := signIn(t, s, "stella")
	store := s.srv.site.Store()
	if err := store.GrantRole(t.Context(), site.Actor{}, id, site.RoleStaff); err != nil {
		t.Fatal(err)
	}
	c := dial(t, s.URL, client)
	c.subscribe("squat")
	c.send(`{"type":"message","topic":"squat","data":1}`)
	if f := c.expect(realtime.TypeEvent, "squat"); !strings.Contains(string(f.Data), `"staff"`) {
		t.Fatalf("as staff: %s", f.Data)
	}

	if err := store.RevokeRole(t.Context(), site.Actor{}, id, site.RoleStaff); err != nil {
		t.Fatal(err)
	}
	if code := c.closed(); code != realtime.CloseSessionEnded {
		t.Errorf("after the role was revoked: close %d, want %d", code, realtime.CloseSessionEnded)
	}
	again := dial(t, s.URL, client)
	again.send(`{"type":"subscribe","topic":"squat"}`)
	if f := again.expect(realtime.TypeRefused, "squat"); f.Reason != realtime.ReasonDenied {
		t.Errorf("a new socket's subscription: %+v", f)
	}
}

// TestRealtimeAnonymousIPv6: the anonymous connections of one IPv6 client
// count by its /64 (one subscriber's usual allocation, as the login guard
// counts), else a client with a /64 could take every connection of the
// replica by using a new address for each.
func TestRealtimeAnonymousIPv6(t *testing.T) {
	mods, err := squatModules()
	if err != nil {
		t.Fatal(err)
	}
	s := newSiteWith(t, mods, hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testLog{t}}), trustLoopback,
		func(c *Config) { c.Realtime = realtime.Limits{MaxPerAnonymousIP: 2} })
	open := func(client string) int {
		c, resp, err := dialWith(t, s.URL, nil, http.Header{"Origin": {s.URL}, "X-Forwarded-For": {client}})
		if err != nil {
			if resp == nil {
				t.Fatalf("dial as %s: %v", client, err)
			}
			return resp.StatusCode
		}
		t.Cleanup(func() { c.ws.CloseNow() })
		return http.StatusSwitchingProtocols
	}
	for _, tt := range []struct {
		client string
		status int
	}{
		{"2001:db8:1:2::1", http.StatusSwitchingProtocols},
		{"2001:db8:1:2::2", http.StatusSwitchingProtocols},
		{"2001:db8:1:2:ffff::3", http.StatusTooManyRequests}, // the same /64
		{"2001:db8:1:3::1", http.StatusSwitchingProtocols},   // another /64
		{"203.0.113.7", http.StatusSwitchingProtocols},
		{"203.0.113.8", http.StatusSwitchingProtocols}, // IPv4 addresses count alone
	} {
		if got := open(tt.client); got != tt.status {
			t.Errorf("as %s: %d, want %d", tt.client, got, tt.status)
		}
	}
}

// TestRealtimeConnectionsOwnTopics: users.connections lists the site's
// connections to a module that may list them (realtime), but of each one's
// subscriptions only those to the caller's own topics: which topics of
// another module (squatter's squat) a user follows is that module's.
func TestRealtimeConnectionsOwnTopics(t *testing.T) {
	mods, err := squatModules()
	if err != nil {
		t.Fatal(err)
	}
	s := newSiteWith(t, mods, hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testLog{t}}))
	client, id := signIn(t, s, "sam")
	if err := s.srv.site.Store().GrantRole(t.Context(), site.Actor{}, id, site.RoleStaff); err != nil {
		t.Fatal(err)
	}
	c := dial(t, s.URL, client)
	c.subscribe("squat")
	c.subscribe("chat.lobby")

	resp, err := http.Get(s.URL + "/rt/connections")
	if err != nil {
		t.Fatal(err)
	}
	b := body(t, resp)
	var conns []struct {
		Username string   `json:"username"`
		Topics   []string `json:"topics"`
	}
	if err := json.Unmarshal([]byte(b), &conns); err != nil {
		t.Fatalf("%d %s: %v", resp.StatusCode, b, err)
	}
	if len(conns) != 1 || conns[0].Username != "sam" || strings.Join(conns[0].Topics, ",") != "chat.lobby" {
		t.Errorf("realtime module sees %s, want sam's connection with chat.lobby only", b)
	}
}
