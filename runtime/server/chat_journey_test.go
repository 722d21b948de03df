package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/runtime/internal/realtime"
	"github.com/websonic/websonic/runtime/internal/site"
)

// The chat's end-to-end tests (issue 11): the compiled modules/chat in a
// real runtime, real HTTP and WebSocket clients, real PostgreSQL. Each
// person is a browser-like client from an address of their own (the site
// trusts loopback as a proxy and each client names its address with
// X-Forwarded-For), so that a ban's refused addresses are that person's.
// The module is built once per test binary (chatRoomsModules).

// chatPassword is every test person's password.
const chatPassword = "correct horse battery staple"

// chatSite starts a site with the chat module.
func chatSite(t *testing.T, options ...func(*Config)) *testSite {
	t.Helper()
	mods, err := chatRoomsModules()
	if err != nil {
		t.Fatal(err)
	}
	return newSiteWith(t, mods, hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testLog{t}}), append([]func(*Config){trustLoopback}, options...)...)
}

// fromAddr sends every request (WebSocket upgrades too) as coming from ip,
// through the site's trusted loopback proxy.
type fromAddr struct{ ip string }

func (f fromAddr) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", f.ip)
	return http.DefaultTransport.RoundTrip(r)
}

// chatter is a person at a browser: cookies, an address, no redirects
// followed.
type chatter struct {
	name string
	id   int64
	ip   string
	base string // the site (replica) it talks to
	c    *http.Client
}

// newChatter is a browser at ip, signed in as no one, on the site at base.
func newChatter(t *testing.T, base, name, ip string) *chatter {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &chatter{name: name, ip: ip, base: base, c: &http.Client{
		Jar: jar, Transport: fromAddr{ip}, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// member makes an account directly in the store (role) and signs its
// person in through the sign-in form, from ip.
func (s *testSite) member(t *testing.T, name, ip string, role site.Role) *chatter {
	t.Helper()
	u, err := s.srv.site.Store().CreateUser(t.Context(), site.NewUser{Username: name, Password: chatPassword, Role: role})
	if err != nil {
		t.Fatal(err)
	}
	c := newChatter(t, s.URL, name, ip)
	c.id = u.ID
	if st, b := c.login(t, chatPassword); st != http.StatusSeeOther {
		t.Fatalf("login %s: %d %.300s", name, st, b)
	}
	return c
}

// on is the same person (the same cookies) talking to another replica.
func (c *chatter) on(base string) *chatter {
	d := *c
	d.base = base
	return &d
}

// form posts an HTML form and returns the status and the page.
func (c *chatter) form(t *testing.T, path string, v url.Values) (int, string) {
	t.Helper()
	resp, err := c.c.PostForm(c.base+path, v)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body(t, resp)
}

func (c *chatter) login(t *testing.T, password string) (int, string) {
	t.Helper()
	return c.form(t, "/login", url.Values{"username": {c.name}, "password": {password}})
}

// api sends a JSON request (body nil: none; a string as is; anything else
// marshalled) and returns the status and the answer.
func (c *chatter) api(t *testing.T, method, path string, body any) (int, []byte) {
	t.Helper()
	return chatJSON(t, c.c, method, c.base+path, body)
}

// chatJSON is the chat tests' one JSON request: body nil sends none, a
// string is sent as it is, anything else marshalled; it returns the status
// and the answer.
func chatJSON(t testing.TB, c *http.Client, method, url string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// must sends a JSON request, checks the status and decodes the answer
// into out (nil: not decoded).
func (c *chatter) must(t *testing.T, method, path string, body any, want int, out any) {
	t.Helper()
	st, b := c.api(t, method, path, body)
	if st != want {
		t.Fatalf("%s %s as %s: %d %.400s, want %d", method, path, c.name, st, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s as %s: %v in %.400s", method, path, c.name, err, b)
		}
	}
}

// socket opens the person's realtime connection to its replica.
// The socket closes when t ends.
func (c *chatter) socket(t *testing.T) *wsClient {
	t.Helper()
	return dial(t, c.base, c.c)
}

// rooms lists the person's rooms by name.
func (c *chatter) rooms(t *testing.T) map[string]chatRoom {
	t.Helper()
	var out struct{ Rooms []chatRoom }
	c.must(t, "GET", "/chat/api/rooms", nil, 200, &out)
	m := map[string]chatRoom{}
	for _, r := range out.Rooms {
		m[r.Name] = r
	}
	return m
}

// post posts text in a room and returns the message.
func (c *chatter) post(t *testing.T, room int64, text string) chatMessage {
	t.Helper()
	var m chatMessage
	c.must(t, "POST", fmt.Sprintf("/chat/api/rooms/%d/messages", room), map[string]string{"text": text}, 201, &m)
	if m.ID <= 0 || m.RoomID != room {
		t.Fatalf("posted %+v", m)
	}
	return m
}

// The API's shapes (modules/chat/API.md), as these tests read them.
type (
	chatUser struct {
		ID       int64  `json:"id"`
		Username string `json:"username"`
	}
	chatRoom struct {
		ID      int64      `json:"id"`
		Kind    string     `json:"kind"`
		Name    string     `json:"name"`
		Policy  string     `json:"policy"`
		Member  bool       `json:"member"`
		Request *string    `json:"request"`
		Members []chatUser `json:"members"`
	}
	chatMessage struct {
		ID      int64    `json:"id"`
		RoomID  int64    `json:"room_id"`
		Author  chatUser `json:"author"`
		Text    string   `json:"text"`
		Deleted bool     `json:"deleted"`
	}
	chatRequest struct {
		ID    int64    `json:"id"`
		User  chatUser `json:"user"`
		State string   `json:"state"`
		Room  struct {
			ID int64 `json:"id"`
		} `json:"room"`
	}
	chatFriends struct {
		Friends  []chatUser `json:"friends"`
		Incoming []struct {
			ID   int64    `json:"id"`
			User chatUser `json:"user"`
		} `json:"incoming"`
		Outgoing []struct {
			ID   int64    `json:"id"`
			User chatUser `json:"user"`
		} `json:"outgoing"`
	}
)

func (f chatFriends) has(id int64) bool {
	for _, u := range f.Friends {
		if u.ID == id {
			return true
		}
	}
	return false
}

func chatRoomTopic(id int64) string { return "chat.room." + strconv.FormatInt(id, 10) }
func chatUserTopic(id int64) string { return "chat.user." + strconv.FormatInt(id, 10) }

// chatEvent is an event frame with its data decoded.
type chatEvent struct {
	ID    int64 // the realtime event id (for last_id)
	Topic string
	Kind  string
	Data  map[string]any
}

// messageID is the id of the message an event is about (0: none).
func (e chatEvent) messageID() int64 {
	if m, ok := e.Data["message"].(map[string]any); ok {
		id, _ := m["id"].(float64)
		return int64(id)
	}
	if e.Kind == "message" { // a conversation's event carries the id only
		id, _ := e.Data["id"].(float64)
		return int64(id)
	}
	return 0
}

// decodeChatEvent decodes an event frame's data.
func decodeChatEvent(t *testing.T, f realtime.HostFrame) chatEvent {
	t.Helper()
	ev := chatEvent{ID: f.ID, Topic: f.Topic}
	if err := json.Unmarshal(f.Data, &ev.Data); err != nil {
		t.Fatalf("event %s: %v", f.Data, err)
	}
	ev.Kind, _ = ev.Data["kind"].(string)
	return ev
}

// jsonInto decodes b into v.
func jsonInto(b []byte, v any) error { return json.Unmarshal(b, v) }

// awaitEvent reads ws's frames until an event on topic that match
// accepts (nil: any), skipping others (a minute at most); a frame that
// is not an event fails the test.
func awaitEvent(t *testing.T, ws *wsClient, topic string, match func(chatEvent) bool) chatEvent {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		f, err := ws.read(time.Until(deadline))
		if err != nil {
			t.Fatalf("waiting for an event on %s: %v", topic, err)
		}
		if f.Type != realtime.TypeEvent {
			t.Fatalf("waiting for an event on %s: got %+v", topic, f)
		}
		ev := decodeChatEvent(t, f)
		if f.Topic == topic && (match == nil || match(ev)) {
			return ev
		}
	}
}

// follow subscribes ws to topic (failing t, not the test that opened
// ws, when it is refused).
// Events of other topics that come first are kept for the next reads.
func follow(t *testing.T, ws *wsClient, topic string) {
	t.Helper()
	ws.send(`{"type":"subscribe","topic":"` + topic + `"}`)
	var other []realtime.HostFrame
	for {
		f, err := ws.read(time.Minute)
		if err == nil && f.Type == realtime.TypeEvent && f.Topic != topic {
			other = append(other, f)
			continue
		}
		if err != nil || f.Type != realtime.TypeSubscribed || f.Topic != topic {
			t.Fatalf("subscribe to %s: %+v %v", topic, f, err)
		}
		ws.pending = append(other, ws.pending...)
		return
	}
}

// kind matches events of one kind.
func kind(k string) func(chatEvent) bool { return func(e chatEvent) bool { return e.Kind == k } }

// closedWith reads ws until it is closed and returns the close code, and
// the events that came before.
func closedWith(t *testing.T, ws *wsClient) (websocket.StatusCode, []chatEvent) {
	t.Helper()
	var evs []chatEvent
	for {
		f, err := ws.read(time.Minute)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatal("the connection stayed open")
			}
			return websocket.CloseStatus(err), evs
		}
		if f.Type == realtime.TypeEvent {
			evs = append(evs, decodeChatEvent(t, f))
		}
	}
}

// siteUser is the account named username.
func (s *testSite) siteUser(t *testing.T, username string) *site.User {
	t.Helper()
	st, err := s.srv.site.Store().LookupUser(t.Context(), username, 0)
	if err != nil {
		t.Fatalf("user %s: %v", username, err)
	}
	return &st.User
}

// runChatCommand runs a chat admin command as admin (the admin area's
// path) with string or integer arguments.
func runChatCommand(t *testing.T, s *testSite, admin *site.User, command string, args map[string]any) (*CommandResult, error) {
	t.Helper()
	raw := map[string]json.RawMessage{}
	for k, v := range args {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		raw[k] = b
	}
	return s.srv.RunCommand(t.Context(), admin, "chat", command, raw)
}

// TestChatJourney is the new employee's journey of issue 11, through the
// site's forms, the chat's API and sockets: register → General → Blabla
// (approved at once) → a department room (pending, then approved by an
// admin) → a friend request accepted → a private message; a private
// message to a non-friend refused; a refused friend request; a banned user
// refused at sign-in and a new registration from their address refused; a
// kicked user told why, and back after the duration; a friendship an
// admin forces. One site; each step builds on the ones before.
func TestChatJourney(t *testing.T) {
	s := chatSite(t)
	root := s.member(t, "root", "192.0.2.1", site.RoleAdmin)
	rootUser := s.siteUser(t, "root")
	omar := s.member(t, "omar", "192.0.2.2", site.RoleMember)
	pia := s.member(t, "pia", "192.0.2.3", site.RoleMember)
	nina := newChatter(t, s.URL, "nina", "198.51.100.10") // the new employee

	t.Run("nothing before sign-in", func(t *testing.T) {
		for _, path := range []string{"/chat", "/chat/api/rooms", "/chat/api/me"} {
			st, b := nina.api(t, "GET", path, nil)
			if st == http.StatusOK || (st != http.StatusSeeOther && st != http.StatusFound && st != http.StatusUnauthorized && st != http.StatusForbidden) {
				t.Errorf("GET %s signed out: %d %.200s", path, st, b)
			}
		}
		if st, _ := nina.api(t, "POST", "/chat/api/rooms/1/messages", map[string]string{"text": "hi"}); st == http.StatusCreated || st == http.StatusOK {
			t.Errorf("posting signed out: %d", st)
		}
		ws := nina.socket(t)
		ws.send(`{"type":"subscribe","topic":"chat.presence"}`)
		ws.expect(realtime.TypeRefused, "chat.presence")
	})

	t.Run("register and sign in, with clear errors", func(t *testing.T) {
		for _, tc := range []struct {
			name, username, password string
			status                   int
			want                     string
		}{
			{"invalid username", "n!na", chatPassword, 400, "Usernames are 3 to 32 characters"},
			{"too short", "nn", chatPassword, 400, "Usernames are 3 to 32 characters"},
			{"taken username", "Omar", chatPassword, 409, "That username is already taken."},
			{"weak password", "nina", "password", 400, "too short"},
		} {
			st, page := nina.form(t, "/register", url.Values{"username": {tc.username}, "password": {tc.password}, "display_name": {"Nina"}})
			if st != tc.status || !strings.Contains(page, tc.want) {
				t.Errorf("%s: %d, want %d and %q in\n%.2000s", tc.name, st, tc.status, tc.want, page)
			}
		}
		st, page := nina.form(t, "/register", url.Values{"username": {"nina"}, "password": {chatPassword}, "display_name": {"Nina Novak"}})
		if st != http.StatusSeeOther {
			t.Fatalf("register: %d %.2000s", st, page)
		}
		nina.id = s.siteUser(t, "nina").ID
		// Signing in elsewhere: the errors say what went wrong.
		other := newChatter(t, s.URL, "nina", "198.51.100.11")
		if st, page := other.login(t, "not her password at all"); st != 401 || !strings.Contains(page, "Wrong password for that username.") {
			t.Errorf("wrong password: %d\n%.2000s", st, page)
		}
		if st, page := newChatter(t, s.URL, "nobody-here", "198.51.100.12").login(t, chatPassword); st != 401 || !strings.Contains(page, "There is no account with that username.") {
			t.Errorf("unknown user: %d\n%.2000s", st, page)
		}
		if st, page := other.login(t, chatPassword); st != http.StatusSeeOther {
			t.Errorf("sign-in: %d\n%.2000s", st, page)
		}
		var me struct {
			User  chatUser `json:"user"`
			Admin bool     `json:"admin"`
		}
		if st, b := nina.api(t, "GET", "/chat/api/me", nil); st != 200 || json.Unmarshal(b, &me) != nil ||
			me.User.ID != nina.id || me.User.Username != "nina" || me.Admin {
			t.Errorf("me: %d %.300s", st, b)
		}
		if st, page := nina.api(t, "GET", "/chat", nil); st != 200 || !strings.Contains(string(page), `id="chat"`) ||
			!strings.Contains(string(page), `id="chat-me-name" class="chat-me-name">Nina Novak<`) {
			t.Errorf("the chat page: %d %.500s", st, page)
		}
	})

	var general, blabla, sales int64
	ninaWS, omarWS, rootWS := nina.socket(t), omar.socket(t), root.socket(t)
	t.Run("General", func(t *testing.T) {
		rooms := nina.rooms(t)
		general, blabla, sales = rooms["General"].ID, rooms["Blabla"].ID, rooms["Sales"].ID
		if g := rooms["General"]; !g.Member || g.Policy != "everyone" || general == 0 || blabla == 0 || sales == 0 {
			t.Fatalf("nina's rooms: %+v", rooms)
		}
		follow(t, ninaWS, chatUserTopic(nina.id))
		follow(t, omarWS, chatUserTopic(omar.id))
		follow(t, rootWS, "chat.admin")
		follow(t, omarWS, chatRoomTopic(general))
		m := nina.post(t, general, "Hello everyone, I'm Nina from Sales!")
		ev := awaitEvent(t, omarWS, chatRoomTopic(general), kind("message"))
		if ev.messageID() != m.ID || ev.Data["message"].(map[string]any)["text"] != m.Text {
			t.Fatalf("omar heard %v, want message %d", ev.Data, m.ID)
		}
	})

	t.Run("Blabla at once", func(t *testing.T) {
		var st struct{ State string }
		nina.must(t, "POST", fmt.Sprintf("/chat/api/rooms/%d/join", blabla), nil, 200, &st)
		if st.State != "member" {
			t.Fatalf("Blabla: %+v", st)
		}
		awaitEvent(t, ninaWS, chatUserTopic(nina.id), func(e chatEvent) bool { return e.Kind == "room_added" && e.Data["room_id"] == float64(blabla) })
		nina.post(t, blabla, "Coffee, anyone?")
	})

	t.Run("a department room, approved by an admin", func(t *testing.T) {
		var st struct {
			State   string
			Request *chatRequest
		}
		nina.must(t, "POST", fmt.Sprintf("/chat/api/rooms/%d/join", sales), nil, 200, &st)
		if st.State != "pending" {
			t.Fatalf("Sales: %+v", st)
		}
		if st, _ := nina.api(t, "POST", fmt.Sprintf("/chat/api/rooms/%d/messages", sales), map[string]string{"text": "early"}); st != 403 {
			t.Errorf("posting in Sales while pending: %d", st)
		}
		if r := nina.rooms(t)["Sales"]; r.Member || r.Request == nil || *r.Request != "pending" {
			t.Errorf("nina's Sales while pending: %+v", r)
		}
		awaitEvent(t, rootWS, "chat.admin", kind("request"))
		var q struct {
			Users []struct {
				User     chatUser      `json:"user"`
				Requests []chatRequest `json:"requests"`
			} `json:"users"`
		}
		root.must(t, "GET", "/chat/api/requests", nil, 200, &q)
		var req int64
		for _, u := range q.Users {
			for _, r := range u.Requests {
				if u.User.ID == nina.id && r.Room.ID == sales {
					req = r.ID
				}
			}
		}
		if req == 0 {
			t.Fatalf("nina's request is not in the queue: %+v", q)
		}
		var done chatRequest
		root.must(t, "POST", fmt.Sprintf("/chat/api/requests/%d/approve", req), nil, 200, &done)
		if done.State != "approved" {
			t.Fatalf("approved: %+v", done)
		}
		awaitEvent(t, ninaWS, chatUserTopic(nina.id), func(e chatEvent) bool {
			r, _ := e.Data["request"].(map[string]any)
			return e.Kind == "request" && r["state"] == "approved"
		})
		if r := nina.rooms(t)["Sales"]; !r.Member {
			t.Fatalf("nina's Sales after approval: %+v", r)
		}
		nina.post(t, sales, "Thanks for letting me in!")
	})

	var dm int64
	t.Run("a friend request accepted, then a private message", func(t *testing.T) {
		var fr struct {
			ID    int64    `json:"id"`
			User  chatUser `json:"user"`
			State string   `json:"state"`
		}
		nina.must(t, "POST", "/chat/api/friends/requests", map[string]string{"username": "omar"}, 200, &fr)
		if fr.State != "pending" || fr.User.ID != omar.id {
			t.Fatalf("friend request: %+v", fr)
		}
		awaitEvent(t, omarWS, chatUserTopic(omar.id), kind("friend_request"))
		var of chatFriends
		omar.must(t, "GET", "/chat/api/friends", nil, 200, &of)
		if len(of.Incoming) != 1 || of.Incoming[0].User.ID != nina.id {
			t.Fatalf("omar's incoming: %+v", of)
		}
		omar.must(t, "POST", fmt.Sprintf("/chat/api/friends/requests/%d/accept", of.Incoming[0].ID), nil, 204, nil)
		var nf chatFriends
		nina.must(t, "GET", "/chat/api/friends", nil, 200, &nf)
		if !nf.has(omar.id) || len(nf.Outgoing) != 0 {
			t.Fatalf("nina's friends: %+v", nf)
		}
		var room chatRoom
		nina.must(t, "POST", "/chat/api/dms", map[string]string{"username": "omar"}, 200, &room)
		if room.Kind != "dm" || len(room.Members) != 2 {
			t.Fatalf("dm: %+v", room)
		}
		dm = room.ID
		follow(t, omarWS, chatRoomTopic(dm))
		const secret = "Lunch at noon? Just us."
		m := nina.post(t, dm, secret)
		ev := awaitEvent(t, omarWS, chatRoomTopic(dm), kind("message"))
		if ev.messageID() != m.ID || strings.Contains(fmt.Sprint(ev.Data), secret) {
			t.Fatalf("omar's dm event: %v (a conversation's event carries the id only)", ev.Data)
		}
		var got chatMessage
		omar.must(t, "GET", fmt.Sprintf("/chat/api/messages/%d", m.ID), nil, 200, &got)
		if got.Text != secret || got.Author.ID != nina.id {
			t.Fatalf("omar reads %+v", got)
		}
		// Sealed at rest: the database alone does not reveal it.
		var n int
		if err := s.srv.Module("chat").DB().Pool().QueryRow(t.Context(),
			`SELECT count(*) FROM messages WHERE strpos(body, $1) > 0 OR position(convert_to($1, 'UTF8') in sealed) > 0`, "Lunch at noon").Scan(&n); err != nil || n != 0 {
			t.Errorf("the private message is readable in the database: %d %v", n, err)
		}
		// Pia, no friend of theirs, reads none of it.
		pia.must(t, "GET", fmt.Sprintf("/chat/api/messages/%d", m.ID), nil, 404, nil)
	})

	t.Run("a private message to a non-friend is refused", func(t *testing.T) {
		if st, b := nina.api(t, "POST", "/chat/api/dms", map[string]string{"username": "pia"}); st != 403 {
			t.Errorf("a dm with pia, no friend: %d %s", st, b)
		}
		// No longer friends: the conversation stays, posting in it does not.
		omar.must(t, "DELETE", fmt.Sprintf("/chat/api/friends/%d", nina.id), nil, 204, nil)
		if st, b := nina.api(t, "POST", fmt.Sprintf("/chat/api/rooms/%d/messages", dm), map[string]string{"text": "still there?"}); st != 403 {
			t.Errorf("posting to an ex-friend: %d %s", st, b)
		}
	})

	t.Run("a refused friend request", func(t *testing.T) {
		var fr struct{ ID int64 }
		nina.must(t, "POST", "/chat/api/friends/requests", map[string]string{"username": "pia"}, 200, &fr)
		pia.must(t, "POST", fmt.Sprintf("/chat/api/friends/requests/%d/refuse", fr.ID), nil, 204, nil)
		var nf, pf chatFriends
		nina.must(t, "GET", "/chat/api/friends", nil, 200, &nf)
		pia.must(t, "GET", "/chat/api/friends", nil, 200, &pf)
		if nf.has(pia.id) || len(nf.Outgoing) != 0 || pf.has(nina.id) || len(pf.Incoming) != 0 {
			t.Fatalf("after the refusal: nina %+v, pia %+v", nf, pf)
		}
		if st, _ := nina.api(t, "POST", "/chat/api/dms", map[string]string{"username": "pia"}); st != 403 {
			t.Errorf("a dm after a refusal: %d", st)
		}
		nina.must(t, "POST", fmt.Sprintf("/chat/api/friends/requests/%d/accept", fr.ID), nil, 404, nil) // not hers to accept
	})

	t.Run("a banned user is refused at sign-in, and so is a registration from their address", func(t *testing.T) {
		const malloryIP = "203.0.113.66"
		mallory := s.member(t, "mallory", malloryIP, site.RoleMember)
		mws := mallory.socket(t)
		follow(t, mws, chatUserTopic(mallory.id))
		res, err := runChatCommand(t, s, rootUser, "ban", map[string]any{"user": "mallory", "reason": "spam in General"})
		if err != nil {
			t.Fatalf("ban: %v", err)
		}
		t.Logf("ban: %s", res.Text)
		if code, _ := closedWith(t, mws); code != 4001 {
			t.Errorf("mallory's socket closed with %d, want 4001", code)
		}
		if st, _ := mallory.api(t, "GET", "/chat/api/rooms", nil); st == 200 {
			t.Error("mallory's session still works")
		}
		if st, page := newChatter(t, s.URL, "mallory", "192.0.2.99").login(t, chatPassword); st != 403 || !strings.Contains(page, "This account is banned") {
			t.Errorf("mallory's sign-in: %d\n%.2000s", st, page)
		}
		newcomer := newChatter(t, s.URL, "mallory2", malloryIP)
		if st, page := newcomer.form(t, "/register", url.Values{"username": {"mallory2"}, "password": {chatPassword}}); st != 403 || !strings.Contains(page, "blocked") {
			t.Errorf("a registration from mallory's address: %d\n%.2000s", st, page)
		}
		if st, _ := newChatter(t, s.URL, "mallory3", "192.0.2.100").form(t, "/register", url.Values{"username": {"mallory3"}, "password": {chatPassword}}); st != http.StatusSeeOther {
			t.Errorf("a registration from another address: %d", st)
		}
		if n := s.count(t, `SELECT count(*) FROM websonic.audit_log WHERE action = 'user.ban' AND subject = 'mallory' AND detail->>'by' = 'module:chat'`); n != 1 {
			t.Errorf("%d ban audit entries", n)
		}
	})

	t.Run("a kicked user is told why, and comes back after the duration", func(t *testing.T) {
		kim := s.member(t, "kim", "203.0.113.77", site.RoleMember)
		kws := kim.socket(t)
		follow(t, kws, chatUserTopic(kim.id))
		const why = `Cool down <b>please</b> & "be kind"`
		if _, err := runChatCommand(t, s, rootUser, "kick", map[string]any{"user": "kim", "seconds": 600, "reason": why}); err != nil {
			t.Fatalf("kick: %v", err)
		}
		code, evs := closedWith(t, kws)
		if code != 4001 {
			t.Errorf("kim's socket closed with %d, want 4001", code)
		}
		told := false
		for _, e := range evs {
			told = told || e.Kind == "kicked" && e.Data["reason"] == why && e.Data["until"] != nil
		}
		if !told {
			t.Errorf("kim's socket was not told why before closing: %+v", evs)
		}
		st, page := kim.login(t, chatPassword)
		if st != 403 || !strings.Contains(page, "suspended until") || !strings.Contains(page, `Cool down &lt;b&gt;please&lt;/b&gt; &amp; &#34;be kind&#34;`) {
			t.Errorf("kim's sign-in while kicked: %d\n%.2000s", st, page)
		}
		// The ten minutes pass (the database's clock decides; no job lifts it).
		if _, err := s.srv.db.Pool.Exec(t.Context(), `UPDATE websonic.users SET suspended_until = now() - interval '1 second' WHERE id = $1`, kim.id); err != nil {
			t.Fatal(err)
		}
		if st, page := kim.login(t, chatPassword); st != http.StatusSeeOther {
			t.Fatalf("kim's sign-in after the kick: %d\n%.2000s", st, page)
		}
		kim.post(t, general, "Sorry, everyone.")
	})

	t.Run("an admin forces a friendship", func(t *testing.T) {
		if st, _ := nina.api(t, "POST", "/chat/api/friends/force", map[string]string{"a": "nina", "b": "pia"}); st != 403 {
			t.Errorf("a member forcing a friendship: %d", st)
		}
		root.must(t, "POST", "/chat/api/friends/force", map[string]string{"a": "nina", "b": "pia"}, 204, nil)
		var nf, pf chatFriends
		nina.must(t, "GET", "/chat/api/friends", nil, 200, &nf)
		pia.must(t, "GET", "/chat/api/friends", nil, 200, &pf)
		if !nf.has(pia.id) || !pf.has(nina.id) {
			t.Fatalf("after the forced friendship: nina %+v, pia %+v", nf, pf)
		}
		var room chatRoom
		nina.must(t, "POST", "/chat/api/dms", map[string]string{"username": "pia"}, 200, &room)
		nina.post(t, room.ID, "Welcome aboard, Pia says the admin.")
	})

	t.Run("threads", func(t *testing.T) {
		res, err := runChatCommand(t, s, rootUser, "threads", nil)
		if err != nil {
			t.Fatalf("threads: %v", err)
		}
		out := res.Text
		for _, row := range res.Rows {
			out += fmt.Sprintln(row...)
		}
		if !strings.Contains(out, "chat") {
			t.Errorf("threads says nothing of the chat module:\n%s", out)
		}
		t.Logf("threads:\n%s", out)
	})
}
