package realtime_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/internal/clientaddr"
	"github.com/websonic/websonic/internal/pgtest"
	"github.com/websonic/websonic/runtime/internal/coredb/coredbtest"
	"github.com/websonic/websonic/runtime/internal/realtime"
	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/manifest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// owner is a topic owner that allows every subscription: the hub's own
// behaviour is under test here; runtime/server's tests use real modules.
type owner struct{ m *manifest.Manifest }

func (o owner) Manifest() *manifest.Manifest { return o.m }
func (o owner) Call(ctx context.Context, path string, user *abi.User, body []byte, id string) (*abi.HTTPResponse, error) {
	return &abi.HTTPResponse{Status: http.StatusNoContent}, nil
}

// hubSite is a hub on a fresh database, served over HTTP.
type hubSite struct {
	hub  *realtime.Hub
	pool *pgxpool.Pool
	url  string
}

// newHub serves a hub on a fresh database; wrap, when given, wraps the
// server's listener.
func newHub(t testing.TB, pool *pgxpool.Pool, lim realtime.Limits, wrap ...func(net.Listener) net.Listener) *hubSite {
	t.Helper()
	return newHubOwned(t, pool, lim, testOwner(), wrap...)
}

// testOwner is the owner of the topics t.*, module "chat", allowing all.
func testOwner() owner {
	return owner{&manifest.Manifest{Name: "chat", Capabilities: manifest.Capabilities{Topics: []string{"t.*"}}}}
}

// newHubOwned is newHub with own as the only module.
func newHubOwned(t testing.TB, pool *pgxpool.Pool, lim realtime.Limits, own realtime.Module, wrap ...func(net.Listener) net.Listener) *hubSite {
	t.Helper()
	h, err := realtime.New(t.Context(), realtime.Config{
		Pool:    pool,
		Modules: func() []realtime.Module { return []realtime.Module{own} },
		Identify: func(r *http.Request) realtime.Identity {
			host, _, _ := net.SplitHostPort(r.RemoteAddr)
			id := realtime.Identity{IP: netip.MustParseAddr(host)}
			// ?user=N signs the connection in as user N (revoke_test.go).
			if n, err := strconv.ParseInt(r.URL.Query().Get("user"), 10, 64); err == nil && n > 0 {
				id.User = &abi.User{ID: n, Username: fmt.Sprint("u", n), Roles: []string{"member"}}
			}
			return id
		},
		Limits: lim,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(h)
	for _, w := range wrap {
		hs.Listener = w(hs.Listener)
	}
	hs.Start()
	t.Cleanup(func() {
		h.Close()
		hs.Close()
	})
	return &hubSite{hub: h, pool: pool, url: "ws" + strings.TrimPrefix(hs.URL, "http")}
}

type client struct {
	t       testing.TB
	ws      *websocket.Conn
	pending []realtime.HostFrame // the rest of an events frame
	batches int                  // events frames read
}

func (s *hubSite) dial(t testing.TB) *client { t.Helper(); return s.dialAs(t, 0) }

// dialAs connects as user (0: anonymous).
func (s *hubSite) dialAs(t testing.TB, user int64) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := s.url
	if user > 0 {
		u += fmt.Sprint("?user=", user)
	}
	ws, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadLimit(1 << 20)
	t.Cleanup(func() { ws.CloseNow() })
	return &client{t: t, ws: ws}
}

func (c *client) send(format string, args ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageText, fmt.Appendf(nil, format, args...))
}

// next returns the next host frame, unpacking events frames.
func (c *client) next() (realtime.HostFrame, error) {
	for len(c.pending) == 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, b, err := c.ws.Read(ctx)
		cancel()
		if err != nil {
			return realtime.HostFrame{}, err
		}
		fs, err := realtime.DecodeHostMessage(b)
		if err != nil {
			return realtime.HostFrame{}, err
		}
		if len(fs) > 1 || bytes.HasPrefix(b, []byte(`{"type":"events"`)) {
			c.batches++
		}
		c.pending = fs
	}
	f := c.pending[0]
	c.pending = c.pending[1:]
	return f, nil
}

func (c *client) expect(typ, topic string) realtime.HostFrame {
	c.t.Helper()
	f, err := c.next()
	if err != nil {
		c.t.Fatal(err)
	}
	if f.Type != typ || f.Topic != topic {
		c.t.Fatalf("got %+v, want %s on %s", f, typ, topic)
	}
	return f
}

// TestReload: a last_id older than the retained events, or newer than
// any, gets a reload frame and then live events; one within them catches
// up.
func TestReload(t *testing.T) {
	db, _ := coredbtest.Open(t)
	s := newHub(t, db.Pool, realtime.Limits{RetainEvents: 5, MaxCatchUp: 8})
	ctx := t.Context()
	// A live subscriber tells when the hub has dispatched every event
	// (a reload's position is the newest dispatched one).
	watcher := s.dial(t)
	watcher.send(`{"type":"subscribe","topic":"t.a"}`)
	watcher.expect(realtime.TypeSubscribed, "t.a")
	var ids []int64
	for i := range 12 {
		id, err := s.hub.Publish(ctx, "t.a", fmt.Appendf(nil, "%d", i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for f := watcher.expect(realtime.TypeEvent, "t.a"); f.ID != ids[11]; f = watcher.expect(realtime.TypeEvent, "t.a") {
	}
	if n, err := s.hub.Sweep(ctx); err != nil || n != 7 {
		t.Fatalf("sweep = %d, %v; want 7 of 12 gone", n, err)
	}
	for _, tt := range []struct {
		name   string
		last   int64
		reload bool
		first  int64
	}{
		{"swept", ids[2], true, 0},
		{"just retained", ids[6], false, ids[7]},
		{"future", ids[11] + 100, true, 0},
		{"now", -1, false, 0}, // the newest id
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := s.dial(t)
			if tt.last < 0 {
				tt.last = ids[11]
			}
			c.send(`{"type":"subscribe","topic":"t.a","last_id":%d}`, tt.last)
			c.expect(realtime.TypeSubscribed, "t.a")
			if tt.reload {
				if f := c.expect(realtime.TypeReload, "t.a"); f.ID < ids[11] {
					t.Errorf("reload at %d, want at least %d", f.ID, ids[11])
				}
			} else if tt.first != 0 {
				if f := c.expect(realtime.TypeEvent, "t.a"); f.ID != tt.first {
					t.Errorf("first event %d, want %d", f.ID, tt.first)
				}
				for range ids[11] - tt.first {
					c.expect(realtime.TypeEvent, "t.a")
				}
			}
			id, err := s.hub.Publish(ctx, "t.a", []byte(`"live"`))
			if err != nil {
				t.Fatal(err)
			}
			if f := c.expect(realtime.TypeEvent, "t.a"); f.ID != id {
				t.Errorf("live event %d, want %d", f.ID, id)
			}
			ids = append(ids[:11], id)
		})
	}
	// More to catch up than MaxCatchUp: reload.
	c := s.dial(t)
	last := ids[11]
	for range 9 {
		if _, err := s.hub.Publish(ctx, "t.a", []byte(`1`)); err != nil {
			t.Fatal(err)
		}
	}
	c.send(`{"type":"subscribe","topic":"t.a","last_id":%d}`, last)
	c.expect(realtime.TypeSubscribed, "t.a")
	c.expect(realtime.TypeReload, "t.a")
}

// smallBuffers shrinks the kernel buffers of the server's sockets, so a
// client that does not read blocks the hub's writer after a few frames.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
		_ = tc.SetReadBuffer(4096)
	}
	return c, err
}

// TestBatch: a client that falls behind gets the events queued for it in
// events frames, every one in order, none lost or duplicated; a client
// that resubscribes with a last_id catches up exactly, batched too.
func TestBatch(t *testing.T) {
	db, _ := coredbtest.Open(t)
	s := newHub(t, db.Pool, realtime.Limits{SendQueue: 1024}, func(l net.Listener) net.Listener { return smallBuffers{l} })
	ctx := t.Context()
	slow, fast := s.dial(t), s.dial(t)
	for _, c := range []*client{slow, fast} {
		c.send(`{"type":"subscribe","topic":"t.b"}`)
		c.expect(realtime.TypeSubscribed, "t.b")
	}
	// The slow client does not read: its socket's buffers fill within a
	// few dozen events of 1 KiB and the rest wait in the hub's queue.
	const n = 300
	data := `"` + strings.Repeat("x", 1<<10) + `"`
	var ids []int64
	for range n {
		id, err := s.hub.Publish(ctx, "t.b", []byte(data))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	// Events are dispatched in id order, to every subscriber in turn:
	// once the fast client has the last, the slow one's are all queued.
	for _, want := range ids {
		if f := fast.expect(realtime.TypeEvent, "t.b"); f.ID != want {
			t.Fatalf("fast client: event %d, want %d", f.ID, want)
		}
	}
	check := func(name string, c *client) {
		t.Helper()
		for _, want := range ids {
			f := c.expect(realtime.TypeEvent, "t.b")
			if f.ID != want || string(f.Data) != data {
				t.Fatalf("%s client: event %d (%d bytes), want %d", name, f.ID, len(f.Data), want)
			}
		}
		if c.batches == 0 {
			t.Errorf("%s client: no events frame", name)
		}
		if len(c.pending) != 0 {
			t.Errorf("%s client: %d frames more than published", name, len(c.pending))
		}
	}
	check("slow", slow)
	// Catch-up from the table queues a batch of events at once.
	late := s.dial(t)
	late.send(`{"type":"subscribe","topic":"t.b","last_id":%d}`, ids[0]-1)
	late.expect(realtime.TypeSubscribed, "t.b")
	check("late", late)
	// And live again: single events frames as before.
	id, err := s.hub.Publish(ctx, "t.b", []byte(`"live"`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client{slow, late, fast} {
		if f := c.expect(realtime.TypeEvent, "t.b"); f.ID != id || len(c.pending) != 0 {
			t.Errorf("live event %d (%d more), want %d alone", f.ID, len(c.pending), id)
		}
	}
}

// TestPublishData: what publish stores comes back byte for byte, even
// what PostgreSQL's text handling could trip on.
func TestPublishData(t *testing.T) {
	db, _ := coredbtest.Open(t)
	s := newHub(t, db.Pool, realtime.Limits{})
	c := s.dial(t)
	c.send(`{"type":"subscribe","topic":"t.d"}`)
	c.expect(realtime.TypeSubscribed, "t.d")
	for _, data := range []string{`"\u0000"`, `"\ud800"`, `"é\n"`, `{"a":{"b":[1,2,{}]}}`, `1e400`} {
		p, err := realtime.DecodePublish([]byte(`{"topic":"t.d","data":`+data+`}`), 1<<10)
		if err != nil {
			t.Errorf("%s: %v", data, err)
			continue
		}
		if _, err := s.hub.Publish(t.Context(), p.Topic, p.Data); err != nil {
			t.Errorf("publish %s: %v", data, err)
			continue
		}
		if f := c.expect(realtime.TypeEvent, "t.d"); string(f.Data) != data {
			t.Errorf("event data %s, want %s", f.Data, data)
		}
	}
}

// TestCheckOrigin: the upgrade's Origin must be this host with the
// scheme the client used (as derived behind trusted proxies).
func TestCheckOrigin(t *testing.T) {
	proxy := clientaddr.New([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	for _, tt := range []struct {
		name, origin, remote, proto string
		ok                          bool
	}{
		{"same", "http://site.example", "192.0.2.1:1", "", true},
		{"none", "", "192.0.2.1:1", "", true},
		{"other host", "http://evil.example", "192.0.2.1:1", "", false},
		{"other port", "http://site.example:8080", "192.0.2.1:1", "", false},
		{"https to http site", "https://site.example", "192.0.2.1:1", "", false},
		{"behind TLS proxy", "https://site.example", "10.0.0.1:1", "https", true},
		{"http behind TLS proxy", "http://site.example", "10.0.0.1:1", "https", false},
		{"untrusted proto", "https://site.example", "192.0.2.1:1", "https", false},
		{"null", "null", "192.0.2.1:1", "", false},
		{"case", "HTTP://SITE.example", "192.0.2.1:1", "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "http://site.example/ws", nil)
			r.RemoteAddr = tt.remote
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			if tt.proto != "" {
				r.Header.Set("X-Forwarded-Proto", tt.proto)
			}
			var err error
			proxy.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { err = realtime.CheckOrigin(r) })).
				ServeHTTP(httptest.NewRecorder(), r)
			if (err == nil) != tt.ok {
				t.Errorf("CheckOrigin = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// TestHammer: publishers on several topics race subscribers that come and
// go (resubscribing with their last id, live ones too) on two hubs of one
// database; every subscriber sees each topic's events in order, without
// a gap or a repeat. Run with -race.
func TestHammer(t *testing.T) {
	db, _ := coredbtest.Open(t)
	lim := realtime.Limits{MaxPerAnonymousIP: 1000, SendQueue: 4096, MessagesPerSecond: 1000}
	hubs := []*hubSite{newHub(t, db.Pool, lim), newHub(t, db.Pool, lim)}
	const (
		topics     = 3
		publishers = 4
		perPub     = 60
		subs       = 12
	)
	ctx := t.Context()
	var wg, ready sync.WaitGroup
	ready.Add(subs) // publishing starts once every subscriber is live
	for p := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ready.Wait()
			for i := range perPub {
				topic := fmt.Sprintf("t.%d", (p+i)%topics)
				if _, err := hubs[(p+i)%2].hub.Publish(ctx, topic, fmt.Appendf(nil, `"%d-%d"`, p, i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	type seen struct {
		topic string
		ids   []int64
	}
	results := make(chan seen, subs)
	for n := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			topic := fmt.Sprintf("t.%d", n%topics)
			var ids []int64
			last := int64(-1)
			// Three sessions: each resubscribes from the last id it saw
			// (the first from none: live from its subscription on).
			for round := range 3 {
				c := hubs[(n+round)%2].dial(t)
				if last < 0 {
					c.send(`{"type":"subscribe","topic":"%s"}`, topic)
				} else {
					c.send(`{"type":"subscribe","topic":"%s","last_id":%d}`, topic, last)
				}
				for got := 0; got < perPub/4; {
					f, err := c.next()
					if err != nil {
						t.Error(err)
						return
					}
					switch f.Type {
					case realtime.TypeSubscribed:
						if last < 0 {
							last = f.ID
							ready.Done()
						}
					case realtime.TypeEvent:
						ids = append(ids, f.ID)
						last = f.ID
						got++
					default:
						t.Errorf("frame %+v", f)
						return
					}
				}
				c.ws.Close(websocket.StatusNormalClosure, "")
			}
			results <- seen{topic, ids}
		}()
	}
	wg.Wait()
	close(results)
	all := map[string][]int64{}
	rows, err := db.Pool.Query(ctx, `SELECT topic, id FROM websonic.realtime_events ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var topic string
		var id int64
		rows.Scan(&topic, &id)
		all[topic] = append(all[topic], id)
	}
	rows.Close()
	for r := range results {
		// r.ids must be a contiguous run of the topic's ids.
		ids := all[r.topic]
		start := -1
		for i, id := range ids {
			if len(r.ids) > 0 && id == r.ids[0] {
				start = i
			}
		}
		if start < 0 || start+len(r.ids) > len(ids) {
			t.Errorf("%s: saw %v, not within %v", r.topic, r.ids, ids)
			continue
		}
		for i, id := range r.ids {
			if ids[start+i] != id {
				t.Errorf("%s: saw %v; the topic's events from there are %v", r.topic, r.ids, ids[start:])
				break
			}
		}
	}
}

// TestForget: forgetting removes every event up to the newest that names
// one of the needles (case-insensitively), moving the horizon, and nothing
// after it; needles no event holds remove nothing.
func TestForget(t *testing.T) {
	db, _ := coredbtest.Open(t)
	s := newHub(t, db.Pool, realtime.Limits{})
	ctx := t.Context()
	var ids []int64
	for _, data := range []string{`{"by":"ann"}`, `{"text":"hi @Mia_Quartz"}`, `{"by":"bob"}`, `{"to":"mq@example.test"}`, `{"by":"cy"}`} {
		id, err := s.hub.Publish(ctx, "t.a", []byte(data))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	left := func() (n, horizon int64) {
		if err := db.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM websonic.realtime_events),
			(SELECT swept_through FROM websonic.realtime_horizon)`).Scan(&n, &horizon); err != nil {
			t.Fatal(err)
		}
		return n, horizon
	}
	for _, tt := range []struct {
		name    string
		needles []string
		gone    int64
		horizon int64
	}{
		{"nobody", []string{"zed", ""}, 0, 0},
		{"a name", []string{"MIA_QUARTZ"}, 2, ids[1]},
		{"an address", []string{"nobody", "MQ@example.test"}, 2, ids[3]},
	} {
		n, err := s.hub.Forget(ctx, tt.needles...)
		if err != nil || n != tt.gone {
			t.Errorf("%s: forget = %d, %v; want %d", tt.name, n, err, tt.gone)
		}
		if _, h := left(); h != tt.horizon {
			t.Errorf("%s: horizon %d, want %d", tt.name, h, tt.horizon)
		}
	}
	if n, _ := left(); n != 1 {
		t.Errorf("%d events left, want the last one", n)
	}
}
