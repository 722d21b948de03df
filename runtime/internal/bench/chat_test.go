package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/internal/modbuild"
	"github.com/websonic/websonic/internal/pgtest"
	"github.com/websonic/websonic/runtime/internal/engine"
	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/runtime/internal/realtime"
	coresite "github.com/websonic/websonic/runtime/internal/site"
	"github.com/websonic/websonic/runtime/server"
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
type chatSite struct {
	srv *server.Server
	mod *modhost.Module
	db  *pgtest.DB
	// URL serves the runtime's whole handler (sessions, CSRF protection,
	// access log, metrics, the route table).
	URL string
	// users creates users in the site's core tables.
	users *coresite.Store
	// super is a superuser pool on the site's database (data generation,
	// plans); native reads and writes as the module's role, through a pool
	// configured like the module's own without the per-call session reset
	// (what a native application would use).
	super, native *pgxpool.Pool
	// members are the site's other users (chatSiteMembers of them).
	members []int64
	// pub is a second hub on the site's database, never started: its
	// Service is realtime.publish, the host service the module's
	// sdk.Publish reaches, and its Publish appends to the events table
	// and notifies the site's hub, which fans out.
	pub *realtime.Hub
}

func newChatSite(b *testing.B) *chatSite {
	b.Helper()
	ctx := context.Background()
	dir, err := chatPackage()
	if err != nil {
		b.Fatal(err)
	}
	db := pgtest.NewDB(b)
	size := instancesPerCore * runtime.GOMAXPROCS(0)
	srv, err := server.Open(ctx, server.Config{
		DataDir:             scratch,
		DatabaseURL:         db.URL,
		ModulesDir:          dir,
		ApproveLocalModules: true,
		RolePrefix:          db.Prefix(),
		Pool:                engine.PoolConfig{Size: size, MinWarm: size},
		Logger:              logger(),
		// The fan-out's thousand sockets belong to a few signed-in
		// users on one loopback address: lift the per-user limit (16),
		// and keep pings and idle closes out of the measurement.
		Realtime: realtime.Limits{MaxConnections: 20000, MaxPerUser: 20000, MaxPerAnonymousIP: 20000, PingInterval: time.Hour, IdleTimeout: time.Hour},
	})
	if err != nil {
		b.Fatal(err)
	}
	s := &chatSite{srv: srv, db: db, URL: serveSite(b, srv)}
	if s.mod = srv.Module("chat"); s.mod == nil {
		b.Fatal("the chat module is not running")
	}
	core := openCore(b, db)
	s.users = coresite.NewStore(core.Pool)
	if s.super, err = pgxpool.New(ctx, db.AdminURL); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.super.Close)
	pc := s.mod.DB().Pool().Config().Copy()
	pc.AfterRelease, pc.PrepareConn, pc.ShouldPing = nil, nil, nil
	if s.native, err = pgxpool.NewWithConfig(ctx, pc); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.native.Close)
	if s.pub, err = realtime.New(ctx, realtime.Config{
		Pool:    core.Pool,
		Modules: func() []realtime.Module { return []realtime.Module{srv.Module("chat")} },
		Logger:  logger(),
	}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.pub.Close)
	s.members = s.addMembers(b, chatSiteMembers)
	return s
}

// chatSiteMembers is how many users the benchmarks' site has besides the
// ones they sign in: the employees of a company (50 in smoke runs). The
// chat joins its messages with the site's users: the number matters.
const chatSiteMembers = 2000

// addMembers adds n users to the site, straight into its users table as
// the superuser (the password hashing of CreateUser would take minutes;
// these users never sign in), and returns their ids.
func (s *chatSite) addMembers(b *testing.B, n int) []int64 {
	b.Helper()
	if smokeRun() {
		n = 50
	}
	ctx := context.Background()
	rows, err := s.super.Query(ctx, `INSERT INTO websonic.users (username, display_name, password_hash)
		SELECT 'employee' || i, 'Employee ' || i, '!' FROM generate_series(1, $1::int) i RETURNING id`, n)
	if err != nil {
		b.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.super.Exec(ctx, `ANALYZE websonic.users`); err != nil {
		b.Fatal(err)
	}
	return ids
}

// user makes a user with role and returns them.
func (s *chatSite) user(b *testing.B, name string, role coresite.Role) *coresite.User {
	b.Helper()
	u, err := s.users.CreateUser(context.Background(), coresite.NewUser{Username: name, Password: chatPassword, Role: role})
	if err != nil {
		b.Fatal(err)
	}
	return u
}

// signIn makes a user with role and returns an HTTP client signed in as
// them on the site (a cookie jar holding the session).
func (s *chatSite) signIn(b *testing.B, name string, role coresite.Role) (*http.Client, *coresite.User) {
	b.Helper()
	u := s.user(b, name, role)
	jar, err := cookiejar.New(nil)
	if err != nil {
		b.Fatal(err)
	}
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	resp, err := c.PostForm(s.URL+"/login", url.Values{"username": {name}, "password": {chatPassword}})
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		b.Fatalf("sign in as %s: %s", name, resp.Status)
	}
	return c, u
}

// cookieHeader is the Cookie header c sends to the site.
func (s *chatSite) cookieHeader(b *testing.B, c *http.Client) string {
	b.Helper()
	u, _ := url.Parse(s.URL)
	var parts []string
	for _, k := range c.Jar.Cookies(u) {
		parts = append(parts, k.Name+"="+k.Value)
	}
	if len(parts) == 0 {
		b.Fatal("no session cookie")
	}
	return strings.Join(parts, "; ")
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

// chatRouter serves, as user u (in the request's context, as the site's
// session middleware puts it), /chat/* through the module and each of
// mounts' handlers under its prefix ("/native"…): the paired sides of the
// history and posting benchmarks, on one chi router. It returns the router
// and its loopback URL.
func (s *chatSite) chatRouter(b *testing.B, u *coresite.User, mounts map[string]http.Handler) (http.Handler, string) {
	b.Helper()
	r := chi.NewRouter()
	r.Use(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(coresite.WithUser(r.Context(), u)))
		})
	})
	r.Handle("/chat/*", s.mod)
	for prefix, h := range mounts {
		r.Mount(prefix, h)
	}
	hs := httptest.NewServer(r)
	b.Cleanup(hs.Close)
	return r, hs.URL
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
