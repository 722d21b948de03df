package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/sigstore/sigstore/pkg/signature"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/websonic/websonic/internal/ocipkg"
	"github.com/websonic/websonic/internal/pgtest"
	"github.com/websonic/websonic/internal/publish"
	"github.com/websonic/websonic/internal/signing/signingtest"
	"github.com/websonic/websonic/internal/tufrepo"
	"github.com/websonic/websonic/internal/watch"
	"github.com/websonic/websonic/registry/internal/publishers"
	"github.com/websonic/websonic/registry/server"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// env is a registry served over HTTP, an admin and a publisher.
type env struct {
	t        *testing.T
	db       *pgtest.DB
	dataDir  string
	online   tufrepo.Keys
	offline  tufrepo.Keys
	shift    atomic.Int64 // registry clock offset, ns
	reg      *server.Server
	srv      *httptest.Server
	admin    *publish.Publisher
	root     []byte
	tokens   map[string]string // scope name -> token
	packages string
	config   func(*server.Config) // changes the test's defaults; nil for none
}

func newEnv(t *testing.T) *env { return newEnvWith(t, nil) }

// newEnvWith is newEnv with config applied to the registry's Config.
func newEnvWith(t *testing.T, config func(*server.Config)) *env {
	t.Helper()
	e := &env{config: config,
		t: t, db: pgtest.NewDB(t), dataDir: t.TempDir(), tokens: map[string]string{}, packages: t.TempDir(),
		online:  tufrepo.Keys{Snapshot: tufrepo.Role{Signers: []signature.Signer{signingtest.NewSigner(t)}}, Timestamp: tufrepo.Role{Signers: []signature.Signer{signingtest.NewSigner(t)}}},
		offline: tufrepo.Keys{Root: tufrepo.Role{Signers: []signature.Signer{signingtest.NewSigner(t)}}, Targets: tufrepo.Role{Signers: []signature.Signer{signingtest.NewSigner(t)}}},
	}
	// One handler whose registry can be replaced (restart) behind a fixed URL.
	var cur atomic.Pointer[server.Server]
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { cur.Load().Handler().ServeHTTP(w, r) }))
	t.Cleanup(e.srv.Close)
	e.start(&cur)
	for name, spec := range map[string]publishers.TokenSpec{
		"admin": {Publisher: "websonic", Modules: []string{"*"}, Admin: true},
		"blog":  {Publisher: "blog-team", Modules: []string{"blog"}},
		"chat":  {Publisher: "chat-team", Modules: []string{"chat"}},
	} {
		tok, _, err := e.reg.Publishers().CreateToken(context.Background(), spec)
		if err != nil {
			t.Fatal(err)
		}
		e.tokens[name] = tok
	}
	e.admin = e.publisher("admin")
	root, err := e.admin.Init(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	e.root = root
	return e
}

func (e *env) start(cur *atomic.Pointer[server.Server]) {
	e.t.Helper()
	cfg := server.Config{
		DataDir: e.dataDir, DatabaseURL: e.db.URL, OnlineKeys: e.online, RenewEvery: time.Hour,
		PublicURL: e.srv.URL, // the login realm: where the test serves it
		Now:       func() time.Time { return time.Now().Add(time.Duration(e.shift.Load())) },
		Logger:    hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: os.Stderr}),
	}
	if e.config != nil {
		e.config(&cfg)
	}
	reg, err := server.Open(context.Background(), cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { reg.Close(context.Background()) })
	e.reg = reg
	cur.Store(reg)
}

func (e *env) publisher(token string) *publish.Publisher {
	return &publish.Publisher{
		Registry: e.srv.URL, Token: e.tokens[token], Keys: e.offline, Root: e.root, CacheDir: e.t.TempDir(),
	}
}

// pkg writes a module package folder. The wasm is a bare module header:
// the registry stores and signs bytes, it never runs them.
func (e *env) pkg(name, version string) string {
	e.t.Helper()
	dir := filepath.Join(e.packages, name+"-"+version)
	if err := os.MkdirAll(filepath.Join(dir, "migrations"), 0o755); err != nil {
		e.t.Fatal(err)
	}
	files := map[string]string{
		"module.json": fmt.Sprintf(`{"manifest_version":1,"name":%q,"version":%q,"abi_version":1,
			"capabilities":{"routes":[{"path":"/%s","access":"public"}]},"migrations":["migrations/001_t.sql"]}`, name, version, name),
		"module.wasm":          "\x00asm\x01\x00\x00\x00" + version,
		"migrations/001_t.sql": "CREATE TABLE t (id int);",
	}
	for p, body := range files {
		if err := os.WriteFile(filepath.Join(dir, p), []byte(body), 0o644); err != nil {
			e.t.Fatal(err)
		}
	}
	return dir
}

func (e *env) client() *tufrepo.Client {
	e.t.Helper()
	c, err := tufrepo.NewClient(tufrepo.ClientConfig{MetadataURL: e.srv.URL + "/v1/tuf", Root: e.root, Dir: e.t.TempDir()})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *env) get(path string, hdr ...string) *http.Response {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestPublishAndPull(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rel, err := e.publisher("blog").Publish(ctx, e.pkg("blog", "1.0.0"), tufrepo.ChannelStable)
	if err != nil {
		t.Fatal(err)
	}
	// A runtime's verified client sees it, downloads the signed target and
	// pulls the package by the signed digest with oras-go.
	c := e.client()
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	latest, err := c.Latest("blog", tufrepo.ChannelStable)
	if err != nil {
		t.Fatal(err)
	}
	if latest.Version != "1.0.0" || latest.ManifestDigest != rel.ManifestDigest || string(latest.Capabilities) == "{}" {
		t.Fatalf("latest = %+v", latest)
	}
	target, _, err := c.Download(ctx, "blog", "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(e.srv.URL)
	repo, err := remote.NewRepository(u.Host + "/modules/blog")
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	desc, err := repo.Resolve(ctx, latest.ManifestDigest)
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := content.FetchAll(ctx, repo, desc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(manifest, target) {
		t.Fatal("the TUF target is not the OCI manifest")
	}
	files, err := ocipkg.FetchFrom(ctx, repo, latest.ManifestDigest)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(files["module.wasm"]), "1.0.0") || string(files["migrations/001_t.sql"]) == "" {
		t.Fatalf("pulled files: %v", files)
	}
	// Every publish is audited.
	log, err := e.reg.Publishers().AuditLog(ctx, 50)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"token.create": false, "root.update": false, "manifest.push": false, "module.publish": false}
	for _, en := range log {
		if _, ok := want[en.Action]; ok {
			want[en.Action] = true
		}
		if en.Action == "module.publish" && (en.Subject != "blog@1.0.0" || en.Publisher != "blog-team") {
			t.Errorf("publish audited as %+v", en)
		}
	}
	for a, seen := range want {
		if !seen {
			t.Errorf("no %s in the audit log", a)
		}
	}
}

func TestPublishRefused(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.publisher("blog").Publish(ctx, e.pkg("blog", "1.0.0"), tufrepo.ChannelStable); err != nil {
		t.Fatal(err)
	}
	noToken := e.publisher("blog")
	noToken.Token = "wsp_nottoken"
	tests := []struct {
		name string
		do   func() error
		want string
	}{
		{"a token for another module", func() error {
			_, err := e.publisher("chat").Publish(ctx, e.pkg("blog", "1.0.1"), tufrepo.ChannelStable)
			return err
		}, "denied"},
		{"an unknown token", func() error {
			_, err := noToken.Publish(ctx, e.pkg("blog", "1.0.2"), tufrepo.ChannelStable)
			return err
		}, "401"},
		{"signed by an unknown targets key", func() error {
			return putTargets(t, e, "blog", resignTargets(t, e, signingtest.NewSigner(t)))
		}, "not signed by a threshold"},
		{"an older targets replayed", func() error {
			return putTargets(t, e, "blog", e.reg.TUF().Repo().State().Targets)
		}, "want"},
		{"a version already published", func() error {
			_, err := e.publisher("blog").Publish(ctx, e.pkg("blog", "1.0.0"), tufrepo.ChannelStable)
			return err
		}, "already exists"},
		{"revoking another publisher's module", func() error {
			return e.publisher("chat").Revoke(ctx, "blog", "1.0.0")
		}, "may not publish or revoke blog"},
		{"a root update without an admin token", func() error {
			_, err := e.publisher("blog").Rotate(ctx, tufrepo.Keys{Root: tufrepo.Role{Signers: []signature.Signer{signingtest.NewSigner(t)}}, Targets: e.offline.Targets})
			return err
		}, "admin token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.reg.TUF().TimestampVersion()
			err := tt.do()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
			if after := e.reg.TUF().TimestampVersion(); after != before {
				t.Fatalf("timestamp moved %d -> %d on a refused change", before, after)
			}
		})
	}
	// The artifact must be stored before its release is signed.
	p := e.publisher("blog")
	rawTargets := signUnpushed(t, e, p)
	req, _ := http.NewRequest(http.MethodPut, e.srv.URL+"/v1/tuf/targets.json", bytes.NewReader(rawTargets))
	req.Header.Set("Authorization", "Bearer "+e.tokens["blog"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "push its artifact") {
		t.Fatalf("release of an unpushed artifact: %s %s", resp.Status, body)
	}
}

// signUnpushed signs a release whose artifact was never pushed.
func signUnpushed(t *testing.T, e *env, _ *publish.Publisher) []byte {
	t.Helper()
	artifact := []byte(`{"schemaVersion":2,"never":"pushed"}`)
	return signRelease(t, e, tufrepo.Release{Module: "blog", Version: "9.0.0", ABIVersion: 1, Channel: tufrepo.ChannelStable,
		ManifestDigest: digest(artifact)}, artifact)
}

func TestMetadataConditionalGet(t *testing.T) {
	e := newEnv(t)
	first := e.get("/v1/tuf/timestamp.json")
	etag := first.Header.Get("ETag")
	if first.StatusCode != http.StatusOK || etag == "" || first.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("timestamp.json: %s etag=%q cache=%q", first.Status, etag, first.Header.Get("Cache-Control"))
	}
	if again := e.get("/v1/tuf/timestamp.json", "If-None-Match", etag); again.StatusCode != http.StatusNotModified {
		t.Fatalf("unchanged timestamp with If-None-Match: %s, want 304", again.Status)
	}
	if _, err := e.publisher("blog").Publish(context.Background(), e.pkg("blog", "1.0.0"), tufrepo.ChannelStable); err != nil {
		t.Fatal(err)
	}
	if after := e.get("/v1/tuf/timestamp.json", "If-None-Match", etag); after.StatusCode != http.StatusOK {
		t.Fatalf("new timestamp with the old ETag: %s, want 200", after.Status)
	}
	for _, p := range []string{"/v1/tuf/../secret", "/v1/tuf/0.root.json", "/v1/tuf/passwd", "/v1/tuf/targets/modules/blog/0.0.1"} {
		if r := e.get(p); r.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %s, want 404", p, r.Status)
		}
	}
	if r := e.get("/v1/tuf/1.root.json"); r.StatusCode != http.StatusOK || !strings.Contains(r.Header.Get("Cache-Control"), "immutable") {
		t.Errorf("1.root.json: %s %q", r.Status, r.Header.Get("Cache-Control"))
	}
}

func TestWatchNotifiesPublish(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan int64, 16)
	go watch.Subscribe(ctx, watch.ClientConfig{URL: e.srv.URL + "/v1/watch"}, func(v int64) { got <- v })
	first := <-got
	if first != e.reg.TUF().TimestampVersion() {
		t.Fatalf("first notice %d, want the current timestamp %d", first, e.reg.TUF().TimestampVersion())
	}
	if _, err := e.publisher("blog").Publish(ctx, e.pkg("blog", "1.0.0"), tufrepo.ChannelStable); err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-got:
		if v != e.reg.TUF().TimestampVersion() {
			t.Fatalf("notice %d, want %d", v, e.reg.TUF().TimestampVersion())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no notice of the publish")
	}
}

func TestRestartKeepsState(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.publisher("blog").Publish(ctx, e.pkg("blog", "1.0.0"), tufrepo.ChannelStable); err != nil {
		t.Fatal(err)
	}
	before := e.get("/v1/tuf/timestamp.json").Header.Get("ETag")
	var cur atomic.Pointer[server.Server]
	e.reg.Close(ctx)
	e.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { cur.Load().Handler().ServeHTTP(w, r) })
	e.start(&cur)
	if after := e.get("/v1/tuf/timestamp.json").Header.Get("ETag"); after != before {
		t.Fatal("the restarted registry serves a different timestamp")
	}
	if _, err := e.publisher("blog").Publish(ctx, e.pkg("blog", "1.1.0"), tufrepo.ChannelStable); err != nil {
		t.Fatal(err)
	}
	c := e.client()
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if l, err := c.Latest("blog", tufrepo.ChannelStable); err != nil || l.Version != "1.1.0" {
		t.Fatalf("latest after restart = %v, %v", l, err)
	}
	// A registry holding other online keys refuses to serve this root.
	foreign := tufrepo.Keys{Snapshot: tufrepo.Role{Signers: []signature.Signer{signingtest.NewSigner(t)}}, Timestamp: e.online.Timestamp}
	_, err := server.Open(ctx, server.Config{DataDir: e.dataDir, DatabaseURL: e.db.URL, OnlineKeys: foreign})
	if err == nil || !strings.Contains(err.Error(), "does not list this registry's snapshot key") {
		t.Fatalf("Open with foreign online keys = %v", err)
	}
}

func TestRenewAndRotate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.client()
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	// Two days later the timestamp (1 day) has expired: the registry's
	// timer re-signs it and clients go on.
	e.shift.Store(int64(48 * time.Hour))
	v := e.reg.TUF().TimestampVersion()
	if err := e.reg.TUF().Renew(ctx); err != nil {
		t.Fatal(err)
	}
	if e.reg.TUF().TimestampVersion() == v {
		t.Fatal("Renew did not re-sign an expired timestamp")
	}
	e.shift.Store(0)

	next := tufrepo.Keys{Root: tufrepo.Role{Signers: []signature.Signer{signingtest.NewSigner(t)}}, Targets: tufrepo.Role{Signers: []signature.Signer{signingtest.NewSigner(t)}}}
	admin := e.publisher("admin")
	if _, err := admin.Publish(ctx, e.pkg("blog", "1.0.0"), tufrepo.ChannelStable); err != nil {
		t.Fatal(err)
	}
	newRoot, err := admin.Rotate(ctx, next)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if c.RootVersion() != 2 {
		t.Fatalf("client root version %d after rotation", c.RootVersion())
	}
	// The old targets key is out; the new one publishes.
	old := e.publisher("blog")
	old.Root = newRoot
	if _, err := old.Publish(ctx, e.pkg("blog", "1.1.0"), tufrepo.ChannelStable); !errors.Is(err, tufrepo.ErrKeys) {
		t.Fatalf("publish with the rotated-out key = %v, want ErrKeys", err)
	}
	if err := putTargets(t, e, "blog", resignTargets(t, e, e.offline.Targets.Signers[0])); err == nil || !strings.Contains(err.Error(), "not signed by a threshold") {
		t.Fatalf("targets signed by the rotated-out key = %v", err)
	}
	fresh := e.publisher("blog")
	fresh.Root, fresh.Keys = newRoot, next
	if _, err := fresh.Publish(ctx, e.pkg("blog", "1.2.0"), tufrepo.ChannelStable); err != nil {
		t.Fatal(err)
	}
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if l, err := c.Latest("blog", tufrepo.ChannelStable); err != nil || l.Version != "1.2.0" {
		t.Fatalf("latest after rotation = %v, %v", l, err)
	}
}

// TestPrivatePulls: with PrivatePulls a blob needs a valid token; TUF
// metadata stays public (it is signed and says nothing secret).
func TestPrivatePulls(t *testing.T) {
	e := newEnvWith(t, func(c *server.Config) { c.PrivatePulls = true })
	rel, err := e.publisher("blog").Publish(context.Background(), e.pkg("blog", "1.0.0"), tufrepo.ChannelStable)
	if err != nil {
		t.Fatal(err)
	}
	path := "/v2/modules/blog/manifests/" + rel.ManifestDigest
	if r := e.get(path); r.StatusCode != http.StatusUnauthorized || !strings.Contains(r.Header.Get("WWW-Authenticate"), "/v1/token") {
		t.Fatalf("anonymous pull: %s %q", r.Status, r.Header.Get("WWW-Authenticate"))
	}
	if r := e.get(path, "Authorization", "Bearer wsp_forged"); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("pull with a forged token: %s", r.Status)
	}
	if r := e.get(path, "Authorization", "Bearer "+e.tokens["chat"]); r.StatusCode != http.StatusOK {
		t.Fatalf("pull with a valid token: %s", r.Status)
	}
	if r := e.get("/v1/tuf/timestamp.json"); r.StatusCode != http.StatusOK {
		t.Fatalf("timestamp with private pulls: %s", r.Status)
	}
}

// TestReleaseMustMatchItsPackage: a release signed with capabilities other
// than its stored package's (say, to slip a bigger grant past owners, or
// megabytes of padding to freeze every client) is refused.
func TestReleaseMustMatchItsPackage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	repo := remoteRepo(t, e, "modules/blog", "blog")
	desc, err := ocipkg.PackTo(ctx, e.pkg("blog", "1.0.0"), repo)
	if err != nil {
		t.Fatal(err)
	}
	artifact, err := content.FetchAll(ctx, repo, desc)
	if err != nil {
		t.Fatal(err)
	}
	c := e.client()
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := c.State()
	if err != nil {
		t.Fatal(err)
	}
	for name, caps := range map[string]string{
		"more capabilities than the package": `{"routes":[{"path":"/blog","access":"public"}],"core_data":["user_emails"]}`,
		"padding":                            `{"routes":[{"path":"/blog","access":"public"}],"x":"` + strings.Repeat("x", 60_000) + `"}`,
	} {
		t.Run(name, func(t *testing.T) {
			pub, err := tufrepo.Load(st, e.offline, tufrepo.Config{})
			if err != nil {
				t.Fatal(err)
			}
			if err := pub.AddRelease(tufrepo.Release{Module: "blog", Version: "1.0.0", ABIVersion: 1, Channel: tufrepo.ChannelStable,
				Capabilities: json.RawMessage(caps), ManifestDigest: desc.Digest.String()}, artifact); err != nil {
				t.Fatal(err)
			}
			raw, err := pub.SignTargets()
			if err != nil {
				t.Fatal(err)
			}
			if err := putTargets(t, e, "blog", raw); err == nil || !strings.Contains(err.Error(), "capabilities differ") {
				t.Fatalf("PUT targets = %v, want a refusal naming the capabilities", err)
			}
		})
	}
}
