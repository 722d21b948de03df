package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/internal/modbuild"
	"github.com/websonic/websonic/internal/pgtest"
	"github.com/websonic/websonic/runtime/internal/engine"
)

// scratch is this test binary's folder, which TestMain removes: the test
// modules it builds, and the compilation cache its sites share.
var scratch string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "websonic-server-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	scratch = dir
	code := pgtest.Run(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

// siteDataDir is a test site's Config.DataDir: the test's own folder, with
// the compilation cache shared by the test binary's sites (compiling the
// test modules anew for each would take seconds).
func siteDataDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	cache := filepath.Join(scratch, "cache")
	if err := os.MkdirAll(cache, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(cache, filepath.Join(dir, "cache")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// modulesDir builds hello and the hostile test module once per test binary
// into a package folder the server loads with ModulesDir.
var modulesDir = sync.OnceValues(func() (string, error) {
	dir := filepath.Join(scratch, "modules")
	for _, src := range []string{"../../examples/hello", "../internal/testmodules/hostile"} {
		if err := modbuild.Package(context.Background(), src, filepath.Join(dir, filepath.Base(src))); err != nil {
			return "", err
		}
	}
	return dir, nil
})

type testSite struct {
	*httptest.Server
	srv *Server
	db  *pgtest.DB
}

// testMetricsToken is the test sites' Config.MetricsToken.
const testMetricsToken = "test-metrics-token-0123456789"

// newSite starts a runtime on a fresh database with hello and hostile; each
// option may change its Config first.
func newSite(t testing.TB, options ...func(*Config)) *testSite {
	t.Helper()
	mods, err := modulesDir()
	if err != nil {
		t.Fatal(err)
	}
	return newSiteWith(t, mods, hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testLog{t}}), options...)
}

// newSiteWith starts a runtime on a fresh database with the module folders
// in mods (Config.ModulesDir), logging to log; each option may change its
// Config first.
// roomyLimits gives a test site's modules the production statement limit
// and a call limit above it, for tests whose legitimate statements (a MiB
// stored at once, a browser session's requests) can pass the default test
// site's 1 s when the full test run loads the machine; the 1 s stays for
// the tests that drive a hostile module into it.
func roomyLimits(c *Config) {
	c.StatementTimeout, c.Pool.CallTimeout = 5*time.Second, 10*time.Second
}

func newSiteWith(t testing.TB, mods string, log hclog.Logger, options ...func(*Config)) *testSite {
	t.Helper()
	db := pgtest.NewDB(t)
	cfg := Config{
		DataDir:          siteDataDir(t),
		DatabaseURL:      db.URL,
		ModulesDir:       mods,
		RolePrefix:       db.Prefix(),
		StatementTimeout: time.Second,
		MemoryLimitPages: 1024,
		Pool:             engine.PoolConfig{Size: 2, CallTimeout: 5 * time.Second},
		MetricsToken:     testMetricsToken,
		Logger:           log,
	}
	cfg.ApproveLocalModules = true // development's default; localapproval_test.go tests deny by default
	for _, o := range options {
		o(&cfg)
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
	return &testSite{Server: hs, srv: srv, db: db}
}

type testLog struct{ t testing.TB }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// client is a browser-like client: cookies, no redirects followed.
func (s *testSite) client(t testing.TB) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

func postForm(t testing.TB, c *http.Client, u string, form url.Values) *http.Response {
	t.Helper()
	resp, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
