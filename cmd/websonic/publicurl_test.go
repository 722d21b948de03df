package main

import (
	"context"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/websonic/websonic/internal/tlsserve/tlstest"
)

// TestPublishToARegistryOnEveryInterface is the README's shipping recipe
// as it runs in production: the registry listens on every interface
// (--addr :443, here 0.0.0.0:PORT) with a certificate for the name
// clients use, no --public-url, and pulls need a token. The publisher
// pushes and signs a release and a site installs it, both through the
// OCI client's login challenge, whose realm must name the registry as
// clients reach it: OCI clients refuse to send a token to a realm on
// another host that is a loopback or private address (oras-go's SSRF
// guard), which "localhost", the default for an unspecified listen
// address, always is.
//
// A registry told a --public-url that is not where it is reached makes
// the publisher's push fail with an error naming that flag.
func TestPublishToARegistryOnEveryInterface(t *testing.T) {
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	regData, siteData, keys := dataDir(t), dataDir(t), t.TempDir()
	env := []string{"WEBSONIC_DATABASE_URL=", "WEBSONIC_ONLINE_KEY_PASSWORD=online-secret", "WEBSONIC_KEY_PASSWORD=offline-secret",
		"WEBSONIC_CACHE_DIR=" + t.TempDir()}
	ca, tlsDir := tlstest.NewCA(t, "private CA"), t.TempDir()
	caFile := ca.WritePEM(t, tlsDir)
	certFile, keyFile := ca.Issue(t, "127.0.0.1").WriteFiles(t, tlsDir)

	_, port, err := net.SplitHostPort(freeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	startDaemon(t, ctx, bin, env, regexp.MustCompile(`registry listening: addr=(\S+)`),
		"registry", "serve", "--data-dir", regData, "--addr", "0.0.0.0:"+port, "--tls-cert", certFile, "--tls-key", keyFile, "--private-pulls")
	regURL := "https://127.0.0.1:" + port
	pub, token := initRegistry(t, ctx, bin, env, regData, regURL, keys, caFile)
	r := cliRun(t, ctx, bin, "", pub, "", "module", "publish", "../../examples/hello")
	if r.code != 0 || !strings.Contains(r.stdout, "published hello@1.0.0") {
		t.Fatalf("publish to %s: exit %d\n%s%s", regURL, r.code, r.stdout, r.stderr)
	}

	launch(t, ctx, bin, "", env, regexp.MustCompile(`serving: url=(http://\S+)`), answering,
		"serve", "--data-dir", siteData, "--addr", "127.0.0.1:0", "--registry", regURL, "--trusted-root", filepath.Join(keys, "root.json"),
		"--registry-ca", caFile, "--registry-token", token)
	r = cliRun(t, ctx, bin, "", env, "", "module", "install", "hello", "--yes", "--data-dir", siteData)
	if r.code != 0 || !strings.Contains(r.stdout, "hello@1.0.0 installed") {
		t.Fatalf("install from %s with a pull token: exit %d\n%s%s", regURL, r.code, r.stdout, r.stderr)
	}

	// A --public-url that is not where the publisher reaches the registry.
	wrong := dataDir(t)
	_, port2, err := net.SplitHostPort(freeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	startDaemon(t, ctx, bin, env, regexp.MustCompile(`registry listening: addr=(\S+)`),
		"registry", "serve", "--data-dir", wrong, "--addr", "127.0.0.1:"+port2, "--tls-cert", certFile, "--tls-key", keyFile,
		"--public-url", "https://localhost:"+port2)
	pub2, _ := initRegistry(t, ctx, bin, append(env, "WEBSONIC_CACHE_DIR="+t.TempDir()), wrong, "https://127.0.0.1:"+port2, t.TempDir(), caFile)
	r = cliRun(t, ctx, bin, "", pub2, "", "module", "publish", "../../examples/hello")
	if r.code != 1 || !strings.Contains(r.stderr, "https://localhost:"+port2+"/v1/token") || !strings.Contains(r.stderr, "--public-url") {
		t.Fatalf("publish to a registry with a wrong --public-url: exit %d, want an error naming its realm and --public-url\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// initRegistry makes an admin token of the registry in regData, root and
// targets keys in keys, and signs the first root at regURL (trusting
// caFile); it returns the publisher's environment and the token.
func initRegistry(t *testing.T, ctx context.Context, bin string, env []string, regData, regURL, keys, caFile string) ([]string, string) {
	t.Helper()
	token := strings.TrimSpace(runCLI(t, ctx, bin, env, "registry", "token", "--data-dir", regData, "--publisher", "websonic", "--modules", "*", "--admin", "--log-level", "error"))
	for _, name := range []string{"root", "targets"} {
		runCLI(t, ctx, bin, env, "keys", "generate", "--out", keys, "--name", name)
	}
	pub := append(env[:len(env):len(env)], "WEBSONIC_REGISTRY="+regURL, "WEBSONIC_REGISTRY_TOKEN="+token, "WEBSONIC_KEY_DIR="+keys, "WEBSONIC_REGISTRY_CA="+caFile)
	runCLI(t, ctx, bin, pub, "keys", "init")
	return pub, token
}

// TestRegistryNotTrusted: a registry whose certificate the publisher does
// not trust is not called unreachable: the error says to pin its CA.
func TestRegistryNotTrusted(t *testing.T) {
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env := []string{"WEBSONIC_DATABASE_URL=", "WEBSONIC_ONLINE_KEY_PASSWORD=online-secret", "WEBSONIC_KEY_PASSWORD=offline-secret",
		"WEBSONIC_CACHE_DIR=" + t.TempDir()}
	ca, tlsDir := tlstest.NewCA(t, "private CA"), t.TempDir()
	certFile, keyFile := ca.Issue(t, "127.0.0.1").WriteFiles(t, tlsDir)
	reg := startDaemon(t, ctx, bin, env, regexp.MustCompile(`registry listening: addr=(\S+)`),
		"registry", "serve", "--data-dir", dataDir(t), "--addr", "127.0.0.1:0", "--tls-cert", certFile, "--tls-key", keyFile)
	keys := t.TempDir()
	for _, name := range []string{"root", "targets"} {
		runCLI(t, ctx, bin, env, "keys", "generate", "--out", keys, "--name", name)
	}
	regURL := "https://" + reg.url
	pub := append(env, "WEBSONIC_REGISTRY="+regURL, "WEBSONIC_REGISTRY_TOKEN=wsp_any", "WEBSONIC_KEY_DIR="+keys, "WEBSONIC_REGISTRY_CA=")
	r := cliRun(t, ctx, bin, "", pub, "", "keys", "init")
	if r.code != 1 || strings.Contains(r.stderr, "unreachable") || !strings.Contains(r.stderr, "--registry-ca") || !strings.Contains(r.stderr, regURL) {
		t.Fatalf("keys init against an untrusted certificate: exit %d, want an error naming the registry and --registry-ca\n%s", r.code, r.stderr)
	}
}
