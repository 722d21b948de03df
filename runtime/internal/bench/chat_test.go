package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/websonic/websonic/internal/modbuild"
	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/runtime/internal/realtime"
	coresite "github.com/websonic/websonic/runtime/internal/site"
)

// The chat benchmarks (issue 11) measure the first-party module
// modules/chat in a real runtime: BenchmarkChatFanout (chat_fanout_test.go),
// BenchmarkChatHistory (chat_history_test.go) and BenchmarkChatPost
// (chat_post_test.go). Their baselines are in chat_native_test.go: the
// module's own SQL run natively through pgx, and the host's publish path
// (realtime.publish) called without the module.

// chatSrc is the chat module's source, relative to this package.
const chatSrc = "../../../modules/chat"

// chatPackage builds the chat module once per test binary into a folder
// of its own (server.Config.ModulesDir).
var chatPackage = sync.OnceValues(func() (string, error) {
	dir := filepath.Join(scratch, "packages", "chatsite")
	return dir, modbuild.Package(context.Background(), chatSrc, filepath.Join(dir, "chat"))
})

// smokeRun reports whether the benchmark runs as TestBenchmarksRun's smoke
// run: tiny counts, nothing but that it works.
func smokeRun() bool { return os.Getenv("WEBSONIC_BENCH_SMOKE") != "" }

// chatPassword is every bench user's password.
const chatPassword = "correct horse battery staple"

// chatSite is a runtime serving the chat module, with what the chat
// benchmarks measure it against.
type chatSite struct{ *moduleSite }

func newChatSite(b *testing.B) *chatSite {
	b.Helper()
	dir, err := chatPackage()
	if err != nil {
		b.Fatal(err)
	}
	// The fan-out's thousand sockets belong to a few signed-in users on
	// one loopback address: lift the per-user limit (16), and keep pings
	// and idle closes out of the measurement.
	return &chatSite{newModuleSite(b, "chat", dir, realtime.Limits{MaxConnections: 20000, MaxPerUser: 20000,
		MaxPerAnonymousIP: 20000, PingInterval: time.Hour, IdleTimeout: time.Hour})}
}

// chatAPI sends a JSON request to the site's chat API as c and decodes the
// answer into out (nil: none), failing unless the status is want.
func chatAPI(b *testing.B, c *http.Client, method, u string, body any, want int, out any) {
	b.Helper()
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			b.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		b.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		b.Fatalf("%s %s: %s %s", method, u, resp.Status, got)
	}
	if out != nil {
		if err := json.Unmarshal(got, out); err != nil {
			b.Fatalf("%s %s: %v in %s", method, u, err, got)
		}
	}
}

// chatRoom is what the benchmarks read of a room.
type chatRoom struct {
	ID     int64  `json:"id"`
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Policy string `json:"policy"`
}

// everyoneRoom is the room every user reads and posts in (General).
func (s *chatSite) everyoneRoom(b *testing.B, c *http.Client) chatRoom {
	b.Helper()
	var rooms struct{ Rooms []chatRoom }
	chatAPI(b, c, "GET", s.URL+"/chat/api/rooms", nil, http.StatusOK, &rooms)
	for _, r := range rooms.Rooms {
		if r.Kind == "room" && r.Policy == "everyone" {
			return r
		}
	}
	b.Fatalf("no room for everyone among %+v", rooms.Rooms)
	return chatRoom{}
}

// newRoom has admin create a room for everyone named name.
func (s *chatSite) newRoom(b *testing.B, admin *http.Client, name string) chatRoom {
	b.Helper()
	var r chatRoom
	chatAPI(b, admin, "POST", s.URL+"/chat/api/rooms", map[string]any{"name": name, "policy": "everyone"}, http.StatusOK, &r)
	return r
}

// chatRouter serves, as user u, /chat/* through the module and each of
// mounts' handlers under its prefix (moduleSite.router).
func (s *chatSite) chatRouter(b *testing.B, u *coresite.User, mounts map[string]http.Handler) (http.Handler, string) {
	b.Helper()
	return s.router(b, func(*http.Request) *coresite.User { return u }, mounts)
}

// sameJSON fails unless the two answers are the same JSON document.
func sameJSON(b *testing.B, what string, native, module []byte) {
	b.Helper()
	var n, m any
	if err := json.Unmarshal(native, &n); err != nil {
		b.Fatalf("%s: native answer: %v: %s", what, err, native)
	}
	if err := json.Unmarshal(module, &m); err != nil {
		b.Fatalf("%s: module answer: %v: %s", what, err, module)
	}
	nj, _ := json.Marshal(n)
	mj, _ := json.Marshal(m)
	if !bytes.Equal(nj, mj) {
		b.Fatalf("%s: the native handler and the module answer differently:\nnative %s\nmodule %s", what, clip(nj), clip(mj))
	}
}

func clip(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + fmt.Sprintf("… (%d bytes)", len(b))
	}
	return string(b)
}

// newChatNative is the native baseline (chatNative) on s's database, its
// publishes through realtime.publish as the chat module.
func (s *chatSite) newChatNative() *chatNative {
	return &chatNative{
		pool:    s.native,
		publish: s.pub.Service(),
		caller:  &modhost.Caller{Module: "chat", Manifest: s.mod.Manifest()},
		config:  s.mod.Config,
	}
}

// newLoadgenN is a load generator of n clients, each with jar (nil: none).
func newLoadgenN(b *testing.B, n int, jar http.CookieJar) *loadgen {
	g := &loadgen{}
	for range n {
		g.clients = append(g.clients, &http.Client{
			Jar:     jar,
			Timeout: 30 * time.Second,
			Transport: &http.Transport{
				MaxIdleConnsPerHost: 1,
				MaxConnsPerHost:     1,
				DisableCompression:  true,
			},
		})
	}
	b.Cleanup(func() {
		for _, c := range g.clients {
			c.CloseIdleConnections()
		}
	})
	return g
}

// measureFunc is measure with requests made by req.
func measureFunc(b *testing.B, g *loadgen, req request) {
	b.Helper()
	g.warmFunc(b, req)
	b.ResetTimer()
	s, err := g.runFunc(b.N, req)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	report(b, s, "")
}

// fetch GETs u with c and returns the body, failing unless 200.
func fetch(b *testing.B, c *http.Client, u string) []byte {
	b.Helper()
	resp, err := c.Get(u)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: %s %s", u, resp.Status, body)
	}
	return body
}
