package bench

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/internal/pgtest"
	"github.com/websonic/websonic/runtime/internal/engine"
	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/runtime/internal/realtime"
	coresite "github.com/websonic/websonic/runtime/internal/site"
	"github.com/websonic/websonic/runtime/server"
)

// moduleSite is a runtime serving one first-party module (chat, tickets),
// with what the module benchmarks measure it against. chatSite and
// ticketsSite embed it.
type moduleSite struct {
	// name is the module's name; its schema is mod_<name>.
	name string
	srv  *server.Server
	mod  *modhost.Module
	db   *pgtest.DB
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
	// members are the site's other users (siteMembers of them).
	members []int64
	// pub is a second hub on the site's database, never started: its
	// Service is realtime.publish, the host service the module's
	// sdk.Publish reaches, and its Publish appends to the events table
	// and notifies the site's hub, which fans out.
	pub *realtime.Hub
}

// newModuleSite starts a runtime on a fresh database with the module
// packaged in the folder dir (server.Config.ModulesDir) and the realtime
// limits lim, and adds siteMembers users.
func newModuleSite(b *testing.B, name, dir string, lim realtime.Limits) *moduleSite {
	return newModuleSiteIn(b, name, dir, scratch, lim)
}

// newModuleSiteIn is newModuleSite with the runtime's data folder dataDir.
func newModuleSiteIn(b *testing.B, name, dir, dataDir string, lim realtime.Limits) *moduleSite {
	b.Helper()
	ctx := context.Background()
	db := pgtest.NewDB(b)
	srv := openRuntime(b, db, dataDir, dir, lim)
	s := &moduleSite{name: name, srv: srv, db: db, URL: serveSite(b, srv)}
	if s.mod = srv.Module(name); s.mod == nil {
		b.Fatalf("the %s module is not running", name)
	}
	core := openCore(b, db)
	s.users = coresite.NewStore(core.Pool)
	var err error
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
		Modules: func() []realtime.Module { return []realtime.Module{srv.Module(name)} },
		Logger:  logger(),
	}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.pub.Close)
	s.members = s.addMembers(b, siteMembers)
	return s
}

// openRuntime starts a runtime on db with the data folder dataDir, the
// module packages in the folder dir (approved as they are) and the
// realtime limits lim; the caller closes it (serveSite does).
func openRuntime(b *testing.B, db *pgtest.DB, dataDir, dir string, lim realtime.Limits) *server.Server {
	b.Helper()
	size := instancesPerCore * runtime.GOMAXPROCS(0)
	srv, err := server.Open(context.Background(), server.Config{
		DataDir:             dataDir,
		DatabaseURL:         db.URL,
		ModulesDir:          dir,
		ApproveLocalModules: true,
		RolePrefix:          db.Prefix(),
		Pool:                engine.PoolConfig{Size: size, MinWarm: size},
		Logger:              logger(),
		Realtime:            lim,
	})
	if err != nil {
		b.Fatal(err)
	}
	return srv
}

// siteMembers is how many users the benchmarks' site has besides the
// ones they sign in: the employees of a company (50 in smoke runs). The
// chat joins its messages with the site's users, the desk its tickets'
// openers: the number matters.
const siteMembers = 2000

// addMembers adds n users to the site, straight into its users table as
// the superuser (the password hashing of CreateUser would take minutes;
// these users never sign in), and returns their ids.
func (s *moduleSite) addMembers(b *testing.B, n int) []int64 {
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
func (s *moduleSite) user(b *testing.B, name string, role coresite.Role) *coresite.User {
	b.Helper()
	u, err := s.users.CreateUser(context.Background(), coresite.NewUser{Username: name, Password: chatPassword, Role: role})
	if err != nil {
		b.Fatal(err)
	}
	return u
}

// signIn makes a user with role and returns an HTTP client signed in as
// them on the site (a cookie jar holding the session).
func (s *moduleSite) signIn(b *testing.B, name string, role coresite.Role) (*http.Client, *coresite.User) {
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
func (s *moduleSite) cookieHeader(b *testing.B, c *http.Client) string {
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

// router serves, as the user who (in the request's context, as the
// site's session middleware puts it), /<module>/* through the module and
// each of mounts' handlers under its prefix ("/native"…): the paired
// sides of the module benchmarks, on one chi router. It returns the router
// and its loopback URL.
func (s *moduleSite) router(b *testing.B, who func(*http.Request) *coresite.User, mounts map[string]http.Handler) (http.Handler, string) {
	b.Helper()
	r := chi.NewRouter()
	r.Use(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(coresite.WithUser(r.Context(), who(r))))
		})
	})
	r.Handle("/"+s.name+"/*", s.mod)
	for prefix, h := range mounts {
		r.Mount(prefix, h)
	}
	hs := httptest.NewServer(r)
	b.Cleanup(hs.Close)
	return r, hs.URL
}

// requireIndex fails unless the module's schema has the index name (made
// by the module's own migrations: the benchmark makes none).
func (s *moduleSite) requireIndex(b *testing.B, name string) {
	b.Helper()
	var ok bool
	if err := s.super.QueryRow(context.Background(),
		`SELECT EXISTS (SELECT 1 FROM pg_indexes WHERE schemaname = $1 AND indexname = $2)`, "mod_"+s.name, name).Scan(&ok); err != nil {
		b.Fatal(err)
	}
	if !ok {
		b.Fatalf("the %s module's migrations made no index mod_%s.%s", s.name, s.name, name)
	}
}
