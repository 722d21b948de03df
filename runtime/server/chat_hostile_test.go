package server

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/websonic/websonic/runtime/internal/admin"
	"github.com/websonic/websonic/runtime/internal/realtime"
	"github.com/websonic/websonic/runtime/internal/site"
)

// TestChatHostile: a member (and staff, the chat's admins) calling the
// site's admin commands is refused, in the admin area and in the runtime;
// a member calling the chat's admin API gets 403; a member subscribing
// to a room they may not read, an admin topic or another user's topic is
// refused and hears nothing of it, and one removed from a room hears no
// more of it; hostile text is refused or kept as text.
func TestChatHostile(t *testing.T) {
	s := chatSite(t)
	as := httptest.NewServer(s.srv.AdminHandler())
	t.Cleanup(as.Close)
	root := s.member(t, "root", "192.0.2.1", site.RoleAdmin)
	sam := s.member(t, "sam", "192.0.2.2", site.RoleStaff)
	mia := s.member(t, "mia", "192.0.2.3", site.RoleMember)
	vic := s.member(t, "vic", "192.0.2.4", site.RoleMember)
	rooms := root.rooms(t)
	general, sales := rooms["General"].ID, rooms["Sales"].ID
	if general == 0 || sales == 0 {
		t.Fatalf("rooms: %+v", rooms)
	}
	root.must(t, "POST", fmt.Sprintf("/chat/api/rooms/%d/join", sales), nil, 200, nil)
	secret := root.post(t, sales, "Sales targets: confidential")

	t.Run("admin commands", func(t *testing.T) {
		// The admin area: members cannot sign in; a member or staff
		// holding an admin session (their role taken away after signing
		// in) is refused every command and admin page of the chat.
		c := &adminClient{t: t, origin: as.URL}
		resp, page := c.do("POST", "/admin/login", url.Values{"username": {"mia"}, "password": {chatPassword}}, nil)
		if resp.StatusCode != 403 || !strings.Contains(page, "Only admins and auditors may sign in here.") {
			t.Errorf("a member's admin sign-in: %d\n%.1000s", resp.StatusCode, page)
		}
		for _, who := range []*chatter{mia, sam} {
			token := make([]byte, 32)
			rand.Read(token)
			if _, err := s.srv.db.Pool.Exec(t.Context(), `INSERT INTO websonic.admin_sessions (token_hash, user_id, expires_at)
				VALUES (sha256($1), $2, now() + interval '1 hour')`, token, who.id); err != nil {
				t.Fatal(err)
			}
			c := &adminClient{t: t, origin: as.URL, cookie: &http.Cookie{Name: admin.AdminCookie, Value: base64.RawURLEncoding.EncodeToString(token)}}
			for _, rq := range []struct {
				method, path string
				form         url.Values
			}{
				{"POST", "/admin/modules/chat/commands/ban", url.Values{"csrf": {"x"}, "user": {"vic"}, "reason": {"x"}}},
				{"POST", "/admin/modules/chat/commands/make_admin", url.Values{"csrf": {"x"}, "user": {who.name}}},
				{"POST", "/admin/modules/chat/commands/threads", url.Values{"csrf": {"x"}}},
				{"GET", "/admin/modules/chat/commands", nil},
				{"GET", "/admin/modules/chat/pages/moderation", nil},
				{"GET", "/admin/modules/chat/pages/requests", nil},
			} {
				resp, page := c.do(rq.method, rq.path, rq.form, nil)
				if resp.StatusCode != 403 {
					t.Errorf("%s %s as %s: %d\n%.500s", rq.method, rq.path, who.name, resp.StatusCode, page)
				}
			}
		}
		for _, who := range []string{"mia", "sam"} {
			if _, err := runChatCommand(t, s, s.siteUser(t, who), "ban", map[string]any{"user": "vic"}); !errors.Is(err, ErrNotAdmin) {
				t.Errorf("RunCommand as %s: %v", who, err)
			}
		}
		if st := s.count(t, `SELECT count(*) FROM websonic.users WHERE username = 'vic' AND banned_at IS NULL`); st != 1 {
			t.Error("vic was banned")
		}
		// The module's own host paths are not routes.
		for _, path := range []string{"/_websonic/commands/ban", "/_websonic/admin/pages/moderation", "/chat/_websonic/commands/ban"} {
			if st, b := mia.api(t, "POST", path, `{"args":{"user":"vic"}}`); st != 404 && st != 403 {
				t.Errorf("POST %s: %d %.200s", path, st, b)
			}
		}
	})

	t.Run("the chat's admin API", func(t *testing.T) {
		var q struct {
			Users []struct {
				Requests []chatRequest `json:"requests"`
			} `json:"users"`
		}
		vic.must(t, "POST", fmt.Sprintf("/chat/api/rooms/%d/join", sales), nil, 200, nil)
		root.must(t, "GET", "/chat/api/requests", nil, 200, &q)
		if len(q.Users) != 1 || len(q.Users[0].Requests) != 1 {
			t.Fatalf("the queue: %+v", q)
		}
		req := q.Users[0].Requests[0].ID
		for _, rq := range []struct {
			method, path string
			body         any
		}{
			{"POST", "/chat/api/rooms", map[string]string{"name": "Mine", "policy": "open"}},
			{"PATCH", fmt.Sprintf("/chat/api/rooms/%d", general), map[string]string{"name": "Owned"}},
			{"PATCH", fmt.Sprintf("/chat/api/rooms/%d", sales), map[string]any{"policy": "open"}},
			{"GET", "/chat/api/requests", nil},
			{"POST", fmt.Sprintf("/chat/api/requests/%d/approve", req), nil},
			{"POST", fmt.Sprintf("/chat/api/requests/%d/refuse", req), map[string]string{"reason": "no"}},
			{"POST", fmt.Sprintf("/chat/api/rooms/%d/members", sales), map[string]string{"username": "mia"}},
			{"DELETE", fmt.Sprintf("/chat/api/rooms/%d/members/%d", sales, root.id), nil},
			{"POST", "/chat/api/friends/force", map[string]string{"a": "mia", "b": "root"}},
		} {
			for _, who := range []*chatter{mia, vic} {
				if st, b := who.api(t, rq.method, rq.path, rq.body); st != 403 {
					t.Errorf("%s %s as %s: %d %.300s, want 403", rq.method, rq.path, who.name, st, b)
				}
			}
		}
		// Nothing changed.
		if r := root.rooms(t); r["General"].Name != "General" || r["Sales"].Policy != "request" || r["Mine"].ID != 0 {
			t.Errorf("rooms after the attempts: %+v", r)
		}
		if r := vic.rooms(t)["Sales"]; r.Member || r.Request == nil || *r.Request != "pending" {
			t.Errorf("vic's request after the attempts: %+v", r)
		}
		// Reading a room one is not in, or deleting another's message.
		mia.must(t, "GET", fmt.Sprintf("/chat/api/rooms/%d/messages", sales), nil, 403, nil)
		if st, b := mia.api(t, "DELETE", fmt.Sprintf("/chat/api/messages/%d", secret.ID), nil); st != 403 && st != 404 {
			t.Errorf("mia deletes Sales' message: %d %s", st, b)
		}
		var still chatMessage
		root.must(t, "GET", fmt.Sprintf("/chat/api/messages/%d", secret.ID), nil, 200, &still)
		if still.Deleted {
			t.Error("mia deleted a message of a room she is not in")
		}
		if st, b := mia.api(t, "GET", fmt.Sprintf("/chat/api/messages/%d", secret.ID), nil); st != 403 && st != 404 || strings.Contains(string(b), "confidential") {
			t.Errorf("mia reads Sales' message: %d %s", st, b)
		}
		var found struct{ Messages []chatMessage }
		mia.must(t, "GET", "/chat/api/search?q=confidential", nil, 200, &found)
		if len(found.Messages) != 0 {
			t.Errorf("mia finds Sales' message: %+v", found)
		}
	})

	t.Run("topics one may not follow", func(t *testing.T) {
		ws := mia.socket(t)
		for _, topic := range []string{chatRoomTopic(sales), "chat.admin", chatUserTopic(root.id), chatRoomTopic(999999), "chat.rooms", "chat.room.01"} {
			ws.send(fmt.Sprintf(`{"type":"subscribe","topic":%q}`, topic))
			if f := ws.next(); f.Type != realtime.TypeRefused || f.Topic != topic || f.Reason != "denied" {
				t.Errorf("subscribe to %s: %+v", topic, f)
			}
		}
		ws.send(fmt.Sprintf(`{"type":"subscribe","topic":%q,"last_id":0}`, chatRoomTopic(sales)))
		if f := ws.next(); f.Type != realtime.TypeRefused {
			t.Errorf("catching up on Sales: %+v", f)
		}
		ws.send(fmt.Sprintf(`{"type":"message","topic":%q,"data":{"type":"typing"}}`, chatRoomTopic(sales)))
		if f := ws.next(); f.Type != "error" || f.Code != "not_subscribed" {
			t.Errorf("a message to Sales: %+v", f)
		}
		follow(t, ws, chatRoomTopic(general))
		// Root posts in Sales, then in General: mia hears General only.
		root.post(t, sales, "more Sales secrets")
		marker := root.post(t, general, "marker")
		for {
			f := ws.next()
			if f.Topic == chatRoomTopic(sales) || strings.Contains(string(f.Data), "Sales secrets") {
				t.Fatalf("mia heard Sales: %+v %s", f, f.Data)
			}
			if f.Type == realtime.TypeEvent && decodeChatEvent(t, f).messageID() == marker.ID {
				break
			}
		}
	})

	t.Run("a member removed from a room hears no more of it", func(t *testing.T) {
		var q struct {
			Users []struct {
				Requests []chatRequest `json:"requests"`
			} `json:"users"`
		}
		root.must(t, "GET", "/chat/api/requests", nil, 200, &q)
		root.must(t, "POST", fmt.Sprintf("/chat/api/requests/%d/approve", q.Users[0].Requests[0].ID), nil, 200, nil)
		ws := vic.socket(t)
		follow(t, ws, chatRoomTopic(sales))
		follow(t, ws, chatRoomTopic(general))
		root.must(t, "DELETE", fmt.Sprintf("/chat/api/rooms/%d/members/%d", sales, vic.id), nil, 204, nil)
		vic.must(t, "GET", fmt.Sprintf("/chat/api/rooms/%d/messages", sales), nil, 403, nil)
		root.post(t, sales, "after vic left: new prices")
		marker := root.post(t, general, "marker after removal")
		told := false
		for {
			f := ws.next()
			told = told || f.Type == realtime.TypeRefused && f.Topic == chatRoomTopic(sales) && f.Reason == "revoked"
			if f.Type == realtime.TypeEvent && f.Topic == chatRoomTopic(sales) && strings.Contains(string(f.Data), "new prices") {
				t.Errorf("vic, removed from Sales, still hears it: %s", f.Data)
			}
			if f.Type == realtime.TypeEvent && decodeChatEvent(t, f).messageID() == marker.ID {
				break
			}
		}
		if !told {
			t.Error("vic's socket was not told its Sales subscription ended")
		}
	})

	t.Run("hostile text", func(t *testing.T) {
		ws := root.socket(t)
		follow(t, ws, chatRoomTopic(general))
		markup := `<script>alert(1)</script><img src=x onerror="alert(2)"> & </textarea>`
		m := mia.post(t, general, markup)
		if m.Text != markup {
			t.Errorf("kept as %q", m.Text)
		}
		ev := awaitEvent(t, ws, chatRoomTopic(general), kind("message"))
		if msg, _ := ev.Data["message"].(map[string]any); msg["text"] != markup {
			t.Errorf("the event carries %v", ev.Data)
		}
		for _, tc := range []struct {
			name, text string
			want       int
		}{
			{"1 MB", strings.Repeat("a", 1<<20), http.StatusRequestEntityTooLarge},
			{"over the limit", strings.Repeat("é", 4001), http.StatusBadRequest},
			{"NUL", "a\x00b", http.StatusBadRequest},
			{"terminal escape", "\x1b[2J\x1b[31mred", http.StatusBadRequest},
			{"empty", "   \n\t ", http.StatusBadRequest},
		} {
			if st, b := mia.api(t, "POST", fmt.Sprintf("/chat/api/rooms/%d/messages", general), map[string]string{"text": tc.text}); st != tc.want {
				t.Errorf("%s: %d %.200s, want %d", tc.name, st, b, tc.want)
			}
		}
		if st, _ := mia.api(t, "POST", fmt.Sprintf("/chat/api/rooms/%d/messages", general), `{"text": "a", "author_id": 1}`); st != 400 {
			t.Errorf("an unknown member: %d", st)
		}
		// Over the socket: a frame the module does not take, and one too
		// large for the runtime.
		mws := mia.socket(t)
		follow(t, mws, chatRoomTopic(general))
		mws.send(fmt.Sprintf(`{"type":"message","topic":%q,"data":{"type":"<script>"}}`, chatRoomTopic(general)))
		if f := mws.next(); f.Type != "error" || f.Code != "refused" {
			t.Errorf("a hostile frame: %+v", f)
		}
		mws.send(fmt.Sprintf(`{"type":"message","topic":%q,"data":%q}`, chatRoomTopic(general), strings.Repeat("x", 1<<20)))
		if code, _ := closedWith(t, mws); code != websocket.StatusMessageTooBig {
			t.Errorf("a 1 MB frame: closed with %d", code)
		}
	})
}
