package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"
	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/internal/modbuild"
	"github.com/websonic/websonic/runtime/internal/realtime"
	"github.com/websonic/websonic/runtime/internal/site"
)

// realtimeModules builds hello, hostile and the realtime test module once
// per test binary into a folder of their own.
var realtimeModules = sync.OnceValues(func() (string, error) {
	dir := filepath.Join(scratch, "rtmodules")
	for _, src := range []string{"../../examples/hello", "../internal/testmodules/hostile", "../internal/testmodules/realtime"} {
		if err := modbuild.Package(context.Background(), src, filepath.Join(dir, filepath.Base(src))); err != nil {
			return "", err
		}
	}
	return dir, nil
})

// newRealtimeSite starts a site with hello, hostile and realtime.
func newRealtimeSite(t testing.TB, options ...func(*Config)) *testSite {
	t.Helper()
	mods, err := realtimeModules()
	if err != nil {
		t.Fatal(err)
	}
	return newSiteWith(t, mods, hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testLog{t}}), options...)
}

// wsClient is a WebSocket client of the hub.
type wsClient struct {
	t       testing.TB
	ws      *websocket.Conn
	pending []realtime.HostFrame // the rest of an events frame
}

// dial opens /ws of siteURL with c's cookies (nil: none) and the site's
// own Origin, as a browser would.
func dial(t testing.TB, siteURL string, c *http.Client) *wsClient {
	t.Helper()
	ws, resp, err := dialWith(t, siteURL, c, http.Header{"Origin": {siteURL}})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial: %v (status %d)", err, status)
	}
	return ws
}

func dialWith(t testing.TB, siteURL string, c *http.Client, h http.Header) (*wsClient, *http.Response, error) {
	t.Helper()
	if c == nil {
		c = &http.Client{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(siteURL, "http")+"/ws", &websocket.DialOptions{HTTPClient: c, HTTPHeader: h})
	if err != nil {
		return nil, resp, err
	}
	ws.SetReadLimit(1 << 20)
	t.Cleanup(func() { ws.CloseNow() })
	return &wsClient{t: t, ws: ws}, resp, nil
}

func (c *wsClient) send(frame string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
		c.t.Fatalf("send %s: %v", frame, err)
	}
}

// next reads the next frame (30 s at most).
func (c *wsClient) next() realtime.HostFrame {
	c.t.Helper()
	f, err := c.read(30 * time.Second)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return f
}

func (c *wsClient) read(wait time.Duration) (realtime.HostFrame, error) {
	if len(c.pending) == 0 {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_, b, err := c.ws.Read(ctx)
		if err != nil {
			return realtime.HostFrame{}, err
		}
		if c.pending, err = realtime.DecodeHostMessage(b); err != nil {
			return realtime.HostFrame{}, err
		}
	}
	f := c.pending[0]
	c.pending = c.pending[1:]
	return f, nil
}

// expect reads the next frame and checks its type and topic.
func (c *wsClient) expect(typ, topic string) realtime.HostFrame {
	c.t.Helper()
	f := c.next()
	if f.Type != typ || f.Topic != topic {
		c.t.Fatalf("got %+v (data %s), want %s on %q", f, f.Data, typ, topic)
	}
	return f
}

func (c *wsClient) subscribe(topic string) realtime.HostFrame {
	c.t.Helper()
	c.send(`{"type":"subscribe","topic":"` + topic + `"}`)
	return c.expect(realtime.TypeSubscribed, topic)
}

// closed waits for the connection's end and returns its close status.
func (c *wsClient) closed() websocket.StatusCode {
	c.t.Helper()
	for {
		_, err := c.read(30 * time.Second)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				c.t.Fatal("the connection stayed open")
			}
			return websocket.CloseStatus(err)
		}
	}
}

// rtPublish has the realtime module publish data to topic; it returns the
// status and body.
func rtPublish(t testing.TB, siteURL, topic, data string) (int, string) {
	t.Helper()
	resp, err := http.Post(siteURL+"/rt/publish?topic="+url.QueryEscape(topic), "application/json", strings.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body(t, resp)
}

func mustPublish(t testing.TB, siteURL, topic, data string) {
	t.Helper()
	if status, b := rtPublish(t, siteURL, topic, data); status != http.StatusOK {
		t.Fatalf("publish to %s: %d %s", topic, status, b)
	}
}

// signIn makes a member and returns a client signed in as them.
func signIn(t testing.TB, s *testSite, username string) (*http.Client, int64) {
	t.Helper()
	u, err := s.srv.site.Store().CreateUser(t.Context(), site.NewUser{Username: username, Password: "correct horse battery", Role: site.RoleMember})
	if err != nil {
		t.Fatal(err)
	}
	c := s.client(t)
	resp := postForm(t, c, s.URL+"/login", url.Values{"username": {username}, "password": {"correct horse battery"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login %s: %d", username, resp.StatusCode)
	}
	return c, u.ID
}

// settle waits until the site's connections that earlier subtests closed
// are gone (the hub notices a close when the client's goes through).
func settle(t testing.TB, s *testSite) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(s.srv.Connections()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("connections still open: %+v", s.srv.Connections())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRealtime drives the hub through real WebSocket clients, the real
// realtime test module and PostgreSQL: subscriptions the module allows and
// refuses, publishing within and beyond the manifest's topics, messages,
// bad frames, limits, origins and the end of sessions.
func TestRealtime(t *testing.T) {
	s := newRealtimeSite(t, func(c *Config) {
		c.Realtime = realtime.Limits{MaxSubscriptions: 4, MaxPerUser: 2, MaxPerAnonymousIP: 6, MaxFrameBytes: 1024, MaxEventBytes: 8 << 10}
	})
	member, memberID := signIn(t, s, "mallory")

	t.Run("subscribe", func(t *testing.T) {
		c := dial(t, s.URL, nil)
		for _, tt := range []struct{ topic, reason string }{
			{"chat.lobby", ""},
			{"news", ""},
			{"chat.secret", realtime.ReasonDenied},        // the module refuses everyone
			{"chat.members.room", realtime.ReasonDenied},  // the module refuses anonymous visitors
			{"elsewhere", realtime.ReasonNoModule},        // no module declares it
			{"hostile.fine", ""},                          // another module's topic, asked to it
			{"chat.lobby", realtime.ReasonAlready},        // twice
			{"chat", realtime.ReasonNoModule},             // chat.* covers below chat only
			{"chat.members.other", realtime.ReasonDenied}, // still anonymous
		} {
			c.send(`{"type":"subscribe","topic":"` + tt.topic + `"}`)
			f := c.next()
			switch {
			case tt.reason == "" && f.Type != realtime.TypeSubscribed,
				tt.reason != "" && (f.Type != realtime.TypeRefused || f.Reason != tt.reason),
				f.Topic != tt.topic:
				t.Errorf("subscribe %s: got %+v, want reason %q", tt.topic, f, tt.reason)
			}
		}
		m := dial(t, s.URL, member)
		m.subscribe("chat.members.room")
	})

	t.Run("publish", func(t *testing.T) {
		c := dial(t, s.URL, nil)
		c.subscribe("chat.pub")
		big := `"` + strings.Repeat("y", 7000) + `"` // with the frame, past NOTIFY's 8000 bytes
		for _, data := range []string{`{"n": 1}`, `"text"`, `[1, 2, 3]`, `null`, big} {
			mustPublish(t, s.URL, "chat.pub", data)
			f := c.expect(realtime.TypeEvent, "chat.pub")
			var want, got any
			json.Unmarshal([]byte(data), &want)
			json.Unmarshal(f.Data, &got)
			if fmt.Sprint(want) != fmt.Sprint(got) {
				t.Errorf("event data %s, want %s", f.Data, data)
			}
		}
		for _, tt := range []struct {
			topic, data string
			status      int
		}{
			{"elsewhere", `1`, http.StatusForbidden},                                    // not in the manifest
			{"hostile.x", `1`, http.StatusForbidden},                                    // another module's
			{"chat", `1`, http.StatusForbidden},                                         // the prefix itself
			{"Chat.x", `1`, http.StatusBadRequest},                                      // not a topic name
			{"chat.pub", `"` + strings.Repeat("z", 9<<10) + `"`, http.StatusBadRequest}, // over MaxEventBytes
		} {
			if status, b := rtPublish(t, s.URL, tt.topic, tt.data); status != tt.status {
				t.Errorf("publish to %q: %d %s, want %d", tt.topic, status, b, tt.status)
			}
		}
		mustPublish(t, s.URL, "chat.pub", `"after"`)
		if f := c.expect(realtime.TypeEvent, "chat.pub"); string(f.Data) != `"after"` {
			t.Errorf("the refused publishes reached the subscriber: next event %s", f.Data)
		}
	})

	t.Run("messages", func(t *testing.T) {
		m := dial(t, s.URL, member)
		m.subscribe("chat.talk")
		m.send(`{"type":"message","topic":"chat.talk","data":{"text":"hi"}}`)
		f := m.expect(realtime.TypeEvent, "chat.talk")
		if string(f.Data) != `{"data":{"text":"hi"},"from":"mallory"}` {
			t.Errorf("relayed %s", f.Data)
		}
		m.send(`{"type":"message","topic":"chat.talk","data":"refuse"}`)
		if f := m.expect(realtime.TypeError, ""); f.Code != realtime.CodeRefused {
			t.Errorf("refused message: %+v", f)
		}
		m.send(`{"type":"message","topic":"chat.other","data":1}`)
		if f := m.expect(realtime.TypeError, ""); f.Code != realtime.CodeNotSubscribed {
			t.Errorf("message before subscribing: %+v", f)
		}
	})

	t.Run("bad frames", func(t *testing.T) {
		c := dial(t, s.URL, nil)
		for _, frame := range []string{
			`{}`, `[]`, `nonsense`, `{"type":"subscribe"}`, `{"type":"subscribe","topic":"chat.a","extra":1}`,
			`{"type":"subscribe","topic":"chat.a","last_id":-1}`, `{"type":"message","topic":"chat.a"}`,
			`{"type":"subscribe","topic":"chat.a"} {}`, `{"type":"shout","topic":"chat.a"}`, `{"type":"subscribe","topic":"../x"}`,
		} {
			c.send(frame)
			if f := c.expect(realtime.TypeError, ""); f.Code != realtime.CodeBadFrame {
				t.Errorf("%s: %+v", frame, f)
			}
		}
		c.subscribe("chat.still") // the connection survived them
		c.send(`{"type":"subscribe","topic":"chat.` + strings.Repeat("a", 2000) + `"}`)
		if code := c.closed(); code != websocket.StatusMessageTooBig {
			t.Errorf("oversize frame: close %d, want %d", code, websocket.StatusMessageTooBig)
		}
	})

	t.Run("limits", func(t *testing.T) {
		settle(t, s)
		c := dial(t, s.URL, nil)
		for i := range 4 {
			c.subscribe(fmt.Sprintf("chat.n%d", i))
		}
		c.send(`{"type":"subscribe","topic":"chat.n4"}`)
		if f := c.expect(realtime.TypeRefused, "chat.n4"); f.Reason != realtime.ReasonTooMany {
			t.Errorf("fifth subscription: %+v", f)
		}
		c.send(`{"type":"unsubscribe","topic":"chat.n0"}`)
		c.subscribe("chat.n4")

		dial(t, s.URL, member)
		dial(t, s.URL, member)
		if _, resp, err := dialWith(t, s.URL, member, nil); err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
			t.Errorf("third connection of a user: %v %v, want 429", err, resp)
		}
	})

	t.Run("rate", func(t *testing.T) {
		// 100 frames at once (fewer than the send queue holds) against 20
		// a second, bursts of 40: some are dropped with rate_limited, the
		// others answered.
		c := dial(t, s.URL, nil)
		for range 100 {
			c.send(`{"type":"unsubscribe","topic":"chat.none"}`)
		}
		codes := map[string]int{}
		for range 100 {
			codes[c.expect(realtime.TypeError, "").Code]++
		}
		if codes[realtime.CodeRateLimited] == 0 || codes[realtime.CodeNotSubscribed] < 40 {
			t.Errorf("answers to 100 frames at once: %v", codes)
		}
	})

	t.Run("anonymous per address", func(t *testing.T) {
		settle(t, s)
		var open []*wsClient
		for {
			c, resp, err := dialWith(t, s.URL, nil, nil)
			if err != nil {
				if resp == nil || resp.StatusCode != http.StatusTooManyRequests {
					t.Fatalf("dial: %v %v", err, resp)
				}
				break
			}
			open = append(open, c)
			if len(open) > 6 {
				t.Fatal("more than MaxPerAnonymousIP anonymous connections")
			}
		}
		for _, c := range open {
			c.ws.Close(websocket.StatusNormalClosure, "")
		}
	})

	t.Run("origin", func(t *testing.T) {
		settle(t, s)
		for _, tt := range []struct {
			origin string
			ok     bool
		}{
			{s.URL, true},
			{"", true}, // no browser
			{"http://evil.example", false},
			{"https://" + strings.TrimPrefix(s.URL, "http://"), false}, // the other scheme
			{"http://evil.example:" + s.URL[strings.LastIndex(s.URL, ":")+1:], false},
			{"null", false},
		} {
			h := http.Header{}
			if tt.origin != "" {
				h.Set("Origin", tt.origin)
			}
			c, resp, err := dialWith(t, s.URL, member, h)
			if tt.ok != (err == nil) {
				t.Errorf("Origin %q: %v, want ok=%v", tt.origin, err, tt.ok)
			}
			if !tt.ok && (resp == nil || resp.StatusCode != http.StatusForbidden) {
				t.Errorf("Origin %q: %v, want 403", tt.origin, resp)
			}
			if c != nil {
				c.ws.Close(websocket.StatusNormalClosure, "")
			}
		}
	})

	t.Run("connections", func(t *testing.T) {
		settle(t, s)
		c := dial(t, s.URL, member)
		c.subscribe("chat.listed")
		resp, err := http.Get(s.URL + "/rt/connections")
		if err != nil {
			t.Fatal(err)
		}
		var conns []map[string]any
		if err := json.Unmarshal([]byte(body(t, resp)), &conns); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, cn := range conns {
			if cn["username"] == "mallory" && fmt.Sprint(cn["topics"]) == "[chat.listed]" && cn["client_ip"] == "127.0.0.1" {
				found = true
			}
		}
		if !found {
			t.Errorf("users.connections did not list mallory's connection: %v", conns)
		}
		if len(s.srv.Connections()) != len(conns) {
			t.Errorf("Server.Connections lists %d, the service %d", len(s.srv.Connections()), len(conns))
		}
	})

	t.Run("session ends", func(t *testing.T) {
		// Another member: mallory's connections are counted by the limits.
		settle(t, s)
		c, _ := signIn(t, s, "trudy")
		ws := dial(t, s.URL, c)
		ws.subscribe("chat.bye")
		other := dial(t, s.URL, member) // mallory stays
		other.subscribe("chat.bye")
		resp := postForm(t, c, s.URL+"/logout", nil)
		resp.Body.Close()
		if code := ws.closed(); code != realtime.CloseSessionEnded {
			t.Errorf("after logout: close %d, want %d", code, realtime.CloseSessionEnded)
		}
		mustPublish(t, s.URL, "chat.bye", `"still here"`)
		other.expect(realtime.TypeEvent, "chat.bye")

		// A kick closes every socket of the user, the session stays.
		if err := site.RecordUserEvent(t.Context(), s.srv.db.Pool, memberID, site.EventKicked); err != nil {
			t.Fatal(err)
		}
		if code := other.closed(); code != realtime.CloseSessionEnded {
			t.Errorf("after a kick: close %d, want %d", code, realtime.CloseSessionEnded)
		}
		dial(t, s.URL, member).subscribe("chat.members.back") // still signed in
	})
}

// TestRealtimeCatchUp: a client that comes back with the last id it saw
// gets every event published while it was away, in order, once.
func TestRealtimeCatchUp(t *testing.T) {
	s := newRealtimeSite(t)
	c := dial(t, s.URL, nil)
	c.subscribe("chat.room")
	mustPublish(t, s.URL, "chat.room", `0`)
	last := c.expect(realtime.TypeEvent, "chat.room").ID
	c.ws.Close(websocket.StatusNormalClosure, "")

	// Away: events on the topic and on others.
	var want []string
	for i := 1; i <= 12; i++ {
		mustPublish(t, s.URL, "chat.room", fmt.Sprint(i))
		mustPublish(t, s.URL, "chat.elsewhere", fmt.Sprint(-i))
		want = append(want, fmt.Sprint(i))
	}
	c = dial(t, s.URL, nil)
	c.send(fmt.Sprintf(`{"type":"subscribe","topic":"chat.room","last_id":%d}`, last))
	if f := c.expect(realtime.TypeSubscribed, "chat.room"); f.ID != last {
		t.Errorf("subscribed at %d, want %d", f.ID, last)
	}
	// Events published while it catches up must come too, after.
	go func() {
		for i := 13; i <= 20; i++ {
			mustPublish(t, s.URL, "chat.room", fmt.Sprint(i))
		}
	}()
	for i := 13; i <= 20; i++ {
		want = append(want, fmt.Sprint(i))
	}
	var got []string
	prev := last
	for len(got) < len(want) {
		f := c.expect(realtime.TypeEvent, "chat.room")
		if f.ID <= prev {
			t.Fatalf("event %d after %d: out of order or twice", f.ID, prev)
		}
		prev = f.ID
		got = append(got, string(f.Data))
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("caught up %v, want %v", got, want)
	}
	if f, err := c.read(300 * time.Millisecond); err == nil {
		t.Errorf("an extra frame: %+v", f)
	}
}

// TestRealtimeTwoReplicas: two runtimes on one database; clients on each
// get what modules on either publish, events over NOTIFY's 8000 bytes too.
func TestRealtimeTwoReplicas(t *testing.T) {
	a := newRealtimeSite(t)
	cfg := a.srv.cfg
	cfg.DataDir = siteDataDir(t)
	srvB, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	hsB := httptest.NewServer(srvB.Handler())
	t.Cleanup(func() {
		hsB.Close()
		srvB.Close(context.Background())
	})
	onA, onB := dial(t, a.URL, nil), dial(t, hsB.URL, nil)
	onA.subscribe("chat.x")
	onB.subscribe("chat.x")
	big := `"` + strings.Repeat("b", 20000) + `"`
	for i, from := range []string{a.URL, hsB.URL, a.URL, hsB.URL} {
		data := fmt.Sprint(i)
		if i >= 2 {
			data = big
		}
		mustPublish(t, from, "chat.x", data)
		fa, fb := onA.expect(realtime.TypeEvent, "chat.x"), onB.expect(realtime.TypeEvent, "chat.x")
		if fa.ID != fb.ID || string(fa.Data) != data || string(fb.Data) != data {
			t.Errorf("publish %d from %s: A got %d (%d bytes), B got %d (%d bytes)", i, from, fa.ID, len(fa.Data), fb.ID, len(fb.Data))
		}
	}
}

// TestRealtimeSlowClient: a client that never reads is dropped (1013)
// once its queue fills, and the others get every event meanwhile.
func TestRealtimeSlowClient(t *testing.T) {
	s := newRealtimeSite(t, func(c *Config) {
		c.Realtime = realtime.Limits{SendQueue: 8, MaxEventBytes: 60 << 10, WriteTimeout: 2 * time.Second}
	})
	slow := dial(t, s.URL, nil)
	slow.subscribe("chat.flood")
	fast := dial(t, s.URL, nil)
	fast.subscribe("chat.flood")
	data := []byte(`"` + strings.Repeat("f", 50<<10) + `"`)
	var ids []int64
	deadline := time.Now().Add(2 * time.Minute)
	for len(s.srv.Connections()) == 2 {
		if time.Now().After(deadline) {
			t.Fatal("the slow client was never dropped")
		}
		id, err := s.srv.hub.Publish(t.Context(), "chat.flood", data)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		if f := fast.expect(realtime.TypeEvent, "chat.flood"); f.ID != id {
			t.Fatalf("the fast client got %d, want %d", f.ID, id)
		}
	}
	if len(ids) < 8 {
		t.Errorf("dropped after %d events, with a queue of 8", len(ids))
	}
	// What the slow one reads: the events that reached its socket, then
	// the close (or a cut, if it could not even be told).
	for {
		_, err := slow.read(30 * time.Second)
		if err != nil {
			if code := websocket.CloseStatus(err); code != realtime.CloseSlow && code != -1 {
				t.Errorf("slow client closed with %d", code)
			}
			break
		}
	}
}

// TestRealtimeHostile: the hostile module attacks the hub's channels,
// table and calls; each fails or does no harm, and hello keeps answering.
func TestRealtimeHostile(t *testing.T) {
	s := newRealtimeSite(t, func(c *Config) {
		c.Pool.CallTimeout = 2 * time.Second
		c.Realtime = realtime.Limits{CallTimeout: 3 * time.Second}
	})
	ctx := t.Context()
	var channels []string
	rows, err := s.srv.db.Pool.Query(ctx, `SELECT name FROM websonic.channels`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		channels = append(channels, n)
	}
	rows.Close()

	// hello answers all along.
	stop := make(chan struct{})
	var failures, calls int
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			resp, err := http.Get(s.URL + "/guestbook")
			calls++
			if err != nil || resp.StatusCode != http.StatusOK {
				failures++
			}
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}()

	listener := dial(t, s.URL, nil)
	listener.subscribe("chat.watch")

	resp, err := http.Get(s.URL + "/hostile/rt/channels")
	if err != nil {
		t.Fatal(err)
	}
	var seen map[string]string
	if err := json.Unmarshal([]byte(body(t, resp)), &seen); err != nil {
		t.Fatal(err)
	}
	for what, got := range seen {
		if !strings.HasPrefix(got, "error: ") && got != "" {
			t.Errorf("hostile %s: %q, want an error or nothing", what, got)
		}
		for _, ch := range channels {
			if strings.Contains(got, ch) {
				t.Errorf("hostile %s saw the channel %s", what, ch)
			}
		}
	}

	// LISTEN and NOTIFY floods on guessed names: the hub never hears them
	// (its channels are random), and the flood costs only the module.
	guessed := []string{"realtime", "websonic_realtime", "websonic_users", "users", "websonic_modules"}
	q := url.Values{"n": {"2000"}, "name": guessed}
	resp, err = http.Post(s.URL+"/hostile/rt/notify?"+q.Encode(), "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("notify flood: %d %s", resp.StatusCode, body(t, resp))

	for _, tt := range []struct {
		query  string
		status int
	}{
		{"topic=chat.watch&kb=1", http.StatusForbidden},      // the realtime module's topic
		{"topic=elsewhere&kb=1", http.StatusForbidden},       // nobody's
		{"topic=hostile.big&kb=1024", http.StatusBadRequest}, // over the size limit
		{"topic=hostile.fine&kb=1", http.StatusOK},
	} {
		resp, err := http.Post(s.URL+"/hostile/rt/publish?"+tt.query, "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		if b := body(t, resp); resp.StatusCode != tt.status {
			t.Errorf("hostile publish %s: %d %s, want %d", tt.query, resp.StatusCode, b, tt.status)
		}
	}

	// Subscribe handlers that loop, trap and sleep refuse, within the
	// call's deadline, and the connection goes on.
	c := dial(t, s.URL, nil)
	for _, topic := range []string{"hostile.loop", "hostile.trap", "hostile.sleep"} {
		c.send(`{"type":"subscribe","topic":"` + topic + `"}`)
		if f := c.expect(realtime.TypeRefused, topic); f.Reason != realtime.ReasonDenied {
			t.Errorf("%s: %+v", topic, f)
		}
	}
	c.subscribe("hostile.fine")
	for _, m := range []string{"loop", "trap"} {
		c.send(`{"type":"message","topic":"hostile.fine","data":"` + m + `"}`)
		if f := c.expect(realtime.TypeError, ""); f.Code != realtime.CodeRefused {
			t.Errorf("message %s: %+v", m, f)
		}
	}

	// Nothing forged reached the realtime module's subscriber; a real
	// publish does.
	mustPublish(t, s.URL, "chat.watch", `"real"`)
	if f := listener.expect(realtime.TypeEvent, "chat.watch"); string(f.Data) != `"real"` {
		t.Errorf("the subscriber got %s first", f.Data)
	}
	close(stop)
	wg.Wait()
	if failures > 0 || calls == 0 {
		t.Errorf("hello failed %d of %d requests during the attacks", failures, calls)
	}
}

// rtPage is a page of the site's origin whose script uses the host's
// client: it subscribes to chat.page, marks itself ready and appends each
// event's text to #out. (Module pages may not run scripts of their own
// until module assets land; the test serves it beside the runtime.)
const rtPage = `<!doctype html><title>realtime</title><div id="state"></div><div id="out"></div><script type="module" src="/rtpage.js"></script>`

const rtPageScript = `import { connect } from "/static/websonic/realtime.js";
const rt = connect();
rt.subscribe("chat.page", {
  subscribed() { document.getElementById("state").innerHTML = '<p id="ready">ready</p>'; },
  event(data) { document.getElementById("out").textContent += data.text + ";"; },
});
`

// TestRealtimeBrowser: a real Chromium runs a page that uses the host's
// client script (/static/websonic/realtime.js): it subscribes, gets what
// the module publishes, and after the runtime drops its socket reconnects
// and gets what was published meanwhile.
func TestRealtimeBrowser(t *testing.T) {
	s := newRealtimeSite(t)
	mux := http.NewServeMux()
	mux.Handle("/", s.srv.Handler())
	mux.HandleFunc("GET /rtpage", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, rtPage) })
	mux.HandleFunc("GET /rtpage.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		io.WriteString(w, rtPageScript)
	})
	page := httptest.NewServer(mux)
	t.Cleanup(page.Close)
	b := newBrowser(t)
	b.do("open the page", chromedp.Navigate(page.URL+"/rtpage"), chromedp.WaitVisible(chromedp.CSS("#ready")))
	mustPublish(t, s.URL, "chat.page", `{"text":"one"}`)
	mustPublish(t, s.URL, "chat.page", `{"text":"two"}`)
	run(b, "wait for the events", chromedp.Poll[bool](`document.getElementById("out").textContent === "one;two;"`))

	// The socket drops (as when a runtime restarts); the page's client
	// reconnects with the last id it saw.
	if n := s.srv.hub.DropAll(websocket.StatusGoingAway, "test"); n != 1 {
		t.Fatalf("dropped %d connections, want the page's", n)
	}
	settle(t, s)
	// Several, so that a catch-up may come as one events frame.
	for _, text := range []string{"three", "four", "five"} {
		mustPublish(t, s.URL, "chat.page", `{"text":"`+text+`"}`)
	}
	run(b, "wait for the missed events", chromedp.Poll[bool](`document.getElementById("out").textContent === "one;two;three;four;five;"`))
}
