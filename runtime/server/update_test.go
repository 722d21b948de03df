package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/websonic/websonic/internal/pgtest"
	"github.com/websonic/websonic/internal/publish"
	"github.com/websonic/websonic/internal/signing/signingtest"
	"github.com/websonic/websonic/internal/tufrepo"
	registry "github.com/websonic/websonic/registry/server"
	"github.com/websonic/websonic/runtime/internal/engine"
	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/runtime/internal/updater"
)

// updateEnv is a registry, a publisher, an attacker's proxy in front of
// the registry, and a runtime that installs through the proxy.
type updateEnv struct {
	t       *testing.T
	reg     *registry.Server
	regSrv  *httptest.Server
	proxy   *httptest.Server
	tamper  atomic.Pointer[func(w http.ResponseWriter, r *http.Request, next http.Handler) bool]
	online  tufrepo.Keys
	pub     *publish.Publisher
	root    []byte
	pkgs    string
	site    *testSite
	dataDir string
	siteDB  *pgtest.DB
	limits  updater.Limits // the runtime's, from the next start
}

func newUpdateEnv(t *testing.T) *updateEnv {
	t.Helper()
	ctx := context.Background()
	e := &updateEnv{t: t, pkgs: t.TempDir(), dataDir: siteDataDir(t)} // the shared compilation cache: chat and tickets compile once per test binary
	e.online = tufrepo.Keys{
		Snapshot:  tufrepo.Role{Signers: []signature.Signer{signingtest.NewSigner(t)}},
		Timestamp: tufrepo.Role{Signers: []signature.Signer{signingtest.NewSigner(t)}},
	}
	reg, err := registry.Open(ctx, registry.Config{
		DataDir: t.TempDir(), DatabaseURL: pgtest.NewDB(t).URL, OnlineKeys: e.online, RenewEvery: time.Hour,
		Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testLog{t}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.reg = reg
	e.regSrv = httptest.NewServer(reg.Handler())
	t.Cleanup(func() { e.regSrv.Close(); reg.Close(ctx) })
	target, _ := url.Parse(e.regSrv.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.FlushInterval = -1 // the watch stream
	e.proxy = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f := e.tamper.Load(); f != nil && (*f)(w, r, rp) {
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(e.proxy.Close)

	admin, _, err := reg.Publishers().CreateToken(ctx, registry.TokenSpec{Publisher: "websonic", Modules: []string{"*"}, Admin: true})
	if err != nil {
		t.Fatal(err)
	}
	e.pub = &publish.Publisher{
		Registry: e.regSrv.URL, Token: admin, CacheDir: t.TempDir(),
		Keys: tufrepo.Keys{Root: tufrepo.Role{Signers: []signature.Signer{signingtest.NewSigner(t)}}, Targets: tufrepo.Role{Signers: []signature.Signer{signingtest.NewSigner(t)}}},
	}
	if e.root, err = e.pub.Init(ctx); err != nil {
		t.Fatal(err)
	}
	e.pub.Root = e.root
	e.siteDB = pgtest.NewDB(t)
	e.start()
	return e
}

// start (re)starts the runtime on the env's database and data dir.
func (e *updateEnv) start() {
	e.t.Helper()
	srv, err := Open(context.Background(), Config{
		DataDir: e.dataDir, DatabaseURL: e.siteDB.URL, RolePrefix: e.siteDB.Prefix(),
		Registry: e.proxy.URL, TrustedRoot: e.root, UpdateInterval: time.Hour, PlainLoopbackRegistry: true, UpdateLimits: e.limits,
		StatementTimeout: time.Second, MemoryLimitPages: 1024,
		Pool:   engine.PoolConfig{Size: 2, CallTimeout: 5 * time.Second},
		Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testLog{e.t}}),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	e.t.Cleanup(func() { hs.Close(); srv.Close(context.Background()) })
	e.site = &testSite{Server: hs, srv: srv, db: e.siteDB}
}

// publishVersion publishes the versioned module as version v.
func (e *updateEnv) publishVersion(v string, variants ...variant) {
	e.t.Helper()
	p := versioned(e.t, v, variants...)
	dir := filepath.Join(e.pkgs, v)
	writePackage(e.t, dir, p)
	if _, err := e.pub.Publish(context.Background(), dir, tufrepo.ChannelStable); err != nil {
		e.t.Fatal(err)
	}
}

// withDistinctWasm gives a version wasm bytes of its own (a custom
// section), so that its download cannot be skipped as already stored.
func withDistinctWasm(tag string) variant {
	return func(p *modhost.Package) {
		payload := append([]byte{byte(len("websonic.test"))}, "websonic.test"+tag...)
		p.Wasm = append(append(bytes.Clone(p.Wasm), 0x00, byte(len(payload))), payload...)
	}
}

func writePackage(t testing.TB, dir string, p *modhost.Package) {
	t.Helper()
	mf, err := json.Marshal(p.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"module.json": mf, "module.wasm": p.Wasm}
	for name, sql := range p.Migrations {
		files[name] = sql
	}
	for name, b := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func (e *updateEnv) updater() *updater.Updater { return e.site.srv.Updater() }

// lastEvent is the newest update event's outcome and reason.
func (e *updateEnv) lastEvent() updater.Event {
	e.t.Helper()
	evs, err := e.updater().Events(context.Background(), 1)
	if err != nil || len(evs) == 0 {
		e.t.Fatalf("events: %v %v", evs, err)
	}
	return evs[0]
}

func TestInstallAndUpdateFromRegistry(t *testing.T) {
	e := newUpdateEnv(t)
	ctx := context.Background()
	e.publishVersion("1.0.0")
	if _, err := e.updater().Install(ctx, "versioned", "", tufrepo.ChannelStable, updater.PolicyAuto); err != nil {
		t.Fatal(err)
	}
	e.site.wantServing(t, "1.0.0")

	// A publish reaches the runtime through the watch stream and the
	// update installs itself.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go e.updater().Run(runCtx)
	e.publishVersion("1.1.0", withMigrations(migNotes), withNotes)
	waitFor(t, func() bool {
		_, b := get(t, http.DefaultClient, e.site.URL+"/versioned")
		return b == "versioned 1.1.0"
	})
	cancel()

	ins, err := e.updater().List(ctx)
	if err != nil || len(ins) != 1 || ins[0].Version != "1.1.0" || ins[0].PreviousVersion != "1.0.0" {
		t.Fatalf("installed = %+v, %v", ins, err)
	}
	// Rollback, from disk, even with the registry gone.
	e.regSrv.Close()
	if _, err := e.updater().Rollback(ctx, "versioned"); err != nil {
		t.Fatal(err)
	}
	e.site.wantServing(t, "1.0.0")
	if ev := e.lastEvent(); ev.Outcome != "rolled_back" {
		t.Fatalf("last event %+v", ev)
	}
	// A restart serves what was recorded, from disk.
	e.site.srv.Close(ctx)
	e.start()
	e.site.wantServing(t, "1.0.0")
}

// TestUpdateAttacks publishes a release while 1.0.0 serves, and lets the
// proxy in front of the registry attack the update. Each attack is refused
// with a clear error, 1.0.0 keeps serving and stays recorded.
func TestUpdateAttacks(t *testing.T) {
	e := newUpdateEnv(t)
	ctx := context.Background()
	e.publishVersion("1.0.0")
	if _, err := e.updater().Install(ctx, "versioned", "", tufrepo.ChannelStable, updater.PolicyAuto); err != nil {
		t.Fatal(err)
	}
	oldMeta := e.metaFiles()
	e.publishVersion("1.1.0", withDistinctWasm("1.1.0"))
	manifestDigest, manifestBody, wasmDigest := e.artifact("1.1.0")

	// Attacks on the artifact: 1.1.0's metadata is genuine.
	artifactAttacks := []struct {
		name, path string
		with       func(w http.ResponseWriter)
		want       string
	}{
		{"tampered blob", "/v2/modules/versioned/blobs/" + wasmDigest, func(w http.ResponseWriter) {
			w.Write(flip(e.blob(wasmDigest)))
		}, "mismatched digest"},
		{"tampered manifest", "/v2/modules/versioned/manifests/" + manifestDigest, func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			w.Write(flip(manifestBody))
		}, "mismatched digest"},
		{"tampered TUF target", "/v1/tuf/targets/modules/versioned/1.1.0", func(w http.ResponseWriter) {
			w.Write(flip(manifestBody))
		}, "length or digest mismatch"},
		{"truncated download", "/v2/modules/versioned/blobs/" + wasmDigest, func(w http.ResponseWriter) {
			w.Header().Set("Content-Length", "100")
			w.Write(e.blob(wasmDigest)[:100])
		}, "download"},
		{"blob longer than its declared length", "/v2/modules/versioned/blobs/" + wasmDigest, func(w http.ResponseWriter) {
			w.Write(append(e.blob(wasmDigest), "more"...))
		}, "download"},
		{"truncated TUF target", "/v1/tuf/targets/modules/versioned/1.1.0", func(w http.ResponseWriter) {
			w.Write(manifestBody[:len(manifestBody)/2])
		}, "length or digest mismatch"},
	}
	for _, tt := range artifactAttacks {
		t.Run(tt.name, func(t *testing.T) {
			e.attack(t, tt.path, func(w http.ResponseWriter) { tt.with(w) }, tt.want)
		})
	}

	// A revoked release is refused, explicitly and automatically.
	if err := e.pub.Revoke(ctx, "versioned", "1.1.0"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.updater().Install(ctx, "versioned", "1.1.0", tufrepo.ChannelStable, updater.PolicyAuto); !errors.Is(err, tufrepo.ErrRevoked) {
		t.Fatalf("Install of a revoked release = %v", err)
	}
	if err := e.updater().Check(ctx); err != nil {
		t.Fatal(err)
	}
	e.site.wantServing(t, "1.0.0")

	// Attacks on the metadata. Each publishes a release first, so that the
	// runtime must fetch new metadata, and serves it old, forged or expired.
	serve := func(b []byte) func(w http.ResponseWriter) { return func(w http.ResponseWriter) { w.Write(b) } }
	resignTimestamp := func(edit func(*metadata.Metadata[metadata.TimestampType]), signer signature.Signer) []byte {
		m, err := metadata.Timestamp().FromBytes(e.metaFiles()["timestamp.json"])
		if err != nil {
			t.Fatal(err)
		}
		edit(m)
		m.ClearSignatures()
		if _, err := m.Sign(signer); err != nil {
			t.Fatal(err)
		}
		b, _ := m.ToBytes(false)
		return b
	}
	metadataAttacks := []struct {
		name, path string
		attack     func(before map[string][]byte) func(w http.ResponseWriter)
		want       string
	}{
		{"timestamp signed by an unknown key", "/v1/tuf/timestamp.json", func(map[string][]byte) func(http.ResponseWriter) {
			return serve(resignTimestamp(func(m *metadata.Metadata[metadata.TimestampType]) { m.Signed.Version++ }, signingtest.NewSigner(t)))
		}, "not signed by trusted keys"},
		{"replayed older timestamp", "/v1/tuf/timestamp.json", func(map[string][]byte) func(http.ResponseWriter) {
			return serve(oldMeta["timestamp.json"])
		}, "rollback"},
		{"replayed older snapshot", "/v1/tuf/snapshot.json", func(before map[string][]byte) func(http.ResponseWriter) {
			return serve(before["snapshot.json"])
		}, "rollback"},
		// The snapshot pins targets.json by length and hash, so a replayed
		// one is refused before its version is even compared.
		{"an older version served as the latest (replayed targets)", "/v1/tuf/targets.json", func(before map[string][]byte) func(http.ResponseWriter) {
			return serve(before["targets.json"])
		}, "length or digest mismatch"},
		{"expired timestamp", "/v1/tuf/timestamp.json", func(map[string][]byte) func(http.ResponseWriter) {
			return serve(resignTimestamp(func(m *metadata.Metadata[metadata.TimestampType]) {
				m.Signed.Version += 100
				m.Signed.Expires = time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
			}, e.online.Timestamp.Signers[0]))
		}, "expired"},
	}
	for i, tt := range metadataAttacks {
		t.Run(tt.name, func(t *testing.T) {
			before := e.metaFiles()
			e.publishVersion(fmt.Sprintf("1.2.%d", i))
			e.attack(t, tt.path, tt.attack(before), tt.want)
		})
	}
	// Every refusal was recorded for the owner.
	evs, err := e.updater().Events(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	outcomes := map[string]int{}
	for _, ev := range evs {
		outcomes[ev.Outcome]++
	}
	if outcomes["failed"] < len(artifactAttacks) || outcomes["alert"] < len(metadataAttacks) {
		t.Fatalf("recorded outcomes %v", outcomes)
	}
	// With nothing tampered, the newest release installs.
	if err := e.updater().Check(ctx); err != nil {
		t.Fatal(err)
	}
	e.site.wantServing(t, fmt.Sprintf("1.2.%d", len(metadataAttacks)-1))
}

// attack serves with in place of the registry's answer to GET path while
// the runtime checks for updates, and wants the check refused with an
// error containing want and 1.0.0 still serving and recorded.
func (e *updateEnv) attack(t *testing.T, path string, with func(http.ResponseWriter), want string) {
	t.Helper()
	hit := atomic.Bool{}
	f := func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
		if r.Method != http.MethodGet || r.URL.Path != path {
			return false
		}
		hit.Store(true)
		with(w)
		return true
	}
	e.tamper.Store(&f)
	defer e.tamper.Store(nil)
	err := e.updater().Check(context.Background())
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Check = %v, want an error containing %q", err, want)
	}
	if !hit.Load() {
		t.Fatalf("the runtime never requested %s", path)
	}
	e.site.wantServing(t, "1.0.0")
	if ins, _ := e.updater().List(context.Background()); ins[0].Version != "1.0.0" {
		t.Fatalf("recorded version %s", ins[0].Version)
	}
}

// artifact returns a release's manifest digest and bytes and its wasm
// blob's digest.
func (e *updateEnv) artifact(version string) (manifestDigest string, manifestBody []byte, wasmDigest string) {
	e.t.Helper()
	for _, rel := range e.reg.TUF().Repo().Releases() {
		if rel.Version == version {
			manifestDigest = rel.ManifestDigest
		}
	}
	_, manifestBody, err := getBody(e.regSrv.URL + "/v2/modules/versioned/manifests/" + manifestDigest)
	if err != nil {
		e.t.Fatal(err)
	}
	var im struct {
		Layers []struct {
			MediaType string `json:"mediaType"`
			Digest    string `json:"digest"`
		} `json:"layers"`
	}
	if err := json.Unmarshal(manifestBody, &im); err != nil {
		e.t.Fatal(err)
	}
	for _, l := range im.Layers {
		if l.MediaType == "application/wasm" {
			wasmDigest = l.Digest
		}
	}
	return manifestDigest, manifestBody, wasmDigest
}

// metaFiles snapshots the registry's TUF metadata.
func (e *updateEnv) metaFiles() map[string][]byte {
	e.t.Helper()
	out := map[string][]byte{}
	for _, name := range []string{"timestamp.json", "snapshot.json", "targets.json"} {
		_, b, err := getBody(e.regSrv.URL + "/v1/tuf/" + name)
		if err != nil {
			e.t.Fatal(err)
		}
		out[name] = b
	}
	return out
}

func (e *updateEnv) blob(d string) []byte {
	_, b, err := getBody(e.regSrv.URL + "/v2/modules/versioned/blobs/" + d)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

func getBody(u string) (int, []byte, error) {
	resp, err := http.Get(u)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func flip(b []byte) []byte {
	out := bytes.Clone(b)
	out[len(out)/2] ^= 0xff
	return out
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 60s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestUpdatesUnderLoad streams requests into the module while the updater
// installs 10 releases from the registry and rolls back once: every
// version answers requests before the next comes (so the load runs across
// every switch), no request fails, and every answer comes from a version
// that was serving.
func TestUpdatesUnderLoad(t *testing.T) {
	e := newUpdateEnv(t)
	ctx := context.Background()
	e.publishVersion("1.0.0")
	if _, err := e.updater().Install(ctx, "versioned", "", tufrepo.ChannelStable, updater.PolicyAuto); err != nil {
		t.Fatal(err)
	}
	var (
		stop     atomic.Bool
		wg       sync.WaitGroup
		failures atomic.Int64
		mu       sync.Mutex
		seen     = map[string]int{}
		answered = make(chan struct{}) // closed and replaced at each answer, under mu
		requests atomic.Int64
	)
	t.Cleanup(func() { stop.Store(true); wg.Wait() }) // also when the test fails early
	// waitAnswers waits until version v has answered more than n requests.
	waitAnswers := func(v string, n int) {
		t.Helper()
		patience := time.After(time.Minute) // a hang detector, not a timing check
		for {
			mu.Lock()
			got, ch := seen["versioned "+v], answered
			mu.Unlock()
			if got > n {
				return
			}
			select {
			case <-ch:
			case <-patience:
				t.Fatalf("%s answered %d requests, want more than %d: did the load stop?", v, got, n)
			}
		}
	}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 30 * time.Second}
			for !stop.Load() {
				resp, err := c.Get(e.site.URL + "/versioned")
				if err != nil {
					failures.Add(1)
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				requests.Add(1)
				if resp.StatusCode != http.StatusOK {
					failures.Add(1)
					t.Errorf("status %d: %s", resp.StatusCode, b)
					continue
				}
				mu.Lock()
				seen[string(b)]++
				close(answered)
				answered = make(chan struct{})
				mu.Unlock()
			}
		}()
	}
	versions := []string{"1.0.0"}
	for i := 1; i <= 10; i++ {
		v := fmt.Sprintf("1.%d.0", i)
		e.publishVersion(v)
		if err := e.updater().Check(ctx); err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
		waitAnswers(v, 0) // the load goes on across every switch
	}
	mu.Lock()
	before := seen["versioned 1.9.0"]
	mu.Unlock()
	if _, err := e.updater().Rollback(ctx, "versioned"); err != nil {
		t.Fatal(err)
	}
	waitAnswers("1.9.0", before+4) // and after the rollback
	stop.Store(true)
	wg.Wait()
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d of %d requests failed", n, requests.Load())
	}
	for body := range seen {
		v := strings.TrimPrefix(body, "versioned ")
		if !slices.Contains(versions, v) {
			t.Errorf("answer %q from no published version", body)
		}
	}
	e.site.wantServing(t, "1.9.0")
	t.Logf("%d requests, answers by version: %v", requests.Load(), seen)
}

// TestRestartMidUpdate stops the registry, then the runtime, in the middle
// of updates: each time the old version or the new one serves, whole.
func TestRestartMidUpdate(t *testing.T) {
	e := newUpdateEnv(t)
	ctx := context.Background()
	e.publishVersion("1.0.0", withMigrations(migNotes))
	if _, err := e.updater().Install(ctx, "versioned", "", tufrepo.ChannelStable, updater.PolicyAuto); err != nil {
		t.Fatal(err)
	}
	e.publishVersion("1.1.0", withMigrations(migNotes))

	// The registry goes away in the middle of the wasm download.
	var cut atomic.Bool
	cut.Store(true)
	f := func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		if !cut.Load() || !strings.Contains(r.URL.Path, "/blobs/") {
			return false
		}
		hj, ok := w.(http.Hijacker)
		if !ok {
			return false
		}
		conn, buf, _ := hj.Hijack()
		buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\npartial")
		buf.Flush()
		conn.Close()
		return true
	}
	e.tamper.Store(&f)
	if err := e.updater().Check(ctx); err == nil {
		t.Fatal("an update with the registry cut off mid-download succeeded")
	}
	e.site.wantServing(t, "1.0.0")
	cut.Store(false)
	if err := e.updater().Check(ctx); err != nil {
		t.Fatal(err)
	}
	e.site.wantServing(t, "1.1.0")

	// 1.2.0's migration runs, then its health check fails: the runtime
	// stops right there. It restarts on 1.1.0 with the migrated schema.
	e.publishVersion("1.2.0", withMigrations(migNotes, migAuthor), withConfig("health", `"fail"`))
	if err := e.updater().Check(ctx); err == nil {
		t.Fatal("an update failing its health check succeeded")
	}
	e.site.wantServing(t, "1.1.0")
	e.site.srv.Close(ctx)
	e.start()
	e.site.wantServing(t, "1.1.0")
	ins, _ := e.updater().List(ctx)
	if ins[0].Version != "1.1.0" {
		t.Fatalf("recorded %s after the restart", ins[0].Version)
	}
	// The runtime also stops while an update's download hangs.
	e.publishVersion("1.3.0", withMigrations(migNotes, migAuthor))
	hang, hung := make(chan struct{}), make(chan struct{})
	var hungOnce sync.Once
	h := func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		if strings.Contains(r.URL.Path, "/blobs/") {
			hungOnce.Do(func() { close(hung) })
			select {
			case <-hang:
			case <-r.Context().Done():
			}
			return true
		}
		return false
	}
	e.tamper.Store(&h)
	done := make(chan error, 1)
	cctx, cancel := context.WithCancel(ctx)
	go func() { done <- e.updater().Check(cctx) }()
	select {
	case <-hung:
	case err := <-done:
		t.Fatalf("the update ended (%v) before its download hung", err)
	}
	cancel()
	<-done
	e.site.srv.Close(ctx)
	close(hang)
	e.tamper.Store(nil)
	e.start()
	e.site.wantServing(t, "1.1.0")
	if err := e.updater().Check(ctx); err != nil {
		t.Fatal(err)
	}
	e.site.wantServing(t, "1.3.0")
}

// TestStagedCapabilities: an update asking for more than the owner
// approved waits for approval.
func TestStagedCapabilities(t *testing.T) {
	e := newUpdateEnv(t)
	ctx := context.Background()
	noUsers := func(p *modhost.Package) { p.Manifest.Capabilities.CoreData = nil }
	e.publishVersion("1.0.0", noUsers)
	if _, err := e.updater().Install(ctx, "versioned", "", tufrepo.ChannelStable, updater.PolicyAuto); err != nil {
		t.Fatal(err)
	}
	e.publishVersion("1.1.0") // asks for core data "users"
	if err := e.updater().Check(ctx); err != nil {
		t.Fatal(err)
	}
	e.site.wantServing(t, "1.0.0")
	ins, _ := e.updater().List(ctx)
	if ins[0].StagedVersion != "1.1.0" || !strings.Contains(ins[0].StagedReason, "core data users") {
		t.Fatalf("staged = %q %q", ins[0].StagedVersion, ins[0].StagedReason)
	}
	if ev := e.lastEvent(); ev.Outcome != "staged" {
		t.Fatalf("last event %+v", ev)
	}
	// The owner approves, through the request queue the CLI uses.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go e.updater().Run(runCtx)
	e.waitListener(t)
	res, err := Request(ctx, Config{DataDir: e.dataDir, DatabaseURL: e.siteDB.URL}, ModuleRequest{Action: "approve", Module: "versioned"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res, "1.1.0") {
		t.Fatalf("approve answered %q", res)
	}
	e.site.wantServing(t, "1.1.0")
	if _, err := Request(ctx, Config{DataDir: e.dataDir, DatabaseURL: e.siteDB.URL}, ModuleRequest{Action: "approve", Module: "versioned"}, time.Minute); err == nil || !strings.Contains(err.Error(), "no update is waiting") {
		t.Fatalf("second approve = %v", err)
	}
}

// TestModuleCannotPinItself: a hostile release forges migration marks with
// its own database role; the publisher revokes it and ships a fix, which
// installs (the runtime's own migration ledger is what counts).
func TestModuleCannotPinItself(t *testing.T) {
	e := newUpdateEnv(t)
	ctx := context.Background()
	e.publishVersion("1.0.0", withMigrations(migNotes))
	if _, err := e.updater().Install(ctx, "versioned", "", tufrepo.ChannelStable, updater.PolicyAuto); err != nil {
		t.Fatal(err)
	}
	if _, err := e.site.srv.Module("versioned").DB().Pool().Exec(ctx,
		`INSERT INTO _migrations (name, checksum) VALUES ('zz_pin', '\x00')`); err != nil {
		t.Fatal(err)
	}
	if err := e.pub.Revoke(ctx, "versioned", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	e.publishVersion("1.1.0", withMigrations(migNotes, migAuthor), withDistinctWasm("1.1.0"))
	if err := e.updater().Check(ctx); err != nil {
		t.Fatal(err)
	}
	e.site.wantServing(t, "1.1.0")
}
