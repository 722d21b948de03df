package server

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/websonic/websonic/runtime/internal/realtime"
	"github.com/websonic/websonic/runtime/internal/site"
)

// chatReplica opens a second runtime on s's database, with s's data key
// (copied as an operator copies data-keys.json to each replica, so that
// private messages seal and open on both), and serves it.
func chatReplica(t *testing.T, s *testSite) *httptest.Server {
	t.Helper()
	cfg := s.srv.cfg
	cfg.DataDir = siteDataDir(t)
	keys, err := os.ReadFile(filepath.Join(s.srv.cfg.DataDir, "data-keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.DataDir, "data-keys.json"), keys, 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		hs.Close()
		srv.Close(context.Background())
	})
	return hs
}

// collectMessages reads ws's events on topic until every id of want has
// come in a message event, and returns the message ids in the order they
// came and the last event id; a reload, a refusal or an id twice fails t.
func collectMessages(t *testing.T, ws *wsClient, topic string, want []int64) (got []int64, last int64) {
	t.Helper()
	missing := map[int64]bool{}
	for _, id := range want {
		missing[id] = true
	}
	seen := map[int64]bool{}
	for len(missing) > 0 {
		f, err := ws.read(time.Minute)
		if err != nil {
			t.Fatalf("%d messages of %d never came (%v): %v", len(missing), len(want), err, missing)
		}
		if f.Type != realtime.TypeEvent || f.Topic != topic {
			t.Fatalf("waiting for messages on %s: got %+v", topic, f)
		}
		if f.ID <= last {
			t.Fatalf("event %d after %d on %s", f.ID, last, topic)
		}
		last = f.ID
		ev := decodeChatEvent(t, f)
		if ev.Kind != "message" {
			continue
		}
		id := ev.messageID()
		if seen[id] {
			t.Fatalf("message %d came twice", id)
		}
		seen[id] = true
		delete(missing, id)
		got = append(got, id)
	}
	return got, last
}

// TestChatReplicas runs the chat on two runtimes sharing one database,
// with clients on each: messages cross both ways while both post at once;
// a private conversation opens on either (the data key on both); a client
// that drops, misses messages posted on both replicas and comes back on
// the other replica with the last event id it saw gets every one of them,
// once, in order.
func TestChatReplicas(t *testing.T) {
	a := chatSite(t)
	bURL := chatReplica(t, a).URL
	ann := a.member(t, "ann", "192.0.2.11", site.RoleMember)
	ben := a.member(t, "ben", "192.0.2.12", site.RoleMember).on(bURL)
	carl := a.member(t, "carl", "192.0.2.13", site.RoleMember).on(bURL)
	general := ann.rooms(t)["General"].ID
	if general == 0 || ben.rooms(t)["General"].ID != general {
		t.Fatal("no General on both replicas")
	}
	topic := chatRoomTopic(general)
	annWS, benWS := ann.socket(t), ben.socket(t)
	follow(t, annWS, topic)
	follow(t, benWS, topic)

	t.Run("messages cross both ways", func(t *testing.T) {
		const each = 20
		var mu sync.Mutex
		var posted []int64
		var wg sync.WaitGroup
		for _, c := range []*chatter{ann, ben} {
			wg.Go(func() {
				for i := range each {
					st, b := c.api(t, "POST", fmt.Sprintf("/chat/api/rooms/%d/messages", general), map[string]string{"text": fmt.Sprintf("%s %d", c.name, i)})
					var m chatMessage
					if st != 201 || jsonInto(b, &m) != nil {
						t.Errorf("%s's post %d: %d %s", c.name, i, st, b)
						continue
					}
					mu.Lock()
					posted = append(posted, m.ID)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(posted) != 2*each {
			t.Fatalf("%d posts of %d", len(posted), 2*each)
		}
		gotA, _ := collectMessages(t, annWS, topic, posted)
		gotB, _ := collectMessages(t, benWS, topic, posted)
		if !slices.Equal(gotA, gotB) {
			t.Errorf("the replicas' clients saw different orders:\nA %v\nB %v", gotA, gotB)
		}
	})

	t.Run("a private conversation on either replica", func(t *testing.T) {
		ann.must(t, "POST", "/chat/api/friends/requests", map[string]string{"username": "ben"}, 200, nil)
		var f chatFriends
		ben.must(t, "GET", "/chat/api/friends", nil, 200, &f)
		if len(f.Incoming) != 1 {
			t.Fatalf("ben's incoming: %+v", f)
		}
		ben.must(t, "POST", fmt.Sprintf("/chat/api/friends/requests/%d/accept", f.Incoming[0].ID), nil, 204, nil)
		var dm chatRoom
		ann.must(t, "POST", "/chat/api/dms", map[string]string{"username": "ben"}, 200, &dm)
		m := ann.post(t, dm.ID, "sealed on A") // sealed by replica A…
		var got chatMessage
		ben.must(t, "GET", fmt.Sprintf("/chat/api/messages/%d", m.ID), nil, 200, &got) // …opened by B
		if got.Text != "sealed on A" {
			t.Fatalf("ben reads %+v on B", got)
		}
		m = ben.post(t, dm.ID, "sealed on B")
		ann.must(t, "GET", fmt.Sprintf("/chat/api/messages/%d", m.ID), nil, 200, &got)
		if got.Text != "sealed on B" {
			t.Fatalf("ann reads %+v on A", got)
		}
	})

	t.Run("a client that drops catches up on the other replica", func(t *testing.T) {
		// Ben has seen everything so far: the last event id he holds.
		mark := ben.post(t, general, "mark")
		_, last := collectMessages(t, benWS, topic, []int64{mark.ID})
		benWS.ws.CloseNow()
		var missed []int64
		for i := range 15 {
			missed = append(missed, ann.post(t, general, fmt.Sprintf("while ben is away %d (A)", i)).ID)
			missed = append(missed, carl.post(t, general, fmt.Sprintf("while ben is away %d (B)", i)).ID)
		}
		// Ben comes back on replica A with the last id he saw.
		back := ben.on(a.URL).socket(t)
		back.send(fmt.Sprintf(`{"type":"subscribe","topic":%q,"last_id":%d}`, topic, last))
		if f := back.next(); f.Type != realtime.TypeSubscribed || f.ID != last {
			t.Fatalf("resubscribe: %+v", f)
		}
		got, _ := collectMessages(t, back, topic, missed)
		if !slices.Equal(got, missed) {
			t.Errorf("caught up %v, want %v in order", got, missed)
		}
		// Live again after the catch-up.
		live := carl.post(t, general, "welcome back")
		collectMessages(t, back, topic, []int64{live.ID})
	})
}
