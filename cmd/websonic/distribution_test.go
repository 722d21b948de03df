package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/websonic/websonic/deploy"
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
	return startDaemonIn(t, ctx, bin, "", env, ready, args...)
}

// startDaemonIn is startDaemon in the working folder dir.
func startDaemonIn(t *testing.T, ctx context.Context, bin, dir string, env []string, ready *regexp.Regexp, args ...string) *daemon {
	t.Helper()
	return launch(t, ctx, bin, dir, env, ready, nil, args...)
}

// answering is the runtime's log line once it answers module requests.
var answering = regexp.MustCompile(`answering module requests`)

// startSite starts a runtime that installs from a registry (serve
// --registry, or dev) and waits until it serves and answers module
// requests.
func startSite(t *testing.T, ctx context.Context, bin, dir string, env []string, args ...string) *daemon {
	t.Helper()
	return launch(t, ctx, bin, dir, env, regexp.MustCompile(`serving: url=(http://\S+)`), answering, args...)
}

// launch runs bin with args in dir and waits for the log line matched by
// url (its first group is the URL) and, when not nil, for one matched by
// also.
func launch(t *testing.T, ctx context.Context, bin, dir string, env []string, url, also *regexp.Regexp, args ...string) *daemon {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
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
		if m := url.FindStringSubmatch(lines.Text()); m != nil {
			d.url = m[1]
		}
		if also != nil && also.MatchString(lines.Text()) {
			also = nil
		}
		if d.url != "" && also == nil {
			break
		}
	}
	if d.url == "" || also != nil {
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

// runCLI runs the websonic binary bin and returns its output; a failure
// fails the test or benchmark.
func runCLI(t testing.TB, ctx context.Context, bin string, env []string, args ...string) string {
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
	pub := append(env, "WEBSONIC_REGISTRY="+regURL, "WEBSONIC_REGISTRY_TOKEN="+token, "WEBSONIC_KEY_DIR="+keys, "WEBSONIC_REGISTRY_CA="+caFile)
	runCLI(t, ctx, bin, pub, "keys", "init")
	if out := runCLI(t, ctx, bin, pub, "module", "publish", "../../examples/hello"); !strings.Contains(out, "published hello@1.0.0") {
		t.Fatalf("publish said %q", out)
	}

	site := launch(t, ctx, bin, "", env, regexp.MustCompile(`serving: url=(https://\S+)`), answering,
		"serve", "--data-dir", siteData, "--addr", "127.0.0.1:0", "--registry", regURL, "--trusted-root", filepath.Join(keys, "root.json"),
		"--registry-ca", caFile, "--tls-cert", certFile, "--tls-key", keyFile)
	// Without a terminal to ask on and without --yes, install shows what
	// the release asks for and installs nothing.
	r := cliRun(t, ctx, bin, "", env, "", "module", "install", "hello", "--data-dir", siteData)
	if r.code != 1 || !strings.Contains(r.stdout, "hello@1.0.0 asks to:") || !strings.Contains(r.stdout, "Add pages at /guestbook for everyone, and receive what they send there (POST)") ||
		!strings.Contains(r.stdout, "Read the list of user names (usernames, display names and roles)") || !strings.Contains(r.stderr, "pass --yes") {
		t.Fatalf("install without --yes: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if out := runCLI(t, ctx, bin, env, "module", "list", "--data-dir", siteData); strings.Contains(out, "hello") {
		t.Fatalf("installed without confirmation:\n%s", out)
	}
	r = cliRun(t, ctx, bin, "", env, "", "module", "install", "hello", "--yes", "--data-dir", siteData)
	if r.code != 0 || !strings.Contains(r.stdout, "hello@1.0.0 installed") || !strings.Contains(r.stderr, "queued") || !strings.Contains(r.stderr, "taken by the runtime") {
		t.Fatalf("install --yes: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	https := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	resp, err := https.Get(site.url + "/guestbook")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /guestbook after install: %v %v", err, resp)
	}
	resp.Body.Close()
	if out := runCLI(t, ctx, bin, env, "module", "list", "--data-dir", siteData, "--log-level", "error"); !regexp.MustCompile(`hello\s+1\.0\.0`).MatchString(out) ||
		!strings.Contains(out, "runtimes answering module requests: 1") {
		t.Fatalf("module list:\n%s", out)
	}
	if r := cliRun(t, ctx, bin, "", env, "", "module", "rollback", "hello", "--data-dir", siteData); r.code != 1 || !strings.Contains(r.stderr, "no previous version") {
		t.Fatalf("rollback with nothing before: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	site.stop(t)

	// With the site stopped, a request is refused at once: nothing is
	// queued to run by surprise at the next start.
	r = cliRun(t, ctx, bin, "", env, "", "module", "install", "hello", "--yes", "--data-dir", siteData)
	if r.code != 1 || !strings.Contains(r.stderr, "no runtime is answering module requests on the site in "+siteData) || !strings.Contains(r.stderr, "nothing was queued") {
		t.Fatalf("install with no runtime: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	reg.stop(t)

	// A registry that does not answer is called unreachable, not a
	// registry whose metadata does not verify.
	r = cliRun(t, ctx, bin, "", pub, "", "module", "publish", "../../examples/hello")
	if r.code != 1 || !strings.Contains(r.stderr, "the registry at "+regURL+" is unreachable") || !strings.Contains(r.stderr, "connection refused") ||
		strings.Contains(r.stderr, "does not verify") {
		t.Fatalf("publish to a stopped registry: exit %d\n%s", r.code, r.stderr)
	}
}

// helloPackages is a --modules folder holding examples/hello's package.
func helloPackages(t *testing.T, ctx context.Context) string {
	t.Helper()
	mods := t.TempDir()
	if err := modbuild.Package(ctx, "../../examples/hello", filepath.Join(mods, "hello")); err != nil {
		t.Fatal(err)
	}
	return mods
}

// TestDevRun is `make run`: one command, a local registry, development
// keys, the packages published and installed from the registry, which
// serves the install.sh its download page tells visitors to run.
func TestDevRun(t *testing.T) {
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	data, mods, regAddr := dataDir(t), helloPackages(t, ctx), freeAddr(t)
	for range 2 { // the second run reuses keys, token, root and releases
		d := startDaemon(t, ctx, bin, []string{"WEBSONIC_DATABASE_URL="}, regexp.MustCompile(`serving: url=(http://\S+)`),
			"dev", "--data-dir", data, "--addr", "127.0.0.1:0", "--registry-addr", regAddr, "--modules", mods)
		resp, err := http.Get(d.url + "/guestbook")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /guestbook: %v %v", err, resp)
		}
		resp.Body.Close()
		resp, err = http.Get("http://" + regAddr + "/download/install.sh")
		if err != nil {
			t.Fatal(err)
		}
		script, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(script, deploy.InstallScript) {
			t.Fatalf("GET /download/install.sh: %v %d, %d bytes, not deploy.InstallScript", err, resp.StatusCode, len(script))
		}
		d.stop(t)
	}
}

// freeAddr is a loopback address nothing listens on (for a command that
// must be given the same address twice).
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestDevUpdateLoop is the README's update loop: with `make run` running,
// bump a module's version and `make run` again; the second run publishes
// to the running registry, waits until the running site serves the new
// version, and exits.
func TestDevUpdateLoop(t *testing.T) {
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	data, mods := dataDir(t), helloPackages(t, ctx)
	env := []string{"WEBSONIC_DATABASE_URL="}
	siteAddr := freeAddr(t)
	args := []string{"dev", "--data-dir", data, "--addr", siteAddr, "--registry-addr", freeAddr(t), "--modules", mods}
	d := startSite(t, ctx, bin, "", env, args...)

	mf := filepath.Join(mods, "hello", "module.json")
	raw, err := os.ReadFile(mf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mf, bytes.Replace(raw, []byte(`"version": "1.0.0"`), []byte(`"version": "1.0.1"`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	r := cliRun(t, ctx, bin, "", env, "", args...)
	if r.code != 0 || !strings.Contains(r.stdout, "hello@1.0.1 is live on http://"+siteAddr) {
		t.Fatalf("make run again after a version bump: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if out := runCLI(t, ctx, bin, env, "module", "list", "--data-dir", data); !regexp.MustCompile(`hello\s+1\.0\.1\s+1\.0\.0`).MatchString(out) {
		t.Fatalf("module list:\n%s", out)
	}
	if r := cliRun(t, ctx, bin, "", env, "", args...); r.code != 0 || !strings.Contains(r.stdout, "nothing new to publish") {
		t.Fatalf("make run again with nothing changed: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// A module changed without a version bump is skipped with the hint,
	// not a failed run (its package differs from the signed one).
	if raw, err = os.ReadFile(mf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mf, regexp.MustCompile(`"description": "[^"]*"`).ReplaceAll(raw, []byte(`"description": "changed, same version"`)), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := cliRun(t, ctx, bin, "", env, "", args...); r.code != 0 || !strings.Contains(r.stdout, "nothing new to publish") || !strings.Contains(r.stderr, "bump its version") {
		t.Fatalf("make run again with a changed module of the same version: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	resp, err := http.Get(d.url + "/guestbook")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /guestbook: %v %v", err, resp)
	}
	resp.Body.Close()
	d.stop(t)
}
