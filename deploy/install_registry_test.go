package deploy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/websonic/websonic/internal/pgtest"
	"github.com/websonic/websonic/internal/publish"
	"github.com/websonic/websonic/internal/signing/signingtest"
	"github.com/websonic/websonic/internal/tufrepo"
	"github.com/websonic/websonic/registry/server"
)

func TestMain(m *testing.M) {
	var err error
	if buildDir, err = os.MkdirTemp("", "deploy-test-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := pgtest.Run(m)
	os.RemoveAll(buildDir)
	os.Exit(code)
}

// built is the websonic binary the package's tests share: built once,
// with version builtVersion, into buildDir (removed by TestMain).
var built struct {
	once sync.Once
	bin  string
	err  error
}

const builtVersion = "1.2.3"

var buildDir string

// buildWebsonic builds the real websonic binary with version builtVersion,
// once for all tests.
func buildWebsonic(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		built.bin = filepath.Join(buildDir, "websonic")
		cmd := exec.Command("go", "build", "-trimpath", "-o", built.bin,
			"-ldflags", "-X github.com/websonic/websonic/internal/buildinfo.version="+builtVersion, "../cmd/websonic")
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

// testRegistry is a real registry (registry/server over a test database)
// with a publisher that has initialised its TUF repository.
type testRegistry struct {
	url       string
	client    *http.Client // trusts the registry's certificate
	caFile    string       // that certificate, PEM
	publisher *publish.Publisher
}

// startRegistry starts a registry serving InstallScript and makes its
// first admin token with the real CLI (`websonic registry token`).
func startRegistry(t *testing.T, websonic string) *testRegistry {
	t.Helper()
	ctx := context.Background()
	db := pgtest.NewDB(t)
	dataDir := t.TempDir()
	online := tufrepo.Keys{Snapshot: tufrepo.Role{Signers: []signature.Signer{signingtest.NewSigner(t)}},
		Timestamp: tufrepo.Role{Signers: []signature.Signer{signingtest.NewSigner(t)}}}
	var reg *server.Server
	// HTTPS: the runtime reaches a registry over TLS only.
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reg.Handler().ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	caFile := filepath.Join(t.TempDir(), "registry-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	reg, err := server.Open(ctx, server.Config{DataDir: dataDir, DatabaseURL: db.URL, OnlineKeys: online, PublicURL: srv.URL,
		InstallScript: InstallScript, Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: os.Stderr})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close(context.Background()) })
	out, err := exec.Command(websonic, "registry", "token", "--database-url", db.URL, "--data-dir", dataDir,
		"--publisher", "websonic-release", "--modules", "*", "--admin", "--log-level", "error").Output()
	if err != nil {
		t.Fatalf("websonic registry token: %v", err)
	}
	token := strings.TrimSpace(string(out))
	if i := strings.LastIndex(token, "\n"); i >= 0 {
		token = strings.TrimSpace(token[i+1:])
	}
	p := &publish.Publisher{Registry: srv.URL, Token: token, CacheDir: t.TempDir(), HTTPClient: srv.Client(),
		Keys: tufrepo.Keys{Root: tufrepo.Role{Signers: []signature.Signer{signingtest.NewSigner(t)}},
			Targets: tufrepo.Role{Signers: []signature.Signer{signingtest.NewSigner(t)}}}}
	if p.Root, err = p.Init(ctx); err != nil {
		t.Fatal(err)
	}
	return &testRegistry{url: srv.URL, client: srv.Client(), caFile: caFile, publisher: p}
}

// get fetches a URL's body, failing the test unless it answers 200.
func get(t *testing.T, c *http.Client, url string) []byte {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return b
}

// TestInstallFromRegistry is the whole path: a websonic binary built here
// is published as a signed runtime release to a real registry, which
// serves install.sh; the script fetched from the registry installs it
// into a scratch root, the installed binary runs and serves /healthz
// against the test's PostgreSQL and that registry, a second run changes
// nothing, and a registry that lies (another root, targets signed by
// another key, other binary bytes) is refused with nothing installed.
func TestInstallFromRegistry(t *testing.T) {
	arch := hostArch(t)
	ctx := context.Background()
	const version = builtVersion
	websonic := buildWebsonic(t)
	binary, err := os.ReadFile(websonic)
	if err != nil {
		t.Fatal(err)
	}
	reg := startRegistry(t, websonic)
	binaries := map[string][]byte{"linux/" + arch: binary, "linux/" + otherArch(arch): []byte("\x7fELF not this machine's")}
	if _, err := reg.publisher.PublishRuntime(ctx, version, tufrepo.ChannelStable, binaries); err != nil {
		t.Fatal(err)
	}

	// The script as the registry serves it, pinned as the release would.
	rootJSON := get(t, reg.client, reg.url+"/v1/tuf/root.json")
	sum := sha256.Sum256(rootJSON)
	pin := hex.EncodeToString(sum[:])
	served := get(t, reg.client, reg.url+"/download/install.sh")
	if !bytes.Equal(served, InstallScript) {
		t.Fatal("the registry serves another install.sh")
	}
	script := filepath.Join(t.TempDir(), "install.sh")
	os.WriteFile(script, StampInstallScript(served, pin), 0o755)

	db := pgtest.NewDB(t)
	root := t.TempDir()
	args := []string{"--registry", reg.url, "--registry-ca", reg.caFile, "--root", root, "--database-url", db.URL}
	out, err := runScript(t, script, nil, args...)
	if err != nil {
		t.Fatalf("install.sh: %v\n%s", err, out)
	}
	for _, want := range []string{"verified websonic " + version, "installed websonic " + version} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	installed := filepath.Join(root, "var/lib/websonic/bin/websonic")
	if got, err := os.ReadFile(installed); err != nil || !bytes.Equal(got, binary) {
		t.Fatalf("installed binary differs from the published one (%v)", err)
	}
	if got, err := os.ReadFile(filepath.Join(root, "etc/websonic/root.json")); err != nil || !bytes.Equal(got, rootJSON) {
		t.Fatal("etc/websonic/root.json is not the registry's pinned root")
	}
	if out, err := exec.Command(installed, "version").CombinedOutput(); err == nil && !strings.Contains(string(out), "websonic "+version) {
		t.Errorf("websonic version says %q", out)
	}

	// The installed runtime serves, with the settings install.sh wrote
	// (paths moved under the scratch root); that also makes the site.
	serveInstalled(t, root, installed, db.Prefix())

	// Again, now making the first admin: no file changes, and the admin
	// exists on the site.
	files := tree(t, root)
	out, err = runScript(t, script, []string{"WEBSONIC_ADMIN_PASSWORD=correct horse battery"}, "--registry", reg.url, "--registry-ca", reg.caFile, "--root", root, "--admin-user", "owner")
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	if !strings.Contains(out, "created the admin owner") || !strings.Contains(out, "already installed") {
		t.Errorf("second run's summary:\n%s", out)
	}
	if again := tree(t, root); !maps.Equal(files, again) {
		t.Fatalf("the second run changed files:\n%v\n%v", files, again)
	}
	show := exec.Command(installed, "admin", "user", "owner", "--database-url", db.URL, "--data-dir", filepath.Join(root, "var/lib/websonic/data"))
	if out, err := show.CombinedOutput(); err != nil || !strings.Contains(string(out), "admin") {
		t.Fatalf("websonic admin user owner: %v\n%s", err, out)
	}

	// Lies, each refused with nothing installed in a fresh root.
	other := startRegistry(t, websonic)
	if _, err := other.publisher.PublishRuntime(ctx, version, tufrepo.ChannelStable, binaries); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, want string
		route      func(path string) string // the registry (URL) a path is fetched from
		body       func(path string, b []byte) []byte
		args       []string
	}{
		{name: "wrong pinned root", want: "not the pinned", args: []string{"--root-sha256", strings.Repeat("1", 64)}},
		{name: "another registry's root", want: "not the pinned", route: func(string) string { return other.url }},
		{name: "targets signed by another key", want: "0 valid signature", route: func(p string) string {
			if p == "/v1/tuf/root.json" {
				return reg.url
			}
			return other.url
		}},
		{name: "binary bytes differ", want: "sha256", body: func(p string, b []byte) []byte {
			if strings.HasPrefix(p, "/download/websonic/") {
				forged := bytes.Clone(b) // same length, one bit off
				forged[len(forged)/2] ^= 1
				return forged
			}
			return b
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"--registry", reg.url, "--registry-ca", reg.caFile}
			if tc.route != nil || tc.body != nil {
				args = []string{"--registry", lyingProxy(t, reg.client, reg.url, tc.route, tc.body)}
			}
			fresh := t.TempDir()
			out, err := runScript(t, script, nil, append(append(args, "--root", fresh), tc.args...)...)
			if err == nil || !strings.Contains(out, tc.want) {
				t.Fatalf("err %v, want a refusal with %q:\n%s", err, tc.want, out)
			}
			if left := tree(t, fresh); len(left) != 1 {
				t.Fatalf("refused, but left %v", left)
			}
		})
	}
}

// lyingProxy (plain HTTP on loopback, which install.sh allows) serves each path from route(path) (default: upstream), its
// body changed by body (default: as is).
func lyingProxy(t *testing.T, c *http.Client, upstream string, route func(string) string, body func(string, []byte) []byte) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		from := upstream
		if route != nil {
			from = route(r.URL.Path)
		}
		resp, err := c.Get(from + r.URL.Path)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if body != nil {
			b = body(r.URL.Path, b)
		}
		w.WriteHeader(resp.StatusCode)
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// serveInstalled runs the installed binary's `serve` with the environment
// install.sh wrote, its /etc and /var paths moved under root, until it
// answers /healthz.
func serveInstalled(t *testing.T, root, bin, rolePrefix string) {
	t.Helper()
	envFile, err := os.ReadFile(filepath.Join(root, "etc/websonic/websonic.env"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "TMPDIR=" + t.TempDir()}
	for line := range strings.Lines(string(envFile)) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		if strings.HasPrefix(v, "/etc/") || strings.HasPrefix(v, "/var/") {
			v = root + v
		}
		env = append(env, k+"="+v)
	}
	env = append(env, "WEBSONIC_ADDR="+addr, "WEBSONIC_ADMIN_ADDR=", "WEBSONIC_ROLE_PREFIX="+rolePrefix, "WEBSONIC_LOG_LEVEL=warn")
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "serve")
	cmd.Env = env
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{}) // closed when Wait returned waitErr
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(done) }()
	defer func() {
		cancel()
		<-done
	}()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); {
		select {
		case <-done:
			t.Fatalf("the installed websonic exited: %v\n%s", waitErr, logs.String())
		default:
		}
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && string(b) == "ok\n" {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the installed websonic did not serve /healthz on %s:\n%s", addr, logs.String())
}

// lockedBuffer is a bytes.Buffer safe for a process's output and a
// test's reads at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
