package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/websonic/websonic/internal/pgtest"
	"github.com/websonic/websonic/internal/publish"
	"github.com/websonic/websonic/internal/signing/signingtest"
	"github.com/websonic/websonic/internal/tlsserve"
	"github.com/websonic/websonic/internal/tlsserve/tlstest"
	"github.com/websonic/websonic/internal/tufrepo"
	registry "github.com/websonic/websonic/registry/server"
	"github.com/websonic/websonic/runtime/internal/engine"
	"github.com/websonic/websonic/runtime/internal/updater"
)

// TestRegistryOverTLSOnly: a runtime refuses a registry it would reach in
// clear, except one on loopback in development (websonic dev).
func TestRegistryOverTLSOnly(t *testing.T) {
	db := pgtest.NewDB(t)
	for _, tc := range []struct {
		name, url string
		dev       bool
		ca        []byte
		want      string // "" opens
	}{
		{"plain http", "http://registry.example", false, nil, "HTTPS only"},
		{"plain http on loopback", "http://127.0.0.1:8090", false, nil, "HTTPS only"},
		{"plain http to localhost", "http://localhost:8090", false, nil, "HTTPS only"},
		{"plain http elsewhere in development", "http://registry.example", true, nil, "HTTPS only"},
		{"plain http to a private address in development", "http://10.0.0.8:8090", true, nil, "HTTPS only"},
		{"plain http on loopback in development", "http://127.0.0.1:8090", true, nil, ""},
		{"plain http on IPv6 loopback in development", "http://[::1]:8090", true, nil, ""},
		{"https", "https://registry.example", false, nil, ""},
		{"https with a pinned CA", "https://registry.example", false, tlstest.NewCA(t, "pinned").PEM, ""},
		{"https with a CA file that is no certificate", "https://registry.example", false, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), "registry CA"},
		{"https with a CA file that is not PEM", "https://registry.example", false, []byte("nonsense"), "not PEM"},
		{"ftp", "ftp://registry.example", false, nil, "want https://"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := Open(context.Background(), Config{
				DataDir: t.TempDir(), DatabaseURL: db.URL, RolePrefix: db.Prefix(),
				Registry: tc.url, TrustedRoot: []byte("{}"), PlainLoopbackRegistry: tc.dev, RegistryCA: tc.ca,
				Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Error, Output: testLog{t}}),
			})
			if err == nil {
				srv.Close(context.Background())
			}
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Open = %v, want %q", err, tc.want)
			}
		})
	}
}

// tlsRegistry is a registry serving HTTPS with a certificate from a test
// CA, and its publisher.
type tlsRegistry struct {
	url string
	ca  *tlstest.CA
	pub *publish.Publisher
}

func startTLSRegistry(t *testing.T) *tlsRegistry {
	t.Helper()
	ctx := context.Background()
	ca := tlstest.NewCA(t, "registry CA")
	certFile, keyFile := ca.Issue(t, "127.0.0.1").WriteFiles(t, t.TempDir())
	online := tufrepo.Keys{
		Snapshot:  tufrepo.Role{Signers: []signature.Signer{signingtest.NewSigner(t)}},
		Timestamp: tufrepo.Role{Signers: []signature.Signer{signingtest.NewSigner(t)}},
	}
	reg, err := registry.Open(ctx, registry.Config{
		DataDir: t.TempDir(), DatabaseURL: pgtest.NewDB(t).URL, OnlineKeys: online, RenewEvery: time.Hour,
		TLS:    tlsserve.Config{CertFile: certFile, KeyFile: keyFile},
		Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testLog{t}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- reg.Serve(sctx, ln) }()
	t.Cleanup(func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("registry Serve: %v", err)
		}
		reg.Close(ctx)
	})
	admin, _, err := reg.Publishers().CreateToken(ctx, registry.TokenSpec{Publisher: "websonic", Modules: []string{"*"}, Admin: true})
	if err != nil {
		t.Fatal(err)
	}
	r := &tlsRegistry{url: "https://" + ln.Addr().String(), ca: ca}
	r.pub = &publish.Publisher{
		Registry: r.url, Token: admin, CacheDir: t.TempDir(),
		Keys:       tufrepo.Keys{Root: tufrepo.Role{Signers: []signature.Signer{signingtest.NewSigner(t)}}, Targets: tufrepo.Role{Signers: []signature.Signer{signingtest.NewSigner(t)}}},
		HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}},
	}
	if r.pub.Root, err = r.pub.Init(ctx); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *tlsRegistry) publish(t *testing.T, v string, variants ...variant) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), v)
	writePackage(t, dir, versioned(t, v, variants...))
	if _, err := r.pub.Publish(context.Background(), dir, tufrepo.ChannelStable); err != nil {
		t.Fatal(err)
	}
}

// signalWriter forwards log lines to the test log and closes found at the
// first line containing want.
type signalWriter struct {
	t     testing.TB
	want  []byte
	found chan struct{}
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	if w.found != nil && bytes.Contains(p, w.want) {
		close(w.found)
		w.found = nil
	}
	return len(p), nil
}

// openTLSSite opens a runtime following r with registryCA pinned, logging
// through log.
func openTLSSite(t *testing.T, r *tlsRegistry, registryCA []byte, log hclog.Logger) *testSite {
	t.Helper()
	db := pgtest.NewDB(t)
	srv, err := Open(context.Background(), Config{
		DataDir: t.TempDir(), DatabaseURL: db.URL, RolePrefix: db.Prefix(),
		Registry: r.url, TrustedRoot: r.pub.Root, RegistryCA: registryCA, UpdateInterval: time.Hour,
		StatementTimeout: time.Second, MemoryLimitPages: 1024,
		Pool:   engine.PoolConfig{Size: 2, CallTimeout: 5 * time.Second},
		Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Close(context.Background()) })
	return &testSite{Server: hs, srv: srv, db: db}
}

// TestInstallOverTLS: a runtime that pins the registry's CA installs a
// module over HTTPS (TUF metadata and OCI pulls) and takes an update
// announced on the watch stream, all over TLS; runtimes pinning another CA,
// or none, refuse the registry's certificate and install nothing.
func TestInstallOverTLS(t *testing.T) {
	ctx := context.Background()
	r := startTLSRegistry(t)
	r.publish(t, "1.0.0")

	// The registry answers over TLS only, with HSTS.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: r.ca.Pool()}}}
	resp, err := hc.Get(r.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.TLS == nil || resp.Header.Get("Strict-Transport-Security") != "max-age=63072000" {
		t.Fatalf("registry /healthz over TLS: HSTS %q", resp.Header.Get("Strict-Transport-Security"))
	}
	if resp, err := http.Get("http" + strings.TrimPrefix(r.url, "https") + "/healthz"); err == nil && resp.StatusCode == http.StatusOK {
		t.Fatal("the TLS registry answered plain HTTP")
	}

	for _, tc := range []struct {
		name string
		ca   []byte
	}{
		{"another CA pinned", tlstest.NewCA(t, "another CA").PEM},
		{"no CA pinned", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			site := openTLSSite(t, r, tc.ca, hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testLog{t}}))
			_, err := site.srv.Updater().Install(ctx, "versioned", "", tufrepo.ChannelStable, updater.PolicyAuto)
			if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
				t.Fatalf("Install = %v, want a certificate refusal", err)
			}
			if site.srv.Module("versioned") != nil {
				t.Fatal("a module was installed from a registry whose certificate was refused")
			}
		})
	}

	updated := make(chan struct{})
	log := hclog.New(&hclog.LoggerOptions{Level: hclog.Info, Output: &signalWriter{t: t, want: []byte(`module updated: module=versioned from=1.0.0 to=1.1.0`), found: updated}})
	site := openTLSSite(t, r, r.ca.PEM, log)
	if _, err := site.srv.Updater().Install(ctx, "versioned", "", tufrepo.ChannelStable, updater.PolicyAuto); err != nil {
		t.Fatal(err)
	}
	site.wantServing(t, "1.0.0")

	// The update reaches the runtime through the watch stream (the
	// timer is an hour away), which must verify the pinned CA too.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go site.srv.Updater().Run(runCtx)
	r.publish(t, "1.1.0", withDistinctWasm("1.1.0"))
	select {
	case <-updated:
	case <-time.After(2 * time.Minute): // a hang guard, not a measurement
		t.Fatal("the update announced on the watch stream was not installed")
	}
	site.wantServing(t, "1.1.0")
}
