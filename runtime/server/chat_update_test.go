package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/websonic/websonic/internal/tufrepo"
	"github.com/websonic/websonic/runtime/internal/realtime"
	"github.com/websonic/websonic/runtime/internal/site"
	"github.com/websonic/websonic/runtime/internal/updater"
)

// chatPackageVersion copies the built chat package to dir as version v,
// with wasm bytes of its own (a custom section), as a release would be.
func chatPackageVersion(t *testing.T, dir, v string) string {
	t.Helper()
	mods, err := chatRoomsModules()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "chat-"+v)
	if err := os.CopyFS(out, os.DirFS(filepath.Join(mods, "chat"))); err != nil {
		t.Fatal(err)
	}
	mf := filepath.Join(out, "module.json")
	raw, err := os.ReadFile(mf)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m["version"] = v
	if raw, err = json.MarshalIndent(m, "", "  "); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mf, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	wasm, err := os.ReadFile(filepath.Join(out, "module.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	payload := append([]byte{byte(len("websonic.test"))}, "websonic.test"+v...)
	wasm = append(append(bytes.Clone(wasm), 0x00, byte(len(payload))), payload...)
	if err := os.WriteFile(filepath.Join(out, "module.wasm"), wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// liveFollower follows a topic over a socket, and when the socket ends
// (the runtime closed it), comes back with the last event id it saw, as
// the runtime's browser client does. It records every message id it is
// given and how many times it had to reconnect.
type liveFollower struct {
	c     *chatter
	topic string

	mu         sync.Mutex
	ws         *wsClient
	seen       map[int64]int
	last       int64
	reconnects int
	reloads    int
	problems   []string
	done       atomic.Bool
	stopped    chan struct{}
}

func follower(t *testing.T, c *chatter, topic string) *liveFollower {
	f := &liveFollower{c: c, topic: topic, seen: map[int64]int{}, stopped: make(chan struct{})}
	f.ws = c.socket(t)
	follow(t, f.ws, topic)
	go f.run(t)
	return f
}

func (f *liveFollower) problem(format string, args ...any) {
	f.mu.Lock()
	f.problems = append(f.problems, fmt.Sprintf(format, args...))
	f.mu.Unlock()
}

func (f *liveFollower) run(t *testing.T) {
	defer close(f.stopped)
	for {
		f.mu.Lock()
		ws := f.ws
		f.mu.Unlock()
		fr, err := ws.read(10 * time.Minute)
		if f.done.Load() {
			return
		}
		if err != nil { // closed by the runtime: come back with the last id
			ws2, _, derr := dialWith(t, f.c.base, f.c.c, http.Header{"Origin": {f.c.base}})
			if derr != nil {
				f.problem("reconnect: %v", derr)
				return
			}
			f.mu.Lock()
			f.ws, f.reconnects = ws2, f.reconnects+1
			last := f.last
			f.mu.Unlock()
			ws2.send(fmt.Sprintf(`{"type":"subscribe","topic":%q,"last_id":%d}`, f.topic, last))
			continue
		}
		switch fr.Type {
		case realtime.TypeSubscribed:
		case realtime.TypeReload:
			f.mu.Lock()
			f.reloads++
			f.mu.Unlock()
		case realtime.TypeEvent:
			ev := chatEvent{ID: fr.ID, Topic: fr.Topic}
			if json.Unmarshal(fr.Data, &ev.Data) != nil {
				f.problem("event %s", fr.Data)
				continue
			}
			ev.Kind, _ = ev.Data["kind"].(string)
			f.mu.Lock()
			if fr.ID <= f.last {
				f.problems = append(f.problems, fmt.Sprintf("event %d after %d", fr.ID, f.last))
			}
			f.last = fr.ID
			if ev.Kind == "message" {
				f.seen[ev.messageID()]++
			}
			f.mu.Unlock()
		default:
			f.problem("frame %+v", fr)
		}
	}
}

// has reports whether every id came, and how many of them did.
func (f *liveFollower) has(ids []int64) (bool, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, id := range ids {
		if f.seen[id] > 0 {
			n++
		}
	}
	return n == len(ids), n
}

func (f *liveFollower) stop() {
	f.done.Store(true)
	f.mu.Lock()
	f.ws.ws.CloseNow()
	f.mu.Unlock()
	<-f.stopped
}

// TestChatUpdateWhileConnected installs chat 1.0.0 from a registry (signed
// releases, TUF), then publishes 1.0.1 while clients are connected and
// others post without a pause: the update swaps in, no post fails, every
// posted message is in the room's history and reached the followers
// (whose sockets survive, or come back with the last id they saw), once.
func TestChatUpdateWhileConnected(t *testing.T) {
	e := newUpdateEnv(t)
	ctx := context.Background()
	publish := func(v string) {
		t.Helper()
		if _, err := e.pub.Publish(ctx, chatPackageVersion(t, e.pkgs, v), tufrepo.ChannelStable); err != nil {
			t.Fatal(err)
		}
	}
	publish("1.0.0")
	if _, err := e.updater().Install(ctx, "chat", "", tufrepo.ChannelStable, updater.PolicyAuto); err != nil {
		t.Fatal(err)
	}
	s := e.site
	if m := s.srv.Module("chat"); m == nil || m.Manifest().Version != "1.0.0" {
		t.Fatal("chat 1.0.0 does not run")
	}
	var posters []*chatter
	for i := range 3 {
		posters = append(posters, s.member(t, fmt.Sprintf("poster%d", i), fmt.Sprintf("192.0.2.%d", 20+i), site.RoleMember))
	}
	reader := s.member(t, "reader", "192.0.2.30", site.RoleMember)
	general := reader.rooms(t)["General"].ID
	if general == 0 {
		t.Fatal("no General")
	}
	topic := chatRoomTopic(general)
	followers := []*liveFollower{follower(t, reader, topic), follower(t, posters[0], topic)}

	var (
		mu       sync.Mutex
		posted   []int64
		failures []string
		stop     atomic.Bool
		wg       sync.WaitGroup
	)
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(posted) }
	for _, p := range posters {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				st, b := p.api(t, "POST", fmt.Sprintf("/chat/api/rooms/%d/messages", general), map[string]string{"text": fmt.Sprintf("%s #%d", p.name, i)})
				var m chatMessage
				mu.Lock()
				if st == 201 && json.Unmarshal(b, &m) == nil && m.ID > 0 {
					posted = append(posted, m.ID)
				} else {
					failures = append(failures, fmt.Sprintf("%s #%d: %d %.200s", p.name, i, st, b))
				}
				mu.Unlock()
			}
		})
	}
	t.Cleanup(func() { stop.Store(true); wg.Wait() })
	waitFor(t, func() bool { return count() >= 20 })

	publish("1.0.1")
	// One follower's connection drops as the update begins: it comes back
	// with the last id it saw.
	followers[1].mu.Lock()
	followers[1].ws.ws.CloseNow()
	followers[1].mu.Unlock()
	if err := e.updater().Check(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { m := s.srv.Module("chat"); return m != nil && m.Manifest().Version == "1.0.1" })
	after := count()
	waitFor(t, func() bool { return count() >= after+20 }) // the posts go on on 1.0.1
	stop.Store(true)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	if len(failures) > 0 {
		t.Errorf("%d of %d posts failed across the update, first: %s", len(failures), len(failures)+len(posted), failures[0])
	}
	// Every post is in the history (pages of 50, newest first).
	history := map[int64]bool{}
	before := ""
	for {
		var page struct {
			Messages []chatMessage `json:"messages"`
			Next     *int64        `json:"next"`
		}
		reader.must(t, "GET", fmt.Sprintf("/chat/api/rooms/%d/messages%s", general, before), nil, 200, &page)
		for _, m := range page.Messages {
			history[m.ID] = true
		}
		if page.Next == nil {
			break
		}
		before = fmt.Sprintf("?before=%d", *page.Next)
	}
	for _, id := range posted {
		if !history[id] {
			t.Errorf("message %d is not in the history", id)
		}
	}
	// Every post reached every follower, once.
	for i, f := range followers {
		deadline := time.Now().Add(time.Minute)
		for ok, _ := f.has(posted); !ok && time.Now().Before(deadline); ok, _ = f.has(posted) {
			time.Sleep(20 * time.Millisecond)
		}
		f.stop()
		ok, n := f.has(posted)
		if !ok {
			t.Errorf("follower %d got %d of %d messages", i, n, len(posted))
		}
		for id, k := range f.seen {
			if k > 1 {
				t.Errorf("follower %d got message %d %d times", i, id, k)
			}
		}
		if len(f.problems) > 0 || f.reloads > 0 {
			t.Errorf("follower %d: %d reloads, problems %q", i, f.reloads, f.problems)
		}
		if i == 1 && f.reconnects == 0 {
			t.Errorf("follower 1 never reconnected")
		}
		t.Logf("follower %d: %d messages, %d reconnects", i, n, f.reconnects)
	}
	t.Logf("%d posts across the update from 1.0.0 to 1.0.1", len(posted))
}
