package server

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/internal/modbuild"
	"github.com/websonic/websonic/runtime/internal/realtime"
	"github.com/websonic/websonic/runtime/internal/site"
	"github.com/websonic/websonic/sdk/abi"
)

// chatRoomsModules builds modules/chat once per test binary.
var chatRoomsModules = sync.OnceValues(func() (string, error) {
	dir := filepath.Join(scratch, "chatrooms")
	return dir, modbuild.Package(context.Background(), "../../modules/chat", filepath.Join(dir, "chat"))
})

// crClient is a signed-in client of the chat's JSON API.
type crClient struct {
	t    *testing.T
	c    *http.Client
	base string
	id   int64
	name string
	user *site.User
}

// crSignIn makes a user with role and signs them in.
func crSignIn(t *testing.T, s *testSite, name string, role site.Role) *crClient {
	t.Helper()
	u, err := s.srv.site.Store().CreateUser(t.Context(), site.NewUser{Username: name, Password: "correct horse battery", Role: role})
	if err != nil {
		t.Fatal(err)
	}
	c := s.client(t)
	resp := postForm(t, c, s.URL+"/login", url.Values{"username": {name}, "password": {"correct horse battery"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login %s: %d", name, resp.StatusCode)
	}
	return &crClient{t: t, c: c, base: s.URL, id: u.ID, name: name, user: u}
}

// do sends body (nil: none; a string as it is; anything else as JSON) and
// answers the status and the body.
func (c *crClient) do(method, path string, body any) (int, []byte) {
	c.t.Helper()
	return chatJSON(c.t, c.c, method, c.base+path, body)
}

// must checks the status and decodes the answer into out (if not nil).
func (c *crClient) must(method, path string, body any, want int, out any) {
	c.t.Helper()
	status, b := c.do(method, path, body)
	if status != want {
		c.t.Fatalf("%s %s %s as %s: %d %s, want %d", method, path, trimForLog(body), c.name, status, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
}

func trimForLog(body any) string {
	s := fmt.Sprint(body)
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return s
}

// The API's shapes, as the tests read them.
type (
	crUser struct {
		ID          int64  `json:"id"`
		Username    string `json:"username"`
		DisplayName string `json:"display_name"`
	}
	crRoom struct {
		ID            int64    `json:"id"`
		Kind          string   `json:"kind"`
		Name          string   `json:"name"`
		Topic         string   `json:"topic"`
		Policy        string   `json:"policy"`
		Archived      bool     `json:"archived"`
		Member        bool     `json:"member"`
		Request       *string  `json:"request"`
		Unread        int      `json:"unread"`
		Mentions      int      `json:"mentions"`
		LastMessageID int64    `json:"last_message_id"`
		RetentionDays *int     `json:"retention_days"`
		Members       []crUser `json:"members"`
	}
	crRequest struct {
		ID   int64 `json:"id"`
		Room struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
		} `json:"room"`
		User      crUser  `json:"user"`
		State     string  `json:"state"`
		Reason    string  `json:"reason"`
		DecidedAt *string `json:"decided_at"`
	}
	crMessage struct {
		ID        int64   `json:"id"`
		RoomID    int64   `json:"room_id"`
		Author    crUser  `json:"author"`
		Text      string  `json:"text"`
		EditedAt  *string `json:"edited_at"`
		Deleted   bool    `json:"deleted"`
		Mentions  []int64 `json:"mentions"`
		Reactions []struct {
			Emoji string `json:"emoji"`
			Count int    `json:"count"`
			Mine  bool   `json:"mine"`
		} `json:"reactions"`
		Room *struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
		} `json:"room"`
	}
	crPage struct {
		Messages []crMessage `json:"messages"`
		Next     *int64      `json:"next"`
	}
)

func (c *crClient) rooms() map[string]crRoom {
	c.t.Helper()
	var out struct{ Rooms []crRoom }
	c.must("GET", "/chat/api/rooms", nil, 200, &out)
	m := map[string]crRoom{}
	for _, r := range out.Rooms {
		m[r.Name] = r
	}
	return m
}

func (c *crClient) post(room int64, text string) crMessage {
	c.t.Helper()
	var m crMessage
	c.must("POST", fmt.Sprintf("/chat/api/rooms/%d/messages", room), map[string]string{"text": text}, 201, &m)
	return m
}

// crEvent reads ws's next frame, which must be an event on topic, and
// decodes its data.
func crEvent(t *testing.T, ws *wsClient, topic string) map[string]any {
	t.Helper()
	f := ws.expect(realtime.TypeEvent, topic)
	var data map[string]any
	if err := json.Unmarshal(f.Data, &data); err != nil {
		t.Fatalf("event %s: %v", f.Data, err)
	}
	return data
}

func roomTopicOf(id int64) string { return "chat.room." + strconv.FormatInt(id, 10) }
func userTopicOf(id int64) string { return "chat.user." + strconv.FormatInt(id, 10) }

// TestChatRooms runs the chat's rooms, join requests, messages, search,
// retention and personal data through the compiled module, real HTTP and
// WebSocket clients and PostgreSQL, on one site shared by the subtests
// (each builds on the ones before).
func TestChatRooms(t *testing.T) {
	mods, err := chatRoomsModules()
	if err != nil {
		t.Fatal(err)
	}
	clk := newFakeClock(time.Date(2030, 1, 1, 2, 29, 30, 0, time.UTC))
	s := newSiteWith(t, mods, hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testLog{t}}), func(c *Config) { c.JobClock = clk.now })
	ctx := context.Background()
	pool := s.srv.Module("chat").DB().Pool()
	alice := crSignIn(t, s, "alice", site.RoleMember)
	bob := crSignIn(t, s, "bob", site.RoleMember)
	carol := crSignIn(t, s, "carol", site.RoleMember)
	dave := crSignIn(t, s, "dave", site.RoleMember)
	root := crSignIn(t, s, "root", site.RoleAdmin)
	rootUser := root.user
	sqlCount := func(q string, args ...any) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, q, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var general, blabla, sales, support, engineering, board, group, dm int64
	var salesSecret crMessage // alice's message in Sales

	t.Run("seeded rooms", func(t *testing.T) {
		// Five members' first lists at once: the seed rooms are made once.
		var wg sync.WaitGroup
		for _, c := range []*crClient{alice, bob, carol, dave, root} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				status, b := c.do("GET", "/chat/api/rooms", nil)
				if status != 200 {
					t.Errorf("rooms as %s: %d %s", c.name, status, b)
				}
			}()
		}
		wg.Wait()
		if n := sqlCount(`SELECT count(*) FROM rooms WHERE seed IS NOT NULL`); n != 5 {
			t.Fatalf("%d seed rooms", n)
		}
		rooms := alice.rooms()
		want := map[string]struct {
			policy string
			member bool
		}{
			"General": {"everyone", true}, "Blabla": {"open", false}, "Sales": {"request", false},
			"Support": {"request", false}, "Engineering": {"request", false},
		}
		if len(rooms) != len(want) {
			t.Fatalf("alice's rooms: %+v", rooms)
		}
		for name, w := range want {
			r := rooms[name]
			if r.Policy != w.policy || r.Member != w.member || r.Kind != "room" || r.Request != nil || r.Members != nil {
				t.Errorf("%s: %+v, want %+v", name, r, w)
			}
		}
		general, blabla, sales, support, engineering = rooms["General"].ID, rooms["Blabla"].ID, rooms["Sales"].ID,
			rooms["Support"].ID, rooms["Engineering"].ID
	})

	// Sockets: alice and bob follow their own topics, root the admins'.
	aliceWS, bobWS, rootWS := dial(t, s.URL, alice.c), dial(t, s.URL, bob.c), dial(t, s.URL, root.c)
	aliceWS.subscribe(userTopicOf(alice.id))
	bobWS.subscribe(userTopicOf(bob.id))
	rootWS.subscribe("chat.admin")

	t.Run("join flows", func(t *testing.T) {
		var st struct {
			State   string     `json:"state"`
			Request *crRequest `json:"request"`
		}
		alice.must("POST", fmt.Sprintf("/chat/api/rooms/%d/join", general), nil, 200, &st)
		if st.State != "member" {
			t.Fatalf("General: %+v", st)
		}
		// Blabla: approved at once, no admin; alice is told on her topic.
		alice.must("POST", fmt.Sprintf("/chat/api/rooms/%d/join", blabla), nil, 200, &st)
		if st.State != "member" {
			t.Fatalf("Blabla: %+v", st)
		}
		if ev := crEvent(t, aliceWS, userTopicOf(alice.id)); ev["kind"] != "room_added" || ev["room_id"] != float64(blabla) {
			t.Fatalf("alice's event: %v", ev)
		}
		alice.must("POST", fmt.Sprintf("/chat/api/rooms/%d/join", blabla), nil, 409, nil)
		carol.must("POST", fmt.Sprintf("/chat/api/rooms/%d/join", blabla), nil, 200, nil)
		// Department rooms: a pending request each, announced to the admins.
		for _, room := range []int64{sales, support, engineering} {
			st.Request = nil
			alice.must("POST", fmt.Sprintf("/chat/api/rooms/%d/join", room), nil, 200, &st)
			if st.State != "pending" || st.Request == nil || st.Request.State != "pending" || st.Request.Room.ID != room {
				t.Fatalf("room %d: %+v", room, st)
			}
			ev := crEvent(t, rootWS, "chat.admin")
			if req, _ := ev["request"].(map[string]any); ev["kind"] != "request" || req["id"] != float64(st.Request.ID) {
				t.Fatalf("admin event: %v", ev)
			}
		}
		alice.must("POST", fmt.Sprintf("/chat/api/rooms/%d/join", sales), nil, 409, nil)
		bob.must("POST", fmt.Sprintf("/chat/api/rooms/%d/join", sales), nil, 200, &st)
		crEvent(t, rootWS, "chat.admin")
		if r := alice.rooms()["Sales"]; r.Member || r.Request == nil || *r.Request != "pending" {
			t.Fatalf("alice's Sales: %+v", r)
		}
		// An invite room: only an admin adds members.
		var b crRoom
		root.must("POST", "/chat/api/rooms", map[string]string{"name": "Board", "policy": "invite", "topic": "Directors"}, 200, &b)
		board = b.ID
		if b.Name != "Board" || b.Policy != "invite" || b.Topic != "Directors" || b.Member {
			t.Fatalf("created: %+v", b)
		}
		alice.must("POST", fmt.Sprintf("/chat/api/rooms/%d/join", board), nil, 403, nil)
		if _, ok := alice.rooms()["Board"]; ok {
			t.Fatal("an invite room is listed to a non-member")
		}
		// Admins enter any room at once.
		root.must("POST", fmt.Sprintf("/chat/api/rooms/%d/join", sales), nil, 200, &st)
		if st.State != "member" {
			t.Fatalf("root in Sales: %+v", st)
		}
		root.must("POST", "/chat/api/rooms/999999/join", nil, 404, nil)
	})

	t.Run("request queue", func(t *testing.T) {
		var q struct {
			Users []struct {
				User     crUser      `json:"user"`
				Count    int         `json:"count"`
				Requests []crRequest `json:"requests"`
			} `json:"users"`
		}
		root.must("GET", "/chat/api/requests", nil, 200, &q)
		if len(q.Users) != 2 || q.Users[0].User.ID != alice.id || q.Users[0].Count != 3 || len(q.Users[0].Requests) != 3 ||
			q.Users[1].User.ID != bob.id || q.Users[1].Count != 1 {
			t.Fatalf("queue: %+v", q)
		}
		if r := q.Users[0].Requests; r[0].Room.ID != sales || r[1].Room.ID != support || r[2].Room.ID != engineering {
			t.Fatalf("alice's requests, oldest first: %+v", r)
		}
		aliceSales, aliceSupport, aliceEng, bobSales := q.Users[0].Requests[0].ID, q.Users[0].Requests[1].ID,
			q.Users[0].Requests[2].ID, q.Users[1].Requests[0].ID

		// The requester cancels, once; no one else can.
		bob.must("POST", fmt.Sprintf("/chat/api/requests/%d/cancel", aliceEng), nil, 404, nil)
		alice.must("POST", fmt.Sprintf("/chat/api/requests/%d/cancel", aliceEng), nil, 204, nil)
		alice.must("POST", fmt.Sprintf("/chat/api/requests/%d/cancel", aliceEng), nil, 409, nil)
		if ev := crEvent(t, rootWS, "chat.admin"); ev["kind"] != "request" {
			t.Fatalf("admin event: %v", ev)
		}

		// Approved: alice hears of it (not bob), and is in the room.
		var jr crRequest
		root.must("POST", fmt.Sprintf("/chat/api/requests/%d/approve", aliceSales), nil, 200, &jr)
		if jr.State != "approved" || jr.DecidedAt == nil || jr.User.ID != alice.id {
			t.Fatalf("approved: %+v", jr)
		}
		root.must("POST", fmt.Sprintf("/chat/api/requests/%d/approve", aliceSales), nil, 409, nil)
		ev := crEvent(t, aliceWS, userTopicOf(alice.id))
		if req, _ := ev["request"].(map[string]any); ev["kind"] != "request" || req["state"] != "approved" {
			t.Fatalf("alice's decision: %v", ev)
		}
		if ev := crEvent(t, aliceWS, userTopicOf(alice.id)); ev["kind"] != "room_added" || ev["room_id"] != float64(sales) {
			t.Fatalf("alice's room: %v", ev)
		}
		crEvent(t, rootWS, "chat.admin")
		if r := alice.rooms()["Sales"]; !r.Member || r.Request != nil {
			t.Fatalf("alice's Sales: %+v", r)
		}

		// Refused with a reason: bob's first event is his own decision.
		root.must("POST", fmt.Sprintf("/chat/api/requests/%d/refuse", bobSales), map[string]string{"reason": "Sales staff only"}, 200, &jr)
		if jr.State != "refused" || jr.Reason != "Sales staff only" {
			t.Fatalf("refused: %+v", jr)
		}
		ev = crEvent(t, bobWS, userTopicOf(bob.id))
		if req, _ := ev["request"].(map[string]any); req["state"] != "refused" || req["reason"] != "Sales staff only" {
			t.Fatalf("bob's decision: %v", ev)
		}
		crEvent(t, rootWS, "chat.admin")
		var mine struct{ Requests []crRequest }
		bob.must("GET", "/chat/api/requests/mine", nil, 200, &mine)
		if len(mine.Requests) != 1 || mine.Requests[0].State != "refused" || mine.Requests[0].Reason != "Sales staff only" {
			t.Fatalf("bob's requests: %+v", mine)
		}
		if r := bob.rooms()["Sales"]; r.Member || r.Request == nil || *r.Request != "refused" {
			t.Fatalf("bob's Sales: %+v", r)
		}
		root.must("POST", fmt.Sprintf("/chat/api/requests/%d/refuse", aliceSupport), map[string]string{"reason": "bad\x00reason"}, 400, nil)
		root.must("POST", fmt.Sprintf("/chat/api/requests/%d/refuse", aliceSupport), map[string]string{"reason": strings.Repeat("r", 501)}, 400, nil)
		alice.must("GET", "/chat/api/requests/mine", nil, 200, &mine)
		if len(mine.Requests) != 3 || mine.Requests[0].State != "cancelled" || mine.Requests[1].State != "pending" ||
			mine.Requests[2].State != "approved" {
			t.Fatalf("alice's requests, newest first: %+v", mine)
		}

		// The admin page: the queue grouped by user, and a decision from it.
		page, err := s.srv.AdminPage(ctx, rootUser, "chat", "requests", AdminPageCall{Method: http.MethodGet, Lang: "en"})
		if err != nil {
			t.Fatal(err)
		}
		if f := string(page.Fragment); page.Status != 200 || !strings.Contains(f, "@alice") || !strings.Contains(f, "Support") ||
			!strings.Contains(f, `value="`+strconv.FormatInt(aliceSupport, 10)+`"`) || strings.Contains(f, "@bob") {
			t.Fatalf("the requests page: %d\n%s", page.Status, f)
		}
		page, err = s.srv.AdminPage(ctx, rootUser, "chat", "requests", AdminPageCall{Method: http.MethodPost,
			Form: url.Values{"request": {strconv.FormatInt(aliceSupport, 10)}, "decision": {"approve"}}})
		if err != nil || page.Status != http.StatusSeeOther {
			t.Fatalf("approve from the page: %+v, %v", page, err)
		}
		crEvent(t, aliceWS, userTopicOf(alice.id))
		crEvent(t, aliceWS, userTopicOf(alice.id))
		crEvent(t, rootWS, "chat.admin")
		if !alice.rooms()["Support"].Member {
			t.Fatal("approved from the page, alice is not in Support")
		}
		page, err = s.srv.AdminPage(ctx, rootUser, "chat", "requests", AdminPageCall{Method: http.MethodGet, Query: "done=approved", Lang: "en"})
		if err != nil || !strings.Contains(string(page.Fragment), "Request approved") || !strings.Contains(string(page.Fragment), "No pending requests.") {
			t.Fatalf("the page after: %+v, %v", page, err)
		}
		if n := sqlCount(`SELECT count(*) FROM audit WHERE action IN ('request.approve', 'request.refuse') AND actor_id = $1`, root.id); n != 3 {
			t.Fatalf("%d decisions audited", n)
		}
	})

	t.Run("private conversations", func(t *testing.T) {
		// The social slice makes them (POST /chat/api/groups, /dms); here
		// the rows are made as it would.
		exec(`INSERT INTO friends (a, b) VALUES (least($1::bigint, $2::bigint), greatest($1::bigint, $2::bigint))`, alice.id, bob.id)
		if err := pool.QueryRow(ctx, `INSERT INTO rooms (kind, dm_key) VALUES ('dm', $1) RETURNING id`,
			fmt.Sprintf("%d:%d", min(alice.id, bob.id), max(alice.id, bob.id))).Scan(&dm); err != nil {
			t.Fatal(err)
		}
		if err := pool.QueryRow(ctx, `INSERT INTO rooms (kind, name) VALUES ('group', 'Lunch crew') RETURNING id`).Scan(&group); err != nil {
			t.Fatal(err)
		}
		exec(`INSERT INTO members (room_id, user_id, role) VALUES ($1, $3, 'member'), ($1, $4, 'member'), ($2, $3, 'owner'), ($2, $4, 'member')`,
			dm, group, alice.id, bob.id)
		rooms := bob.rooms()
		d, g := rooms["alice"], rooms["Lunch crew"]
		if d.ID != dm || d.Kind != "dm" || len(d.Members) != 2 || g.ID != group || len(g.Members) != 2 {
			t.Fatalf("bob's conversations: %+v", rooms)
		}
		if _, ok := root.rooms()["Lunch crew"]; ok {
			t.Fatal("an admin sees others' groups")
		}
	})

	t.Run("permissions", func(t *testing.T) {
		salesSecret = alice.post(sales, "the secretword is plum")
		generalMsg := alice.post(general, "hello everyone")
		dmMsg := alice.post(dm, "just between us")
		p := func(f string, args ...any) string { return fmt.Sprintf(f, args...) }
		for _, tc := range []struct {
			who    *crClient
			method string
			path   string
			body   any
			want   int
		}{
			// A room dave may ask to join: 403; one not listed to him: 404.
			{dave, "GET", p("/chat/api/rooms/%d/messages", sales), nil, 403},
			{dave, "GET", p("/chat/api/rooms/%d/messages", board), nil, 404},
			{dave, "GET", p("/chat/api/rooms/%d/messages", group), nil, 404},
			{dave, "GET", p("/chat/api/rooms/%d/messages", dm), nil, 404},
			{dave, "GET", "/chat/api/rooms/999999/messages", nil, 404},
			{dave, "POST", p("/chat/api/rooms/%d/messages", sales), map[string]string{"text": "hi"}, 403},
			{dave, "POST", p("/chat/api/rooms/%d/messages", board), map[string]string{"text": "hi"}, 404},
			{dave, "POST", p("/chat/api/rooms/%d/messages", dm), map[string]string{"text": "hi"}, 404},
			{dave, "GET", p("/chat/api/messages/%d", salesSecret.ID), nil, 404},
			{dave, "GET", p("/chat/api/messages/%d", dmMsg.ID), nil, 404},
			{dave, "PATCH", p("/chat/api/messages/%d", salesSecret.ID), map[string]string{"text": "x"}, 404},
			{dave, "DELETE", p("/chat/api/messages/%d", salesSecret.ID), nil, 404},
			{dave, "POST", p("/chat/api/messages/%d/reactions", salesSecret.ID), map[string]string{"emoji": "👍"}, 404},
			{dave, "POST", p("/chat/api/rooms/%d/read", sales), map[string]int{"last_id": 1}, 403},
			{dave, "POST", p("/chat/api/rooms/%d/members", sales), map[string]string{"username": "dave"}, 403},
			{dave, "POST", p("/chat/api/rooms/%d/members", board), map[string]string{"username": "dave"}, 404},
			{dave, "DELETE", p("/chat/api/rooms/%d/members/%d", sales, alice.id), nil, 403},
			{dave, "POST", p("/chat/api/rooms/%d/leave", sales), nil, 409},
			{dave, "POST", p("/chat/api/rooms/%d/leave", board), nil, 404},
			{dave, "POST", "/chat/api/rooms", map[string]string{"name": "Mine", "policy": "open"}, 403},
			{dave, "PATCH", p("/chat/api/rooms/%d", sales), map[string]string{"name": "Dave's"}, 403},
			{dave, "GET", "/chat/api/requests", nil, 403},
			{dave, "POST", "/chat/api/requests/1/approve", nil, 403},
			{dave, "POST", "/chat/api/requests/1/refuse", nil, 403},
			{dave, "POST", "/chat/api/requests/1/cancel", nil, 404},
			// A member who is not the author.
			{bob, "PATCH", p("/chat/api/messages/%d", generalMsg.ID), map[string]string{"text": "x"}, 403},
			{bob, "DELETE", p("/chat/api/messages/%d", generalMsg.ID), nil, 403},
			{bob, "POST", p("/chat/api/rooms/%d/members", group), map[string]string{"username": "dave"}, 403}, // not his friend
			{bob, "DELETE", p("/chat/api/rooms/%d/members/%d", group, alice.id), nil, 403},
			// Admins read every room, never others' private conversations.
			{root, "GET", p("/chat/api/rooms/%d/messages", board), nil, 200},
			{root, "GET", p("/chat/api/rooms/%d/messages", group), nil, 404},
			{root, "GET", p("/chat/api/messages/%d", dmMsg.ID), nil, 404},
			{root, "DELETE", p("/chat/api/messages/%d", dmMsg.ID), nil, 404},
			{root, "PATCH", p("/chat/api/rooms/%d", group), map[string]string{"name": "Mine"}, 404},
			{root, "POST", p("/chat/api/rooms/%d/messages", board), map[string]string{"text": "hi"}, 403}, // join first
			{root, "PATCH", p("/chat/api/messages/%d", salesSecret.ID), map[string]string{"text": "x"}, 403},
			// Every user reads and posts in General.
			{dave, "GET", p("/chat/api/rooms/%d/messages", general), nil, 200},
			{dave, "GET", p("/chat/api/messages/%d", generalMsg.ID), nil, 200},
			{dave, "POST", p("/chat/api/rooms/%d/leave", general), nil, 409},
			{bob, "POST", p("/chat/api/rooms/%d/leave", dm), nil, 409},
		} {
			if status, b := tc.who.do(tc.method, tc.path, tc.body); status != tc.want {
				t.Errorf("%s %s as %s: %d %s, want %d", tc.method, tc.path, tc.who.name, status, b, tc.want)
			} else if status >= 400 && (bytes.Contains(b, []byte("secretword")) || bytes.Contains(b, []byte("between us"))) {
				t.Errorf("%s %s as %s leaks: %s", tc.method, tc.path, tc.who.name, b)
			}
		}
		// Search reaches only what the searcher may read.
		var page crPage
		dave.must("GET", "/chat/api/search?q=secretword", nil, 200, &page)
		if len(page.Messages) != 0 {
			t.Fatalf("dave found %+v", page.Messages)
		}
		dave.must("GET", "/chat/api/search?q=between", nil, 200, &page)
		root.must("GET", "/chat/api/search?q=between", nil, 200, &page)
		if len(page.Messages) != 0 {
			t.Fatalf("found in others' dm: %+v", page.Messages)
		}
		root.must("GET", "/chat/api/search?q=secretword", nil, 200, &page)
		if len(page.Messages) != 1 || page.Messages[0].ID != salesSecret.ID || page.Messages[0].Room.Name != "Sales" {
			t.Fatalf("the admin's search: %+v", page)
		}
		// Subscriptions: who may read, nobody else.
		daveWS := dial(t, s.URL, dave.c)
		for _, topic := range []string{roomTopicOf(sales), roomTopicOf(board), roomTopicOf(group), roomTopicOf(dm),
			userTopicOf(alice.id), "chat.admin", "chat.room.999999", "chat.room.01", "chat.elsewhere"} {
			daveWS.send(`{"type":"subscribe","topic":"` + topic + `"}`)
			daveWS.expect(realtime.TypeRefused, topic)
		}
		daveWS.subscribe(roomTopicOf(general))
		rootWS.send(`{"type":"subscribe","topic":"` + roomTopicOf(dm) + `"}`)
		rootWS.expect(realtime.TypeRefused, roomTopicOf(dm))
		// Nothing of Sales reached dave: his next event is General's.
		alice.post(sales, "another secretword")
		alice.post(general, "for everyone")
		if ev := crEvent(t, daveWS, roomTopicOf(general)); ev["kind"] != "message" {
			t.Fatalf("dave's event: %v", ev)
		}
	})

	t.Run("posting", func(t *testing.T) {
		bobRoom := dial(t, s.URL, bob.c)
		bobRoom.subscribe(roomTopicOf(general))
		carolWS := dial(t, s.URL, carol.c)
		carolWS.subscribe(userTopicOf(carol.id))

		// HTML is text; the mention of bob reaches bob only.
		const html = `<b>hi</b> <script>alert("x")</script> @bob`
		m := alice.post(general, "  "+html+"\n")
		if m.Text != html || m.Author.ID != alice.id || len(m.Mentions) != 1 || m.Mentions[0] != bob.id || m.Deleted {
			t.Fatalf("posted: %+v", m)
		}
		ev := crEvent(t, bobRoom, roomTopicOf(general))
		if msg, _ := ev["message"].(map[string]any); ev["kind"] != "message" || msg["text"] != html {
			t.Fatalf("bob's room event: %v", ev)
		}
		if ev := crEvent(t, bobWS, userTopicOf(bob.id)); ev["kind"] != "mention" || ev["message_id"] != float64(m.ID) {
			t.Fatalf("bob's mention: %v", ev)
		}
		var got crMessage
		dave.must("GET", fmt.Sprintf("/chat/api/messages/%d", m.ID), nil, 200, &got)
		if got.Text != html {
			t.Fatalf("read back: %q", got.Text)
		}
		// Mentions name only who may read the room: dave is not in Sales.
		sm := alice.post(sales, "@dave @carol @root have a look")
		if len(sm.Mentions) != 1 || sm.Mentions[0] != root.id {
			t.Fatalf("mentions in Sales: %v", sm.Mentions)
		}
		cm := alice.post(general, "@carol you too")
		if ev := crEvent(t, carolWS, userTopicOf(carol.id)); ev["message_id"] != float64(cm.ID) {
			t.Fatalf("carol's first event: %v (the Sales mention reached her?)", ev)
		}
		crEvent(t, bobRoom, roomTopicOf(general))

		// Refused texts.
		path := fmt.Sprintf("/chat/api/rooms/%d/messages", general)
		for _, tc := range []struct {
			name string
			body any
			want int
		}{
			{"a megabyte", map[string]string{"text": strings.Repeat("a", 1<<20-100)}, 413},
			{"over the limit", map[string]string{"text": strings.Repeat("a", 4001)}, 400},
			{"empty", map[string]string{"text": " \n "}, 400},
			{"nul", map[string]string{"text": "a\x00b"}, 400},
			{"escape", map[string]string{"text": "\x1b[2J"}, 400},
			{"bell", map[string]string{"text": "ding\a"}, 400},
			{"invalid utf-8", `{"text": "a` + "\xff" + `b"}`, 400},
			{"unknown member", map[string]any{"text": "x", "html": true}, 400},
			{"not json", "text=hello", 400},
		} {
			before := sqlCount(`SELECT count(*) FROM messages`)
			if status, b := alice.do("POST", path, tc.body); status != tc.want {
				t.Errorf("%s: %d %s, want %d", tc.name, status, b, tc.want)
			}
			if sqlCount(`SELECT count(*) FROM messages`) != before {
				t.Errorf("%s: stored", tc.name)
			}
		}
		alice.post(general, strings.Repeat("é", 4000)) // the limit counts characters
		crEvent(t, bobRoom, roomTopicOf(general))

		// Edit own; the edit is announced.
		var ed crMessage
		alice.must("PATCH", fmt.Sprintf("/chat/api/messages/%d", m.ID), map[string]string{"text": "edited @carol"}, 200, &ed)
		if ed.Text != "edited @carol" || ed.EditedAt == nil || len(ed.Mentions) != 1 || ed.Mentions[0] != carol.id {
			t.Fatalf("edited: %+v", ed)
		}
		if ev := crEvent(t, bobRoom, roomTopicOf(general)); ev["kind"] != "edit" {
			t.Fatalf("edit event: %v", ev)
		}
		if ev := crEvent(t, carolWS, userTopicOf(carol.id)); ev["kind"] != "mention" || ev["message_id"] != float64(m.ID) {
			t.Fatalf("carol's mention by edit: %v", ev)
		}
		alice.must("PATCH", fmt.Sprintf("/chat/api/messages/%d", m.ID), map[string]string{"text": "\x07"}, 400, nil)

		// Reactions toggle.
		var r crMessage
		bob.must("POST", fmt.Sprintf("/chat/api/messages/%d/reactions", m.ID), map[string]string{"emoji": "👍"}, 200, &r)
		if len(r.Reactions) != 1 || r.Reactions[0].Count != 1 || !r.Reactions[0].Mine {
			t.Fatalf("reacted: %+v", r.Reactions)
		}
		if ev := crEvent(t, bobRoom, roomTopicOf(general)); ev["kind"] != "reaction" {
			t.Fatalf("reaction event: %v", ev)
		}
		dave.must("GET", fmt.Sprintf("/chat/api/messages/%d", m.ID), nil, 200, &r)
		if len(r.Reactions) != 1 || r.Reactions[0].Mine {
			t.Fatalf("dave sees: %+v", r.Reactions)
		}
		bob.must("POST", fmt.Sprintf("/chat/api/messages/%d/reactions", m.ID), map[string]string{"emoji": "👍"}, 200, &r)
		if len(r.Reactions) != 0 {
			t.Fatalf("toggled off: %+v", r.Reactions)
		}
		crEvent(t, bobRoom, roomTopicOf(general))
		bob.must("POST", fmt.Sprintf("/chat/api/messages/%d/reactions", m.ID), map[string]string{"emoji": "a b"}, 400, nil)

		// Delete own: the row stays, without its text.
		alice.must("DELETE", fmt.Sprintf("/chat/api/messages/%d", m.ID), nil, 204, nil)
		if ev := crEvent(t, bobRoom, roomTopicOf(general)); ev["kind"] != "delete" || ev["id"] != float64(m.ID) {
			t.Fatalf("delete event: %v", ev)
		}
		bob.must("GET", fmt.Sprintf("/chat/api/messages/%d", m.ID), nil, 200, &got)
		if !got.Deleted || got.Text != "" || len(got.Mentions) != 0 {
			t.Fatalf("deleted: %+v", got)
		}
		if n := sqlCount(`SELECT count(*) FROM messages WHERE id = $1 AND body IS NULL AND sealed IS NULL AND deleted_at IS NOT NULL`, m.ID); n != 1 {
			t.Fatal("the deleted message keeps its text")
		}
		alice.must("PATCH", fmt.Sprintf("/chat/api/messages/%d", m.ID), map[string]string{"text": "back"}, 409, nil)
		// Admins delete any message, audited.
		bm := bob.post(general, "something rude")
		crEvent(t, bobRoom, roomTopicOf(general))
		root.must("DELETE", fmt.Sprintf("/chat/api/messages/%d", bm.ID), nil, 204, nil)
		crEvent(t, bobRoom, roomTopicOf(general))
		if n := sqlCount(`SELECT count(*) FROM audit WHERE action = 'message.delete' AND actor_id = $1 AND (detail->>'message')::bigint = $2`, root.id, bm.ID); n != 1 {
			t.Fatal("the admin's deletion is not audited")
		}

		// Typing, from who may post; anything else is refused.
		aliceRoom := dial(t, s.URL, alice.c)
		aliceRoom.subscribe(roomTopicOf(general))
		aliceRoom.send(`{"type":"message","topic":"` + roomTopicOf(general) + `","data":{"type":"typing"}}`)
		if ev := crEvent(t, bobRoom, roomTopicOf(general)); ev["kind"] != "typing" || ev["user"].(map[string]any)["username"] != "alice" {
			t.Fatalf("typing: %v", ev)
		}
		aliceRoom.expect(realtime.TypeEvent, roomTopicOf(general)) // her own typing
		aliceRoom.send(`{"type":"message","topic":"` + roomTopicOf(general) + `","data":{"type":"shout","text":"hi"}}`)
		if f := aliceRoom.next(); f.Type != realtime.TypeError || f.Code != "refused" {
			t.Fatalf("a shout: %+v", f)
		}

		// An archived room is read-only, listed last.
		root.must("PATCH", fmt.Sprintf("/chat/api/rooms/%d", support), map[string]bool{"archived": true}, 200, nil)
		alice.must("POST", fmt.Sprintf("/chat/api/rooms/%d/messages", support), map[string]string{"text": "hi"}, 409, nil)
		alice.must("GET", fmt.Sprintf("/chat/api/rooms/%d/messages", support), nil, 200, nil)
		var list struct{ Rooms []crRoom }
		alice.must("GET", "/chat/api/rooms", nil, 200, &list)
		if last := list.Rooms[len(list.Rooms)-1]; last.ID != support || !last.Archived {
			t.Fatalf("archived room not last: %+v", list.Rooms)
		}
		root.must("PATCH", fmt.Sprintf("/chat/api/rooms/%d", support), map[string]bool{"archived": false}, 200, nil)
		alice.post(support, "back again")
	})

	t.Run("room management", func(t *testing.T) {
		var r crRoom
		root.must("POST", "/chat/api/rooms", map[string]string{"name": "general", "policy": "open"}, 409, nil)
		root.must("POST", "/chat/api/rooms", map[string]string{"name": "", "policy": "open"}, 400, nil)
		root.must("POST", "/chat/api/rooms", map[string]string{"name": "X", "policy": "secret"}, 400, nil)
		root.must("POST", "/chat/api/rooms", map[string]string{"name": "a\nb", "policy": "open"}, 400, nil)
		root.must("PATCH", fmt.Sprintf("/chat/api/rooms/%d", board), map[string]any{"name": "Directors", "topic": "Quarterly", "retention_days": 30}, 200, &r)
		if r.Name != "Directors" || r.Topic != "Quarterly" || r.RetentionDays == nil || *r.RetentionDays != 30 {
			t.Fatalf("patched: %+v", r)
		}
		root.must("PATCH", fmt.Sprintf("/chat/api/rooms/%d", board), map[string]any{"retention_days": nil}, 200, &r)
		if r.RetentionDays != nil || r.Name != "Directors" {
			t.Fatalf("patched: %+v", r)
		}
		root.must("PATCH", fmt.Sprintf("/chat/api/rooms/%d", board), map[string]any{"retention_days": 0}, 400, nil)
		root.must("PATCH", fmt.Sprintf("/chat/api/rooms/%d", board), map[string]any{"name": "Sales"}, 409, nil)
		// An admin adds dave to the invite room; he hears of it.
		daveWS := dial(t, s.URL, dave.c)
		daveWS.subscribe(userTopicOf(dave.id))
		root.must("POST", fmt.Sprintf("/chat/api/rooms/%d/members", board), map[string]string{"username": "dave"}, 204, nil)
		root.must("POST", fmt.Sprintf("/chat/api/rooms/%d/members", board), map[string]string{"username": "dave"}, 409, nil)
		root.must("POST", fmt.Sprintf("/chat/api/rooms/%d/members", board), map[string]string{"username": "nobody"}, 404, nil)
		if ev := crEvent(t, daveWS, userTopicOf(dave.id)); ev["kind"] != "room_added" || ev["room_id"] != float64(board) {
			t.Fatalf("dave's event: %v", ev)
		}
		dave.post(board, "thanks")
		daveRoom := dial(t, s.URL, dave.c)
		daveRoom.subscribe(roomTopicOf(board))
		root.must("DELETE", fmt.Sprintf("/chat/api/rooms/%d/members/%d", board, dave.id), nil, 204, nil)
		if ev := crEvent(t, daveWS, userTopicOf(dave.id)); ev["kind"] != "room_removed" {
			t.Fatalf("dave's event: %v", ev)
		}
		// His open page stops hearing the room: the member event, then
		// the revocation, then nothing of what is said there.
		daveRoom.expect(realtime.TypeEvent, roomTopicOf(board))
		if f := daveRoom.expect(realtime.TypeRefused, roomTopicOf(board)); f.Reason != realtime.ReasonRevoked {
			t.Fatalf("dave's room subscription: %+v", f)
		}
		exec(`INSERT INTO members (room_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, board, root.id)
		root.post(board, "after dave left")
		if f, err := daveRoom.read(300 * time.Millisecond); err == nil {
			t.Fatalf("dave still hears the room: %+v", f)
		}
		dave.must("GET", fmt.Sprintf("/chat/api/rooms/%d/messages", board), nil, 404, nil)
		// Added by an admin while asking: the request is approved, and said.
		dave.must("POST", fmt.Sprintf("/chat/api/rooms/%d/join", engineering), nil, 200, nil)
		crEvent(t, rootWS, "chat.admin")
		root.must("POST", fmt.Sprintf("/chat/api/rooms/%d/members", engineering), map[string]string{"username": "dave"}, 204, nil)
		if ev := crEvent(t, rootWS, "chat.admin"); ev["request"].(map[string]any)["state"] != "approved" {
			t.Fatalf("the admins' event: %v", ev)
		}
		if ev := crEvent(t, daveWS, userTopicOf(dave.id)); ev["kind"] != "request" || ev["request"].(map[string]any)["state"] != "approved" {
			t.Fatalf("dave's event: %v", ev)
		}
		if ev := crEvent(t, daveWS, userTopicOf(dave.id)); ev["kind"] != "room_added" || ev["room_id"] != float64(engineering) {
			t.Fatalf("dave's event: %v", ev)
		}
		root.must("DELETE", fmt.Sprintf("/chat/api/rooms/%d/members/%d", general, dave.id), nil, 409, nil)
		// A group member adds a friend, not anyone.
		exec(`INSERT INTO friends (a, b) VALUES (least($1::bigint, $2::bigint), greatest($1::bigint, $2::bigint))`, alice.id, carol.id)
		alice.must("POST", fmt.Sprintf("/chat/api/rooms/%d/members", group), map[string]string{"username": "dave"}, 403, nil)
		alice.must("POST", fmt.Sprintf("/chat/api/rooms/%d/members", group), map[string]string{"username": "carol"}, 204, nil)
		if g := carol.rooms()["Lunch crew"]; !g.Member || len(g.Members) != 3 {
			t.Fatalf("carol's group: %+v", g)
		}
		carol.must("POST", fmt.Sprintf("/chat/api/rooms/%d/leave", group), nil, 204, nil)
		carol.must("GET", fmt.Sprintf("/chat/api/rooms/%d/messages", group), nil, 404, nil)
		for _, action := range []string{"room.create", "room.update", "room.member_add", "room.member_remove", "room.admin_join"} {
			if n := sqlCount(`SELECT count(*) FROM audit WHERE action = $1 AND actor_id = $2`, action, root.id); n == 0 {
				t.Errorf("%s not audited", action)
			}
		}
	})

	t.Run("sealed conversations", func(t *testing.T) {
		bobRoom := dial(t, s.URL, bob.c)
		bobRoom.subscribe(roomTopicOf(dm))
		bobRoom.subscribe(roomTopicOf(group))
		const secret = "the launch code is 7-ALPHA-9"
		m := alice.post(dm, secret)
		if m.Text != secret {
			t.Fatalf("posted: %+v", m)
		}
		ev := crEvent(t, bobRoom, roomTopicOf(dm))
		if ev["kind"] != "message" || ev["id"] != float64(m.ID) || len(ev) != 3 {
			t.Fatalf("a dm's event carries more than ids: %v", ev)
		}
		gm := alice.post(group, "group secret: "+secret)
		raw := bobRoom.expect(realtime.TypeEvent, roomTopicOf(group))
		if bytes.Contains(raw.Data, []byte("launch")) {
			t.Fatalf("the group's event: %s", raw.Data)
		}
		var got crMessage
		bob.must("GET", fmt.Sprintf("/chat/api/messages/%d", m.ID), nil, 200, &got)
		if got.Text != secret {
			t.Fatalf("bob reads %q", got.Text)
		}
		// Nothing in clear in the module's tables, nor in the runtime's
		// event table.
		var clear int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM messages WHERE id IN ($1, $2)
			AND (body IS NOT NULL OR sealed IS NULL OR position('launch'::bytea IN sealed) > 0)`, m.ID, gm.ID).Scan(&clear); err != nil || clear != 0 {
			t.Fatalf("%d private messages stored in clear (%v)", clear, err)
		}
		var events int
		if err := s.srv.db.Pool.QueryRow(ctx, `SELECT count(*) FROM websonic.realtime_events WHERE data::text LIKE '%launch%'`).Scan(&events); err != nil || events != 0 {
			t.Fatalf("%d events with the text (%v)", events, err)
		}
		// Edits, reactions: ids only too.
		alice.must("PATCH", fmt.Sprintf("/chat/api/messages/%d", m.ID), map[string]string{"text": secret + "!"}, 200, nil)
		if ev := crEvent(t, bobRoom, roomTopicOf(dm)); ev["kind"] != "edit" || ev["message"] != nil {
			t.Fatalf("edit event: %v", ev)
		}
		// No longer friends, or blocked: no more dms (the history stays).
		exec(`DELETE FROM friends WHERE a = least($1::bigint, $2::bigint) AND b = greatest($1::bigint, $2::bigint)`, alice.id, bob.id)
		alice.must("POST", fmt.Sprintf("/chat/api/rooms/%d/messages", dm), map[string]string{"text": "hello?"}, 403, nil)
		bob.must("GET", fmt.Sprintf("/chat/api/rooms/%d/messages", dm), nil, 200, nil)
		exec(`INSERT INTO friends (a, b) VALUES (least($1::bigint, $2::bigint), greatest($1::bigint, $2::bigint))`, alice.id, bob.id)
		exec(`INSERT INTO blocks (blocker, blocked) VALUES ($1, $2)`, bob.id, alice.id)
		alice.must("POST", fmt.Sprintf("/chat/api/rooms/%d/messages", dm), map[string]string{"text": "hello?"}, 403, nil)
		exec(`DELETE FROM blocks`)
		alice.post(dm, "friends again")
		crEvent(t, bobRoom, roomTopicOf(dm))
	})

	t.Run("history pages", func(t *testing.T) {
		// A few hundred messages in Blabla (made in SQL, faster), then
		// some through the module.
		exec(`INSERT INTO messages (room_id, author_id, body) SELECT $1, $2, 'bulk ' || g FROM generate_series(1, 297) g`, blabla, carol.id)
		exec(`UPDATE rooms SET last_message_id = (SELECT max(id) FROM messages WHERE room_id = $1) WHERE id = $1`, blabla)
		for i := range 3 {
			alice.post(blabla, fmt.Sprintf("live %d", i))
		}
		rows, err := pool.Query(ctx, `SELECT id FROM messages WHERE room_id = $1 ORDER BY id DESC`, blabla)
		if err != nil {
			t.Fatal(err)
		}
		var want []int64
		for rows.Next() {
			var id int64
			rows.Scan(&id)
			want = append(want, id)
		}
		rows.Close()
		var got []int64
		before := ""
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("too many pages")
			}
			var p crPage
			carol.must("GET", fmt.Sprintf("/chat/api/rooms/%d/messages%s", blabla, before), nil, 200, &p)
			if len(p.Messages) > 50 || p.Next != nil && len(p.Messages) != 50 {
				t.Fatalf("page %d: %d messages, next %v", pages, len(p.Messages), p.Next)
			}
			for _, m := range p.Messages {
				got = append(got, m.ID)
			}
			if p.Next == nil {
				break
			}
			before = fmt.Sprintf("?before=%d", *p.Next)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("paged %d messages, want %d in order (%v…)", len(got), len(want), got[:min(5, len(got))])
		}
		if len(want) < 300 {
			t.Fatalf("only %d messages", len(want))
		}
		for _, bad := range []string{"0", "-1", "x", "1.5", "99999999999999999999"} {
			carol.must("GET", fmt.Sprintf("/chat/api/rooms/%d/messages?before=%s", blabla, bad), nil, 400, nil)
		}
	})

	t.Run("unread and mentions", func(t *testing.T) {
		// carol joined Blabla before the bulk, which is hers: alice's 3
		// messages are unread.
		r := carol.rooms()["Blabla"]
		if r.Unread != 3 || r.Mentions != 0 {
			t.Fatalf("carol's Blabla: %+v", r)
		}
		carol.must("POST", fmt.Sprintf("/chat/api/rooms/%d/read", blabla), map[string]int64{"last_id": r.LastMessageID}, 204, nil)
		exec(`INSERT INTO messages (room_id, author_id, body) SELECT $1, $2, 'more ' || g FROM generate_series(1, 150) g`, blabla, alice.id)
		exec(`UPDATE rooms SET last_message_id = (SELECT max(id) FROM messages WHERE room_id = $1) WHERE id = $1`, blabla)
		m := alice.post(blabla, "@carol read this")
		alice.post(blabla, "and @CAROL this")
		r = carol.rooms()["Blabla"]
		if r.Unread != 100 || r.Mentions != 2 || r.LastMessageID <= m.ID {
			t.Fatalf("carol's Blabla: %+v", r)
		}
		if a := alice.rooms()["Blabla"]; a.Unread != 0 {
			t.Fatalf("alice's own messages unread: %+v", a)
		}
		// Read up to the first mention: one mention left.
		carol.must("POST", fmt.Sprintf("/chat/api/rooms/%d/read", blabla), map[string]int64{"last_id": m.ID}, 204, nil)
		if r = carol.rooms()["Blabla"]; r.Unread != 1 || r.Mentions != 1 {
			t.Fatalf("after reading: %+v", r)
		}
		// Backwards does nothing; past the newest stops at the newest.
		carol.must("POST", fmt.Sprintf("/chat/api/rooms/%d/read", blabla), map[string]int64{"last_id": 1}, 204, nil)
		if r = carol.rooms()["Blabla"]; r.Unread != 1 {
			t.Fatalf("the marker went back: %+v", r)
		}
		carol.must("POST", fmt.Sprintf("/chat/api/rooms/%d/read", blabla), map[string]int64{"last_id": 1 << 60}, 204, nil)
		if r = carol.rooms()["Blabla"]; r.Unread != 0 || r.Mentions != 0 {
			t.Fatalf("all read: %+v", r)
		}
		alice.post(blabla, "one more")
		if r = carol.rooms()["Blabla"]; r.Unread != 1 {
			t.Fatalf("a marker past the newest hid the next: %+v", r)
		}
		// Bob's unread in the dm and the group.
		rooms := bob.rooms()
		if rooms["alice"].Unread == 0 || rooms["Lunch crew"].Unread == 0 {
			t.Fatalf("bob's conversations: %+v", rooms)
		}
	})

	t.Run("search", func(t *testing.T) {
		exec(`INSERT INTO messages (room_id, author_id, body) SELECT $1, $2, 'a needle in ' || g FROM generate_series(1, 70) g`, blabla, carol.id)
		var private []int64
		for i := range 45 {
			private = append(private, alice.post(dm, fmt.Sprintf("private NEEDLE %d", i)).ID)
		}
		exec(`INSERT INTO messages (room_id, author_id, body) SELECT $1, $2, 'late needle ' || g FROM generate_series(1, 10) g`, blabla, carol.id)
		collect := func(c *crClient, q string) ([]int64, map[int64]crMessage) {
			t.Helper()
			var ids []int64
			all := map[int64]crMessage{}
			before := ""
			for pages := 0; ; pages++ {
				if pages > 10 {
					t.Fatal("too many pages")
				}
				var p crPage
				c.must("GET", "/chat/api/search?q="+url.QueryEscape(q)+before, nil, 200, &p)
				if len(p.Messages) > 50 || p.Next != nil && len(p.Messages) != 50 {
					t.Fatalf("a page of %d, next %v", len(p.Messages), p.Next)
				}
				for _, m := range p.Messages {
					ids = append(ids, m.ID)
					all[m.ID] = m
				}
				if p.Next == nil {
					return ids, all
				}
				before = fmt.Sprintf("&before=%d", *p.Next)
			}
		}
		// carol is in Blabla, not in the dm: 80 results.
		ids, _ := collect(carol, "needle")
		if len(ids) != 80 || !slices.IsSortedFunc(ids, func(a, b int64) int { return int(b - a) }) {
			t.Fatalf("carol: %d results %v", len(ids), ids)
		}
		// bob is in the dm, not in Blabla: the 45 private ones, opened.
		ids, all := collect(bob, "needle")
		if len(ids) != 45 || all[private[0]].Text != "private NEEDLE 0" || all[private[0]].Room.Name != "alice" {
			t.Fatalf("bob: %d results, %+v", len(ids), all[private[0]])
		}
		// alice is in both: 125, merged newest first, each once.
		ids, _ = collect(alice, "needle")
		if len(ids) != 125 || !slices.IsSortedFunc(ids, func(a, b int64) int { return int(b - a) }) || len(slices.Compact(slices.Clone(ids))) != 125 {
			t.Fatalf("alice: %d results", len(ids))
		}
		ids, _ = collect(alice, "needle -private")
		if len(ids) != 80 {
			t.Fatalf("needle -private: %d", len(ids))
		}
		for _, q := range []string{"", "   ", strings.Repeat("x", 201), "a\x00b"} {
			alice.must("GET", "/chat/api/search?q="+url.QueryEscape(q), nil, 400, nil)
		}
	})

	t.Run("retention", func(t *testing.T) {
		root.must("PATCH", fmt.Sprintf("/chat/api/rooms/%d", blabla), map[string]any{"retention_days": 30}, 200, nil)
		// The older half of Blabla, and General's messages of that time.
		var median int64
		if err := pool.QueryRow(ctx, `SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY id) FROM messages WHERE room_id = $1`, blabla).Scan(&median); err != nil {
			t.Fatal(err)
		}
		exec(`UPDATE messages SET created_at = now() - interval '40 days' WHERE room_id IN ($1, $2) AND id <= $3`, blabla, general, median)
		old := sqlCount(`SELECT count(*) FROM messages WHERE room_id = $1 AND created_at < now() - interval '30 days'`, blabla)
		young := sqlCount(`SELECT count(*) FROM messages WHERE room_id = $1 AND created_at >= now() - interval '30 days'`, blabla)
		generalOld := sqlCount(`SELECT count(*) FROM messages WHERE room_id = $1 AND created_at < now() - interval '30 days'`, general)
		if old < 100 || young < 100 || generalOld == 0 {
			t.Fatalf("old %d, young %d, general %d", old, young, generalOld)
		}
		pollAll(s.srv)
		clk.set(time.Date(2030, 1, 1, 2, 30, 5, 0, time.UTC))
		pollAll(s.srv)
		if runs := jobRuns(t, s.srv, "chat", "retention"); len(runs) != 1 || runs[0] != "02:30 ok" {
			t.Fatalf("retention runs: %q", runs)
		}
		if n := sqlCount(`SELECT count(*) FROM messages WHERE room_id = $1`, blabla); n != young {
			t.Fatalf("%d messages left in Blabla, want %d", n, young)
		}
		if n := sqlCount(`SELECT count(*) FROM messages WHERE room_id = $1 AND created_at < now() - interval '30 days'`, general); n != generalOld {
			t.Fatal("retention deleted messages of a room that keeps them")
		}
	})

	t.Run("export and erase", func(t *testing.T) {
		var archive bytes.Buffer
		if err := s.srv.ExportUser(ctx, alice.id, &archive); err != nil {
			t.Fatal(err)
		}
		zr, err := zip.NewReader(bytes.NewReader(archive.Bytes()), int64(archive.Len()))
		if err != nil {
			t.Fatal(err)
		}
		var part []byte
		for _, f := range zr.File {
			if f.Name == "modules/chat.json" {
				rc, _ := f.Open()
				part, _ = io.ReadAll(rc)
				rc.Close()
			}
		}
		var doc struct {
			Messages []struct {
				Text string `json:"text"`
				Kind string `json:"kind"`
			} `json:"messages"`
			Memberships  []json.RawMessage `json:"memberships"`
			JoinRequests []struct {
				State string `json:"state"`
			} `json:"join_requests"`
			Friends []struct {
				Username string `json:"username"`
			} `json:"friends"`
			Reactions json.RawMessage `json:"reactions"`
			Profile   json.RawMessage `json:"profile"`
		}
		if err := json.Unmarshal(part, &doc); err != nil {
			t.Fatalf("the export's chat part: %v\n%.300s", err, part)
		}
		opened := false
		for _, m := range doc.Messages {
			opened = opened || m.Kind == "dm" && strings.Contains(m.Text, "launch code")
		}
		if !opened || len(doc.Memberships) < 5 || len(doc.JoinRequests) != 3 || len(doc.Friends) != 2 || string(doc.Profile) != "null" {
			t.Fatalf("the export: %d messages (dm opened: %v), %d memberships, %d requests, %d friends, profile %s",
				len(doc.Messages), opened, len(doc.Memberships), len(doc.JoinRequests), len(doc.Friends), doc.Profile)
		}

		kept := sqlCount(`SELECT count(*) FROM messages WHERE author_id = $1`, alice.id)
		if err := s.srv.EraseUser(ctx, alice.id); err != nil {
			t.Fatal(err)
		}
		if n := sqlCount(`SELECT count(*) FROM messages WHERE author_id IS NULL`); n < kept {
			t.Fatalf("%d messages by deleted user, want %d", n, kept)
		}
		for _, q := range []string{
			`SELECT count(*) FROM messages WHERE author_id = $1 OR deleted_by = $1`,
			`SELECT count(*) FROM members WHERE user_id = $1`,
			`SELECT count(*) FROM join_requests WHERE user_id = $1`,
			`SELECT count(*) FROM friends WHERE a = $1 OR b = $1`,
			`SELECT count(*) FROM friend_requests WHERE from_id = $1 OR to_id = $1`,
			`SELECT count(*) FROM blocks WHERE blocker = $1 OR blocked = $1`,
			`SELECT count(*) FROM mentions WHERE user_id = $1`,
			`SELECT count(*) FROM reactions WHERE user_id = $1`,
			`SELECT count(*) FROM presence WHERE user_id = $1`,
			`SELECT count(*) FROM profiles WHERE user_id = $1`,
		} {
			if n := sqlCount(q, alice.id); n != 0 {
				t.Errorf("after erasure, %s: %d", q, n)
			}
		}
		// Her messages stay for bob, by "deleted user".
		var p crPage
		bob.must("GET", fmt.Sprintf("/chat/api/rooms/%d/messages", dm), nil, 200, &p)
		if len(p.Messages) == 0 || p.Messages[0].Author.DisplayName != "deleted user" || p.Messages[0].Author.ID != 0 || p.Messages[0].Text == "" {
			t.Fatalf("bob's dm after: %+v", p.Messages[:min(1, len(p.Messages))])
		}
		if r := bob.rooms()["deleted user"]; r.ID != dm || len(r.Members) != 1 {
			t.Fatalf("bob's dm is named %+v", bob.rooms())
		}
		// Erasing again changes nothing and fails nothing.
		resp, err := s.srv.Module("chat").Call(ctx, abi.UserErasePath, nil, []byte(fmt.Sprintf(`{"user_id": %d}`, alice.id)), "")
		if err != nil || resp.Status/100 != 2 {
			t.Fatalf("erase again: %+v, %v", resp, err)
		}
	})
}
