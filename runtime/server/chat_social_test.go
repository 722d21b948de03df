package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/runtime/internal/realtime"
	"github.com/websonic/websonic/runtime/internal/site"
)

// chatSocialModules is modules/chat built once per test binary: the same
// build as TestChatRooms's (chat_rooms_test.go), shared.
var chatSocialModules = chatRoomsModules

// socialSite is the site TestChatSocial's subtests share.
type socialSite struct {
	*testSite
	t   *testing.T
	clk *fakeClock
	// admin is the site's admin (RunCommand, admin pages); adminC a
	// client signed in as them.
	admin  *site.User
	adminC *http.Client
	logins atomic.Int64 // sign-ins so far: each from its own address
}

// call sends a request with a JSON body (none when body is "") as c and
// returns the status and the body.
func (s *socialSite) call(c *http.Client, method, path, body string) (int, string) {
	s.t.Helper()
	var b any
	if body != "" {
		b = body
	}
	status, answer := chatJSON(s.t, c, method, s.URL+path, b)
	return status, string(answer)
}

// want sends a request and checks its status; it decodes a JSON answer
// into out (nil: ignore it).
func (s *socialSite) want(c *http.Client, method, path, body string, status int, out any) string {
	s.t.Helper()
	got, b := s.call(c, method, path, body)
	if got != status {
		s.t.Fatalf("%s %s %s: %d %s, want %d", method, path, body, got, b, status)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(b), out); err != nil {
			s.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	return b
}

// apiErr is the API's error body.
type apiErr struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

func (s *socialSite) wantErr(c *http.Client, method, path, body string, status int, code, msg string) apiErr {
	s.t.Helper()
	var e apiErr
	s.want(c, method, path, body, status, &e)
	if e.Code != code || !strings.Contains(e.Error, msg) {
		s.t.Fatalf("%s %s %s: %+v, want code %s saying %q", method, path, body, e, code, msg)
	}
	return e
}

// signIn makes a member and signs them in from an address of their own
// (many sign-ins from one address would meet the site's login guard).
func (s *socialSite) signIn(name string) (*http.Client, int64) {
	s.t.Helper()
	u, err := s.srv.site.Store().CreateUser(s.t.Context(), site.NewUser{Username: name, Password: usersPassword, Role: site.RoleMember})
	if err != nil {
		s.t.Fatal(err)
	}
	n := s.logins.Add(1)
	c := s.client(s.t)
	if st := s.chatLogin(c, fmt.Sprintf("10.77.%d.%d", n/250, n%250+1), name, usersPassword); st != http.StatusSeeOther {
		s.t.Fatalf("login %s: %d", name, st)
	}
	return c, u.ID
}

// member signs a new member in, with a socket subscribed to their own
// chat.user topic.
func (s *socialSite) member(name string) (*http.Client, int64, *wsClient) {
	s.t.Helper()
	c, id := s.signIn(name)
	ws := dial(s.t, s.URL, c)
	ws.subscribe(fmt.Sprintf("chat.user.%d", id))
	return c, id, ws
}

// event reads ws's frames until an event on topic whose data's kind is
// kind, and returns its data. Events of other kinds are skipped.
func event(t *testing.T, ws *wsClient, topic, kind string) map[string]any {
	t.Helper()
	for {
		f := ws.next()
		if f.Type != realtime.TypeEvent {
			t.Fatalf("got %+v (data %s), waiting for a %s event on %s", f, f.Data, kind, topic)
		}
		var d map[string]any
		if err := json.Unmarshal(f.Data, &d); err != nil {
			t.Fatal(err)
		}
		if f.Topic == topic && d["kind"] == kind {
			return d
		}
	}
}

// nextEvent reads ws's next event and checks its topic and kind.
func nextEvent(t *testing.T, ws *wsClient, topic, kind string) map[string]any {
	t.Helper()
	f := ws.next()
	var d map[string]any
	json.Unmarshal(f.Data, &d)
	if f.Type != realtime.TypeEvent || f.Topic != topic || d["kind"] != kind {
		t.Fatalf("got %+v (data %s), want a %s event on %s", f, f.Data, kind, topic)
	}
	return d
}

func num(v any) int64 {
	f, _ := v.(float64)
	return int64(f)
}

// moduleCount counts rows of the chat's schema.
func (s *socialSite) moduleCount(sql string, args ...any) int {
	s.t.Helper()
	var n int
	if err := s.srv.Module("chat").DB().Pool().QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		s.t.Fatal(err)
	}
	return n
}

func (s *socialSite) moduleExec(sql string, args ...any) {
	s.t.Helper()
	if _, err := s.srv.Module("chat").DB().Pool().Exec(context.Background(), sql, args...); err != nil {
		s.t.Fatal(err)
	}
}

// command runs a chat command as the admin.
func (s *socialSite) command(name string, args map[string]any) (*CommandResult, error) {
	s.t.Helper()
	raw := map[string]json.RawMessage{}
	for k, v := range args {
		b, _ := json.Marshal(v)
		raw[k] = b
	}
	return s.srv.RunCommand(context.Background(), s.admin, "chat", name, raw)
}

// TestChatSocial drives the chat's social side (friends, conversations,
// presence, profiles and avatars, the moderation commands and page)
// through real HTTP and WebSocket clients against the compiled module and
// a real PostgreSQL: one site for all the subtests, each with users of
// its own.
func TestChatSocial(t *testing.T) {
	mods, err := chatSocialModules()
	if err != nil {
		t.Fatal(err)
	}
	clk := newFakeClock(time.Date(2030, 1, 1, 9, 0, 30, 0, time.UTC))
	ts := newSiteWith(t, mods, hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testLog{t}}), trustLoopback,
		func(c *Config) {
			c.JobClock = clk.now
			// One call decodes a 4096×4096 photo: over a second of wasm,
			// several when the machine is busy with other tests.
			c.Pool.CallTimeout = 30 * time.Second
		})
	s := &socialSite{testSite: ts, t: t, clk: clk}
	s.admin = ts.user(t, "root", site.RoleAdmin)
	s.adminC = ts.client(t)
	if resp := postForm(t, s.adminC, s.URL+"/login", url.Values{"username": {"root"}, "password": {"correct-horse-battery-staple-42"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("admin login: %d", resp.StatusCode)
	}
	pollAll(s.srv) // the jobs' first look: nothing due before the next minute

	t.Run("friends", func(t *testing.T) { s.t = t; testFriends(s) })
	t.Run("conversations", func(t *testing.T) { s.t = t; testConversations(s) })
	t.Run("presence", func(t *testing.T) { s.t = t; testPresence(s) })
	t.Run("profile", func(t *testing.T) { s.t = t; testProfile(s) })
	t.Run("avatar", func(t *testing.T) { s.t = t; testAvatar(s) })
	t.Run("kick", func(t *testing.T) { s.t = t; testKick(s) })
	t.Run("make_admin and change_password", func(t *testing.T) { s.t = t; testAccountCommands(s) })
	t.Run("show_clients and the moderation page", func(t *testing.T) { s.t = t; testModerationPage(s) })
	t.Run("threads", func(t *testing.T) { s.t = t; testThreads(s) })
	t.Run("ban", func(t *testing.T) { s.t = t; testBan(s) }) // last: it blocks the addresses it saw
}

// friendsOf reads c's GET /chat/api/friends.
type friendsAnswer struct {
	Friends []struct {
		ID       int64  `json:"id"`
		Username string `json:"username"`
		Presence string `json:"presence"`
	} `json:"friends"`
	Incoming []struct {
		ID   int64 `json:"id"`
		User struct {
			Username string `json:"username"`
		} `json:"user"`
	} `json:"incoming"`
	Outgoing []struct {
		ID   int64 `json:"id"`
		User struct {
			Username string `json:"username"`
		} `json:"user"`
	} `json:"outgoing"`
	Blocked []struct {
		Username string `json:"username"`
	} `json:"blocked"`
}

func (s *socialSite) friends(c *http.Client) friendsAnswer {
	s.t.Helper()
	var f friendsAnswer
	s.want(c, "GET", "/chat/api/friends", "", http.StatusOK, &f)
	return f
}

func (f friendsAnswer) names() string {
	var out []string
	for _, x := range f.Friends {
		out = append(out, x.Username)
	}
	return strings.Join(out, ",")
}

type requestAnswer struct {
	ID    int64  `json:"id"`
	State string `json:"state"`
	User  struct {
		ID       int64  `json:"id"`
		Username string `json:"username"`
	} `json:"user"`
}

func (s *socialSite) ask(c *http.Client, username string, status int) requestAnswer {
	s.t.Helper()
	var r requestAnswer
	if status == http.StatusOK {
		s.want(c, "POST", "/chat/api/friends/requests", `{"username":"`+username+`"}`, status, &r)
	} else {
		s.want(c, "POST", "/chat/api/friends/requests", `{"username":"`+username+`"}`, status, nil)
	}
	return r
}

func testFriends(s *socialSite) {
	t := s.t
	alice, aliceID, aliceWS := s.member("f_alice")
	bob, bobID, bobWS := s.member("f_bob")
	carol, carolID, carolWS := s.member("f_carol")
	dave, _, _ := s.member("f_dave")
	frank, frankID, frankWS := s.member("f_frank")

	// A request: the recipient hears of it, both reload their lists.
	r := s.ask(alice, "F_Bob", http.StatusOK)
	if r.State != "pending" || r.User.ID != bobID {
		t.Fatalf("request: %+v", r)
	}
	ev := nextEvent(t, bobWS, fmt.Sprintf("chat.user.%d", bobID), "friend_request")
	req := ev["request"].(map[string]any)
	if num(req["id"]) != r.ID || req["user"].(map[string]any)["username"] != "f_alice" || req["created_at"] == "" {
		t.Fatalf("friend_request event: %v", ev)
	}
	nextEvent(t, bobWS, fmt.Sprintf("chat.user.%d", bobID), "friends")
	nextEvent(t, aliceWS, fmt.Sprintf("chat.user.%d", aliceID), "friends")
	if f := s.friends(bob); len(f.Incoming) != 1 || f.Incoming[0].User.Username != "f_alice" || f.Incoming[0].ID != r.ID {
		t.Fatalf("bob's incoming: %+v", f)
	}
	if f := s.friends(alice); len(f.Outgoing) != 1 || f.Outgoing[0].User.Username != "f_bob" {
		t.Fatalf("alice's outgoing: %+v", f)
	}
	s.wantErr(alice, "POST", "/chat/api/friends/requests", `{"username":"f_bob"}`, http.StatusConflict, "conflict", "already asked")
	s.wantErr(alice, "POST", "/chat/api/friends/requests", `{"username":"nobody_here"}`, http.StatusNotFound, "not_found", "no user nobody_here")
	s.wantErr(alice, "POST", "/chat/api/friends/requests", `{"username":"f_alice"}`, http.StatusBadRequest, "invalid", "yourself")
	s.wantErr(alice, "POST", "/chat/api/friends/requests", `{"user":"f_bob"}`, http.StatusBadRequest, "invalid", "not the JSON expected")
	// Only the recipient accepts; only the sender cancels.
	s.wantErr(alice, "POST", fmt.Sprintf("/chat/api/friends/requests/%d/accept", r.ID), "", http.StatusNotFound, "not_found", "No such friend request")
	s.wantErr(carol, "POST", fmt.Sprintf("/chat/api/friends/requests/%d/refuse", r.ID), "", http.StatusNotFound, "not_found", "No such friend request")
	s.wantErr(bob, "POST", fmt.Sprintf("/chat/api/friends/requests/%d/cancel", r.ID), "", http.StatusNotFound, "not_found", "No such friend request")
	s.want(bob, "POST", fmt.Sprintf("/chat/api/friends/requests/%d/accept", r.ID), "", http.StatusNoContent, nil)
	nextEvent(t, aliceWS, fmt.Sprintf("chat.user.%d", aliceID), "friends")
	nextEvent(t, bobWS, fmt.Sprintf("chat.user.%d", bobID), "friends")
	if f := s.friends(alice); f.names() != "f_bob" || f.Friends[0].Presence != "offline" || len(f.Outgoing) != 0 {
		t.Fatalf("alice's friends: %+v", f)
	}
	if f := s.friends(bob); f.names() != "f_alice" || len(f.Incoming) != 0 {
		t.Fatalf("bob's friends: %+v", f)
	}
	s.wantErr(bob, "POST", fmt.Sprintf("/chat/api/friends/requests/%d/accept", r.ID), "", http.StatusConflict, "conflict", "already accepted")
	s.wantErr(bob, "POST", "/chat/api/friends/requests", `{"username":"f_alice"}`, http.StatusConflict, "conflict", "already friends")

	// A refusal: the sender may not ask again for a while, and is told
	// in a sentence that a block (below) repeats word for word.
	r = s.ask(alice, "f_carol", http.StatusOK)
	s.want(carol, "POST", fmt.Sprintf("/chat/api/friends/requests/%d/refuse", r.ID), "", http.StatusNoContent, nil)
	st, refusedBody := s.call(alice, "POST", "/chat/api/friends/requests", `{"username":"f_carol"}`)
	if st != http.StatusForbidden || !strings.Contains(refusedBody, "You cannot send f_carol a friend request now.") {
		t.Fatalf("asking again after a refusal: %d %s", st, refusedBody)
	}
	if n := s.moduleCount(`SELECT count(*) FROM friend_requests WHERE from_id = $1 AND to_id = $2`, aliceID, carolID); n != 1 {
		t.Fatalf("%d requests from alice to carol", n)
	}
	// The one who refused may ask; the other's cancel and accept follow
	// who they are.
	r = s.ask(carol, "f_alice", http.StatusOK)
	s.want(carol, "POST", fmt.Sprintf("/chat/api/friends/requests/%d/cancel", r.ID), "", http.StatusNoContent, nil)
	s.wantErr(alice, "POST", fmt.Sprintf("/chat/api/friends/requests/%d/accept", r.ID), "", http.StatusConflict, "conflict", "already cancelled")

	// Requests crossing: the second accepts the first at once.
	r = s.ask(dave, "f_alice", http.StatusOK)
	if r2 := s.ask(alice, "f_dave", http.StatusOK); r2.State != "accepted" || r2.ID != r.ID {
		t.Fatalf("crossing request: %+v (first %d)", r2, r.ID)
	}
	if f := s.friends(dave); f.names() != "f_alice" || len(f.Outgoing) != 0 {
		t.Fatalf("dave's friends: %+v", f)
	}
	// Removing a friend, once.
	s.want(alice, "DELETE", fmt.Sprintf("/chat/api/friends/%d", s.idOf("f_dave")), "", http.StatusNoContent, nil)
	s.wantErr(alice, "DELETE", fmt.Sprintf("/chat/api/friends/%d", s.idOf("f_dave")), "", http.StatusNotFound, "not_found", "not your friend")
	if f := s.friends(dave); f.names() != "" {
		t.Fatalf("dave's friends after removal: %+v", f)
	}

	// A block ends a pending request as a refusal would, and the blocked
	// user is told exactly what a refused one is told.
	r = s.ask(frank, "f_carol", http.StatusOK)
	event(t, carolWS, fmt.Sprintf("chat.user.%d", carolID), "friend_request")
	s.want(carol, "POST", "/chat/api/blocks", `{"username":"f_frank"}`, http.StatusNoContent, nil)
	st, blockedBody := s.call(frank, "POST", "/chat/api/friends/requests", `{"username":"f_carol"}`)
	if st != http.StatusForbidden || blockedBody != refusedBody {
		t.Fatalf("a blocked user's request: %d %s, want the refusal's %s", st, blockedBody, refusedBody)
	}
	if f := s.friends(frank); len(f.Outgoing) != 0 || len(f.Blocked) != 0 || f.names() != "" {
		t.Fatalf("frank's view after the block: %+v", f)
	}
	if f := s.friends(carol); len(f.Blocked) != 1 || f.Blocked[0].Username != "f_frank" || len(f.Incoming) != 0 {
		t.Fatalf("carol's view after the block: %+v", f)
	}
	s.wantErr(carol, "POST", "/chat/api/friends/requests", `{"username":"f_frank"}`, http.StatusConflict, "conflict", "unblock them first")
	// frank saw his request end (as any refusal) and nothing else: the
	// next event on his topic is the one that follows.
	nextEvent(t, frankWS, fmt.Sprintf("chat.user.%d", frankID), "friends") // his request to carol
	nextEvent(t, frankWS, fmt.Sprintf("chat.user.%d", frankID), "friends") // it ended
	s.want(carol, "DELETE", fmt.Sprintf("/chat/api/blocks/%d", frankID), "", http.StatusNoContent, nil)
	s.wantErr(carol, "DELETE", fmt.Sprintf("/chat/api/blocks/%d", frankID), "", http.StatusNotFound, "not_found", "not blocked")
	r = s.ask(carol, "f_frank", http.StatusOK)
	if ev := nextEvent(t, frankWS, fmt.Sprintf("chat.user.%d", frankID), "friend_request"); num(ev["request"].(map[string]any)["id"]) != r.ID {
		t.Fatalf("frank's next event: %v", ev)
	}
	s.want(frank, "POST", fmt.Sprintf("/chat/api/friends/requests/%d/accept", r.ID), "", http.StatusNoContent, nil)
	// A block between friends ends the friendship.
	s.want(frank, "POST", "/chat/api/blocks", `{"username":"f_carol"}`, http.StatusNoContent, nil)
	if f := s.friends(carol); f.names() != "" {
		t.Fatalf("carol's friends after frank blocked her: %+v", f)
	}

	// Requests crossing at the same moment, many pairs at once: each pair
	// ends friends, with one request accepted and none left pending.
	const pairs = 8
	type pair struct {
		a, b         *http.Client
		aName, bName string
	}
	ps := make([]pair, pairs)
	for i := range ps {
		ps[i].aName, ps[i].bName = fmt.Sprintf("f_x%d", i), fmt.Sprintf("f_y%d", i)
		ps[i].a, _ = s.signIn(ps[i].aName)
		ps[i].b, _ = s.signIn(ps[i].bName)
	}
	var wg sync.WaitGroup
	statuses := make(chan int, 2*pairs)
	for _, p := range ps {
		for _, d := range []struct {
			c    *http.Client
			whom string
		}{{p.a, p.bName}, {p.b, p.aName}} {
			wg.Go(func() { // not s.call: no t.Fatal off the test's goroutine
				resp, err := d.c.Post(s.URL+"/chat/api/friends/requests", "application/json", strings.NewReader(`{"username":"`+d.whom+`"}`))
				if err != nil {
					statuses <- -1
					return
				}
				resp.Body.Close()
				statuses <- resp.StatusCode
			})
		}
	}
	wg.Wait()
	close(statuses)
	for st := range statuses {
		if st != http.StatusOK && st != http.StatusConflict {
			t.Fatalf("a crossing request answered %d", st)
		}
	}
	for _, p := range ps {
		if f := s.friends(p.a); f.names() != p.bName || len(f.Incoming)+len(f.Outgoing) != 0 {
			t.Fatalf("%s after crossing requests: %+v", p.aName, f)
		}
		if n := s.moduleCount(`SELECT count(*) FROM friend_requests r JOIN websonic_api.users u ON u.id = r.from_id WHERE u.username IN ($1, $2) AND r.state = 'accepted'`, p.aName, p.bName); n != 1 {
			t.Fatalf("%s and %s: %d accepted requests", p.aName, p.bName, n)
		}
	}

	// An admin makes two people friends without asking them; a block
	// stands in the way; members may not.
	s.wantErr(alice, "POST", "/chat/api/friends/force", `{"a":"f_alice","b":"f_frank"}`, http.StatusForbidden, "forbidden", "admins")
	s.want(s.adminC, "POST", "/chat/api/friends/force", `{"a":"f_alice","b":"f_frank"}`, http.StatusNoContent, nil)
	if f := s.friends(frank); f.names() != "f_alice" {
		t.Fatalf("frank's friends after the admin's: %+v", f)
	}
	if n := s.moduleCount(`SELECT count(*) FROM friends WHERE forced_by = $1`, s.admin.ID); n != 1 {
		t.Fatalf("%d forced friendships", n)
	}
	if n := s.moduleCount(`SELECT count(*) FROM audit WHERE action = 'friends.force' AND actor_id = $1 AND (detail->>'a')::bigint = $2 AND (detail->>'b')::bigint = $3`, s.admin.ID, aliceID, frankID); n != 1 {
		t.Fatalf("%d audit rows for the forced friendship", n)
	}
	s.wantErr(s.adminC, "POST", "/chat/api/friends/force", `{"a":"f_alice","b":"f_bob"}`, http.StatusConflict, "conflict", "already friends")
	s.wantErr(s.adminC, "POST", "/chat/api/friends/force", `{"a":"f_carol","b":"f_frank"}`, http.StatusConflict, "conflict", "f_frank blocked f_carol")
	s.wantErr(s.adminC, "POST", "/chat/api/friends/force", `{"a":"f_carol","b":"f_carol"}`, http.StatusBadRequest, "invalid", "two different")
	_ = bob
}

// idOf is a user's id.
func (s *socialSite) idOf(username string) int64 {
	s.t.Helper()
	var id int64
	if err := s.srv.db.Pool.QueryRow(context.Background(), `SELECT id FROM websonic.users WHERE username = $1`, username).Scan(&id); err != nil {
		s.t.Fatal(err)
	}
	return id
}

// befriend makes two members friends through the API.
func (s *socialSite) befriend(a *http.Client, b *http.Client, bName string) {
	s.t.Helper()
	r := s.ask(a, bName, http.StatusOK)
	s.want(b, "POST", fmt.Sprintf("/chat/api/friends/requests/%d/accept", r.ID), "", http.StatusNoContent, nil)
}

type roomAnswer struct {
	ID       int64  `json:"id"`
	Kind     string `json:"kind"`
	Name     string `json:"name"`
	Policy   string `json:"policy"`
	Member   bool   `json:"member"`
	Unread   int    `json:"unread"`
	Request  any    `json:"request"`
	Archived bool   `json:"archived"`
	Members  []struct {
		ID       int64  `json:"id"`
		Username string `json:"username"`
	} `json:"members"`
}

func (r roomAnswer) memberNames() string {
	var out []string
	for _, m := range r.Members {
		out = append(out, m.Username)
	}
	return strings.Join(out, ",")
}

func testConversations(s *socialSite) {
	t := s.t
	ann, annID, _ := s.member("c_ann")
	ben, benID, benWS := s.member("c_ben")
	cat, _, catWS := s.member("c_cat")
	dan, _, _ := s.member("c_dan")
	s.befriend(ann, ben, "c_ben")
	s.befriend(ann, cat, "c_cat")

	// A dm between friends: made once, then the same for both.
	var dm roomAnswer
	s.want(ann, "POST", "/chat/api/dms", `{"username":"c_ben"}`, http.StatusOK, &dm)
	if dm.Kind != "dm" || dm.Name != "c_ben" || !dm.Member || dm.Request != nil || dm.Policy != "invite" || len(dm.Members) != 2 {
		t.Fatalf("dm: %+v", dm)
	}
	if ev := event(t, benWS, fmt.Sprintf("chat.user.%d", benID), "room_added"); num(ev["room_id"]) != dm.ID {
		t.Fatalf("ben's room_added: %v", ev)
	}
	var again roomAnswer
	s.want(ben, "POST", "/chat/api/dms", `{"username":"c_ann"}`, http.StatusOK, &again)
	if again.ID != dm.ID || again.Name != "c_ann" {
		t.Fatalf("the dm from the other side: %+v, first %+v", again, dm)
	}
	lo, hi := min(annID, benID), max(annID, benID)
	if n := s.moduleCount(`SELECT count(*) FROM rooms WHERE kind = 'dm' AND dm_key = $1`, fmt.Sprintf("%d:%d", lo, hi)); n != 1 {
		t.Fatalf("%d dms for the pair", n)
	}
	if n := s.moduleCount(`SELECT count(*) FROM members WHERE room_id = $1`, dm.ID); n != 2 {
		t.Fatalf("%d members in the dm", n)
	}
	// Not with a non-friend, nor oneself, nor after a block.
	s.wantErr(ann, "POST", "/chat/api/dms", `{"username":"c_dan"}`, http.StatusForbidden, "forbidden", "only to your friends")
	s.wantErr(ann, "POST", "/chat/api/dms", `{"username":"c_ann"}`, http.StatusBadRequest, "invalid", "someone else")
	s.want(cat, "POST", "/chat/api/blocks", `{"username":"c_ann"}`, http.StatusNoContent, nil)
	s.wantErr(ann, "POST", "/chat/api/dms", `{"username":"c_cat"}`, http.StatusForbidden, "forbidden", "only to your friends")
	s.want(cat, "DELETE", fmt.Sprintf("/chat/api/blocks/%d", annID), "", http.StatusNoContent, nil)
	s.befriend(cat, ann, "c_ann")

	// Groups: 2 to 50 friends of the creator, who owns it.
	s.befriend(ann, dan, "c_dan")
	var g roomAnswer
	s.want(ann, "POST", "/chat/api/groups", `{"name":"  Lunch crew ","usernames":["c_ben","@c_cat","C_BEN","c_ann"]}`, http.StatusOK, &g)
	if g.Kind != "group" || g.Name != "Lunch crew" || g.Policy != "invite" || g.memberNames() != "c_ann,c_ben,c_cat" {
		t.Fatalf("group: %+v", g)
	}
	if n := s.moduleCount(`SELECT count(*) FROM members WHERE room_id = $1 AND user_id = $2 AND role = 'owner'`, g.ID, annID); n != 1 {
		t.Fatal("the creator does not own the group")
	}
	event(t, catWS, fmt.Sprintf("chat.user.%d", s.idOf("c_cat")), "room_added")
	many := make([]string, 51)
	for i := range many {
		many[i] = fmt.Sprintf("c_x%02d", i)
	}
	manyJSON, _ := json.Marshal(many)
	for _, tt := range []struct {
		body       string
		status     int
		code, text string
	}{
		{`{"name":"","usernames":["c_ben","c_cat"]}`, 400, "invalid", "Give the group a name"},
		{`{"name":"` + strings.Repeat("n", 81) + `","usernames":["c_ben","c_cat"]}`, 400, "invalid", "at most 80"},
		{`{"name":"a\u0007b","usernames":["c_ben","c_cat"]}`, 400, "invalid", "control characters"},
		{`{"name":"Two","usernames":["c_ben","c_ann"]}`, 400, "invalid", "at least 2"},
		{`{"name":"Crowd","usernames":` + string(manyJSON) + `}`, 400, "invalid", "at most 50"},
		{`{"name":"Who","usernames":["c_ben","nobody_at_all"]}`, 404, "not_found", "nobody_at_all"},
		{`{"name":"Strangers","usernames":["c_ben","f_alice"]}`, 403, "forbidden", "f_alice is not your friend"},
	} {
		s.wantErr(ann, "POST", "/chat/api/groups", tt.body, tt.status, tt.code, tt.text)
	}
	_ = dan
}

func testPresence(s *socialSite) {
	t := s.t
	pam, pamID, pamWS := s.member("p_pam")
	_, _, watch := s.member("p_watch")
	watch.subscribe("chat.presence")
	pamWS.subscribe("chat.presence")
	heartbeat := func() { pamWS.send(`{"type":"message","topic":"chat.presence","data":{"type":"heartbeat"}}`) }
	wantPresence := func(status string) {
		t.Helper()
		ev := nextEvent(t, watch, "chat.presence", "presence")
		if num(ev["user_id"]) != pamID || ev["status"] != status {
			t.Fatalf("presence event %v, want pam %s", ev, status)
		}
	}
	profilePresence := func() string {
		t.Helper()
		var p struct{ Presence string }
		s.want(pam, "GET", "/chat/api/users/p_pam", "", http.StatusOK, &p)
		return p.Presence
	}
	if p := profilePresence(); p != "offline" {
		t.Fatalf("never seen: %s", p)
	}
	// The first heartbeats, from two pages at once: online, announced once.
	page2 := dial(t, s.URL, pam)
	page2.subscribe("chat.presence")
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, ws := range []*wsClient{pamWS, page2} {
		wg.Go(func() {
			errs <- ws.ws.Write(context.Background(), websocket.MessageText, []byte(`{"type":"message","topic":"chat.presence","data":{"type":"heartbeat"}}`))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	wantPresence("online")
	heartbeat()
	s.want(pam, "PUT", "/chat/api/presence", `{"status":"dnd"}`, http.StatusNoContent, nil)
	wantPresence("dnd") // the second heartbeat announced nothing
	if p := profilePresence(); p != "dnd" {
		t.Fatalf("after choosing dnd: %s", p)
	}
	s.wantErr(pam, "PUT", "/chat/api/presence", `{"status":"busy"}`, http.StatusBadRequest, "invalid", "online, away, dnd or offline")
	// A frame that is not a heartbeat is refused.
	pamWS.send(`{"type":"message","topic":"chat.presence","data":{"type":"heartbeat","extra":1}}`)
	for {
		f := pamWS.next()
		if f.Type == realtime.TypeEvent { // her own presence, heard as anyone's
			continue
		}
		if f.Type != realtime.TypeError || f.Code != realtime.CodeRefused {
			t.Fatalf("a bad presence frame: %+v", f)
		}
		break
	}

	// Heartbeats stop: the next run of the job announces pam offline.
	s.moduleExec(`UPDATE presence SET last_seen = now() - interval '2 minutes' WHERE user_id = $1`, pamID)
	if p := profilePresence(); p != "offline" {
		t.Fatalf("stale: %s", p)
	}
	s.clk.set(time.Date(2030, 1, 1, 9, 1, 5, 0, time.UTC))
	pollAll(s.srv)
	if runs := jobRuns(t, s.srv, "chat", "presence"); len(runs) != 1 || runs[0] != "09:01 ok" {
		t.Fatalf("presence runs: %q", runs)
	}
	wantPresence("offline")
	// The first heartbeat after that announces her chosen status again.
	heartbeat()
	wantPresence("dnd")
	// Choosing offline (invisible) is announced; heartbeats keep it so.
	s.want(pam, "PUT", "/chat/api/presence", `{"status":"offline"}`, http.StatusNoContent, nil)
	wantPresence("offline")
	heartbeat()
	s.want(pam, "PUT", "/chat/api/presence", `{"status":"away"}`, http.StatusNoContent, nil)
	wantPresence("away")
	// The job announces nobody present twice.
	s.clk.set(time.Date(2030, 1, 1, 9, 2, 5, 0, time.UTC))
	pollAll(s.srv)
	s.want(pam, "PUT", "/chat/api/presence", `{"status":"online"}`, http.StatusNoContent, nil)
	wantPresence("online")
}

func testProfile(s *socialSite) {
	t := s.t
	quinn, quinnID, _ := s.member("pr_quinn")
	other, _, _ := s.member("pr_other")
	type profile struct {
		User struct {
			ID          int64  `json:"id"`
			Username    string `json:"username"`
			DisplayName string `json:"display_name"`
		} `json:"user"`
		About    string `json:"about"`
		Avatar   string `json:"avatar"`
		Presence string `json:"presence"`
	}
	var p profile
	s.want(quinn, "PATCH", "/chat/api/profile", `{"display_name":"  Quinn <b>Q</b> ","about":"Sales, 2nd floor.\nAsk me about <script>."}`, http.StatusOK, &p)
	if p.User.ID != quinnID || p.User.DisplayName != "Quinn <b>Q</b>" || p.About != "Sales, 2nd floor.\nAsk me about <script>." || p.Avatar != "" {
		t.Fatalf("profile: %+v", p)
	}
	var seen profile
	s.want(other, "GET", "/chat/api/users/PR_QUINN", "", http.StatusOK, &seen)
	if seen.User.DisplayName != "Quinn <b>Q</b>" || seen.About != p.About {
		t.Fatalf("seen by another: %+v", seen)
	}
	// Only what is given changes.
	s.want(quinn, "PATCH", "/chat/api/profile", `{"about":""}`, http.StatusOK, &p)
	if p.User.DisplayName != "Quinn <b>Q</b>" || p.About != "" {
		t.Fatalf("after clearing about: %+v", p)
	}
	for _, tt := range []struct{ body, text string }{
		{`{"display_name":"` + strings.Repeat("é", 61) + `"}`, "at most 60 characters"},
		{`{"about":"` + strings.Repeat("a", 301) + `"}`, "at most 300 characters"},
		{`{"display_name":"two\nlines"}`, "line breaks"},
		{`{"display_name":"evil\u202egnp.exe"}`, "control characters"},
		{`{"about":"bell\u0007"}`, "control characters"},
		{`{}`, "Nothing to change"},
		{`{"display_name":"x","avatar":"y"}`, "not the JSON expected"},
	} {
		s.wantErr(quinn, "PATCH", "/chat/api/profile", tt.body, http.StatusBadRequest, "invalid", tt.text)
	}
	s.wantErr(quinn, "GET", "/chat/api/users/no_such_person", "", http.StatusNotFound, "not_found", "no_such_person")
	// The chat's display name is the one others see in lists.
	s.befriend(other, quinn, "pr_quinn")
	var f struct {
		Friends []struct {
			DisplayName string `json:"display_name"`
		} `json:"friends"`
	}
	s.want(other, "GET", "/chat/api/friends", "", http.StatusOK, &f)
	if len(f.Friends) != 1 || f.Friends[0].DisplayName != "Quinn <b>Q</b>" {
		t.Fatalf("other's friends: %+v", f)
	}
	// An empty display name falls back to the site's.
	s.want(quinn, "PATCH", "/chat/api/profile", `{"display_name":""}`, http.StatusOK, &p)
	if p.User.DisplayName != "pr_quinn" {
		t.Fatalf("after clearing the display name: %+v", p)
	}
}

// testImage is a w×h picture with gradients (not trivial to compress).
func testImage(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8((x ^ y) & 0x3f), 255})
		}
	}
	return img
}

// upload posts data as the multipart field field, named filename with
// the content type ctype, to the avatar endpoint.
func (s *socialSite) upload(c *http.Client, field, filename, ctype string, data []byte) (int, string) {
	s.t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	h := make(map[string][]string)
	h["Content-Disposition"] = []string{fmt.Sprintf(`form-data; name=%q; filename=%q`, field, filename)}
	h["Content-Type"] = []string{ctype}
	pw, err := mw.CreatePart(h)
	if err != nil {
		s.t.Fatal(err)
	}
	pw.Write(data)
	mw.Close()
	req, _ := http.NewRequest("POST", s.URL+"/chat/api/profile/avatar", &b)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := c.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// pngBombHeader is a PNG whose header claims w×h RGBA pixels.
func pngBombHeader(t *testing.T, w, h int) []byte {
	t.Helper()
	// Encode a 1×1 picture and patch its IHDR (and CRC).
	var b bytes.Buffer
	png.Encode(&b, image.NewNRGBA(image.Rect(0, 0, 1, 1)))
	data := b.Bytes()
	put := func(off int, v uint32) {
		data[off], data[off+1], data[off+2], data[off+3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
	}
	put(16, uint32(w))
	put(20, uint32(h))
	put(29, crc32.ChecksumIEEE(data[12:29]))
	return data
}

func testAvatar(s *socialSite) {
	t := s.t
	rita, ritaID, _ := s.member("av_rita")
	viewer, _, _ := s.member("av_viewer")
	var p struct {
		Avatar string `json:"avatar"`
	}
	avatarTag := func() string {
		t.Helper()
		s.want(viewer, "GET", "/chat/api/users/av_rita", "", http.StatusOK, &p)
		return p.Avatar
	}
	get := func(path, inm string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", s.URL+path, nil)
		if inm != "" {
			req.Header.Set("If-None-Match", inm)
		}
		resp, err := viewer.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	fetch := func() (image.Image, http.Header) {
		t.Helper()
		resp := get(avatarTag(), "")
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("avatar: %d %s", resp.StatusCode, b)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("the avatar is not a PNG: %v", err)
		}
		return img, resp.Header
	}

	// A PNG and a JPEG, each stored as a 128×128 PNG.
	var pngData bytes.Buffer
	png.Encode(&pngData, testImage(300, 200))
	if st, b := s.upload(rita, "avatar", "me.png", "image/png", pngData.Bytes()); st != http.StatusOK || !strings.Contains(b, `"avatar":"/chat/avatars/`) {
		t.Fatalf("png upload: %d %s", st, b)
	}
	img, h := fetch()
	if img.Bounds() != image.Rect(0, 0, 128, 128) {
		t.Fatalf("avatar %v", img.Bounds())
	}
	etag := h.Get("ETag")
	if h.Get("Content-Type") != "image/png" || h.Get("X-Content-Type-Options") != "nosniff" || etag == "" ||
		!strings.Contains(strings.Join(h.Values("Content-Security-Policy"), ","), "default-src 'none'") ||
		!strings.HasPrefix(h.Get("Cache-Control"), "private") {
		t.Fatalf("avatar headers: %v", h)
	}
	resp := get(avatarTag(), etag)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match: %d", resp.StatusCode)
	}
	first := avatarTag()
	var jpgData bytes.Buffer
	jpeg.Encode(&jpgData, testImage(640, 480), &jpeg.Options{Quality: 85})
	// The client's type is not believed: this JPEG says it is a GIF.
	if st, b := s.upload(rita, "avatar", "photo.gif", "image/gif", jpgData.Bytes()); st != http.StatusOK {
		t.Fatalf("jpeg upload: %d %s", st, b)
	}
	if img, _ := fetch(); img.Bounds() != image.Rect(0, 0, 128, 128) || avatarTag() == first {
		t.Fatalf("after the jpeg: %v, url %s (was %s)", img.Bounds(), avatarTag(), first)
	}
	stored := avatarTag()

	// Refused with a clear error, and nothing stored.
	var gifData bytes.Buffer
	gif.Encode(&gifData, testImage(32, 32), nil)
	big := make([]byte, 1536<<10)
	copy(big, jpgData.Bytes())
	for _, tt := range []struct {
		name, field string
		data        []byte
		status      int
		text        string
	}{
		{"gif", "avatar", gifData.Bytes(), http.StatusBadRequest, "PNG or JPEG"},
		{"text named .png", "avatar", []byte("just some text, honest\n"), http.StatusBadRequest, "PNG or JPEG"},
		{"png bomb header", "avatar", pngBombHeader(t, 100000, 100000), http.StatusBadRequest, "100000×100000 pixels"},
		{"64 MiB of pixels", "avatar", pngBombHeader(t, 4096, 4096), http.StatusBadRequest, "too many to process"},
		{"truncated jpeg", "avatar", jpgData.Bytes()[:jpgData.Len()/2], http.StatusBadRequest, "damaged or incomplete"},
		{"wrong field", "picture", pngData.Bytes(), http.StatusBadRequest, `is missing`},
		{"over 1 MiB", "avatar", big, http.StatusRequestEntityTooLarge, ""},
	} {
		st, b := s.upload(rita, tt.field, "x.png", "image/png", tt.data)
		if st != tt.status || !strings.Contains(b, tt.text) {
			t.Errorf("%s: %d %s", tt.name, st, b)
		}
		if tt.status == http.StatusBadRequest && !strings.Contains(b, `"code":"invalid"`) {
			t.Errorf("%s: %s", tt.name, b)
		}
	}
	if got := avatarTag(); got != stored {
		t.Fatalf("a refused upload changed the avatar: %s, was %s", got, stored)
	}
	st, _ := s.call(rita, "POST", "/chat/api/profile/avatar", `{"avatar":"x"}`)
	if st != http.StatusBadRequest {
		t.Fatalf("json upload: %d", st)
	}

	// A 4096×4096 photo, as phones take them, fits the instance's memory
	// (64 MiB in these tests).
	var photo bytes.Buffer
	jpeg.Encode(&photo, testImage(4096, 4096), &jpeg.Options{Quality: 60})
	if photo.Len() > 1000<<10 {
		t.Fatalf("the test photo is %d bytes", photo.Len())
	}
	start := time.Now()
	if st, b := s.upload(rita, "avatar", "big.jpg", "image/jpeg", photo.Bytes()); st != http.StatusOK {
		t.Fatalf("4096×4096 jpeg: %d %s", st, b)
	}
	t.Logf("a 4096×4096 jpeg (%d KiB) took %v", photo.Len()>>10, time.Since(start))
	if img, _ := fetch(); img.Bounds() != image.Rect(0, 0, 128, 128) {
		t.Fatalf("after the big jpeg: %v", img.Bounds())
	}

	// Deleted: no avatar, and none served.
	s.want(rita, "DELETE", "/chat/api/profile/avatar", "", http.StatusNoContent, nil)
	if got := avatarTag(); got != "" {
		t.Fatalf("after delete: %q", got)
	}
	for _, path := range []string{fmt.Sprintf("/chat/avatars/%d", ritaID), "/chat/avatars/abc", "/chat/avatars/0"} {
		if resp := get(path, ""); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}
	// Members only.
	s.upload(rita, "avatar", "me.png", "image/png", pngData.Bytes())
	anon, err := s.client(t).Get(s.URL + avatarTag())
	if err != nil {
		t.Fatal(err)
	}
	anon.Body.Close()
	if anon.StatusCode == http.StatusOK || anon.Header.Get("Content-Type") == "image/png" {
		t.Fatalf("an anonymous visitor got an avatar: %d", anon.StatusCode)
	}
}

// chatLogin signs username in from the address ip; it returns the
// status (303: signed in).
func (s *socialSite) chatLogin(c *http.Client, ip, username, password string) int {
	s.t.Helper()
	return loginFrom(s.t, c, s.URL, ip, username, password).StatusCode
}

func testBan(s *socialSite) {
	t := s.t
	// Every request of gina's names her address (a ban refuses the
	// addresses the user was seen at: loopback must stay usable).
	const ip = "198.51.100.66"
	s.mkUser(t, "b_gina", site.RoleMember)
	gina := s.client(t)
	if st := s.chatLogin(gina, ip, "b_gina", usersPassword); st != http.StatusSeeOther {
		t.Fatalf("gina's login: %d", st)
	}
	ws, _, err := dialWith(t, s.URL, gina, http.Header{"Origin": {s.URL}, "X-Forwarded-For": {ip}})
	if err != nil {
		t.Fatal(err)
	}
	ws.subscribe(fmt.Sprintf("chat.user.%d", s.idOf("b_gina")))

	res, err := s.command("ban", map[string]any{"user": "b_gina", "reason": "spam in General"})
	if err != nil || !strings.Contains(res.Text, "b_gina is banned for good") || !strings.Contains(res.Text, "1 connection") {
		t.Fatalf("ban: %+v, %v", res, err)
	}
	if code := ws.closed(); code != realtime.CloseSessionEnded {
		t.Fatalf("gina's socket closed with %d", code)
	}
	if st := s.chatLogin(s.client(t), "192.0.2.200", "b_gina", usersPassword); st == http.StatusSeeOther {
		t.Fatal("a banned user signed in")
	}
	// A new account from her address is refused.
	req, _ := http.NewRequest("POST", s.URL+"/register", strings.NewReader(url.Values{"username": {"b_gina2"}, "password": {"another good passphrase"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", ip)
	resp, err := s.client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusSeeOther {
		t.Fatal("a registration from a banned user's address went through")
	}
	if s.count(t, `SELECT count(*) FROM websonic.users WHERE username = 'b_gina2'`) != 0 {
		t.Fatal("the account was made")
	}
	// Audited by the runtime (the command and the ban) and by the chat.
	if n := s.count(t, `SELECT count(*) FROM websonic.audit_log WHERE action = 'user.ban' AND detail->>'by' = 'module:chat'`); n != 1 {
		t.Errorf("%d user.ban entries by the chat", n)
	}
	if n := s.count(t, `SELECT count(*) FROM websonic.audit_log WHERE action = 'command.run' AND detail->>'command' = 'ban' AND detail->>'outcome' = 'ok'`); n != 1 {
		t.Errorf("%d command.run entries", n)
	}
	if n := s.moduleCount(`SELECT count(*) FROM audit WHERE action = 'ban' AND actor_id = $1 AND (detail->>'user')::bigint = $2 AND detail->>'reason' = 'spam in General' AND (detail->>'connections_closed')::int = 1 AND detail->>'via' = 'command'`, s.admin.ID, s.idOf("b_gina")); n != 1 {
		t.Errorf("%d chat audit entries", n)
	}
	page, err := s.srv.AdminPage(context.Background(), s.admin, "chat", "moderation", AdminPageCall{Method: http.MethodGet, Lang: "en"})
	if err != nil || !strings.Contains(string(page.Fragment), "spam in General") {
		t.Fatalf("the moderation page after the ban: %v\n%s", err, page.Fragment)
	}
	// Clear refusals: an admin, staff, someone unknown, a bad reason.
	s.user(t, "b_boss", site.RoleAdmin)
	s.user(t, "b_staff", site.RoleStaff)
	for _, tt := range []struct {
		args map[string]any
		text string
	}{
		{map[string]any{"user": "b_boss"}, "b_boss is an admin: the site does not let the chat ban them"},
		{map[string]any{"user": "b_staff"}, "b_staff is staff"},
		{map[string]any{"user": "nobody_known"}, `there is no user "nobody_known"`},
		{map[string]any{"user": "b_staff", "reason": "a\u0001b"}, "control characters"},
	} {
		if _, err := s.command("ban", tt.args); err == nil || !strings.Contains(err.Error(), tt.text) {
			t.Errorf("ban %v: %v, want %q", tt.args, err, tt.text)
		}
	}
}

func testKick(s *socialSite) {
	t := s.t
	hana, hanaID, ws := s.member("k_hana")
	res, err := s.command("kick", map[string]any{"user": "k_hana", "seconds": 1, "reason": "Cool down, please."})
	if err != nil || !strings.Contains(res.Text, "k_hana is locked out for 1 second") {
		t.Fatalf("kick: %+v, %v", res, err)
	}
	// Her page is told why, then her socket closes.
	ev := nextEvent(t, ws, fmt.Sprintf("chat.user.%d", hanaID), "kicked")
	until, err := time.Parse(time.RFC3339, fmt.Sprint(ev["until"]))
	if err != nil || ev["reason"] != "Cool down, please." {
		t.Fatalf("kicked event: %v (%v)", ev, err)
	}
	if code := ws.closed(); code != realtime.CloseSessionEnded {
		t.Fatalf("hana's socket closed with %d", code)
	}
	st, _ := s.call(hana, "GET", "/chat/api/friends", "")
	if st == http.StatusOK {
		t.Fatal("a kicked user's session still works")
	}
	if st := s.chatLogin(s.client(t), "192.0.2.31", "k_hana", "correct horse battery"); st == http.StatusSeeOther {
		t.Fatal("a kicked user signed in at once")
	}
	// Back after the duration, lifted by itself.
	time.Sleep(time.Until(until))
	deadline := time.Now().Add(20 * time.Second)
	for s.chatLogin(s.client(t), "192.0.2.31", "k_hana", "correct horse battery") != http.StatusSeeOther {
		if time.Now().After(deadline) {
			t.Fatal("the kick never lifted")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := s.moduleCount(`SELECT count(*) FROM audit WHERE action = 'kick' AND (detail->>'user')::bigint = $1 AND (detail->>'seconds')::int = 1 AND detail->>'reason' = 'Cool down, please.'`, hanaID); n != 1 {
		t.Errorf("%d chat audit entries for the kick", n)
	}
	s.user(t, "k_boss", site.RoleAdmin)
	for _, tt := range []struct {
		args map[string]any
		text string
	}{
		{map[string]any{"user": "k_boss", "seconds": 60}, "k_boss is an admin"},
		{map[string]any{"user": "k_hana", "seconds": 0}, "seconds must be 1 to"},
		{map[string]any{"user": "k_hana", "seconds": 400 * 24 * 3600}, "seconds must be 1 to"},
		{map[string]any{"user": "nobody_known", "seconds": 5}, `there is no user "nobody_known"`},
	} {
		if _, err := s.command("kick", tt.args); err == nil || !strings.Contains(err.Error(), tt.text) {
			t.Errorf("kick %v: %v, want %q", tt.args, err, tt.text)
		}
	}
}

func testAccountCommands(s *socialSite) {
	t := s.t
	s.signIn("a_ivan")
	res, err := s.command("make_admin", map[string]any{"user": "a_ivan"})
	if err != nil || !strings.Contains(res.Text, "a_ivan is now a chat admin") || !strings.Contains(res.Text, "staff role") {
		t.Fatalf("make_admin: %+v, %v", res, err)
	}
	if n := s.count(t, `SELECT count(*) FROM websonic.user_roles WHERE user_id = $1 AND role = 'staff'`, s.idOf("a_ivan")); n != 1 {
		t.Fatal("ivan is not staff")
	}
	if n := s.count(t, `SELECT count(*) FROM websonic.user_roles WHERE user_id = $1 AND role <> 'staff'`, s.idOf("a_ivan")); n != 0 {
		t.Fatal("ivan got more than staff")
	}
	if res, err := s.command("make_admin", map[string]any{"user": "a_ivan"}); err != nil || !strings.Contains(res.Text, "already a chat admin") {
		t.Fatalf("make_admin again: %+v, %v", res, err)
	}
	// Staff is a chat admin: forcing friendships is theirs now.
	ivan := s.client(t)
	if st := s.chatLogin(ivan, "192.0.2.40", "a_ivan", "correct horse battery"); st != http.StatusSeeOther {
		t.Fatalf("ivan's login: %d", st)
	}
	s.signIn("a_x")
	s.signIn("a_y")
	s.want(ivan, "POST", "/chat/api/friends/force", `{"a":"a_x","b":"a_y"}`, http.StatusNoContent, nil)

	// change_password: generated, shown once, works; the old one not.
	s.signIn("a_jack")
	res, err = s.command("change_password", map[string]any{"user": "a_jack"})
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(res.Text, "\n")
	pw, ok := strings.CutPrefix(line, "New password for a_jack: ")
	if !ok || len(pw) < 20 {
		t.Fatalf("change_password: %q", res.Text)
	}
	if st := s.chatLogin(s.client(t), "192.0.2.41", "a_jack", "correct horse battery"); st == http.StatusSeeOther {
		t.Fatal("the old password still works")
	}
	if st := s.chatLogin(s.client(t), "192.0.2.41", "a_jack", pw); st != http.StatusSeeOther {
		t.Fatalf("the generated password: %d", st)
	}
	if n := s.moduleCount(`SELECT count(*) FROM audit WHERE action = 'change_password' AND (detail->>'user')::bigint = $2 AND detail->>'generated' = 'true' AND detail::text NOT LIKE '%' || $1 || '%'`, pw, s.idOf("a_jack")); n != 1 {
		t.Errorf("%d chat audit entries (without the password)", n)
	}
	if n := s.count(t, `SELECT count(*) FROM websonic.audit_log WHERE detail::text LIKE '%' || $1 || '%'`, pw); n != 0 {
		t.Errorf("the generated password is in the site's audit log (%d entries)", n)
	}
	// A password given by the admin is refused (the runtime's audit log,
	// which auditors read, records every argument): always generated.
	for _, tt := range []struct {
		args map[string]any
		text string
	}{
		{map[string]any{"user": "a_jack", "password": "a fresh passphrase"}, "password"},
		{map[string]any{"user": "root"}, "root is an admin"},
		{map[string]any{"user": "nobody_known"}, `there is no user "nobody_known"`},
	} {
		if _, err := s.command("change_password", tt.args); err == nil || !strings.Contains(err.Error(), tt.text) {
			t.Errorf("change_password %v: %v, want %q", tt.args, err, tt.text)
		}
	}
}

func testModerationPage(s *socialSite) {
	t := s.t
	const ip = "203.0.113.77"
	kim := s.client(t)
	s.mkUser(t, "m_kim", site.RoleMember)
	if st := s.chatLogin(kim, ip, "m_kim", usersPassword); st != http.StatusSeeOther {
		t.Fatalf("kim's login: %d", st)
	}
	kimID := s.idOf("m_kim")
	ws, _, err := dialWith(t, s.URL, kim, http.Header{"Origin": {s.URL}, "X-Forwarded-For": {ip}})
	if err != nil {
		t.Fatal(err)
	}
	// Kim follows her own topic, presence and two rooms: General
	// (everyone's) and a dm.
	var rooms struct {
		Rooms []roomAnswer `json:"rooms"`
	}
	s.want(kim, "GET", "/chat/api/rooms", "", http.StatusOK, &rooms)
	var general roomAnswer
	for _, r := range rooms.Rooms {
		if r.Policy == "everyone" {
			general = r
		}
	}
	if general.ID == 0 {
		t.Fatalf("no everyone room: %+v", rooms)
	}
	lee, _ := s.signIn("m_lee")
	s.befriend(lee, kim, "m_kim")
	var dm roomAnswer
	s.want(kim, "POST", "/chat/api/dms", `{"username":"m_lee"}`, http.StatusOK, &dm)
	for _, topic := range []string{fmt.Sprintf("chat.user.%d", kimID), "chat.presence", fmt.Sprintf("chat.room.%d", general.ID), fmt.Sprintf("chat.room.%d", dm.ID)} {
		ws.subscribe(topic)
	}

	res, err := s.command("show_clients", nil)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(res.Columns) != "[user address since rooms]" {
		t.Fatalf("show_clients columns: %v", res.Columns)
	}
	var row []any
	for _, r := range res.Rows {
		if r[0] == fmt.Sprintf("m_kim (id %d)", kimID) {
			row = r
		}
	}
	if row == nil || row[1] != ip || row[2] == "" || row[3] != general.Name+", dm: m_kim & m_lee" {
		t.Fatalf("show_clients: %+v", res.Rows)
	}

	ctx := context.Background()
	page, err := s.srv.AdminPage(ctx, s.admin, "chat", "moderation", AdminPageCall{Method: http.MethodGet, Lang: "en"})
	if err != nil {
		t.Fatal(err)
	}
	frag := string(page.Fragment)
	for _, want := range []string{"<caption>Open chat connections</caption>", fmt.Sprintf("m_kim (id %d)", kimID), ip,
		"<caption>Recent moderation in the chat</caption>", "k_hana", "Cool down, please.", "friends.force", "a_jack", "generated: true"} {
		if !strings.Contains(frag, want) {
			t.Errorf("the moderation page lacks %q:\n%s", want, frag)
		}
	}
	// A kick from the page: told, audited with the admin, then shown.
	post := func(form url.Values) *AdminPageAnswer {
		t.Helper()
		a, err := s.srv.AdminPage(ctx, s.admin, "chat", "moderation", AdminPageCall{Method: http.MethodPost, Form: form, Lang: "en"})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	a := post(url.Values{"action": {"kick"}, "user": {"m_kim"}, "seconds": {"3600"}, "reason": {"Read the rules."}})
	if !a.IsRedirect || a.Redirect != "done=kick&user=m_kim" {
		t.Fatalf("kick from the page: %+v %s", a, a.Fragment)
	}
	if ev := event(t, ws, fmt.Sprintf("chat.user.%d", kimID), "kicked"); ev["reason"] != "Read the rules." {
		t.Fatalf("kicked event: %v", ev)
	}
	if n := s.moduleCount(`SELECT count(*) FROM audit WHERE action = 'kick' AND actor_id = $1 AND (detail->>'user')::bigint = $2 AND detail->>'via' = 'admin area'`, s.admin.ID, kimID); n != 1 {
		t.Errorf("%d audit entries for the page's kick", n)
	}
	page, err = s.srv.AdminPage(ctx, s.admin, "chat", "moderation", AdminPageCall{Method: http.MethodGet, Query: a.Redirect, Lang: "en"})
	if err != nil || !strings.Contains(string(page.Fragment), "m_kim is locked out") {
		t.Fatalf("after the kick: %v\n%s", err, page.Fragment)
	}
	// Errors come back on the page, with what was typed.
	a = post(url.Values{"action": {"ban"}, "user": {"root"}, "reason": {"nope"}})
	if f := string(a.Fragment); a.Status != http.StatusBadRequest || !strings.Contains(f, "Root is an admin") || !strings.Contains(f, `value="nope"`) {
		t.Fatalf("banning an admin from the page: %d\n%s", a.Status, f)
	}
	a = post(url.Values{"action": {"kick"}, "user": {"m_kim"}, "seconds": {"soon"}})
	if f := string(a.Fragment); a.Status != http.StatusBadRequest || !strings.Contains(f, "Seconds must be a whole number") {
		t.Fatalf("kick with bad seconds: %d\n%s", a.Status, f)
	}
}

func testThreads(s *socialSite) {
	t := s.t
	t.Skip(`threads needs the host's "runtime.status" service and user action "status" (the host slice), not on main yet`)
	res, err := s.command("threads", nil)
	if err != nil || !strings.Contains(res.Text, "Goroutines: ") || !strings.Contains(res.Text, "chat 1.0.0:") {
		t.Fatalf("threads: %+v, %v", res, err)
	}
}
