package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/websonic/websonic/internal/modbuild"
	"github.com/websonic/websonic/internal/tlsserve/tlstest"
)

// daemon is a websonic process serving until the test ends.
type daemon struct {
	cmd *exec.Cmd
	url string
}

// startDaemon runs bin with args and env, and waits for the log line
// matched by ready (its first group is the URL).
func startDaemon(t *testing.T, ctx context.Context, bin string, env []string, ready *regexp.Regexp, args ...string) *daemon {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{cmd: cmd}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	lines := bufio.NewScanner(stderr)
	var log strings.Builder
	for lines.Scan() {
		log.WriteString(lines.Text() + "\n")
		if m := ready.FindStringSubmatch(lines.Text()); m != nil {
			d.url = m[1]
			break
		}
	}
	if d.url == "" {
		t.Fatalf("%s never got ready:\n%s", args[0], log.String())
	}
	go io.Copy(io.Discard, stderr)
	return d
}

func (d *daemon) stop(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Wait(); err != nil {
		t.Fatalf("%s exited with %v", d.cmd.Args[1], err)
	}
}

func runCLI(t *testing.T, ctx context.Context, bin string, env []string, args ...string) string {
	t.Helper()
	c := exec.CommandContext(ctx, bin, args...)
	c.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		t.Fatalf("websonic %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// TestDistributionWithTheCLI is the operator's and the publisher's path
// with the real binaries: a registry serving HTTPS with a certificate from
// a private CA, a token, keys, the first root, a published module, and a
// site (itself on HTTPS) that pins that CA and installs the module.
func TestDistributionWithTheCLI(t *testing.T) {
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	regData, siteData, keys := dataDir(t), dataDir(t), t.TempDir()
	env := []string{"WEBSONIC_DATABASE_URL=", "WEBSONIC_ONLINE_KEY_PASSWORD=online-secret", "WEBSONIC_KEY_PASSWORD=offline-secret",
		"WEBSONIC_CACHE_DIR=" + t.TempDir()}

	ca, tlsDir := tlstest.NewCA(t, "private CA"), t.TempDir()
	caFile := ca.WritePEM(t, tlsDir)
	certFile, keyFile := ca.Issue(t, "127.0.0.1").WriteFiles(t, tlsDir)
	reg := startDaemon(t, ctx, bin, env, regexp.MustCompile(`registry listening: addr=(\S+)`),
		"registry", "serve", "--data-dir", regData, "--addr", "127.0.0.1:0", "--tls-cert", certFile, "--tls-key", keyFile)
	regURL := "https://" + reg.url
	token := strings.TrimSpace(runCLI(t, ctx, bin, env, "registry", "token", "--data-dir", regData, "--publisher", "websonic", "--modules", "*", "--admin", "--log-level", "error"))
	if !strings.HasPrefix(token, "wsp_") {
		t.Fatalf("token = %q", token)
	}
	for _, name := range []string{"root", "targets"} {
		runCLI(t, ctx, bin, env, "keys", "generate", "--out", keys, "--name", name)
	}
	// The publisher's tools trust the private CA through the system roots.
	pub := append(env, "WEBSONIC_REGISTRY="+regURL, "WEBSONIC_REGISTRY_TOKEN="+token, "WEBSONIC_KEY_DIR="+keys, "SSL_CERT_FILE="+caFile)
	runCLI(t, ctx, bin, pub, "keys", "init")
	if out := runCLI(t, ctx, bin, pub, "module", "publish", "../../examples/hello"); !strings.Contains(out, "published hello@1.0.0") {
		t.Fatalf("publish said %q", out)
	}

	site := startDaemon(t, ctx, bin, env, regexp.MustCompile(`serving: url=(https://\S+)`),
		"serve", "--data-dir", siteData, "--addr", "127.0.0.1:0", "--registry", regURL, "--trusted-root", filepath.Join(keys, "root.json"),
		"--registry-ca", caFile, "--tls-cert", certFile, "--tls-key", keyFile)
	if out := runCLI(t, ctx, bin, env, "module", "install", "hello", "--data-dir", siteData, "--log-level", "error"); !strings.Contains(out, "hello@1.0.0 installed") {
		t.Fatalf("install said %q", out)
	}
	https := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	resp, err := https.Get(site.url + "/guestbook")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /guestbook after install: %v %v", err, resp)
	}
	resp.Body.Close()
	if out := runCLI(t, ctx, bin, env, "module", "list", "--data-dir", siteData, "--log-level", "error"); !regexp.MustCompile(`hello\s+1\.0\.0`).MatchString(out) {
		t.Fatalf("module list:\n%s", out)
	}
	site.stop(t)
	reg.stop(t)
}

// TestDevRun is `make run`: one command, a local registry, development
// keys, the packages published and installed from the registry.
func TestDevRun(t *testing.T) {
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	data, mods := dataDir(t), t.TempDir()
	if err := modbuild.Package(ctx, "../../examples/hello", filepath.Join(mods, "hello")); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second run reuses keys, token, root and releases
		d := startDaemon(t, ctx, bin, []string{"WEBSONIC_DATABASE_URL="}, regexp.MustCompile(`serving: url=(http://\S+)`),
			"dev", "--data-dir", data, "--addr", "127.0.0.1:0", "--registry-addr", "127.0.0.1:0", "--modules", mods)
		resp, err := http.Get(d.url + "/guestbook")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /guestbook: %v %v", err, resp)
		}
		resp.Body.Close()
		d.stop(t)
	}
}
