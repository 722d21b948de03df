package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/websonic/websonic/runtime/internal/realtime"
	"github.com/websonic/websonic/runtime/internal/site"
)

// replaysNone subscribes a new socket of reader's to room from last_id 0
// and reads its catch-up (events or a reload) until poster's marker
// message, which it posts after subscribing: no frame may carry any of
// secrets (why says what that would mean).
func replaysNone(t *testing.T, reader, poster *chatter, room int64, marker, why string, secrets ...string) {
	t.Helper()
	ws := reader.socket(t)
	ws.send(fmt.Sprintf(`{"type":"subscribe","topic":%q,"last_id":0}`, chatRoomTopic(room)))
	if f := ws.next(); f.Type != realtime.TypeSubscribed {
		t.Fatalf("subscribe: %+v", f)
	}
	m := poster.post(t, room, marker)
	for {
		f := ws.next()
		for _, secret := range secrets {
			if strings.Contains(string(f.Data), secret) {
				t.Fatalf("%s: %+v %s", why, f, f.Data)
			}
		}
		if f.Type == realtime.TypeEvent && decodeChatEvent(t, f).messageID() == m.ID {
			return
		}
		if f.Type != realtime.TypeEvent && f.Type != realtime.TypeReload {
			t.Fatalf("unexpected frame %+v", f)
		}
	}
}

// maxGroupOthersForTest is modules/chat's maxGroupOthers: the most people
// a group has besides its maker.
const maxGroupOthersForTest = 50

// TestChatAttack: the chat module read as an attacker would (issue 11's
// review): each subtest is an attack that worked before its fix.
func TestChatAttack(t *testing.T) {
	s := chatSite(t)
	root := s.member(t, "root", "192.0.2.31", site.RoleAdmin)
	alice := s.member(t, "alice", "192.0.2.32", site.RoleMember)
	bob := s.member(t, "bob", "192.0.2.33", site.RoleMember)
	mallory := s.member(t, "mallory", "192.0.2.34", site.RoleMember)
	rooms := root.rooms(t)
	general, blabla := rooms["General"].ID, rooms["Blabla"].ID
	if general == 0 || blabla == 0 {
		t.Fatalf("rooms: %+v", rooms)
	}

	// A message deleted (or edited) before someone joined a room is not
	// theirs to read: the history shows it deleted, and a socket that
	// subscribes with an old last_id must not replay its text from the
	// runtime's event table either.
	t.Run("a later joiner's catch-up replays no deleted or edited text", func(t *testing.T) {
		alice.must(t, "POST", fmt.Sprintf("/chat/api/rooms/%d/join", blabla), nil, 200, nil)
		live := alice.socket(t)
		follow(t, live, chatRoomTopic(blabla))
		gone := alice.post(t, blabla, "oops, the vault code is 4711")
		first := awaitEvent(t, live, chatRoomTopic(blabla), func(e chatEvent) bool { return e.messageID() == gone.ID })
		alice.must(t, "DELETE", fmt.Sprintf("/chat/api/messages/%d", gone.ID), nil, 204, nil)
		edited := alice.post(t, blabla, "draft: salary list attached")
		alice.must(t, "PATCH", fmt.Sprintf("/chat/api/messages/%d", edited.ID), map[string]string{"text": "never mind"}, 200, nil)

		// Mallory was never in Blabla: she joins now (open: at once).
		mallory.must(t, "GET", fmt.Sprintf("/chat/api/rooms/%d/messages", blabla), nil, 403, nil)
		mallory.must(t, "POST", fmt.Sprintf("/chat/api/rooms/%d/join", blabla), nil, 200, nil)
		var hist struct{ Messages []chatMessage }
		mallory.must(t, "GET", fmt.Sprintf("/chat/api/rooms/%d/messages", blabla), nil, 200, &hist)
		for _, m := range hist.Messages {
			if strings.Contains(m.Text, "4711") || strings.Contains(m.Text, "salary") {
				t.Fatalf("the history shows %q", m.Text)
			}
		}
		replaysNone(t, mallory, alice, blabla, "marker after mallory joined",
			"mallory's catch-up replays what was deleted or edited before she joined", "4711", "salary")
		// Alice, a member all along, still catches up on what is hers.
		aws := alice.socket(t)
		aws.send(fmt.Sprintf(`{"type":"subscribe","topic":%q,"last_id":%d}`, chatRoomTopic(blabla), first.ID-1))
		if f := aws.next(); f.Type != realtime.TypeSubscribed {
			t.Fatalf("alice subscribes: %+v", f)
		}
		if ev := awaitEvent(t, aws, chatRoomTopic(blabla), nil); ev.messageID() != gone.ID {
			t.Errorf("alice's catch-up starts with %+v, want message %d", ev, gone.ID)
		}
	})

	// The same when a room is opened to everyone (or an 'everyone' room
	// unarchived): what its members deleted before is not for everyone.
	t.Run("a room opened to everyone replays no deleted text", func(t *testing.T) {
		var board chatRoom
		root.must(t, "POST", "/chat/api/rooms", map[string]string{"name": "Board", "policy": "invite"}, 200, &board)
		root.must(t, "POST", fmt.Sprintf("/chat/api/rooms/%d/members", board.ID), map[string]string{"username": "alice"}, 204, nil)
		live := alice.socket(t)
		follow(t, live, chatRoomTopic(board.ID))
		gone := alice.post(t, board.ID, "layoffs list: 12 names")
		awaitEvent(t, live, chatRoomTopic(board.ID), func(e chatEvent) bool { return e.messageID() == gone.ID })
		alice.must(t, "DELETE", fmt.Sprintf("/chat/api/messages/%d", gone.ID), nil, 204, nil)

		mallory.must(t, "GET", fmt.Sprintf("/chat/api/rooms/%d/messages", board.ID), nil, 404, nil) // an invite room is unlisted
		root.must(t, "PATCH", fmt.Sprintf("/chat/api/rooms/%d", board.ID), map[string]string{"policy": "everyone"}, 200, nil)
		replaysNone(t, mallory, alice, board.ID, "welcome, everyone",
			"mallory's catch-up replays what was deleted before the room was opened", "layoffs")
		// Alice's page was told (its pages follow the room again).
		for {
			f := live.next()
			if f.Type == realtime.TypeRefused && f.Topic == chatRoomTopic(board.ID) && f.Reason == realtime.ReasonRevoked {
				break
			}
		}
	})

	// The same when someone becomes a chat admin (make_admin grants the
	// site's staff role): they read every room from then on, not what its
	// members deleted before.
	t.Run("a new chat admin replays no deleted text", func(t *testing.T) {
		trent := s.member(t, "trent", "192.0.2.39", site.RoleMember)
		var payroll chatRoom
		root.must(t, "POST", "/chat/api/rooms", map[string]string{"name": "Payroll", "policy": "invite"}, 200, &payroll)
		root.must(t, "POST", fmt.Sprintf("/chat/api/rooms/%d/members", payroll.ID), map[string]string{"username": "alice"}, 204, nil)
		live := alice.socket(t)
		follow(t, live, chatRoomTopic(payroll.ID))
		gone := alice.post(t, payroll.ID, "bonus pool: 9981 euros")
		awaitEvent(t, live, chatRoomTopic(payroll.ID), func(e chatEvent) bool { return e.messageID() == gone.ID })
		alice.must(t, "DELETE", fmt.Sprintf("/chat/api/messages/%d", gone.ID), nil, 204, nil)

		trent.must(t, "GET", fmt.Sprintf("/chat/api/rooms/%d/messages", payroll.ID), nil, 404, nil)
		if res, err := runChatCommand(t, s, s.siteUser(t, "root"), "make_admin", map[string]any{"user": "trent"}); err != nil {
			t.Fatalf("make_admin: %+v, %v", res, err)
		}
		trent.must(t, "GET", fmt.Sprintf("/chat/api/rooms/%d/messages", payroll.ID), nil, 200, nil)
		replaysNone(t, trent, alice, payroll.ID, "marker after trent became an admin",
			"the new admin's catch-up replays what was deleted before they became one", "9981")
	})

	// A room closed to its members (an 'everyone' room made invite-only,
	// or archived) ends the subscriptions of those who read it only as
	// everyone did: they hear nothing said after.
	t.Run("a room closed to its members keeps no outsider's subscription", func(t *testing.T) {
		olga := s.member(t, "olga", "192.0.2.40", site.RoleMember)
		for i, tt := range []struct {
			change map[string]any
			read   int // olga's GET of the history after
		}{
			{map[string]any{"policy": "invite"}, 404},
			{map[string]any{"policy": "request"}, 403},
			{map[string]any{"archived": true}, 404},
		} {
			change := tt.change
			var town chatRoom
			root.must(t, "POST", "/chat/api/rooms", map[string]string{"name": fmt.Sprint("Town hall ", i), "policy": "everyone"}, 200, &town)
			alice.rooms(t) // alice's list makes her row in it: she stays
			ws := olga.socket(t)
			ws.send(fmt.Sprintf(`{"type":"subscribe","topic":%q}`, chatRoomTopic(town.ID)))
			if f := ws.next(); f.Type != realtime.TypeSubscribed {
				t.Fatalf("subscribe: %+v", f)
			}
			root.must(t, "PATCH", fmt.Sprintf("/chat/api/rooms/%d", town.ID), change, 200, nil)
			olga.must(t, "GET", fmt.Sprintf("/chat/api/rooms/%d/messages", town.ID), nil, tt.read, nil)
			if _, archived := change["archived"]; !archived {
				alice.post(t, town.ID, "behind closed doors: 5521")
			}
			for {
				f := ws.next()
				if strings.Contains(string(f.Data), "5521") {
					t.Fatalf("%v: olga, no member, hears the room closed to its members: %+v %s", change, f, f.Data)
				}
				if f.Type == realtime.TypeRefused && f.Topic == chatRoomTopic(town.ID) && f.Reason == realtime.ReasonRevoked {
					break
				}
			}
		}
	})

	// A post's answer is built without reading the message back: it must
	// be what GET of the message answers, byte for byte (mentions in id
	// order, no reactions, the time in UTC to the microsecond, the author's
	// chat display name), in a room and in a sealed group.
	t.Run("a post answers what GET of it answers", func(t *testing.T) {
		pia := s.member(t, "pia", "192.0.2.41", site.RoleMember)
		pia.must(t, "PATCH", "/chat/api/profile", map[string]string{"display_name": "Pía of Sales"}, 200, nil)
		for _, who := range []string{"alice", "bob"} {
			root.must(t, "POST", "/chat/api/friends/force", map[string]string{"a": "pia", "b": who}, 204, nil)
		}
		var group chatRoom
		pia.must(t, "POST", "/chat/api/groups", map[string]any{"name": "Pia's", "usernames": []string{"bob", "alice"}}, 200, &group)
		for _, room := range []int64{general, group.ID} {
			st, posted := pia.api(t, "POST", fmt.Sprintf("/chat/api/rooms/%d/messages", room), map[string]string{"text": "@bob @alice @pia @nobody see this"})
			if st != 201 {
				t.Fatalf("post in %d: %d %s", room, st, posted)
			}
			var m chatMessage
			if err := json.Unmarshal(posted, &m); err != nil {
				t.Fatal(err)
			}
			st, got := pia.api(t, "GET", fmt.Sprintf("/chat/api/messages/%d", m.ID), nil)
			if st != 200 {
				t.Fatalf("get %d: %d %s", m.ID, st, got)
			}
			if !bytes.Equal(bytes.TrimSpace(posted), bytes.TrimSpace(got)) {
				t.Errorf("room %d: the post answered\n%s\nGET answers\n%s", room, posted, got)
			}
		}
	})

	// Search finds readable rooms into an array now: the same rule as
	// reading (members; an 'everyone' room not archived; admins every
	// named room, never a group they are not in).
	t.Run("search finds only what each may read", func(t *testing.T) {
		quinn := s.member(t, "quinn", "192.0.2.42", site.RoleMember) // in the group only
		word := map[string]int64{}
		for _, tt := range []struct{ name, policy string }{
			{"Srch invite", "invite"}, {"Srch request", "request"}, {"Srch open", "open"},
			{"Srch everyone", "everyone"}, {"Srch archived", "everyone"},
		} {
			var r chatRoom
			root.must(t, "POST", "/chat/api/rooms", map[string]string{"name": tt.name, "policy": tt.policy}, 200, &r)
			if tt.policy != "everyone" {
				root.must(t, "POST", fmt.Sprintf("/chat/api/rooms/%d/members", r.ID), map[string]string{"username": "alice"}, 204, nil)
			} else {
				alice.rooms(t)
			}
			w := "zq" + strings.ReplaceAll(strings.ToLower(tt.name), " ", "")
			alice.post(t, r.ID, "findme "+w)
			word[w] = r.ID
		}
		root.must(t, "PATCH", fmt.Sprintf("/chat/api/rooms/%d", word["zqsrcharchived"]), map[string]any{"archived": true}, 200, nil)
		var grp chatRoom
		s.member(t, "ruth", "192.0.2.43", site.RoleMember)
		for _, who := range []string{"quinn", "ruth"} {
			root.must(t, "POST", "/chat/api/friends/force", map[string]string{"a": "alice", "b": who}, 204, nil)
		}
		alice.must(t, "POST", "/chat/api/groups", map[string]any{"name": "Srch group", "usernames": []string{"quinn", "ruth"}}, 200, &grp)
		alice.post(t, grp.ID, "findme zqsrchgroup")
		word["zqsrchgroup"] = grp.ID
		for _, tt := range []struct {
			who  *chatter
			want []string
		}{
			{alice, []string{"zqsrchinvite", "zqsrchrequest", "zqsrchopen", "zqsrcheveryone", "zqsrcharchived", "zqsrchgroup"}},
			{root, []string{"zqsrchinvite", "zqsrchrequest", "zqsrchopen", "zqsrcheveryone", "zqsrcharchived"}},
			{quinn, []string{"zqsrcheveryone", "zqsrchgroup"}},
			{bob, []string{"zqsrcheveryone"}},
		} {
			var page struct{ Messages []chatMessage }
			tt.who.must(t, "GET", "/chat/api/search?q=findme", nil, 200, &page)
			var got []string
			for _, m := range page.Messages {
				_, w, _ := strings.Cut(m.Text, " ")
				if word[w] != m.RoomID {
					t.Fatalf("%s: %+v in the wrong room", tt.who.name, m)
				}
				got = append(got, w)
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tt.want))
			if !slices.Equal(got, want) {
				t.Errorf("%s finds %v, want %v", tt.who.name, got, want)
			}
		}
	})

	// Blocking ends a conversation: the blocked person (or a former
	// friend) can no longer act in the dm, reactions included.
	t.Run("a blocked or unfriended dm partner cannot react", func(t *testing.T) {
		root.must(t, "POST", "/chat/api/friends/force", map[string]string{"a": "alice", "b": "bob"}, 204, nil)
		var dm chatRoom
		alice.must(t, "POST", "/chat/api/dms", map[string]string{"username": "bob"}, 200, &dm)
		m := bob.post(t, dm.ID, "see you tomorrow")
		react := fmt.Sprintf("/chat/api/messages/%d/reactions", m.ID)
		alice.must(t, "POST", react, map[string]string{"emoji": "👍"}, 200, nil)
		alice.must(t, "POST", react, map[string]string{"emoji": "👍"}, 200, nil) // toggled off

		bob.must(t, "DELETE", fmt.Sprintf("/chat/api/friends/%d", alice.id), nil, 204, nil)
		if st, b := alice.api(t, "POST", react, map[string]string{"emoji": "🖕"}); st != 403 {
			t.Errorf("alice reacts in the dm after bob unfriended her: %d %s", st, b)
		}
		root.must(t, "POST", "/chat/api/friends/force", map[string]string{"a": "alice", "b": "bob"}, 204, nil)
		bob.must(t, "POST", "/chat/api/blocks", map[string]string{"username": "alice"}, 204, nil)
		if st, b := alice.api(t, "POST", react, map[string]string{"emoji": "🤬"}); st != 403 {
			t.Errorf("alice reacts in the dm after bob blocked her: %d %s", st, b)
		}
		var seen struct {
			Reactions []struct{ Emoji string } `json:"reactions"`
		}
		bob.must(t, "GET", fmt.Sprintf("/chat/api/messages/%d", m.ID), nil, 200, &seen)
		if len(seen.Reactions) != 0 {
			t.Errorf("bob's message carries %+v", seen.Reactions)
		}
	})

	t.Run("a blocked user's mentions do not notify", func(t *testing.T) { chatAttackMentions(t, general, alice, bob) })

	// A group is made with at most 50 others; adding members one by one
	// must not grow it past that (each member hears every event of it).
	t.Run("a group stays within its size through additions", func(t *testing.T) {
		gina := s.member(t, "gina", "192.0.2.35", site.RoleMember)
		pool := s.srv.Module("chat").DB().Pool()
		var names []string
		for i := range maxGroupOthersForTest + 2 {
			u, err := s.srv.site.Store().CreateUser(t.Context(), site.NewUser{Username: fmt.Sprintf("crowd_%02d", i), Password: chatPassword, Role: site.RoleMember})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := pool.Exec(t.Context(), `INSERT INTO friends (a, b) VALUES (least($1::bigint, $2::bigint), greatest($1::bigint, $2::bigint))`, gina.id, u.ID); err != nil {
				t.Fatal(err)
			}
			names = append(names, u.Username)
		}
		var g chatRoom
		gina.must(t, "POST", "/chat/api/groups", map[string]any{"name": "Crowd", "usernames": names[:maxGroupOthersForTest]}, 200, &g)
		for _, n := range names[maxGroupOthersForTest:] {
			if st, b := gina.api(t, "POST", fmt.Sprintf("/chat/api/rooms/%d/members", g.ID), map[string]string{"username": n}); st != 409 {
				t.Errorf("adding %s to a full group: %d %s", n, st, b)
			}
		}
		var members int
		if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM members WHERE room_id = $1`, g.ID).Scan(&members); err != nil {
			t.Fatal(err)
		}
		if members != maxGroupOthersForTest+1 {
			t.Errorf("the group has %d members", members)
		}
	})

	// Races: two people asking each other at the same moment become
	// friends once, each answered (never a 500); two accepts of one request
	// accept it once; two admins deciding one join request decide it once.
	t.Run("races decide once", func(t *testing.T) {
		carl := s.member(t, "carl", "192.0.2.36", site.RoleMember)
		dina := s.member(t, "dina", "192.0.2.37", site.RoleMember)
		sam := s.member(t, "sam", "192.0.2.38", site.RoleStaff)
		pool := s.srv.Module("chat").DB().Pool()
		friendships := func() int {
			var n int
			if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM friends WHERE a = least($1::bigint, $2::bigint) AND b = greatest($1::bigint, $2::bigint)`,
				carl.id, dina.id).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		both := func(a, b func() int) (int, int) {
			var wg sync.WaitGroup
			var x, y int
			wg.Add(2)
			go func() { defer wg.Done(); x = a() }()
			go func() { defer wg.Done(); y = b() }()
			wg.Wait()
			return x, y
		}
		call := func(c *chatter, method, path string, body any) func() int {
			return func() int { st, _ := c.api(t, method, path, body); return st }
		}
		for round := range 5 {
			x, y := both(call(carl, "POST", "/chat/api/friends/requests", map[string]string{"username": "dina"}),
				call(dina, "POST", "/chat/api/friends/requests", map[string]string{"username": "carl"}))
			if x != 200 || y != 200 || friendships() != 1 {
				t.Fatalf("round %d: crossing requests answered %d and %d; %d friendships", round, x, y, friendships())
			}
			carl.must(t, "DELETE", fmt.Sprintf("/chat/api/friends/%d", dina.id), nil, 204, nil)
		}
		var req struct{ ID int64 }
		carl.must(t, "POST", "/chat/api/friends/requests", map[string]string{"username": "dina"}, 200, &req)
		accept := fmt.Sprintf("/chat/api/friends/requests/%d/accept", req.ID)
		x, y := both(call(dina, "POST", accept, nil), call(dina, "POST", accept, nil))
		if min(x, y) != 204 || max(x, y) != 409 || friendships() != 1 {
			t.Errorf("two accepts: %d and %d; %d friendships", x, y, friendships())
		}

		var q struct {
			Users []struct {
				Requests []chatRequest `json:"requests"`
			} `json:"users"`
		}
		sales := root.rooms(t)["Sales"].ID
		carl.must(t, "POST", fmt.Sprintf("/chat/api/rooms/%d/join", sales), nil, 200, nil)
		root.must(t, "GET", "/chat/api/requests", nil, 200, &q)
		var id int64
		for _, u := range q.Users {
			for _, r := range u.Requests {
				if r.User.ID == carl.id {
					id = r.ID
				}
			}
		}
		x, y = both(call(root, "POST", fmt.Sprintf("/chat/api/requests/%d/approve", id), nil),
			call(sam, "POST", fmt.Sprintf("/chat/api/requests/%d/refuse", id), map[string]string{"reason": "no"}))
		if min(x, y) != 200 || max(x, y) != 409 {
			t.Errorf("two decisions: %d and %d", x, y)
		}
		var decided struct{ Requests []chatRequest }
		carl.must(t, "GET", "/chat/api/requests/mine", nil, 200, &decided)
		member := carl.rooms(t)["Sales"].Member
		if len(decided.Requests) == 0 || (decided.Requests[0].State == "approved") != member {
			t.Errorf("the request is %+v and carl a member: %v", decided.Requests, member)
		}
	})

	// The runtime records every command's arguments in websonic.audit_log,
	// which the site's auditors (a read-only role) read: a password given
	// to change_password would hand them the account.
	t.Run("no password reaches the site's audit log", func(t *testing.T) {
		const given = "a fresh passphrase for her account"
		res, err := runChatCommand(t, s, s.siteUser(t, "root"), "change_password", map[string]any{"user": "mallory", "password": given})
		if n := s.count(t, `SELECT count(*) FROM websonic.audit_log WHERE detail::text LIKE '%' || $1 || '%'`, given); n != 0 {
			t.Errorf("the password given to change_password is in the site's audit log (%d entries; run: %+v, %v)", n, res, err)
		}
		res, err = runChatCommand(t, s, s.siteUser(t, "root"), "change_password", map[string]any{"user": "mallory"})
		if err != nil {
			t.Fatal(err)
		}
		line, _, _ := strings.Cut(res.Text, "\n")
		pw, ok := strings.CutPrefix(line, "New password for mallory: ")
		if !ok || len(pw) < 20 {
			t.Fatalf("change_password: %q", res.Text)
		}
		if n := s.count(t, `SELECT count(*) FROM websonic.audit_log WHERE detail::text LIKE '%' || $1 || '%'`, pw); n != 0 {
			t.Errorf("the generated password is in the site's audit log (%d entries)", n)
		}
	})
}

// chatAttackMentions: a blocked user's @mentions no longer reach (notify,
// badge) the person who blocked them.
func chatAttackMentions(t *testing.T, general int64, alice, bob *chatter) {
	bob.must(t, "POST", "/chat/api/blocks", map[string]string{"username": "alice"}, 204, nil)
	bws := bob.socket(t)
	follow(t, bws, chatUserTopic(bob.id))
	follow(t, bws, chatRoomTopic(general))
	m := alice.post(t, general, "@bob answer me @bob @bob")
	var got struct {
		Mentions []int64 `json:"mentions"`
	}
	alice.must(t, "GET", fmt.Sprintf("/chat/api/messages/%d", m.ID), nil, 200, &got)
	for _, id := range got.Mentions {
		if id == bob.id {
			t.Errorf("alice's message mentions bob, who blocked her: %+v", got)
		}
	}
	marker := alice.post(t, general, "marker after her mention")
	for {
		f := bws.next()
		if f.Type != realtime.TypeEvent {
			t.Fatalf("bob's socket: %+v", f)
		}
		ev := decodeChatEvent(t, f)
		if ev.Topic == chatUserTopic(bob.id) && ev.Kind == "mention" {
			t.Errorf("bob is notified of a mention by alice, whom he blocked: %+v", ev.Data)
		}
		if ev.messageID() == marker.ID {
			break
		}
	}
	var list struct {
		Rooms []struct {
			ID       int64 `json:"id"`
			Mentions int   `json:"mentions"`
		} `json:"rooms"`
	}
	bob.must(t, "GET", "/chat/api/rooms", nil, 200, &list)
	for _, r := range list.Rooms {
		if r.ID == general && r.Mentions != 0 {
			t.Errorf("bob's General counts %d unread mentions", r.Mentions)
		}
	}
}
